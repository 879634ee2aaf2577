"""A calibrated chance of a good outcome: ranker scores mapped to the probability that a pair a person
is shown leads to a success (an interview, a work trial, a hire) within the held-out window.

Ranker scores only order one person's list; a coach needs a number that means the same for every
person and every night. ``Calibrator`` is fitted on the pairs people met in the held-out window
(each scored as of the day it was met, labelled by whether it reached a success): Platt scaling
(scikit-learn's logistic regression on the score) by default, isotonic regression as the option.
Its reliability is measured out of fold (folds by participant, so no person is judged by a map
fitted on them): the expected calibration error over equal-count bins and the reliability table.

``LEVELS`` turns a probability into the plain level a coach page shows, with its meaning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.exceptions import NotFittedError
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

__all__ = ["LEVELS", "CalibrationConfig", "Calibrator", "Reliability", "expected_calibration_error", "level_of"]

Method = Literal["platt", "isotonic"]
# (level, the lowest chance it covers): "good" is about one in four or better, "possible" one in ten
LEVELS: tuple[tuple[str, float], ...] = (("good", 0.25), ("possible", 0.10), ("long_shot", 0.0))
_MIN_PAIRS = 20  # fewer pairs (or no success among them) cannot be calibrated


class CalibrationConfig(BaseModel):
    """How scores become chances (the ``matching.calibration`` settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Method = Field("platt", description="platt (logistic on the score) or isotonic")
    folds: int = Field(5, ge=2, description="folds by participant for the out-of-fold reliability")
    bins: int = Field(10, ge=2, description="equal-count bins of the expected calibration error")


def level_of(probability: float) -> str | None:
    """The plain level of a chance of success (None when the chance is not known)."""
    if probability is None or not np.isfinite(probability):
        return None
    return next(name for name, floor in LEVELS if probability >= floor)


@dataclass(frozen=True)
class Reliability:
    """How well predicted chances matched what happened, out of fold."""

    ece: float  # expected calibration error over equal-count bins
    table: pd.DataFrame  # one row per bin: pairs, mean predicted, observed rate
    pairs: int
    base_rate: float


def expected_calibration_error(predicted: np.ndarray, observed: np.ndarray, bins: int = 10) -> Reliability:
    """ECE over ``bins`` equal-count bins of the predicted chance: the pair-weighted mean gap between each
    bin's mean prediction and its observed success rate."""
    predicted, observed = np.asarray(predicted, np.float64), np.asarray(observed, np.float64)
    if len(predicted) == 0:
        raise ValueError("no pairs to measure calibration on")
    order = np.argsort(predicted, kind="stable")
    groups = np.array_split(order, min(bins, len(order)))
    rows = [{"pairs": len(g), "mean_predicted": float(predicted[g].mean()), "observed": float(observed[g].mean())}
            for g in groups if len(g)]
    table = pd.DataFrame(rows)
    gap = (table["pairs"] * (table["mean_predicted"] - table["observed"]).abs()).sum() / len(predicted)
    return Reliability(float(gap), table, len(predicted), float(observed.mean()))


class Calibrator:
    """Scores to chances of success. Fitted attributes: ``params_`` (what predicts) and ``reliability_``."""

    def __init__(self, method: Method = "platt", folds: int = 5, bins: int = 10) -> None:
        self.method = method
        self.folds = folds
        self.bins = bins

    def _check(self) -> None:
        if self.method not in ("platt", "isotonic"):
            raise ValueError(f"method must be 'platt' or 'isotonic', got {self.method!r}")
        if self.folds < 2 or self.bins < 2:
            raise ValueError(f"folds and bins must be at least 2, got {self.folds} and {self.bins}")

    def _fit_params(self, scores: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
        if self.method == "platt":
            model = LogisticRegression(C=1e4).fit(scores.reshape(-1, 1), labels)
            return {"method": "platt", "slope": float(model.coef_[0, 0]), "intercept": float(model.intercept_[0])}
        model = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
        return {"method": "isotonic", "x": model.X_thresholds_.tolist(), "y": model.y_thresholds_.tolist()}

    @staticmethod
    def _apply(params: dict[str, Any], scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, np.float64)
        if params["method"] == "platt":
            return 1.0 / (1.0 + np.exp(-(params["slope"] * scores + params["intercept"])))
        return np.interp(scores, np.asarray(params["x"]), np.asarray(params["y"]))

    def fit(self, scores: np.ndarray, labels: np.ndarray, groups: np.ndarray) -> Calibrator:
        """Fit on ``scores`` of pairs met, ``labels`` (1 = a success), ``groups`` (participant of each pair)."""
        self._check()
        scores, labels, groups = np.asarray(scores, np.float64), np.asarray(labels).astype(int), np.asarray(groups)
        if not (len(scores) == len(labels) == len(groups)):
            raise ValueError(f"scores, labels and groups must have one entry per pair, got "
                             f"{len(scores)}, {len(labels)}, {len(groups)}")
        if len(scores) < _MIN_PAIRS or labels.min(initial=0) == labels.max(initial=0):
            raise ValueError(f"calibration needs at least {_MIN_PAIRS} pairs with both successes and others, got "
                             f"{len(scores)} pairs and {int(labels.sum())} successes")
        out_of_fold = np.empty(len(scores))
        folds = min(self.folds, len(np.unique(groups)))
        for train, test in GroupKFold(n_splits=folds).split(scores, labels, groups):
            if labels[train].min() == labels[train].max():  # one class in this fold's training part
                out_of_fold[test] = labels[train].mean()
                continue
            out_of_fold[test] = self._apply(self._fit_params(scores[train], labels[train]), scores[test])
        self.reliability_ = expected_calibration_error(out_of_fold, labels, self.bins)
        self.params_ = self._fit_params(scores, labels)
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        """The chance of a success of each score."""
        if not hasattr(self, "params_"):
            raise NotFittedError("this Calibrator is not fitted: call fit(scores, labels, groups)")
        return self._apply(self.params_, scores)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the parameters and the reliability figures (no pairs, no ids)."""
        if not hasattr(self, "params_"):
            raise NotFittedError("this Calibrator is not fitted")
        reliability = self.reliability_
        return {"params": self.params_, "folds": self.folds, "bins": self.bins, "ece": reliability.ece,
                "pairs": reliability.pairs, "base_rate": reliability.base_rate,
                "table": reliability.table.to_dict(orient="list")}

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> Calibrator:
        params = payload["params"]
        calibrator = cls(params["method"], int(payload["folds"]), int(payload["bins"]))
        calibrator._check()
        calibrator.params_ = params
        calibrator.reliability_ = Reliability(float(payload["ece"]), pd.DataFrame(payload["table"]),
                                              int(payload["pairs"]), float(payload["base_rate"]))
        return calibrator
