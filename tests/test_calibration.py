"""The calibrated chance of a good outcome: known answers, the fitted map, round trips and bad input,
then the chance as the nightly job and the API hand it out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GroupKFold

from ilona_match.contract import load_data
from ilona_match.learning.tracking import load_champion
from ilona_match.matching.calibration import (
    LEVELS,
    CalibrationConfig,
    Calibrator,
    expected_calibration_error,
    level_of,
)
from ilona_match.matching.features import CandidatePairs
from ilona_match.serving.allocation import AllocationConfig
from ilona_match.serving.batch import run_batch
from ilona_match.serving.nightly import run_nightly
from tests.conftest import ServedWorld


def _world(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Scores whose true chance of success is sigmoid(2 * score - 2), in groups of 5 pairs."""
    rng = np.random.default_rng(seed)
    scores = rng.normal(0, 1.2, n)
    truth = 1 / (1 + np.exp(-(2 * scores - 2)))
    return scores, (rng.random(n) < truth).astype(int), np.repeat(np.arange(n // 5 + 1), 5)[:n]


def test_expected_calibration_error_on_known_answers() -> None:
    rng = np.random.default_rng(0)
    chance = rng.random(20_000)
    honest = expected_calibration_error(chance, rng.random(20_000) < chance)
    assert honest.ece < 0.02 and honest.pairs == 20_000 and len(honest.table) == 10
    halved = expected_calibration_error(chance, rng.random(20_000) < chance / 2)
    assert halved.ece == pytest.approx(0.25, abs=0.02)  # every prediction twice what happens: mean gap 0.25
    exact = expected_calibration_error(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0, 0, 1, 1]), bins=2)
    assert exact.ece == 0.0 and exact.table["observed"].tolist() == [0.0, 1.0]
    with pytest.raises(ValueError, match="no pairs"):
        expected_calibration_error(np.array([]), np.array([]))


def test_the_ece_noise_is_what_an_exact_chance_shows_on_that_many_pairs() -> None:
    """300 pairs at 10 %: ten bins of 30 miss their rate by E|Binomial(30, 0.1)/30 - 0.1| ~ 0.044 even when
    every chance is exact; 20,000 pairs by ~0.007. Certain chances (0 or 1) carry no noise."""
    rng = np.random.default_rng(3)
    small = expected_calibration_error(np.full(300, 0.1), rng.random(300) < 0.1)
    exact_noise = np.abs(np.arange(31) / 30 - 0.1) @ stats.binom.pmf(np.arange(31), 30, 0.1)
    assert small.noise == pytest.approx(exact_noise, abs=0.004) and small.noise_95 > small.noise
    large = expected_calibration_error(np.full(20_000, 0.1), rng.random(20_000) < 0.1)
    assert large.noise < 0.01
    honest = [expected_calibration_error(np.full(300, 0.1), rng.random(300) < 0.1) for _ in range(200)]
    assert np.mean([r.ece > r.noise_95 for r in honest]) < 0.1  # an exact chance passes its own 95 % line
    doubled = expected_calibration_error(np.full(300, 0.2), rng.random(300) < 0.1)
    assert doubled.ece > doubled.noise_95  # a chance twice the truth stands out of the noise
    certain = expected_calibration_error(np.array([0.0, 0.0, 1.0, 1.0]), np.array([0, 0, 1, 1]), bins=2)
    assert certain.noise == certain.noise_95 == 0.0


def test_rows_of_chances_give_the_mean_over_the_rows() -> None:
    """Several rows of chances for the same pairs (out of fold under different fold assignments): each
    row is binned on its own and every figure is the mean over the rows."""
    rng = np.random.default_rng(5)
    chance = rng.random((3, 400)) * 0.4
    observed = rng.random(400) < chance[0]
    one = [expected_calibration_error(row, observed) for row in chance]
    rows = expected_calibration_error(chance, observed)
    assert rows.ece == pytest.approx(np.mean([r.ece for r in one]))
    assert rows.ece_range == (min(r.ece for r in one), max(r.ece for r in one)) and rows.repeats == 3
    assert rows.brier == pytest.approx(np.mean([r.brier for r in one]))
    np.testing.assert_allclose(rows.table["mean_predicted"], np.mean([r.table["mean_predicted"] for r in one], axis=0))
    np.testing.assert_allclose(rows.table["observed"], np.mean([r.table["observed"] for r in one], axis=0))
    same = expected_calibration_error(np.tile(chance[0], (4, 1)), observed)
    assert same.ece == pytest.approx(one[0].ece) and same.ece_range[0] == pytest.approx(same.ece_range[1])
    with pytest.raises(ValueError, match=r"one chance per pair \(400\), got shape \(3, 300\)"):
        expected_calibration_error(chance[:, :300], observed)


