"""Learning to rank vacancies for a participant: LightGBM over the pair features.

Labels are relevance grades derived from a pair's strongest outcome event (``GRADES``: what a coach
counts as success); rows of one participant form one query group. The default objective is binary
(the chance of a success per pair met); LambdaRank over the grades is the alternative
(``RankerConfig.objective``). The model is trained with LightGBM's native API, keeps the
domain's known directions as monotone constraints (``features.MONOTONE``), and is saved as
LightGBM's own text model plus a JSON sidecar, never pickled, so loading a file cannot run code.

Boosting from the prior: with ``RankerConfig.prior_weight`` w > 0 the trees start from w * the fixed,
documented linear ``prior`` (LightGBM's ``init_score``) and learn only what the outcomes add to it;
the score is w * prior + trees. Where the outcomes say nothing (few of them, or regions of pairs
that were never shown to anyone) the prior's order stands.

Cold start: with few labelled pairs the ranker still trains (groups of one row and groups without
any positive are accepted) and ``min_child_samples`` shrinks with the data (see
``effective_min_child_samples``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sklearn.exceptions import NotFittedError

from ilona_match.contract.events import MAX_GRADE
from ilona_match.matching.features import CATEGORICAL, MONOTONE

__all__ = [
    "PRIOR_TERMS",
    "LambdaRanker",
    "RankerConfig",
    "effective_min_child_samples",
    "prior_score",
]

_log = logging.getLogger(__name__)

# feature -> (weight, neutral value, clip low, clip high); a term is weight * (clip(x) - neutral),
# and a missing value (NaN) is the neutral value, i.e. contributes nothing. "Neutral" is the value
# that carries no evidence either way: half coverage, orthogonal texts (cosine 0), exactly at the
# person's commuting limit, no stated sector preference.
PRIOR_TERMS: dict[str, tuple[float, float, float, float]] = {
    "required_coverage": (1.0, 0.5, 0.0, 1.0),
    "occupation_skill_coverage": (0.5, 0.5, 0.0, 1.0),
    "dense_concept": (1.0, 0.0, -1.0, 1.0),
    "dense_text": (1.0, 0.0, -1.0, 1.0),
    "lexical": (0.5, 0.0, 0.0, 1.0),
    "distance_ratio": (-0.5, 1.0, 0.0, 3.0),
    "sector_preferred": (0.5, 0.5, 0.0, 1.0),
}  # the history features are not in it: what people look at is learned from their logs, not assumed a success

_MODEL_FILE = "model.txt"
_SIDECAR_FILE = "ranker.json"
_FORMAT = "ilona-match/lambda-ranker"
_FORMAT_VERSION = 1
_MAX_GROUP_ROWS = 10_000  # LightGBM's limit on rows per query (ranking objectives and NDCG)
_ROWS_PER_CHILD = 20  # tiny data: at most one leaf's minimum per this many rows


def prior_score(X: np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    """The fixed linear prior of each row: sum of ``PRIOR_TERMS`` over the features present.

    Features of ``PRIOR_TERMS`` that ``feature_names`` lacks contribute nothing.
    """
    return _prior_terms(np.asarray(X, dtype=np.float64), feature_names).sum(axis=1)


def _prior_terms(X: np.ndarray, feature_names: Sequence[str]) -> np.ndarray:
    """Per-feature prior contributions, shape (n, len(feature_names)); zero for non-prior features."""
    terms = np.zeros(X.shape, dtype=np.float64)
    for column, name in enumerate(feature_names):
        if name in PRIOR_TERMS:
            weight, neutral, low, high = PRIOR_TERMS[name]
            value = np.clip(X[:, column], low, high)
            terms[:, column] = weight * (np.where(np.isnan(value), neutral, value) - neutral)
    return terms


def effective_min_child_samples(configured: int, n_rows: int) -> int:
    """``configured``, lowered to ``max(2, n_rows // 20)`` on tiny data so trees can still split.

    With the default 20 this changes nothing from 400 training rows on; below that a tree keeps
    room for about 20 leaves' worth of minimum-size children instead of learning a constant.
    """
    return min(configured, max(2, n_rows // _ROWS_PER_CHILD))


class RankerConfig(BaseModel):
    """LightGBM settings of the ranker (names as in LightGBM's scikit-learn API where they exist)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    objective: Literal["lambdarank", "binary"] = Field(
        "binary", description="lambdarank (graded, per participant); binary: the chance of a success (grade >= 1) "
        "per pair, pointwise"
    )
    num_leaves: int = Field(7, gt=1)
    learning_rate: float = Field(0.05, gt=0)
    n_estimators: int = Field(500, gt=0, description="boosting rounds (the most; early stopping may use fewer)")
    min_child_samples: int = Field(40, gt=0, description="lowered on tiny data, see effective_min_child_samples")
    feature_fraction: float = Field(0.9, gt=0, le=1)
    bagging_fraction: float = Field(0.8, gt=0, le=1, description="share of queries (lambdarank) or rows per bag")
    bagging_freq: int = Field(1, ge=0, description="re-bag every this many rounds; 0 = no bagging")
    lambdarank_truncation_level: int = Field(20, gt=0)
    eval_at: int = Field(10, gt=0, description="early stopping watches NDCG at this cut-off")
    early_stopping_rounds: int = Field(50, ge=0, description="0 = no early stopping")
    use_monotone: bool = Field(True, description="keep features.MONOTONE directions")
    seed: int = 0
    num_threads: int = Field(0, ge=0, description="0 = LightGBM's default (OpenMP)")
    label_gain: tuple[float, ...] = Field(
        tuple(float(2**grade - 1) for grade in range(MAX_GRADE + 1)), description="gain of each grade"
    )
    prior_weight: float = Field(
        1.0, ge=0, description="boost from prior_weight * prior (init_score): predict = prior_weight * prior + trees")

    @field_validator("label_gain")
    @classmethod
    def _gains_cover_grades(cls, gains: tuple[float, ...]) -> tuple[float, ...]:
        if len(gains) <= MAX_GRADE:
            raise ValueError(f"label_gain needs one gain per grade 0..{MAX_GRADE}, got {len(gains)}")
        if any(gain < 0 for gain in gains) or any(b < a for a, b in zip(gains, gains[1:])):
            raise ValueError("label_gain must be non-negative and non-decreasing")
        return gains


def _check_matrix(name: str, X: Any, n_features: int, feature_names: Sequence[str] | None = None) -> np.ndarray:
    """``X`` as a 2-D float array with ``n_features`` columns (a DataFrame must name them in order)."""
    if isinstance(X, pd.DataFrame):
        if feature_names is not None and list(X.columns) != list(feature_names):
            raise ValueError(f"{name} columns do not match the ranker's feature names in order")
        X = X.to_numpy(dtype=np.float64, na_value=np.nan)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {X.shape}")
    if X.dtype.kind not in "fiub":
        raise ValueError(f"{name} must be numeric, got dtype {X.dtype}")
    if X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} feature columns, the ranker expects {n_features}")
    return X if X.dtype.kind == "f" else X.astype(np.float64)


