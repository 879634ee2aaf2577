"""Model selection that protects people: a model ships only when the held-out window shows it is better.

Two decisions use the same test (``judge``), on each judged participant's NDCG@10 in the held-out
window (``evaluation``):

- **Ranker or prior.** The trained ranker is kept only when the pipeline with it beats the same
  pipeline ranked by the documented prior ("no ranker"). Otherwise the shipped model ranks with the
  prior, and the run says so.
- **Champion.** A new version replaces the current champion when it beats it by the same test on
  the same window, both scored on the current data.

Better means, on each judged participant's NDCG@10 of the replayed daily lists (the lists as they
would have been served): at least ``min_gain`` more, with a 95 % paired bootstrap interval over
participants above zero; and not clearly worse on the order of the pairs people met (that
interval's top below zero blocks). A ranker that learned from never-shown vacancies
(``training.negatives_per_participant`` > 0) can learn who gets shown, which the replayed lists
reward, so such a ranker must also beat the reference on the pairs people met, where no such credit
exists. The interval is scipy's bootstrap (percentile method) of the mean paired difference.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["Comparison", "Judgement", "compare", "judge"]


@dataclass(frozen=True)
class Comparison:
    """How a candidate did against a reference on the same judged participants."""

    gain: float  # mean NDCG@10 of the candidate minus the reference's
    low: float  # 95 % bootstrap interval of that mean
    high: float
    participants: int
    min_gain: float

    @property
    def better(self) -> bool:
        """Better by at least ``min_gain``, with an interval that excludes zero."""
        return self.participants > 0 and self.low > 0.0 and self.gain >= self.min_gain



def compare(candidate: pd.Series, reference: pd.Series, min_gain: float = 0.0, rounds: int = 2000,
            seed: int = 0) -> Comparison:
    """Paired bootstrap of ``candidate - reference`` over the participants both were judged on."""
    if min_gain < 0:
        raise ValueError(f"min_gain must be >= 0, got {min_gain}")
    both = pd.concat([candidate.rename("candidate"), reference.rename("reference")], axis=1, join="inner").dropna()
    difference = (both["candidate"] - both["reference"]).to_numpy(dtype=np.float64)
    if len(difference) == 0:
        return Comparison(float("nan"), float("nan"), float("nan"), 0, min_gain)
    gain = float(difference.mean())
    if len(difference) == 1 or np.all(difference == difference[0]):
        return Comparison(gain, gain, gain, len(difference), min_gain)
    interval = stats.bootstrap((difference,), np.mean, n_resamples=rounds, confidence_level=0.95,
                               method="percentile", random_state=np.random.default_rng(seed)).confidence_interval
    return Comparison(gain, float(interval.low), float(interval.high), len(difference), min_gain)


@dataclass(frozen=True)
class Judgement:
    """Whether a candidate is better than a reference by the rule, and the figures behind it in words."""

    better: bool
    met: Comparison
    replay: Comparison
    text: str


def judge(met: pd.Series, met_reference: pd.Series, replay: pd.Series, replay_reference: pd.Series,
          min_gain: float = 0.0, rounds: int = 2000, names: tuple[str, str] = ("the trained ranker", "no ranker"),
          learned_who_is_shown: bool = False) -> Judgement:
    """The rule of the module docstring on per-participant NDCG@10 of both views; ``learned_who_is_shown``
    when the candidate was trained with never-shown vacancies as negatives."""
    on_replay = compare(replay, replay_reference, min_gain, rounds)
    on_met = compare(met, met_reference, min_gain if learned_who_is_shown else 0.0, rounds)
    better = on_replay.better and not on_met.high < 0 and (on_met.better or not learned_who_is_shown)
    text = (f"{names[0]} {'beats' if better else 'does not beat'} {names[1]}; on the replayed lists NDCG@10 "
            f"{on_replay.gain:+.4f} (95% interval {on_replay.low:+.4f} .. {on_replay.high:+.4f}, "
            f"{on_replay.participants} participants), on the pairs people met {on_met.gain:+.4f} "
            f"(95% interval {on_met.low:+.4f} .. {on_met.high:+.4f}, {on_met.participants} participants)")
    return Judgement(better, on_met, on_replay, text)
