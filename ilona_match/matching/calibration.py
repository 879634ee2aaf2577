"""A calibrated chance of a good outcome: ranker scores mapped to the probability that a pair a person
is shown leads to a success (an interview, a work trial, a hire) within the held-out window.

Ranker scores only order one person's list; a coach needs a number that means the same for every
person and every night. ``Calibrator`` is fitted on the pairs people met in the held-out window
(each scored as of the day it was met, labelled by whether it reached a success): Platt scaling
(scikit-learn's logistic regression) by default, isotonic regression on the score as the option.

The ranker's score orders one person's list and was learned from older outcomes. The default Platt
map also reads two facts of the pair itself (``CalibrationConfig.context``): how many of the
vacancy's values that matter to this person are unknown (what the coach must still check), and the
commute against the person's limit; each standardised, a missing value read as the fitted median,
with an L2 penalty (``regularization``) so a small window stays near the score. A fact whose weight
comes out against its known direction (a longer commute or more unknown values raising the chance:
``_DIRECTIONS``, the ranker's monotone features and unknown values) is left out and the rest fitted
again; on one synthetic world a window of 283 pairs learned a chance that rose with the commute, and
the allocation then moved far vacancies up every list. Learned on the most
recent window, they make chances comparable across people, which the allocation needs when it
decides who is sent to a vacancy. Facts about the person alone (months out of work, say) are left
out on purpose: the allocation would then move the people it rates lower, often the long-term
unemployed this service is for, off contested vacancies (on one synthetic world the fairness audit
blocked such a model).

``LEVELS`` turns a probability into the plain level a coach page shows, with its meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from ilona_match.matching.features import FEATURE_NAMES, MONOTONE

__all__ = ["LEVELS", "CalibrationConfig", "Calibrator", "Reliability", "expected_calibration_error", "level_of"]

Method = Literal["platt", "isotonic"]
# (level, the lowest chance it covers): "good" is about one in four or better, "possible" one in ten
LEVELS: tuple[tuple[str, float], ...] = (("good", 0.25), ("possible", 0.10), ("long_shot", 0.0))
_MIN_PAIRS = 20  # fewer pairs (or no success among them) cannot be calibrated
DEFAULT_CONTEXT: tuple[str, ...] = ("to_check_count", "distance_ratio")
# directions a chance may move with a fact (1 up, -1 down; others free): the ranker's monotone features,
# and unknown values, which can hide a conflict but never make a pair fit better
_DIRECTIONS: dict[str, int] = {**MONOTONE, "to_check_count": -1}


class CalibrationConfig(BaseModel):
    """How scores become chances (the ``matching.calibration`` settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method = Field("platt", description="platt (logistic on the score and the context) or isotonic (score only)")
    context: tuple[str, ...] = Field(DEFAULT_CONTEXT, description="platt: pair features (FEATURE_NAMES) read beside "
                                     "the score, so chances compare across people; empty: the score alone; facts of "
                                     "the person alone would steer the allocation by who the person is")
    regularization: float = Field(0.1, gt=0, description="platt with a context: C, the inverse L2 strength of the "
                                  "logistic regression on the standardised score and context")
    folds: int = Field(5, ge=2, description="folds by participant for the out-of-fold reliability")
    repeats: int = Field(20, ge=1, description="times the participants are dealt into folds afresh: the reliability "
                         "figures are the mean over these fold assignments, since on a few hundred pairs one "
                         "assignment alone moves the ECE by about ±0.01")
    bins: int = Field(10, ge=2, description="equal-count bins of the expected calibration error")

    @field_validator("context")
    @classmethod
    def _known_features(cls, context: tuple[str, ...]) -> tuple[str, ...]:
        _check_context(context)
        return context

    @model_validator(mode="after")
    def _isotonic_reads_the_score_only(self) -> CalibrationConfig:
        if self.method == "isotonic" and self.context:
            raise ValueError("isotonic calibration reads the score only: set calibration.context to []")
        return self


def _check_context(context: tuple[str, ...]) -> None:
    unknown = [name for name in context if name not in FEATURE_NAMES]
    if unknown:
        raise ValueError(f"calibration context {unknown[0]!r} is not a pair feature; known: {', '.join(FEATURE_NAMES)}")
    if len(set(context)) != len(context):
        raise ValueError(f"calibration context names a feature twice: {list(context)}")


def level_of(probability: float) -> str | None:
    """The plain level of a chance of success (None when the chance is not known)."""
    if probability is None or not np.isfinite(probability):
        return None
    return next(name for name, floor in LEVELS if probability >= floor)


@dataclass(frozen=True)
class Reliability:
    """How well predicted chances matched what happened, out of fold (with several fold assignments,
    each figure is the mean over them)."""

    ece: float  # expected calibration error over equal-count bins
    table: pd.DataFrame  # one row per bin: pairs, mean predicted, observed rate (each the mean over fold assignments)
    pairs: int
    base_rate: float
    brier: float = float("nan")  # mean squared gap between chance and outcome: compares two maps on one window
    # the ECE a perfectly calibrated chance shows on these pairs from sampling alone: its mean and 95th percentile
    noise: float = float("nan")
    noise_95: float = float("nan")
    repeats: int = 1  # fold assignments the figures are the mean of
    ece_range: tuple[float, float] = (float("nan"), float("nan"))  # the lowest and highest ECE of one assignment


_NOISE_DRAWS = 500


def expected_calibration_error(predicted: np.ndarray, observed: np.ndarray, bins: int = 10) -> Reliability:
    """ECE over ``bins`` equal-count bins of the predicted chance: the pair-weighted mean gap between each
    bin's mean prediction and its observed success rate.

    ``predicted`` is one chance per pair, or several rows of them (the out-of-fold chances of the same
    pairs under different fold assignments): then every figure is the mean over the rows, each row
    binned on its own.

    On a few hundred pairs the ECE is mostly sampling noise: bins of 30 pairs at a 10 % success rate
    miss their rate by about 0.04 even when every chance is exact. ``Reliability.noise`` is what a
    perfectly calibrated chance would show here (outcomes drawn from the predicted chances themselves,
    averaged over the rows, the same bins, a fixed seed), so an ECE can be read against it."""
    observed = np.asarray(observed, np.float64)
    rows = np.atleast_2d(np.asarray(predicted, np.float64))
    if rows.ndim != 2 or rows.shape[1] != len(observed):
        raise ValueError(f"predicted must have one chance per pair ({len(observed)}), got shape {np.shape(predicted)}")
    if len(observed) == 0:
        raise ValueError("no pairs to measure calibration on")
    orders = np.argsort(rows, axis=1, kind="stable")
    sizes = np.array([len(g) for g in np.array_split(np.arange(len(observed)), min(bins, len(observed)))], np.float64)
    starts = np.cumsum([0, *sizes[:-1]]).astype(np.int64)
    mean_predicted = np.add.reduceat(np.take_along_axis(rows, orders, axis=1), starts, axis=1) / sizes

    def ece(outcomes: np.ndarray) -> np.ndarray:  # (draws, pairs) -> the ECE of each draw, the mean over the rows
        per_row = [(sizes * np.abs(means - np.add.reduceat(outcomes[:, order], starts, axis=1) / sizes)).sum(axis=1)
                   for order, means in zip(orders, mean_predicted)]
        return np.mean(per_row, axis=0) / len(observed)

    observed_rates = np.add.reduceat(observed[orders], starts, axis=1) / sizes
    per_row = (sizes * np.abs(mean_predicted - observed_rates)).sum(axis=1) / len(observed)
    table = pd.DataFrame({"pairs": sizes.astype(np.int64), "mean_predicted": mean_predicted.mean(axis=0),
                          "observed": observed_rates.mean(axis=0)})
    chance = rows.mean(axis=0)
    rng, per_batch = np.random.default_rng(0), max(1, min(_NOISE_DRAWS, 10_000_000 // (len(observed) * len(rows))))
    noise = np.concatenate([ece((rng.random((min(per_batch, _NOISE_DRAWS - done), len(observed))) < chance)
                                .astype(np.float64)) for done in range(0, _NOISE_DRAWS, per_batch)])
    return Reliability(float(per_row.mean()), table, len(observed), float(observed.mean()),
                       float(np.mean((rows - observed) ** 2)), float(noise.mean()), float(np.quantile(noise, 0.95)),
                       len(rows), (float(per_row.min()), float(per_row.max())))


class Calibrator:
    """Scores (and, for Platt, the ``context`` features of each pair) to chances of success.

    Fitted attributes: ``params_`` (what predicts, fitted on every pair) and ``reliability_`` (out of
    fold, the mean over ``repeats`` assignments of the participants to ``folds`` folds)."""

    def __init__(self, method: Method = "platt", folds: int = 5, bins: int = 10, context: tuple[str, ...] = (),
                 regularization: float = 0.1, repeats: int = 20) -> None:
        self.method = method
        self.folds = folds
        self.bins = bins
        self.context = context
        self.regularization = regularization
        self.repeats = repeats

    def _check(self) -> None:
        if self.method not in ("platt", "isotonic"):
            raise ValueError(f"method must be 'platt' or 'isotonic', got {self.method!r}")
        if self.folds < 2 or self.bins < 2:
            raise ValueError(f"folds and bins must be at least 2, got {self.folds} and {self.bins}")
        if self.repeats < 1:
            raise ValueError(f"repeats must be at least 1, got {self.repeats}")
        if not self.regularization > 0:
            raise ValueError(f"regularization must be above 0, got {self.regularization}")
        _check_context(tuple(self.context))
        if self.method == "isotonic" and self.context:
            raise ValueError("isotonic calibration reads the score only: give no context")

    def _fit_params(self, scores: np.ndarray, labels: np.ndarray, context: np.ndarray) -> dict[str, Any]:
        if self.method == "isotonic":
            model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
            return {"method": "isotonic", "x": model.X_thresholds_.tolist(), "y": model.y_thresholds_.tolist()}
        if not self.context:
            model = LogisticRegression(C=1e4).fit(scores.reshape(-1, 1), labels)
            return {"method": "platt", "slope": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])}
        design = np.column_stack([scores, context])
        with np.errstate(all="ignore"):  # a column missing in every pair is filled with 0
            fill = np.nan_to_num(np.nanmedian(design, axis=0))
        design = np.where(np.isnan(design), fill, design)
        mean, scale = design.mean(axis=0), design.std(axis=0)
        scale = np.where(scale > 0, scale, 1.0)
        standard = (design - mean) / scale
        # a fact whose weight comes out against its known direction (a small window's chance) is left out
        # and the rest fitted again, so a chance never rises with the commute or with unknown values
        direction = np.array([1, *(_DIRECTIONS.get(name, 0) for name in self.context)])
        kept = np.ones(len(direction), dtype=bool)
        while True:
            model = LogisticRegression(C=self.regularization).fit(standard[:, kept], labels)
            coef = np.zeros(len(direction))
            coef[kept] = model.coef_[0]
            against = kept & (coef * direction < 0)
            if not against.any():
                break
            kept &= ~against
            if not kept.any():  # not even the score points the right way: a flat chance, the base rate
                model = LogisticRegression(C=self.regularization).fit(np.zeros((len(labels), 1)), labels)
                coef = np.zeros(len(direction))
                break
        return {"method": "platt", "context": list(self.context), "fill": fill.tolist(), "mean": mean.tolist(),
                "scale": scale.tolist(), "coef": coef.tolist(), "intercept": float(model.intercept_[0])}

    @staticmethod
    def _apply(params: dict[str, Any], scores: np.ndarray, context: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, np.float64)
        if params["method"] == "isotonic":
            return np.interp(scores, np.asarray(params["x"]), np.asarray(params["y"]))
        if "coef" not in params:
            return 1.0 / (1.0 + np.exp(-(params["slope"] * scores + params["intercept"])))
        design = np.column_stack([scores, context])
        design = np.where(np.isnan(design), np.asarray(params["fill"]), design)
        logit = ((design - np.asarray(params["mean"])) / np.asarray(params["scale"])) @ np.asarray(params["coef"])
        return 1.0 / (1.0 + np.exp(-(logit + params["intercept"])))

    def context_of(self, matrix: np.ndarray) -> np.ndarray | None:
        """The context columns of a pair feature matrix (FEATURE_NAMES columns); None without a context."""
        if not self.context:
            return None
        return np.asarray(matrix)[:, [FEATURE_NAMES.index(name) for name in self.context]]

    def _context(self, context: np.ndarray | None, rows: int) -> np.ndarray:
        """The context as a float (rows, len(self.context)) array, checked."""
        if not self.context:
            return np.empty((rows, 0))
        if context is None:
            raise ValueError(f"this calibration reads the pairs' {', '.join(self.context)} beside the score: give them")
        context = np.asarray(context, np.float64)
        context = context.reshape(-1, 1) if context.ndim == 1 else context
        if context.shape != (rows, len(self.context)):
            raise ValueError(f"context must have one row per pair and one column per name of {list(self.context)}, "
                             f"got shape {context.shape}")
        return context

    def fit(self, scores: np.ndarray, labels: np.ndarray, groups: np.ndarray,
            context: np.ndarray | None = None) -> Calibrator:
        """Fit on ``scores`` of pairs met, ``labels`` (1 = a success), ``groups`` (participant of each pair)
        and ``context`` (one column per name of ``self.context``, NaN where unknown)."""
        self._check()
        scores, labels, groups = np.asarray(scores, np.float64), np.asarray(labels).astype(int), np.asarray(groups)
        if not (len(scores) == len(labels) == len(groups)):
            raise ValueError(f"scores, labels and groups must have one entry per pair, got "
                             f"{len(scores)}, {len(labels)}, {len(groups)}")
        context = self._context(context, len(scores))
        if len(scores) < _MIN_PAIRS or labels.min(initial=0) == labels.max(initial=0):
            raise ValueError(f"calibration needs at least {_MIN_PAIRS} pairs with both successes and others, got "
                             f"{len(scores)} pairs and {int(labels.sum())} successes")
        out_of_fold = np.empty((self.repeats, len(scores)))
        folds = min(self.folds, len(np.unique(groups)))
        for repeat, chances in enumerate(out_of_fold):
            splits = GroupKFold(n_splits=folds, shuffle=True, random_state=repeat).split(scores, labels, groups)
            for train, test in splits:
                if labels[train].min() == labels[train].max():  # one class in this fold's training part
                    chances[test] = labels[train].mean()
                    continue
                params = self._fit_params(scores[train], labels[train], context[train])
                chances[test] = self._apply(params, scores[test], context[test])
        self.reliability_ = expected_calibration_error(out_of_fold, labels, self.bins)
        self.params_ = self._fit_params(scores, labels, context)
        return self

    def predict(self, scores: np.ndarray, context: np.ndarray | None = None) -> np.ndarray:
        """The chance of a success of each score (with each pair's ``context`` when the map reads one)."""
        if not hasattr(self, "params_"):
            raise NotFittedError("this Calibrator is not fitted: call fit(scores, labels, groups)")
        scores = np.asarray(scores, np.float64)
        return self._apply(self.params_, scores, self._context(context, len(scores)))

    def weights(self) -> dict[str, float]:
        """Platt with a context: each input's weight per standard deviation (score first), so a reader sees
        what moves a chance across people; empty for the score-only maps."""
        if not hasattr(self, "params_"):
            raise NotFittedError("this Calibrator is not fitted")
        if "coef" not in self.params_:
            return {}
        return dict(zip(["score", *self.params_["context"]], map(float, self.params_["coef"])))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the parameters and the reliability figures (no pairs, no ids)."""
        if not hasattr(self, "params_"):
            raise NotFittedError("this Calibrator is not fitted")
        reliability = self.reliability_
        return {"params": self.params_, "folds": self.folds, "bins": self.bins, "regularization": self.regularization,
                "repeats": self.repeats, "ece": reliability.ece, "ece_range": list(reliability.ece_range),
                "brier": reliability.brier, "ece_noise": reliability.noise, "ece_noise_95": reliability.noise_95, "pairs": reliability.pairs, "base_rate": reliability.base_rate,
                "table": reliability.table.to_dict(orient="list")}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Calibrator:
        params = payload["params"]
        calibrator = cls(params["method"], int(payload["folds"]), int(payload["bins"]), tuple(params.get("context", ())),
                         float(payload.get("regularization", 0.1)), int(payload.get("repeats", 1)))
        calibrator._check()
        calibrator.params_ = params
        calibrator.reliability_ = Reliability(float(payload["ece"]), pd.DataFrame(payload["table"]),
                                              int(payload["pairs"]), float(payload["base_rate"]),
                                              float(payload.get("brier", float("nan"))),
                                              float(payload.get("ece_noise", float("nan"))),
                                              float(payload.get("ece_noise_95", float("nan"))),
                                              int(payload.get("repeats", 1)),
                                              tuple(payload.get("ece_range", (float("nan"), float("nan")))))
        return calibrator
