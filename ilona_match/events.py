"""The outcome history the engine learns and excludes from: the outcomes table plus the events that
coaches and other systems posted to ``POST /feedback`` (kept in the results database).

Stored feedback is checked like an outcomes table (``records_to_frame``), joined to the table's
events, and exact repeats (same pair, event and day, from either source) are kept once. A feedback
event naming a participant or vacancy that the data folder does not hold cannot be used and is
counted as set aside, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ilona_match.contract import OUTCOME_COLUMNS, records_to_frame

__all__ = ["EventHistory", "combine_events"]

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
    columns = [column.name for column in OUTCOME_COLUMNS]
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
