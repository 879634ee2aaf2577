"""LambdaRanker on tiny synthetic data with a known answer, the prior, grades and boundary errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sklearn.exceptions import NotFittedError

from ilona_match.contract import EVENTS
from ilona_match.contract.events import GRADES, grade_of
from ilona_match.learning.metrics import ndcg_at_k
from ilona_match.matching.ranker import (
    PRIOR_TERMS,
    LambdaRanker,
    RankerConfig,
    effective_min_child_samples,
    prior_score,
)

# column 0 drives the grade (+1 in features.MONOTONE), 1 weakly lowers it (-1), 2 is categorical,
# 3 is pure noise
NAMES = ["required_coverage", "distance_ratio", "employer_type", "noise"]
ITEMS = 20
# the wrapper's mechanics on plain LambdaRank trees (the defaults boost a binary model from the prior)
FAST = {"n_estimators": 80, "num_threads": 1, "early_stopping_rounds": 20, "objective": "lambdarank",
        "prior_weight": 0.0, "num_leaves": 31, "min_child_samples": 20}


def _world(n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = n_queries * ITEMS
    X = np.column_stack([
        rng.random(n),
        rng.random(n) * 2,
        np.where(rng.random(n) < 0.2, np.nan, rng.integers(0, 4, n)),
        rng.normal(size=n),
    ]).astype(np.float32)
    latent = 5 * X[:, 0] - 0.5 * X[:, 1] + rng.normal(0, 0.6, n)
    y = np.clip(np.floor(latent), 0, 4).astype(np.int64)
    return X, y, np.full(n_queries, ITEMS)


def _ndcg10(scores: np.ndarray, y: np.ndarray) -> float:
    query = np.repeat(np.arange(len(y) // ITEMS), ITEMS)
    frame = pd.DataFrame({"query_id": query, "item_id": np.arange(len(y)), "score": scores})
    frame["rank"] = frame.groupby("query_id")["score"].rank(ascending=False, method="first").astype(np.int64)
    relevance = pd.DataFrame({"query_id": query, "item_id": np.arange(len(y)), "grade": y})
    return float(ndcg_at_k(frame, relevance, 10).mean())


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    X, y, group = _world(300, seed=1)
    rows = lambda start, stop: slice(start * ITEMS, stop * ITEMS)  # noqa: E731
    return {
        "X": X[rows(0, 150)], "y": y[rows(0, 150)], "group": group[:150],
        "X_valid": X[rows(150, 200)], "y_valid": y[rows(150, 200)], "group_valid": group[150:200],
        "X_test": X[rows(200, 300)], "y_test": y[rows(200, 300)],
    }


def _fit(data: dict[str, np.ndarray], **config: object) -> LambdaRanker:
    return LambdaRanker(RankerConfig(**{**FAST, **config})).fit(
        data["X"], data["y"], data["group"], NAMES,
        X_valid=data["X_valid"], y_valid=data["y_valid"], group_valid=data["group_valid"],
    )


@pytest.fixture(scope="module")
def ranker(data: dict[str, np.ndarray]) -> LambdaRanker:
    return _fit(data)


def test_grades_count_only_what_a_coach_counts_as_success() -> None:
    assert tuple(GRADES) == EVENTS
    assert list(GRADES.values()) == sorted(GRADES.values())
    # viewed, recommended, declined, applied, rejected: no success; interview, work trial, hire, retention
    np.testing.assert_array_equal(grade_of(pd.Series(list(EVENTS))), [0, 0, 0, 0, 0, 1, 2, 3, 4])
    with pytest.raises(ValueError, match="unknown outcome events.*'promoted'"):
        grade_of(pd.Series(["hired", "promoted"]))
    with pytest.raises(ValueError, match="unknown outcome events"):
        grade_of(pd.Series(["hired", None]))


def test_the_default_ranker_learns_the_chance_of_success(data: dict[str, np.ndarray]) -> None:
    """Defaults: a binary model of success (grade >= 1) per row, boosted from the prior; it ranks by the
    known signal better than the prior alone does (the prior reads only column 0 and 1 here)."""
    default = LambdaRanker(RankerConfig(num_threads=1)).fit(
        data["X"], data["y"], data["group"], NAMES, data["X_valid"], data["y_valid"], data["group_valid"])
    assert default.params_["objective"] == "binary" and default.config.prior_weight == 1.0
    learned = _ndcg10(default.predict(data["X_test"]), data["y_test"])
    assert learned > _ndcg10(prior_score(data["X_test"], NAMES), data["y_test"]) + 0.02
    assert learned > _ndcg10(np.random.default_rng(0).random(len(data["y_test"])), data["y_test"]) + 0.2


def test_ranker_learns_the_known_signal(ranker: LambdaRanker, data: dict[str, np.ndarray]) -> None:
    learned = _ndcg10(ranker.predict(data["X_test"]), data["y_test"])
    rng = np.random.default_rng(0)
    random = _ndcg10(rng.random(len(data["y_test"])), data["y_test"])
    assert learned > 0.9 and learned > random + 0.3
    importance = ranker.feature_importance()
    assert importance.index[0] == "required_coverage"
    assert importance["required_coverage"] > 10 * importance["noise"]
    assert ranker.feature_importance("split").sum() > 0
    curve = ranker.evals_result_["valid"]["ndcg@10"]
    assert 1 <= ranker.best_iteration_ <= len(curve) and max(curve) == curve[ranker.best_iteration_ - 1]


def test_a_binary_model_without_the_prior_also_learns_the_signal(data: dict[str, np.ndarray]) -> None:
    binary = _fit(data, objective="binary")
    assert binary.params_["objective"] == "binary"
    assert _ndcg10(binary.predict(data["X_test"]), data["y_test"]) > 0.8


def _grid_scores(ranker: LambdaRanker, base: np.ndarray, column: int) -> np.ndarray:
    grid = np.linspace(-0.5, 2.5, 31)
    rows = np.repeat(base, len(grid), axis=0)
    rows[:, column] = np.tile(grid, len(base))
    return ranker.predict(rows).reshape(len(base), len(grid))


def test_monotone_constraints_hold_on_a_grid(ranker: LambdaRanker, data: dict[str, np.ndarray]) -> None:
    base = data["X_test"][:40]
    assert (np.diff(_grid_scores(ranker, base, 0), axis=1) >= 0).all()  # required_coverage: +1
    assert (np.diff(_grid_scores(ranker, base, 1), axis=1) <= 0).all()  # distance_ratio: -1
    free = _fit(data, use_monotone=False)
    assert "monotone_constraints" not in free.params_
    assert (np.diff(_grid_scores(free, base, 1), axis=1) > 0).any()  # the grid check has teeth


def test_contributions_sum_to_the_prediction(ranker: LambdaRanker, data: dict[str, np.ndarray]) -> None:
    X = data["X_test"][:50]
    parts = ranker.contributions(X)
    assert parts.shape == (50, len(NAMES) + 1)
    np.testing.assert_allclose(parts.sum(axis=1), ranker.predict(X), rtol=1e-9, atol=1e-9)
    boosted = _fit(data, prior_weight=0.7)
    np.testing.assert_allclose(boosted.predict(X), boosted.model_score(X) + 0.7 * boosted.prior(X))
    np.testing.assert_allclose(boosted.contributions(X).sum(axis=1), boosted.predict(X), rtol=1e-9, atol=1e-9)


def test_boosting_from_the_prior_keeps_its_order_where_outcomes_say_nothing(data: dict[str, np.ndarray]) -> None:
    """Labels that carry no signal: boosted from the prior (and stopped early on equally empty validation
    labels), the ranker still orders rows as the prior does; without the prior it drifts away."""
    rng = np.random.default_rng(3)
    noise, noise_valid = rng.integers(0, 2, len(data["X"])), rng.integers(0, 2, len(data["X_valid"]))

    def fit(prior_weight: float) -> LambdaRanker:
        config = RankerConfig(n_estimators=40, num_threads=1, early_stopping_rounds=10, prior_weight=prior_weight)
        return LambdaRanker(config).fit(data["X"], noise, data["group"], NAMES, data["X_valid"], noise_valid,
                                        data["group_valid"])

    prior = prior_score(data["X_test"], NAMES)
    assert np.corrcoef(fit(1.0).predict(data["X_test"]), prior)[0, 1] > 0.9
    assert np.corrcoef(fit(0.0).predict(data["X_test"]), prior)[0, 1] < 0.8


def test_save_load_round_trip(ranker: LambdaRanker, data: dict[str, np.ndarray], tmp_path: Path) -> None:
    ranker.save(tmp_path / "ranker")
    model_text = (tmp_path / "ranker" / "model.txt").read_text(encoding="utf-8")
    assert model_text.startswith("tree\nversion=v4") and "feature_names=required_coverage" in model_text
    sidecar = json.loads((tmp_path / "ranker" / "ranker.json").read_text(encoding="utf-8"))
    assert sidecar["feature_names"] == NAMES and sidecar["config"]["n_estimators"] == FAST["n_estimators"]
    loaded = LambdaRanker.load(tmp_path / "ranker")
    assert loaded.config == ranker.config and loaded.best_iteration_ == ranker.best_iteration_
    np.testing.assert_array_equal(loaded.predict(data["X_test"]), ranker.predict(data["X_test"]))
    np.testing.assert_array_equal(loaded.contributions(data["X_test"][:5]), ranker.contributions(data["X_test"][:5]))
    pd.testing.assert_series_equal(loaded.feature_importance(), ranker.feature_importance())


def test_load_rejects_missing_or_mismatched_files(ranker: LambdaRanker, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="ranker.json is missing"):
        LambdaRanker.load(tmp_path)
    ranker.save(tmp_path)
    sidecar_path = tmp_path / "ranker.json"
    sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
    sidecar_path.write_text(json.dumps({**sidecar, "feature_names": [*NAMES[:-1], "other"]}), encoding="utf-8")
    with pytest.raises(ValueError, match="features do not match"):
        LambdaRanker.load(tmp_path)
    sidecar_path.write_text(json.dumps({**sidecar, "format_version": 99}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a version-1"):
        LambdaRanker.load(tmp_path)
    sidecar_path.write_text(json.dumps(sidecar), encoding="utf-8")
    (tmp_path / "model.txt").unlink()
    with pytest.raises(FileNotFoundError, match="model.txt is missing"):
        LambdaRanker.load(tmp_path)


def test_two_fits_are_identical(ranker: LambdaRanker, data: dict[str, np.ndarray]) -> None:
    np.testing.assert_array_equal(_fit(data).predict(data["X_test"]), ranker.predict(data["X_test"]))


def test_predict_accepts_a_frame_with_the_feature_columns(ranker: LambdaRanker, data: dict[str, np.ndarray]) -> None:
    frame = pd.DataFrame(data["X_test"][:10], columns=NAMES)
    np.testing.assert_array_equal(ranker.predict(frame), ranker.predict(data["X_test"][:10]))
    with pytest.raises(ValueError, match="columns do not match"):
        ranker.predict(frame[NAMES[::-1]])


def test_cold_start_tiny_groups_singletons_and_groups_without_positive(caplog: pytest.LogCaptureFixture) -> None:
    X, y, _ = _world(3, seed=3)
    X, y = X[:40], y[:40].copy()
    group = np.array([1, 1, 3, 5, 10, 20])
    y[2:5] = 0  # the size-3 group has no positive; singletons have no pairs at all
    y[0], y[1] = 0, 3
    with caplog.at_level(logging.INFO, logger="ilona_match.matching.ranker"):
        tiny = LambdaRanker(RankerConfig(n_estimators=30, num_threads=1)).fit(X, y, group, NAMES)
    assert tiny.groups_without_positive_ == 2
    assert "2 of 6 training groups have no pair of grade >= 1" in caplog.text
    assert tiny.params_["min_child_samples"] == 2  # lowered from 20 for 40 rows
    assert tiny.feature_importance("split").sum() > 0 and np.ptp(tiny.predict(X)) > 0
    assert tiny.evals_result_ == {} and tiny.best_iteration_ == 30


def test_no_signal_at_all_gives_a_constant_model_and_the_prior_ranks(caplog: pytest.LogCaptureFixture) -> None:
    X, _, group = _world(10, seed=4)
    with caplog.at_level(logging.WARNING, logger="ilona_match.matching.ranker"):
        ranker = LambdaRanker(RankerConfig(n_estimators=20, num_threads=1, prior_weight=1.0)).fit(
            X, np.zeros(len(X), np.int64), group, NAMES
        )
    assert "learned no split" in caplog.text
    assert np.ptp(ranker.model_score(X)) == 0
    np.testing.assert_allclose(ranker.predict(X), ranker.model_score(X) + prior_score(X, NAMES))


def test_effective_min_child_samples() -> None:
    assert effective_min_child_samples(20, 100_000) == 20
    assert effective_min_child_samples(20, 400) == 20
    assert effective_min_child_samples(20, 100) == 5
    assert effective_min_child_samples(20, 10) == 2
    assert effective_min_child_samples(1, 10) == 1


def test_prior_by_hand() -> None:
    names = ["required_coverage", "distance_ratio", "sector_preferred", "noise"]
    X = np.array([
        [1.0, 0.0, 1.0, 9.0],  # 1*(1-.5) - .5*(0-1) + .5*(1-.5)
        [np.nan, np.nan, np.nan, 1.0],  # missing = neutral
        [0.0, 5.0, 0.0, 0.0],  # distance clipped to 3: -.5 - .5*(3-1) - .25
    ])
    np.testing.assert_allclose(prior_score(X, names), [1.25, 0.0, -1.75])
    assert set(PRIOR_TERMS) == {
        "required_coverage", "occupation_skill_coverage", "dense_concept", "lexical", "dense_text",
        "distance_ratio", "sector_preferred",
    }
    assert PRIOR_TERMS["distance_ratio"][0] < 0 and all(
        weight > 0 for name, (weight, *_rest) in PRIOR_TERMS.items() if name != "distance_ratio"
    )


def test_config_rejects_unknown_and_bad_options() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        RankerConfig(n_trees=10)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="objective"):
        RankerConfig(objective="xendcg")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="one gain per grade"):
        RankerConfig(label_gain=(0.0, 1.0))
    with pytest.raises(ValidationError, match="non-decreasing"):
        RankerConfig(label_gain=(0.0, 3.0, 1.0, 7.0, 15.0))
    with pytest.raises(ValidationError, match="frozen"):
        RankerConfig().seed = 1  # type: ignore[misc]


def test_boundary_errors(ranker: LambdaRanker, data: dict[str, np.ndarray]) -> None:
    X, y, group = data["X"], data["y"], data["group"]
    with pytest.raises(NotFittedError, match="not fitted yet"):
        LambdaRanker().predict(X)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        LambdaRanker().save("unused")
    with pytest.raises(ValueError, match="has 3 feature columns, the ranker expects 4"):
        ranker.predict(X[:, :3])
    with pytest.raises(ValueError, match="must be 2-D"):
        ranker.predict(X[0])
    fresh = LambdaRanker(RankerConfig(**FAST))
    with pytest.raises(ValueError, match="sum to 3001"):
        fresh.fit(X, y, np.r_[group[:-1], ITEMS + 1], NAMES)
    with pytest.raises(ValueError, match="at most 10000"):
        fresh.fit(np.zeros((10_001, 4)), np.zeros(10_001, np.int64), [10_001], NAMES)
    with pytest.raises(ValueError, match="must lie in 0..4"):
        fresh.fit(X, np.where(y == 4, 5, y), group, NAMES)
    with pytest.raises(ValueError, match="whole-number grades"):
        fresh.fit(X, y + 0.5, group, NAMES)
    with pytest.raises(ValueError, match="feature_names must be unique"):
        fresh.fit(X, y, group, ["a", "a", "b", "c"])
    with pytest.raises(ValueError, match="expects 3"):
        fresh.fit(X, y, group, NAMES[:3])
    with pytest.raises(ValueError, match="together"):
        fresh.fit(X, y, group, NAMES, X_valid=data["X_valid"])
    with pytest.raises(ValueError, match="sample_weight"):
        fresh.fit(X, y, group, NAMES, sample_weight=-np.ones(len(y)))
    with pytest.raises(ValueError, match="0 rows"):
        fresh.fit(X[:0], y[:0], [], NAMES)
    with pytest.raises(ValidationError, match="prior_weight"):
        RankerConfig(prior_weight=-1.0)
    with pytest.raises(ValueError, match="kind must be"):
        ranker.feature_importance("cover")  # type: ignore[arg-type]