def _check_labels(name: str, y: Any, n_rows: int, max_label: int) -> np.ndarray:
    y = np.asarray(y)
    if y.shape != (n_rows,):
        raise ValueError(f"{name} must be 1-D with one grade per row: {n_rows} rows, shape {y.shape}")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all() or (y != np.round(y)).any():
            raise ValueError(f"{name} must hold whole-number grades")
    elif y.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer grades, got dtype {y.dtype}")
    y = y.astype(np.int64)
    if n_rows and (y.min() < 0 or y.max() > max_label):
        raise ValueError(f"{name} must lie in 0..{max_label} (one gain per grade in label_gain)")
    return y


def _check_group(name: str, group: Any, n_rows: int) -> np.ndarray:
    group = np.asarray(group)
    if group.ndim != 1 or (group.size and group.dtype.kind not in "iu"):
        raise ValueError(f"{name} must be a 1-D array of integer group sizes")
    group = group.astype(np.int64)
    if (group < 1).any():
        raise ValueError(f"{name} sizes must be >= 1")
    if group.sum() != n_rows:
        raise ValueError(f"{name} sizes sum to {group.sum()}, but there are {n_rows} rows")
    if group.size and group.max() > _MAX_GROUP_ROWS:
        raise ValueError(f"{name} has a group of {group.max()} rows; LightGBM allows at most {_MAX_GROUP_ROWS}")
    return group


def _groups_without_positive(y: np.ndarray, group: np.ndarray) -> int:
    """How many groups have no row of grade >= 1 (they carry no LambdaRank gradient)."""
    starts = np.concatenate([[0], np.cumsum(group)[:-1]])
    return int((np.maximum.reduceat(y, starts) == 0).sum()) if len(group) else 0