def test_the_reliability_is_the_mean_over_assignments_of_people_to_folds() -> None:
    """On 300 pairs one assignment of people to folds moves the ECE by about 0.01: ``repeats``
    assignments (GroupKFold shuffled with seeds 0, 1, ...) are each fitted out of fold and their
    figures averaged; the map that predicts is fitted on every pair either way."""
    scores, labels, groups = _world(300, seed=6)
    repeated = Calibrator(repeats=8).fit(scores, labels, groups)
    single = Calibrator(repeats=1).fit(scores, labels, groups)
    per_assignment = []
    for seed in range(8):
        chances = np.empty(len(scores))
        for train, test in GroupKFold(5, shuffle=True, random_state=seed).split(scores, labels, groups):
            chances[test] = Calibrator(repeats=1).fit(scores[train], labels[train], groups[train]).predict(scores[test])
        per_assignment.append(expected_calibration_error(chances, labels).ece)
    assert repeated.reliability_.ece == pytest.approx(np.mean(per_assignment))
    assert repeated.reliability_.ece_range == pytest.approx((min(per_assignment), max(per_assignment)))
    assert max(per_assignment) - min(per_assignment) > 0.005  # why one assignment is not enough
    assert single.reliability_.ece == pytest.approx(per_assignment[0]) and single.reliability_.repeats == 1
    np.testing.assert_array_equal(repeated.predict(scores), single.predict(scores))
    again = Calibrator.from_dict(repeated.to_dict())
    assert again.repeats == 8 and again.reliability_.ece_range == repeated.reliability_.ece_range
    with pytest.raises(ValueError, match="repeats must be at least 1, got 0"):
        Calibrator(repeats=0).fit(scores, labels, groups)
    with pytest.raises(ValueError, match="repeats"):
        CalibrationConfig(repeats=0)


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_a_fitted_calibrator_recovers_the_true_chance(method: str) -> None:
    scores, labels, groups = _world(20_000, seed=1)
    calibrator = Calibrator(method).fit(scores, labels, groups)
    grid = np.linspace(-2, 2.5, 10)
    tolerance = 0.03 if method == "platt" else 0.07  # isotonic is a step function fitted on noisy labels
    np.testing.assert_allclose(calibrator.predict(grid), 1 / (1 + np.exp(-(2 * grid - 2))), atol=tolerance)
    assert calibrator.reliability_.ece < 0.02  # out of fold
    brier = np.mean((1 / (1 + np.exp(-(2 * scores - 2))) - labels) ** 2)  # the true chance's own Brier score
    assert calibrator.reliability_.brier == pytest.approx(brier, abs=0.003)
    assert calibrator.reliability_.base_rate == pytest.approx(labels.mean())
    again = Calibrator.from_dict(calibrator.to_dict())
    np.testing.assert_array_equal(again.predict(scores[:100]), calibrator.predict(scores[:100]))
    assert again.reliability_.ece == calibrator.reliability_.ece and again.reliability_.brier == calibrator.reliability_.brier


