"""What outcome events mean, and the history the engine learns and excludes from.

``GRADES`` says what a coach counts as success; ``strongest_outcomes`` gives each pair its outcome
(the contract: "the strongest one is its outcome") and the day it entered the log. The history is
the outcomes table plus the events that coaches and other systems posted to ``POST /feedback``
(kept in the results database):

Stored feedback is checked like an outcomes table (``records_to_frame``), joined to the table's
events, and exact repeats (same pair, event and day, from either source) are kept once. A feedback
event naming a participant or vacancy that the data folder does not hold cannot be used and is
counted as set aside, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ilona_match.contract.loading import records_to_frame
from ilona_match.contract.spec import EVENT_STRENGTH, EVENTS, VACANCY_OUTCOME_FIELDS

__all__ = ["GRADES", "MAX_GRADE", "EventHistory", "combine_events", "grade_of", "strongest_outcomes"]

# What a coach counts as success: an interview, a work trial, a hire, a job kept six months. Being
# shown, viewing, declining, applying and being rejected count for nothing (a rejection is not a
# success, and a ranker that learned applications would learn who applies, not who is hired). A
# pair rejected after an interview keeps the interview: its strongest event is the interview.
GRADES: dict[str, int] = {
    "viewed": 0,
    "recommended": 0,
    "declined": 0,
    "applied": 0,
    "rejected": 0,
    "interview": 1,
    "work_trial": 2,
    "hired": 3,
    "retained_6m": 4,
}
MAX_GRADE: int = max(GRADES.values())


def grade_of(events: pd.Series) -> np.ndarray:
    """Relevance grade (int64) of each pair's strongest event; unknown or missing events raise.

    The grades never decrease along ``EVENTS``, so the grade of the strongest event is also the
    highest grade among a pair's events.
    """
    grades = events.map(GRADES)
    unknown = grades.isna()
    if unknown.any():
        shown = sorted({str(value) for value in events[unknown].head(10)})
        raise ValueError(f"unknown outcome events (expected one of {', '.join(EVENTS)}): {shown}")
    return grades.to_numpy(dtype=np.int64)



def strongest_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per (participant_id, vacancy_id): the strongest event, its grade and the first event date."""
    if outcomes.empty:
        return pd.DataFrame(columns=["participant_id", "vacancy_id", "event", "grade", "first_date"])
    strength = outcomes["event"].map(EVENT_STRENGTH)
    frame = outcomes.assign(_strength=strength)
    grouped = frame.groupby(["participant_id", "vacancy_id"], sort=True)
    pairs = grouped.agg(_strength=("_strength", "max"), first_date=("event_date", "min")).reset_index()
    pairs["event"] = [EVENTS[s] for s in pairs["_strength"]]
    pairs["grade"] = pairs["event"].map(GRADES).astype(np.int32)
    return pairs.drop(columns="_strength")


_KEY = ["participant_id", "vacancy_id", "event", "event_date"]


@dataclass(frozen=True)
class EventHistory:
    """Outcome events from both sources (contract outcome columns) and what happened to the feedback."""

    events: pd.DataFrame
    from_feedback: int  # feedback events used (after removing repeats)
    feedback_set_aside: int  # feedback events naming an unknown participant or vacancy


def combine_events(outcomes: pd.DataFrame, feedback: pd.DataFrame | None, participant_ids: pd.Series,
                   vacancy_ids: pd.Series) -> EventHistory:
    """``outcomes`` plus the usable, new ``feedback`` events (ResultStore.feedback's form), sorted by date."""
    columns = list(VACANCY_OUTCOME_FIELDS)
    outcomes = outcomes[columns]
    if feedback is None or feedback.empty:
        return EventHistory(outcomes.reset_index(drop=True), 0, 0)
    posted = records_to_frame("outcomes", feedback[columns].to_dict("records"))
    known = posted["participant_id"].isin(set(participant_ids)) & posted["vacancy_id"].isin(set(vacancy_ids))
    posted = posted[known]
    combined = pd.concat([outcomes.assign(_source=0), posted.assign(_source=1)], ignore_index=True)
    combined = combined.drop_duplicates(_KEY, keep="first")
    used = int((combined["_source"] == 1).sum())
    combined = combined.sort_values(["event_date", "participant_id", "vacancy_id"], kind="stable")
    return EventHistory(combined[columns].reset_index(drop=True), used, int((~known).sum()))
