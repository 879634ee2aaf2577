"""Time-split evaluation of the pipeline beside simple baselines, on the same split.

The model learns from outcomes before ``as_of``; every system then ranks, for each participant with
outcomes in ``[as_of, as_of + horizon_days)``, the vacancies open on ``as_of`` that break no hard
constraint. Relevance is the grade of the strongest event in that window (ranker.GRADES); vacancies
not yet open on ``as_of`` are left out of both sides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from ilona_match.constraints import ParticipantLimits, VacancyDemands, feasible, open_on
from ilona_match.metrics import evaluate_rankings
from ilona_match.pipeline import MatchingPipeline, VacancyState, strongest_outcomes, top_n

__all__ = ["EvaluationResult", "evaluate_systems", "test_relevance"]


@dataclass(frozen=True)
class EvaluationResult:
    """One row of metrics per system, and the split's sizes."""

    table: pd.DataFrame  # index: system; columns: ndcg@10, recall@10, recall@50, mrr, coverage@10, constraint_breaks
    participants: int
    open_vacancies: int
    relevant_pairs: int


def test_relevance(outcomes: pd.DataFrame, vacancies: pd.DataFrame, as_of: date, horizon_days: int) -> pd.DataFrame:
    """query_id, item_id, grade of pairs logged in the test window on vacancies open on as_of."""
    start, end = pd.Timestamp(as_of), pd.Timestamp(as_of + timedelta(days=horizon_days))
    window = outcomes[(outcomes["event_date"] >= start) & (outcomes["event_date"] < end)]
    pairs = strongest_outcomes(window)
    open_ids = set(vacancies["vacancy_id"][open_on(VacancyDemands.from_frame(vacancies), as_of)])
    pairs = pairs[pairs["vacancy_id"].isin(open_ids)]
    return pairs.rename(columns={"participant_id": "query_id", "vacancy_id": "item_id"})[["query_id", "item_id", "grade"]]


def _all_feasible(state: VacancyState, people_limits: ParticipantLimits, as_of: date) -> tuple[np.ndarray, np.ndarray]:
    open_positions = np.flatnonzero(open_on(state.jobs.demands, as_of))
    p = np.repeat(np.arange(len(people_limits)), len(open_positions))
    v = np.tile(open_positions, len(people_limits))
    ok = feasible(people_limits, state.jobs.demands, p, v, as_of)
    return p[ok], v[ok]


def _ranked(ids: np.ndarray, vacancy_ids: np.ndarray, p: np.ndarray, v: np.ndarray, score: np.ndarray, k: int) -> pd.DataFrame:
    order = np.lexsort((vacancy_ids[v].astype(str), -score, p))
    p, v = p[order], v[order]
    rank = np.arange(len(p)) - np.searchsorted(p, p) + 1
    keep = rank <= k
    return pd.DataFrame({"query_id": ids[p[keep]], "item_id": vacancy_ids[v[keep]], "rank": rank[keep]})


def evaluate_systems(
    pipeline: MatchingPipeline,
    participants: pd.DataFrame,
    vacancies: pd.DataFrame,
    outcomes: pd.DataFrame,
    as_of: date,
    horizon_days: int = 60,
    k: int = 50,
    seed: int = 0,
) -> EvaluationResult:
    """NDCG@10, Recall@10/@50, MRR, coverage and constraint breaks of the fitted pipeline and baselines."""
    relevance = test_relevance(outcomes, vacancies, as_of, horizon_days)
    if relevance.empty:
        raise ValueError(f"no outcomes in the {horizon_days} days from {as_of} on vacancies open then: nothing to evaluate")
    people_frame = participants[participants["participant_id"].isin(relevance["query_id"])].reset_index(drop=True)
    vacancies = vacancies.reset_index(drop=True)
    state = pipeline.prepare_vacancies(vacancies)
    scored = pipeline.score_candidates(people_frame, state, as_of)
    people = scored.people
    vectors = pipeline._vectors(people, state)
    p, v = _all_feasible(state, people.limits, as_of)
    ids, vacancy_ids = people.ids, state.jobs.ids

    history = strongest_outcomes(outcomes[outcomes["event_date"] < pd.Timestamp(as_of)])
    popularity = history[history["grade"] > 0].groupby("vacancy_id").size()
    pop_score = popularity.reindex(vacancy_ids).fillna(0).to_numpy()[v]
    sector_pop = history[history["grade"] > 0].merge(vacancies[["vacancy_id", "sector"]], on="vacancy_id").groupby("sector").size()
    pop_score = pop_score + 1e-3 * sector_pop.reindex(state.jobs.sector).fillna(0).to_numpy()[v]

    tfidf = TfidfVectorizer(sublinear_tf=True).fit(state.jobs.texts)
    tp, tv = tfidf.transform(people.texts), tfidf.transform(state.jobs.texts)
    tfidf_score = np.asarray(tp[p].multiply(tv[v]).sum(axis=1)).ravel()
    dense_score = np.einsum("ij,ij->i", vectors.participant_dense[p], vectors.vacancy_dense[v])
    rng = np.random.default_rng(seed)

    systems: dict[str, Callable[[], pd.DataFrame]] = {
        "random feasible": lambda: _ranked(ids, vacancy_ids, p, v, rng.random(len(p)), k),
        "popularity": lambda: _ranked(ids, vacancy_ids, p, v, pop_score, k),
        "tf-idf + filters": lambda: _ranked(ids, vacancy_ids, p, v, tfidf_score, k),
        "embedding + filters": lambda: _ranked(ids, vacancy_ids, p, v, dense_score, k),
        "pipeline without ranker": lambda: _as_recs(pipeline.recommend(people_frame, state, as_of, k, use_ranker=False)),
        "full pipeline": lambda: _as_recs(top_n(scored, state, k)),
    }
    rows = {}
    limits = people.limits
    id_pos = pd.Series(np.arange(len(ids)), index=ids)
    vac_pos = pd.Series(np.arange(len(vacancy_ids)), index=vacancy_ids)
    for name, make in systems.items():
        recs = make()
        metrics = evaluate_rankings(recs, relevance, ks=(10, 50), n_items=len(vacancy_ids))
        rp, rv = id_pos[recs["query_id"]].to_numpy(), vac_pos[recs["item_id"]].to_numpy()
        breaks = ~feasible(limits, state.jobs.demands, rp, rv, as_of)
        metrics["constraint_breaks"] = float(breaks.mean()) if len(breaks) else 0.0
        rows[name] = metrics
    table = pd.DataFrame(rows).T[["ndcg@10", "recall@10", "recall@50", "mrr", "coverage@10", "constraint_breaks", "queries"]]
    return EvaluationResult(table, len(people), int(open_on(state.jobs.demands, as_of).sum()), len(relevance))


def _as_recs(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"participant_id": "query_id", "vacancy_id": "item_id"})[["query_id", "item_id", "rank"]]