def _context_world(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pairs whose true chance is sigmoid(1.5 * score - 1.2 * unknowns - 1): the second context column
    (a distance ratio) does not matter. A few unknown distances are NaN."""
    rng = np.random.default_rng(seed)
    scores, unknowns, distance = rng.normal(0, 1, n), rng.integers(0, 4, n).astype(float), rng.random(n) * 2
    truth = 1 / (1 + np.exp(-(1.5 * scores - 1.2 * unknowns - 1)))
    distance[rng.random(n) < 0.05] = np.nan
    return scores, (rng.random(n) < truth).astype(int), np.repeat(np.arange(n // 5 + 1), 5)[:n], np.column_stack([unknowns, distance])


def test_the_context_makes_chances_comparable_across_people() -> None:
    """The same score means a lower chance for a pair with more unknown values; a context column the
    outcomes do not support moves the chance by almost nothing; a missing value reads as the median."""
    scores, labels, groups, context = _context_world(40_000, seed=3)
    calibrator = Calibrator(context=("to_check_count", "distance_ratio"), regularization=10.0).fit(
        scores, labels, groups, context)
    grid = np.linspace(-1.5, 2.0, 8)
    for unknowns in (0.0, 2.0):
        at = np.column_stack([np.full(8, unknowns), np.full(8, 1.0)])
        np.testing.assert_allclose(calibrator.predict(grid, at), 1 / (1 + np.exp(-(1.5 * grid - 1.2 * unknowns - 1))),
                                   atol=0.03)
    near, far = (calibrator.predict(grid, np.column_stack([np.ones(8), np.full(8, d)])) for d in (0.1, 1.9))
    assert np.abs(near - far).max() < 0.02
    median = np.nanmedian(context[:, 1])
    np.testing.assert_allclose(calibrator.predict(grid, np.column_stack([np.ones(8), np.full(8, np.nan)])),
                               calibrator.predict(grid, np.column_stack([np.ones(8), np.full(8, median)])))
    assert calibrator.reliability_.ece < 0.02
    score_only = Calibrator().fit(scores, labels, groups)
    assert score_only.reliability_.ece < 0.02  # both calibrated on average; only the context separates the pairs
    unknown_heavy = context[:, 0] == 3
    assert abs(calibrator.predict(scores, context)[unknown_heavy].mean() - labels[unknown_heavy].mean()) < 0.01
    assert score_only.predict(scores)[unknown_heavy].mean() > labels[unknown_heavy].mean() + 0.05
    again = Calibrator.from_dict(calibrator.to_dict())
    np.testing.assert_array_equal(again.predict(scores[:100], context[:100]), calibrator.predict(scores[:100], context[:100]))
    assert again.context == ("to_check_count", "distance_ratio")


def test_a_fact_that_comes_out_against_its_direction_is_left_out() -> None:
    """Outcomes that rise with the commute and with unknown values (a small window's accident, here
    planted) cannot make the chance rise with either: both weights are 0 and the chance reads the
    score alone; where the commute lowers the outcomes its weight stays negative."""
    rng = np.random.default_rng(5)
    n = 20_000
    scores, unknowns, distance = rng.normal(0, 1, n), rng.integers(0, 4, n).astype(float), rng.random(n) * 2
    groups = np.repeat(np.arange(n // 5), 5)
    names = ("to_check_count", "distance_ratio")
    for sign in (1.0, -1.0):
        truth = 1 / (1 + np.exp(-(1.0 * scores + sign * (0.8 * distance + 0.5 * unknowns) - 1.5)))
        labels = (rng.random(n) < truth).astype(int)
        calibrator = Calibrator(context=names).fit(scores, labels, groups, np.column_stack([unknowns, distance]))
        weights = calibrator.weights()
        assert weights["score"] > 0
        if sign > 0:
            assert weights["to_check_count"] == 0.0 and weights["distance_ratio"] == 0.0
            near, far = (calibrator.predict(scores[:50], np.column_stack([np.full(50, u), np.full(50, d)]))
                         for u, d in ((0.0, 0.1), (3.0, 1.9)))
            np.testing.assert_allclose(near, far)
        else:
            assert weights["to_check_count"] < 0 and weights["distance_ratio"] < 0


def test_a_score_only_calibration_saved_before_the_context_still_loads() -> None:
    payload = {"params": {"method": "platt", "slope": 2.0, "intercept": -2.0}, "folds": 5, "bins": 10, "ece": 0.01,
               "pairs": 100, "base_rate": 0.2, "table": {"pairs": [100], "mean_predicted": [0.2], "observed": [0.2]}}
    calibrator = Calibrator.from_dict(payload)
    assert calibrator.context == () and calibrator.repeats == calibrator.reliability_.repeats == 1
    np.testing.assert_allclose(calibrator.predict(np.array([1.0, 0.0])), [0.5, 1 / (1 + np.exp(2.0))])


def test_bad_calibration_context_raises() -> None:
    scores, labels, groups, context = _context_world(200, seed=4)
    names = ("to_check_count", "distance_ratio")
    with pytest.raises(ValueError, match="'distance' is not a pair feature"):
        Calibrator(context=("distance",)).fit(scores, labels, groups, context[:, :1])
    with pytest.raises(ValueError, match="'distance' is not a pair feature"):
        CalibrationConfig(context=("distance",))
    with pytest.raises(ValueError, match="names a feature twice"):
        CalibrationConfig(context=("openings", "openings"))
    with pytest.raises(ValueError, match="isotonic calibration reads the score only"):
        CalibrationConfig(method="isotonic")
    with pytest.raises(ValueError, match="isotonic calibration reads the score only"):
        Calibrator("isotonic", context=names).fit(scores, labels, groups, context)
    with pytest.raises(ValueError, match="reads the pairs' to_check_count, distance_ratio beside the score"):
        Calibrator(context=names).fit(scores, labels, groups)
    with pytest.raises(ValueError, match=r"one column per name .* got shape \(200, 1\)"):
        Calibrator(context=names).fit(scores, labels, groups, context[:, :1])
    with pytest.raises(ValueError, match=r"one row per pair .* got shape \(100, 2\)"):
        Calibrator(context=names).fit(scores, labels, groups, context[:100])
    with pytest.raises(ValueError, match="regularization must be above 0"):
        Calibrator(context=names, regularization=0.0).fit(scores, labels, groups, context)
    with pytest.raises(ValueError, match="extra"):
        CalibrationConfig(contexts=("openings",))
    fitted = Calibrator(context=names).fit(scores, labels, groups, context)
    with pytest.raises(ValueError, match="reads the pairs' to_check_count, distance_ratio beside the score"):
        fitted.predict(scores)
    assert CalibrationConfig(method="isotonic", context=()).context == ()


def test_bad_calibration_input_raises() -> None:
    scores, labels, groups = _world(100, seed=2)
    with pytest.raises(ValueError, match="at least 20 pairs"):
        Calibrator().fit(scores[:10], labels[:10], groups[:10])
    with pytest.raises(ValueError, match="both successes and others"):
        Calibrator().fit(scores, np.zeros(100, int), groups)
    with pytest.raises(ValueError, match="one entry per pair"):
        Calibrator().fit(scores, labels[:50], groups)
    with pytest.raises(ValueError, match="method must be 'platt' or 'isotonic'"):
        Calibrator("beta").fit(scores, labels, groups)
    with pytest.raises(NotFittedError, match="not fitted"):
        Calibrator().predict(scores)


def test_levels_say_what_a_chance_means() -> None:
    assert [name for name, _ in LEVELS] == ["good", "possible", "long_shot"]
    assert (level_of(0.3), level_of(0.25), level_of(0.2), level_of(0.1), level_of(0.02)) == (
        "good", "good", "possible", "possible", "long_shot")
    assert level_of(float("nan")) is None and level_of(None) is None


def test_the_nightly_table_carries_the_champions_calibrated_chance(served_world: ServedWorld, tmp_path) -> None:  # noqa: ANN001
    pipeline, _ = load_champion(served_world.workdir)
    assert pipeline.calibrator_ is not None, pipeline.training_summary_
    assert pipeline.training_summary_["calibration_ece"] == round(pipeline.calibrator_.reliability_.ece, 4)
    outputs = run_nightly(served_world.settings, served_world.data_dir, served_world.as_of, tmp_path / "recs.csv",
                          k=5, reports=False)
    table = pd.read_csv(outputs.table, dtype={"participant_id": str, "vacancy_id": str})
    assert table["p_outcome"].between(0, 1).all()
    # each row's chance is the champion's map of its score and its own context, the same for everyone
    assert pipeline.calibrator_.context == pipeline.config.calibration.context != ()


def test_each_listed_chance_reads_its_own_pairs_context(served_world: ServedWorld) -> None:
    """The batch's p_outcome of a row is the calibration of that row's score and features: rescoring the
    listed pairs gives the same chances, with or without the allocation."""
    pipeline, _ = load_champion(served_world.workdir)
    bundle = load_data(served_world.data_dir)
    state = pipeline.prepare_vacancies(bundle.vacancies)
    for allocation in (None, AllocationConfig(k=5)):
        table = run_batch(pipeline, bundle.participants, state, served_world.as_of, k=5, allocation=allocation).frame
        assert len(table) and table["p_outcome"].between(0, 1).all()
        people = bundle.participants[bundle.participants["participant_id"].isin(table["participant_id"])].reset_index(drop=True)
        p = pd.Index(people["participant_id"]).get_indexer(table["participant_id"])
        v = state.jobs.id_index.get_indexer(table["vacancy_id"])
        scored = pipeline.score_pairs(people, state, CandidatePairs(p, v), served_world.as_of)
        np.testing.assert_allclose(table["score"], scored.scores, rtol=1e-6)
        np.testing.assert_allclose(table["p_outcome"], pipeline.chance(scored.scores, scored.features.matrix), rtol=1e-6)
