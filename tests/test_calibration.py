"""The calibrated chance of a good outcome: known answers, the fitted map, round trips and bad input,
then the chance as the nightly job and the API hand it out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from ilona_match.learning.tracking import load_champion
from ilona_match.matching.calibration import LEVELS, Calibrator, expected_calibration_error, level_of
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


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_a_fitted_calibrator_recovers_the_true_chance(method: str) -> None:
    scores, labels, groups = _world(20_000, seed=1)
    calibrator = Calibrator(method).fit(scores, labels, groups)
    grid = np.linspace(-2, 2.5, 10)
    tolerance = 0.03 if method == "platt" else 0.07  # isotonic is a step function fitted on noisy labels
    np.testing.assert_allclose(calibrator.predict(grid), 1 / (1 + np.exp(-(2 * grid - 2))), atol=tolerance)
    assert calibrator.reliability_.ece < 0.02  # out of fold
    assert calibrator.reliability_.base_rate == pytest.approx(labels.mean())
    again = Calibrator.from_dict(calibrator.to_dict())
    np.testing.assert_array_equal(again.predict(scores[:100]), calibrator.predict(scores[:100]))
    assert again.reliability_.ece == calibrator.reliability_.ece


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
    np.testing.assert_allclose(table["p_outcome"], pipeline.chance(table["score"].to_numpy()), rtol=1e-9)
    by_score = table.sort_values("score")["p_outcome"].to_numpy()  # one scale for everyone: it follows the score
    assert (np.diff(by_score) >= -1e-12).all()
