"""A single-day judged set for bench scripts that rank once, on the split day (the engine's own
evaluation replays the window day by day: ``ilona_match.learning.evaluation``)."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from ilona_match.contract.constraints import ParticipantLimits, VacancyDemands, feasible, open_on
from ilona_match.contract.events import strongest_outcomes
from ilona_match.matching.pipeline import VacancyState

__all__ = ["all_feasible", "as_recs", "ranked", "split_day_relevance"]


def split_day_relevance(outcomes: pd.DataFrame, vacancies: pd.DataFrame, split: date, horizon_days: int) -> pd.DataFrame:
    """query_id, item_id, grade of the pairs first met in [split, split + horizon) on vacancies open on the
    split day, graded by what a coach counts as success; pairs already met before the split are left out."""
    end = pd.Timestamp(split + timedelta(days=horizon_days))
    pairs = strongest_outcomes(outcomes[outcomes["event_date"] < end])
    pairs = pairs[pairs["first_date"] >= pd.Timestamp(split)]
    open_ids = set(vacancies["vacancy_id"][open_on(VacancyDemands.from_frame(vacancies), split)])
    pairs = pairs[pairs["vacancy_id"].isin(open_ids)]
    return pairs.rename(columns={"participant_id": "query_id", "vacancy_id": "item_id"})[["query_id", "item_id", "grade"]]


def all_feasible(state: VacancyState, limits: ParticipantLimits, as_of: date) -> tuple[np.ndarray, np.ndarray]:
    """Every (person, vacancy) position pair open on ``as_of`` that breaks no hard constraint."""
    open_positions = np.flatnonzero(open_on(state.jobs.demands, as_of))
    p = np.repeat(np.arange(len(limits)), len(open_positions))
    v = np.tile(open_positions, len(limits))
    ok = feasible(limits, state.jobs.demands, p, v, as_of)
    return p[ok], v[ok]


def ranked(ids: np.ndarray, vacancy_ids: np.ndarray, p: np.ndarray, v: np.ndarray, score: np.ndarray, k: int) -> pd.DataFrame:
    """query_id, item_id, rank of the k best pairs per person by ``score`` (ties by vacancy id)."""
    order = np.lexsort((vacancy_ids[v].astype(str), -score, p))
    p, v = p[order], v[order]
    rank = np.arange(len(p)) - np.searchsorted(p, p) + 1
    keep = rank <= k
    return pd.DataFrame({"query_id": ids[p[keep]], "item_id": vacancy_ids[v[keep]], "rank": rank[keep]})


def as_recs(frame: pd.DataFrame) -> pd.DataFrame:
    """A top_n table as metrics input: query_id, item_id, rank."""
    return frame.rename(columns={"participant_id": "query_id", "vacancy_id": "item_id"})[["query_id", "item_id", "rank"]]
