"""Nothing already done comes back: the pairs a person has acted on are never recommended again.

A pair (participant, vacancy) is *done* once any of its events up to the as-of date is one of
``ExclusionConfig.events`` (by default: declined, applied, rejected, interview, work trial, hired,
retained): the person said no, the employer said no, or it is already under way or over. A pair
recommended ``rest_after`` times or more with no reaction (no event but ``viewed`` and
``recommended``) is *rested* for ``rest_days`` after its last recommendation, then may come back.

The batch, the Python API, the MLflow model and the HTTP API all pass the same ``ExcludedPairs``
to retrieval, so an excluded pair is never a candidate and the fill still finds enough others.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from ilona_match.contract import EVENTS

__all__ = ["DONE_EVENTS", "ExcludedPairs", "ExclusionConfig", "acted_pairs"]

DONE_EVENTS: tuple[str, ...] = ("declined", "applied", "rejected", "interview", "work_trial", "hired", "retained_6m")
_NO_REACTION = frozenset({"viewed", "recommended"})


class ExclusionConfig(BaseModel):
    """Which pairs the engine leaves out of every list (the ``exclusion`` section of the settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    events: tuple[str, ...] = Field(DONE_EVENTS, description="a pair with any of these events is never recommended again")
    rest_after: int = Field(2, ge=0, description="recommended this many times with no reaction: rested (0 = never)")
    rest_days: int = Field(30, ge=0, description="how long a rested pair stays out after its last recommendation")

    @field_validator("events")
    @classmethod
    def _known_events(cls, events: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(events) - set(EVENTS))
        if unknown:
            raise ValueError(f"unknown events {unknown}: use outcome events ({', '.join(EVENTS)})")
        return events


@dataclass(frozen=True)
class ExcludedPairs:
    """(participant_id, vacancy_id) pairs to leave out, and why (``done`` or ``rested``)."""

    participant_ids: np.ndarray
    vacancy_ids: np.ndarray
    reasons: np.ndarray

    @classmethod
    def none(cls) -> ExcludedPairs:
        empty = np.array([], dtype=object)
        return cls(empty, empty, empty)

    def __len__(self) -> int:
        return len(self.participant_ids)

    def among(self, participant_ids: pd.Series | np.ndarray) -> ExcludedPairs:
        """Only the pairs of these participants (what one chunk of a run needs to carry)."""
        mine = np.isin(self.participant_ids, np.asarray(participant_ids, dtype=object))
        return ExcludedPairs(self.participant_ids[mine], self.vacancy_ids[mine], self.reasons[mine])

    def keys(self, participant_index: pd.Index, vacancy_index: pd.Index) -> np.ndarray:
        """Sorted ``participant position * len(vacancy_index) + vacancy position`` of the pairs among
        these participants and vacancies (the others cannot be proposed here anyway)."""
        p = participant_index.get_indexer(self.participant_ids) if len(self) else np.empty(0, np.int64)
        v = vacancy_index.get_indexer(self.vacancy_ids) if len(self) else np.empty(0, np.int64)
        known = (p >= 0) & (v >= 0)
        return np.unique(p[known].astype(np.int64) * len(vacancy_index) + v[known])

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({"participant_id": self.participant_ids, "vacancy_id": self.vacancy_ids,
                             "reason": self.reasons})


def acted_pairs(outcomes: pd.DataFrame, as_of: date, config: ExclusionConfig | None = None) -> ExcludedPairs:
    """The pairs to leave out of lists made on ``as_of``, from outcome events dated up to that day."""
    config = config or ExclusionConfig()
    if outcomes is None or outcomes.empty:
        return ExcludedPairs.none()
    known = outcomes[outcomes["event_date"] <= pd.Timestamp(as_of)]
    if known.empty:
        return ExcludedPairs.none()
    key = ["participant_id", "vacancy_id"]
    events = known["event"].astype(str)
    done = known[events.isin(config.events)][key].drop_duplicates()
    parts = [done.assign(reason="done")]
    if config.rest_after:
        reacted = known[~events.isin(_NO_REACTION)][key].drop_duplicates()
        shown = known[events == "recommended"].groupby(key, sort=False)["event_date"].agg(["size", "max"]).reset_index()
        since = pd.Timestamp(as_of - timedelta(days=config.rest_days))
        rested = shown[(shown["size"] >= config.rest_after) & (shown["max"] > since)][key]
        rested = rested.merge(reacted, on=key, how="left", indicator=True)
        parts.append(rested[rested["_merge"] == "left_only"][key].assign(reason="rested"))
    pairs = pd.concat(parts, ignore_index=True).drop_duplicates(key).sort_values(key, kind="stable")
    return ExcludedPairs(pairs["participant_id"].to_numpy(dtype=object), pairs["vacancy_id"].to_numpy(dtype=object),
                         pairs["reason"].to_numpy(dtype=object))