class LambdaRanker:
    """Scores participant–vacancy pairs; a higher score ranks higher within a participant.

    Fitted attributes: ``booster_`` (lightgbm.Booster), ``best_iteration_``, ``feature_names_``,
    ``evals_result_`` (validation NDCG per round, empty without a validation set), ``params_``
    (the LightGBM parameters used) and ``groups_without_positive_``.
    """

    def __init__(self, config: RankerConfig | None = None) -> None:
        self.config = config or RankerConfig()
        self.booster_: lgb.Booster | None = None

    def _params(self, feature_names: Sequence[str], n_rows: int) -> dict[str, Any]:
        config = self.config
        params: dict[str, Any] = {
            "objective": config.objective,
            "metric": "ndcg",
            "eval_at": [config.eval_at],
            "label_gain": list(config.label_gain),
            "num_leaves": config.num_leaves,
            "learning_rate": config.learning_rate,
            "min_child_samples": effective_min_child_samples(config.min_child_samples, n_rows),
            "feature_fraction": config.feature_fraction,
            "bagging_fraction": config.bagging_fraction,
            "bagging_freq": config.bagging_freq,
            "seed": config.seed,
            "deterministic": True,
            "force_row_wise": True,  # LightGBM asks for a fixed histogram layout with deterministic
            "num_threads": config.num_threads,
            "verbosity": -1,
        }
        if config.objective == "lambdarank":
            params["lambdarank_truncation_level"] = config.lambdarank_truncation_level
            params["bagging_by_query"] = config.bagging_freq > 0 and config.bagging_fraction < 1
        if config.use_monotone:
            params["monotone_constraints"] = [MONOTONE.get(name, 0) for name in feature_names]
        return params

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        group: np.ndarray,
        feature_names: Sequence[str],
        X_valid: np.ndarray | None = None,
        y_valid: np.ndarray | None = None,
        group_valid: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> LambdaRanker:
        """Train on rows ``X`` with grades ``y``; ``group`` holds the sizes of consecutive query groups.

        With a validation set, training stops when its NDCG@``eval_at`` has not improved for
        ``early_stopping_rounds`` rounds and keeps the best round.
        """
        feature_names = [str(name) for name in feature_names]
        if len(set(feature_names)) != len(feature_names):
            raise ValueError("feature_names must be unique")
        n_features = len(feature_names)
        X = _check_matrix("X", X, n_features, feature_names)
        if X.shape[0] == 0:
            raise ValueError("cannot fit a ranker on 0 rows")
        max_label = len(self.config.label_gain) - 1
        y = _check_labels("y", y, X.shape[0], max_label)
        group = _check_group("group", group, X.shape[0])
        weight = None
        if sample_weight is not None:
            weight = np.asarray(sample_weight, dtype=np.float64)
            if weight.shape != (X.shape[0],) or not np.isfinite(weight).all() or (weight < 0).any():
                raise ValueError("sample_weight must be 1-D, one finite non-negative weight per row")
        given = [part is not None for part in (X_valid, y_valid, group_valid)]
        if any(given) and not all(given):
            raise ValueError("give X_valid, y_valid and group_valid together, or none of them")

        params = self._params(feature_names, X.shape[0])
        categorical = [name for name in feature_names if name in CATEGORICAL]
        base = self.config.prior_weight
        train_set = lgb.Dataset(
            X, label=self._label(y), group=group, weight=weight, feature_name=feature_names,
            categorical_feature=categorical, params=params, free_raw_data=True,
            init_score=base * prior_score(X, feature_names) if base else None,
        )
        valid_sets: list[lgb.Dataset] = []
        evals_result: dict[str, Any] = {}
        callbacks: list[Any] = []
        if all(given):
            X_valid = _check_matrix("X_valid", X_valid, n_features, feature_names)
            y_valid = _check_labels("y_valid", y_valid, X_valid.shape[0], max_label)
            group_valid = _check_group("group_valid", group_valid, X_valid.shape[0])
            valid_sets.append(lgb.Dataset(X_valid, label=self._label(y_valid), group=group_valid, reference=train_set,
                                          init_score=base * prior_score(X_valid, feature_names) if base else None))
            callbacks.append(lgb.record_evaluation(evals_result))
            if self.config.early_stopping_rounds:
                callbacks.append(lgb.early_stopping(self.config.early_stopping_rounds, verbose=False))

        without_positive = _groups_without_positive(y, group)
        if without_positive:
            _log.info("%d of %d training groups have no pair of grade >= 1 (no ranking signal)",
                      without_positive, len(group))
        booster = lgb.train(
            params, train_set, num_boost_round=self.config.n_estimators,
            valid_sets=valid_sets, valid_names=["valid"] if valid_sets else None, callbacks=callbacks,
        )
        if booster.feature_importance("split").sum() == 0:
            _log.warning("the ranker learned no split from %d rows: it adds nothing to %s", X.shape[0],
                         "the prior" if base else "a constant (boost from the prior with prior_weight > 0)")
        self.booster_ = booster
        self.best_iteration_ = booster.best_iteration if booster.best_iteration > 0 else booster.current_iteration()
        self.feature_names_ = feature_names
        self.evals_result_ = evals_result
        self.params_ = params
        self.groups_without_positive_ = without_positive
        return self

    def _label(self, y: np.ndarray) -> np.ndarray:
        """Grades for lambdarank; success (grade >= 1) or not for the binary objective."""
        return (y >= 1).astype(np.int64) if self.config.objective == "binary" else y

    def _fitted(self) -> lgb.Booster:
        if self.booster_ is None:
            raise NotFittedError("this LambdaRanker is not fitted yet: call fit(...) or LambdaRanker.load(directory)")
        return self.booster_

    def model_score(self, X: np.ndarray) -> np.ndarray:
        """The LightGBM raw score alone (no prior)."""
        booster = self._fitted()
        X = _check_matrix("X", X, len(self.feature_names_), self.feature_names_)
        return booster.predict(X, raw_score=True, num_iteration=self.best_iteration_)

    def prior(self, X: np.ndarray) -> np.ndarray:
        """The fixed linear prior (``prior_score``) on this ranker's features."""
        self._fitted()
        X = _check_matrix("X", X, len(self.feature_names_), self.feature_names_)
        return prior_score(X, self.feature_names_)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Ranking score of each row: ``prior_weight`` * prior + the trees (boosted from it)."""
        score = self.model_score(X)
        if self.config.prior_weight:
            score = score + self.config.prior_weight * self.prior(X)
        return score

    def contributions(self, X: np.ndarray) -> np.ndarray:
        """Per-feature parts of ``predict``: shape (n, F + 1), the last column the bias.

        The model part is LightGBM's SHAP values (``pred_contrib=True``); the weighted prior is
        linear, so each prior term is added to its own feature. Rows sum to ``predict(X)``.
        """
        booster = self._fitted()
        X = _check_matrix("X", X, len(self.feature_names_), self.feature_names_)
        parts = np.asarray(booster.predict(X, pred_contrib=True, num_iteration=self.best_iteration_))
        if self.config.prior_weight:
            parts[:, :-1] += self.config.prior_weight * _prior_terms(np.asarray(X, np.float64), self.feature_names_)
        return parts

    def feature_importance(self, kind: Literal["gain", "split"] = "gain") -> pd.Series:
        """Total gain (or number of splits) per feature, largest first."""
        booster = self._fitted()
        if kind not in ("gain", "split"):
            raise ValueError(f"kind must be 'gain' or 'split', got {kind!r}")
        values = booster.feature_importance(kind, iteration=self.best_iteration_)
        series = pd.Series(values, index=pd.Index(self.feature_names_, name="feature"), name=kind, dtype=float)
        return series.sort_values(ascending=False, kind="stable")

    def save(self, directory: str | Path) -> Path:
        """Write ``model.txt`` (LightGBM's text model) and ``ranker.json`` (config, names) into ``directory``."""
        booster = self._fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        booster.save_model(directory / _MODEL_FILE, num_iteration=self.best_iteration_)
        sidecar = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "lightgbm_version": lgb.__version__,
            "config": self.config.model_dump(mode="json"),
            "feature_names": self.feature_names_,
            "best_iteration": self.best_iteration_,
            "groups_without_positive": self.groups_without_positive_,
            "params": self.params_,
        }
        (directory / _SIDECAR_FILE).write_text(json.dumps(sidecar, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> LambdaRanker:
        """Read a ranker written by ``save`` and check the model file against its sidecar."""
        directory = Path(directory)
        sidecar_path = directory / _SIDECAR_FILE
        if not sidecar_path.is_file():
            raise FileNotFoundError(f"no ranker in {directory}: {_SIDECAR_FILE} is missing")
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8"))
        if sidecar.get("format") != _FORMAT or sidecar.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"{sidecar_path} is not a version-{_FORMAT_VERSION} {_FORMAT} sidecar")
        model_path = directory / _MODEL_FILE
        if not model_path.is_file():
            raise FileNotFoundError(f"ranker in {directory} is incomplete: {_MODEL_FILE} is missing")
        booster = lgb.Booster(model_file=model_path)
        if booster.feature_name() != sidecar["feature_names"]:
            raise ValueError(f"{model_path} features do not match {_SIDECAR_FILE}")
        loaded = cls(RankerConfig(**sidecar["config"]))
        loaded.booster_ = booster
        loaded.best_iteration_ = int(sidecar["best_iteration"])
        loaded.feature_names_ = list(sidecar["feature_names"])
        loaded.evals_result_ = {}
        loaded.params_ = dict(sidecar["params"])
        loaded.groups_without_positive_ = int(sidecar["groups_without_positive"])
        return loaded
