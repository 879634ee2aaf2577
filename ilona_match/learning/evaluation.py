"""Time-split evaluation of the pipeline beside simple baselines, on the same held-out window.

A run stands on a date D (``--as-of``): nothing dated D or later is read. The model learns from
outcomes before the split S = D - ``horizon_days``; the window [S, D) judges it by replaying it:

- **A query is a day a person met new vacancies.** For each participant and each day in the window
  on which pairs entered the log for the first time, every system ranks the vacancies open that day
  that break none of the person's hard constraints, as the nightly list of that morning would have.
  Pairs the person had already met before that day are not in the list (the engine never shows
  them again), nor are the person's other pairs of the window: they belong to other days.
- **Relevance is what a coach counts as success** (``ranker.GRADES``: interview 1, work trial 2,
  hire 3, kept six months 4) reached by the end of the window; viewing, applying, declining and
  rejections count for nothing. Only queries with a success are judged.
- **Test pairs are new pairs:** a pair already in the log before S (applied before, interview
  after) counts in no metric and is reported as set aside.
- **Baselines see only the past:** TF-IDF is fitted on the vacancies published before S,
  popularity counts successes before S.

A replayed list can only find a success among the pairs someone chose to show, so a ranker that
learned who gets shown (the coach's or the job board's habits) scores well there without knowing
who gets hired. The second view has no such bias: **the order of the pairs each person met.** For
every participant with at least two new pairs in the window, one a success, each system orders those
pairs (each scored as of the day it was met; pairs that break a hard constraint are left out, the
engine never shows them) and NDCG@10 judges the order. It asks what the ranker is for: among
vacancies a person is shown, which lead to an interview or a job. It is small (people with two new
pairs and a success) and short lists order alike, so it has little power; it guards the decision
(``model_selection``) rather than making it. ``per_query`` keeps each judged participant's replayed
NDCG@10 and ``met_per_participant`` the met one, for the paired bootstrap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

from ilona_match.contract.constraints import feasible, open_on
from ilona_match.contract.events import strongest_outcomes
from ilona_match.contract.exclusion import ExcludedPairs
from ilona_match.learning.metrics import evaluate_rankings, ndcg_at_k
from ilona_match.matching.calibration import Calibrator
from ilona_match.matching.features import (
    FEATURE_NAMES,
    CandidatePairs,
    PairFeatures,
    TextVectors,
    compute_features,
)
from ilona_match.matching.pipeline import MatchingPipeline, VacancyState, top_n
from ilona_match.matching.profiles import ParticipantProfiles, build_participants
from ilona_match.matching.ranker import prior_score

__all__ = ["FULL_PIPELINE", "NO_RANKER", "EvaluationResult", "HeldOut", "NoHeldOutData", "WindowScores", "calibrate",
           "evaluate_systems", "held_out", "score_pipeline", "text_baseline"]

FULL_PIPELINE = "full pipeline"
NO_RANKER = "pipeline without ranker"
_KEY = ["participant_id", "vacancy_id"]


class NoHeldOutData(ValueError):
    """The held-out window holds no new pair that reached a success: there is nothing to judge."""


@dataclass(frozen=True)
class HeldOut:
    """The judged queries of a window: (participant, day) pairs with the pairs first logged that day."""

    split: date
    end: date
    relevance: pd.DataFrame  # query_id, item_id, grade, participant_id, day (judged queries only)
    leave_out: pd.DataFrame  # participant_id, vacancy_id, day: pairs out of that query's list
    set_aside: int  # pairs first logged before the split with events in the window (counted in no metric)

    @property
    def days(self) -> list[date]:
        return sorted({day.date() for day in self.relevance["day"]})

    @property
    def participants(self) -> pd.Index:
        return pd.Index(self.relevance["participant_id"].unique())

    def on(self, day: date) -> tuple[list[str], ExcludedPairs]:
        """The participants judged on ``day`` and the pairs left out of their lists that day."""
        stamp = pd.Timestamp(day)
        people = sorted(self.relevance.loc[self.relevance["day"] == stamp, "participant_id"].unique())
        out = self.leave_out[(self.leave_out["day"] == stamp)]
        return people, ExcludedPairs(out["participant_id"].to_numpy(dtype=object), out["vacancy_id"].to_numpy(dtype=object),
                                     np.full(len(out), "met on another day", dtype=object))


def held_out(outcomes: pd.DataFrame, vacancies: pd.DataFrame, split: date, end: date) -> HeldOut:
    """The queries judged in [split, end) and what each leaves out (see module docstring)."""
    known = outcomes[outcomes["event_date"] < pd.Timestamp(end)]
    pairs = strongest_outcomes(known)  # first_date: the day the pair entered the log
    in_window = known[known["event_date"] >= pd.Timestamp(split)][_KEY].drop_duplicates()
    earlier = pairs[pairs["first_date"] < pd.Timestamp(split)][_KEY]
    set_aside = len(in_window.merge(earlier, on=_KEY))
    new = pairs[pairs["first_date"] >= pd.Timestamp(split)]
    if not new.empty:  # the vacancy must be open on the day the pair was met (a log may say otherwise)
        demands_open = _open_on_each(vacancies, new["vacancy_id"], new["first_date"])
        new = new[demands_open]
    new = new.rename(columns={"first_date": "day"})
    positive = new[new["grade"] > 0][["participant_id", "day"]].drop_duplicates()
    judged = new.merge(positive, on=["participant_id", "day"])
    relevance = judged.assign(
        query_id=judged["participant_id"] + "@" + judged["day"].dt.strftime("%Y-%m-%d"),
        item_id=judged["vacancy_id"],
    )[["query_id", "item_id", "grade", "participant_id", "day"]].reset_index(drop=True)
    # for each judged (participant, day): every pair of the person met on another day leaves the list
    mine = positive.merge(pairs[_KEY + ["first_date"]], on="participant_id")
    leave_out = mine[mine["first_date"] != mine["day"]][["participant_id", "vacancy_id", "day"]]
    return HeldOut(split, end, relevance, leave_out.reset_index(drop=True), set_aside)


def _open_on_each(vacancies: pd.DataFrame, vacancy_ids: pd.Series, days: pd.Series) -> np.ndarray:
    table = vacancies.set_index("vacancy_id")
    published = table["published_at"].reindex(vacancy_ids).to_numpy()
    closes = table["closes_at"].reindex(vacancy_ids).to_numpy()
    day = days.to_numpy()
    return (published <= day) & (pd.isna(closes) | (day < closes))


def _ranked(query_ids: np.ndarray, vacancy_ids: np.ndarray, p: np.ndarray, v: np.ndarray, score: np.ndarray,
            k: int) -> pd.DataFrame:
    order = np.lexsort((vacancy_ids[v].astype(str), -score, p))
    p, v = p[order], v[order]
    rank = np.arange(len(p)) - np.searchsorted(p, p) + 1
    keep = rank <= k
    return pd.DataFrame({"query_id": query_ids[p[keep]], "item_id": vacancy_ids[v[keep]], "rank": rank[keep]})


def _as_recs(frame: pd.DataFrame, day: date) -> pd.DataFrame:
    recs = frame.rename(columns={"vacancy_id": "item_id"})
    recs["query_id"] = recs["participant_id"] + "@" + day.isoformat()
    return recs[["query_id", "item_id", "rank"]]


def _per_participant(recs: pd.DataFrame, window: HeldOut) -> pd.Series:
    """Each judged participant's NDCG@10: the mean over their judged days (0 for a day with no hit)."""
    queries = window.relevance.drop_duplicates("query_id").set_index("query_id")["participant_id"]
    per_query = ndcg_at_k(recs, window.relevance[["query_id", "item_id", "grade"]], 10).reindex(queries.index,
                                                                                                fill_value=0.0)
    return per_query.groupby(queries).mean()


def _check_judged(window: HeldOut) -> None:
    if window.relevance.empty:
        raise NoHeldOutData(f"no new pair reached a success (interview, work trial, hire) between {window.split} "
                            f"and {window.end}: nothing to judge")


@dataclass(frozen=True)
class WindowScores:
    """One pipeline's NDCG@10 per judged participant on a window, in both views."""

    replay: pd.Series  # the replayed daily lists
    met: pd.Series  # the order of the pairs each person met


def score_pipeline(pipeline: MatchingPipeline, participants: pd.DataFrame, vacancies: pd.DataFrame,
                   outcomes: pd.DataFrame, split: date, end: date, k: int = 50) -> WindowScores:
    """One fitted pipeline on the window [split, end), both views (e.g. the current champion, to be
    compared with a candidate on the same window and the current data)."""
    window = held_out(outcomes, vacancies, split, end)
    _check_judged(window)
    vacancies = vacancies.reset_index(drop=True)
    state = pipeline.prepare_vacancies(vacancies).with_history(
        pipeline.prepare_history(outcomes, vacancies, end, participants))
    parts = []
    for day in window.days:
        people, leave_out = window.on(day)
        frame = participants[participants["participant_id"].isin(set(people))].reset_index(drop=True)
        parts.append(_as_recs(pipeline.recommend(frame, state, day, k, exclude=leave_out), day))
    met = _met_rows(pipeline, state, participants, outcomes, split, end)
    scores = pipeline.predict(met.features.matrix) if met is not None else np.empty(0)
    grades = met.pairs if met is not None else _NO_PAIRS
    return WindowScores(_per_participant(pd.concat(parts, ignore_index=True), window), _met_ndcg(grades, scores))


@dataclass(frozen=True)
class EvaluationResult:
    """Both views of the window per system, each judged participant's NDCG@10 per system, and the sizes."""

    table: pd.DataFrame  # index: system; replayed lists (ndcg@10, recall@10/@50, mrr, coverage@10, constraint_breaks,
    # queries) and "met ndcg@10": the order of the pairs each person met
    per_query: pd.DataFrame  # index: participant_id; one column of replayed NDCG@10 per system
    met_per_participant: pd.DataFrame  # index: participant_id; one column of NDCG@10 among the pairs met, per system
    participants: int  # judged participants (replay)
    queries: int  # judged (participant, day) queries
    relevant_pairs: int
    set_aside_pairs: int
    split: date
    end: date
    met_participants: int = 0  # participants judged on the order of the pairs they met
    calibration: str = ""  # the calibration fitted on the window, in words (``training.evaluate``)
    placements: dict[str, float] = field(default_factory=dict)  # expected placements on the split date
    reliability: pd.DataFrame | None = None  # the calibration's bins, out of fold (``training.evaluate``)
    audit: Any = None  # the fairness audit (``learning.audit.AuditReport``) of the lists on the split date


def evaluate_systems(
    pipeline: MatchingPipeline,
    participants: pd.DataFrame,
    vacancies: pd.DataFrame,
    outcomes: pd.DataFrame,
    split: date,
    horizon_days: int = 60,
    k: int = 50,
    seed: int = 0,
) -> EvaluationResult:
    """NDCG@10, Recall@10/@50, MRR, coverage and constraint breaks of the fitted pipeline and baselines
    on the window [split, split + horizon_days), replayed day by day (see module docstring)."""
    end = split + timedelta(days=horizon_days)
    window = held_out(outcomes, vacancies, split, end)
    _check_judged(window)
    vacancies = vacancies.reset_index(drop=True)
    state = pipeline.prepare_vacancies(vacancies).with_history(
        pipeline.prepare_history(outcomes, vacancies, end, participants))
    tfidf = text_baseline(vacancies, state.jobs.texts, split)
    vacancy_tfidf = tfidf.transform(state.jobs.texts)
    history = strongest_outcomes(outcomes[outcomes["event_date"] < pd.Timestamp(split)])
    successes = history[history["grade"] > 0]
    sector_pop = successes.merge(vacancies[["vacancy_id", "sector"]], on="vacancy_id").groupby("sector").size()
    popularity = (successes.groupby("vacancy_id").size().reindex(state.jobs.ids).fillna(0).to_numpy()
                  + 1e-3 * sector_pop.reindex(state.jobs.sector).fillna(0).to_numpy())
    rng = np.random.default_rng(seed)

    recs: dict[str, list[pd.DataFrame]] = {}
    breaks: dict[str, list[np.ndarray]] = {}
    for day in window.days:
        people_ids, leave_out = window.on(day)
        frame = participants[participants["participant_id"].isin(set(people_ids))].reset_index(drop=True)
        for name, ranked in _systems_on(pipeline, state, frame, day, leave_out, k, tfidf, vacancy_tfidf,
                                        popularity, rng).items():
            recs.setdefault(name, []).append(ranked[0])
            breaks.setdefault(name, []).append(ranked[1])

    met_scores, met_grades = _met_pairs(pipeline, state, participants, outcomes, vacancies, split, end, tfidf,
                                        vacancy_tfidf, popularity, rng)
    rows, per_participant = {}, {}
    judged = window.relevance[["query_id", "item_id", "grade"]]
    for name, parts in recs.items():
        system_recs = pd.concat(parts, ignore_index=True)
        metrics = evaluate_rankings(system_recs, judged, ks=(10, 50), n_items=len(state.jobs))
        broken = np.concatenate(breaks[name])
        metrics["constraint_breaks"] = float(broken.mean()) if len(broken) else 0.0
        rows[name] = metrics
        per_participant[name] = _per_participant(system_recs, window)
    table = pd.DataFrame(rows).T[["ndcg@10", "recall@10", "recall@50", "mrr", "coverage@10", "constraint_breaks", "queries"]]
    met = pd.DataFrame({name: _met_ndcg(met_grades, scores) for name, scores in met_scores.items()})
    table.insert(0, "met ndcg@10", met.mean().reindex(table.index))
    return EvaluationResult(table, pd.DataFrame(per_participant), met, len(window.participants),
                            int(window.relevance["query_id"].nunique()), len(window.relevance), window.set_aside,
                            split, end, len(met))


_NO_PAIRS = pd.DataFrame({"participant_id": pd.Series(dtype=object), "vacancy_id": pd.Series(dtype=object),
                          "grade": pd.Series(dtype=np.int32)})


@dataclass(frozen=True)
class _MetRows:
    """The new pairs of the window that judge the met view, with their features as of the day met."""

    pairs: pd.DataFrame  # participant_id, vacancy_id, grade
    people: ParticipantProfiles
    vectors: TextVectors
    features: PairFeatures


def _met_rows(pipeline: MatchingPipeline, state: VacancyState, participants: pd.DataFrame, outcomes: pd.DataFrame,
              split: date, end: date, judged_only: bool = True) -> _MetRows | None:
    """Every new pair of the window, each as of the day it was met (with ``judged_only``, of the participants
    with two or more such pairs and a success); pairs that break a hard constraint (the engine never lists
    them) are left out."""
    known = outcomes[outcomes["event_date"] < pd.Timestamp(end)]
    pairs = strongest_outcomes(known)
    pairs = pairs[pairs["first_date"] >= pd.Timestamp(split)]
    people_frame = participants[participants["participant_id"].isin(set(pairs["participant_id"]))].reset_index(drop=True)
    if pairs.empty or people_frame.empty:
        return None
    people = build_participants(people_frame, pipeline.taxonomy, pipeline.extract_mentions())
    p = pd.Index(people.ids).get_indexer(pairs["participant_id"])
    v = state.jobs.id_index.get_indexer(pairs["vacancy_id"])
    day = pairs["first_date"].to_numpy(dtype="datetime64[D]")
    ok = (p >= 0) & (v >= 0)
    p, v, day, pairs = p[ok], v[ok], day[ok], pairs[ok]
    demands = state.jobs.demands
    is_open = (demands.published[v] <= day) & (np.isnat(demands.closes[v]) | (day < demands.closes[v]))
    ok = feasible(people.limits, demands, p, v) & is_open
    p, v, day, pairs = p[ok], v[ok], day[ok], pairs[ok]
    counts = pairs.groupby("participant_id")["grade"].agg(["size", "max"])
    judged = counts[(counts["size"] >= 2) & (counts["max"] > 0)].index if judged_only else counts.index
    keep = pairs["participant_id"].isin(judged).to_numpy()
    if not keep.any():
        return None
    p, v, day, pairs = p[keep], v[keep], day[keep], pairs[keep]
    vectors = pipeline._vectors(people, state)
    features = compute_features(people, state.jobs, CandidatePairs(p, v), vectors, day, state.history)
    return _MetRows(pairs[["participant_id", "vacancy_id", "grade"]].reset_index(drop=True), people, vectors, features)


def calibrate(pipeline: MatchingPipeline, participants: pd.DataFrame, vacancies: pd.DataFrame, outcomes: pd.DataFrame,
              split: date, end: date) -> Calibrator | None:
    """The pipeline's scores of every new pair people met in [split, end), as of the day met, mapped to
    whether the pair reached a success by ``end`` (``matching.calibration``); None when the window holds
    too few pairs or no success."""
    state = pipeline.prepare_vacancies(vacancies.reset_index(drop=True)).with_history(
        pipeline.prepare_history(outcomes, vacancies, end, participants))
    met = _met_rows(pipeline, state, participants, outcomes, split, end, judged_only=False)
    if met is None:
        return None
    config = pipeline.config.calibration
    calibrator = Calibrator(config.method, config.folds, config.bins, config.context, config.regularization,
                            config.repeats)
    try:
        return calibrator.fit(pipeline.predict(met.features.matrix), (met.pairs["grade"] > 0).to_numpy(),
                              met.pairs["participant_id"], calibrator.context_of(met.features.matrix))
    except ValueError:
        return None


def _met_pairs(pipeline: MatchingPipeline, state: VacancyState, participants: pd.DataFrame, outcomes: pd.DataFrame,
               vacancies: pd.DataFrame, split: date, end: date, tfidf: TfidfVectorizer, vacancy_tfidf,
               popularity: np.ndarray, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Every system's score of each met pair (``_met_rows``) and the pairs' grades."""
    met = _met_rows(pipeline, state, participants, outcomes, split, end)
    names = ("random feasible", "popularity", "tf-idf + filters", "embedding + filters", NO_RANKER, FULL_PIPELINE)
    if met is None:
        return {name: np.empty(0) for name in names}, _NO_PAIRS
    pairs = met.features.pairs
    p, v = pairs.participant, pairs.vacancy
    tfidf_score = np.asarray(tfidf.transform(met.people.texts)[p].multiply(vacancy_tfidf[v]).sum(axis=1)).ravel()
    scores = {
        "random feasible": rng.random(len(p)),
        "popularity": popularity[v],
        "tf-idf + filters": tfidf_score,
        "embedding + filters": np.einsum("ij,ij->i", met.vectors.participant_dense[p], met.vectors.vacancy_dense[v]),
        NO_RANKER: prior_score(met.features.matrix, FEATURE_NAMES),
        FULL_PIPELINE: pipeline.predict(met.features.matrix),
    }
    return scores, met.pairs


def _met_ndcg(pairs: pd.DataFrame, score: np.ndarray) -> pd.Series:
    """Each participant's NDCG@10 of their met pairs ordered by ``score`` (ties by vacancy id)."""
    if pairs.empty:
        return pd.Series(dtype=np.float64)
    frame = pairs.assign(score=score)
    frame = frame.sort_values(["participant_id", "score", "vacancy_id"], ascending=[True, False, True], kind="stable")
    frame["rank"] = frame.groupby("participant_id").cumcount() + 1
    recs = frame.rename(columns={"participant_id": "query_id", "vacancy_id": "item_id"})
    return ndcg_at_k(recs[["query_id", "item_id", "rank"]], recs[["query_id", "item_id", "grade"]], 10)


def text_baseline(vacancies: pd.DataFrame, texts: list[str], split: date) -> TfidfVectorizer:
    """The TF-IDF baseline (character n-grams within words) fitted on the texts of the vacancies
    published before the split only: a baseline must not know the future either."""
    published = (vacancies["published_at"] < pd.Timestamp(split)).to_numpy()
    return TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit(
        np.asarray(texts, dtype=object)[published])


def _systems_on(pipeline: MatchingPipeline, state: VacancyState, frame: pd.DataFrame, day: date,
                leave_out: ExcludedPairs, k: int, tfidf: TfidfVectorizer, vacancy_tfidf, popularity: np.ndarray,
                rng: np.random.Generator) -> dict[str, tuple[pd.DataFrame, np.ndarray]]:
    """Every system's top-k for the people judged on ``day`` and whether each listed pair breaks a constraint."""
    scored = pipeline.score_candidates(frame, state, day, exclude=leave_out)
    people = scored.people
    query_ids = np.asarray([f"{pid}@{day.isoformat()}" for pid in people.ids], dtype=object)
    vacancy_ids = state.jobs.ids
    open_positions = np.flatnonzero(open_on(state.jobs.demands, day))
    p = np.repeat(np.arange(len(people)), len(open_positions))
    v = np.tile(open_positions, len(people))
    ok = feasible(people.limits, state.jobs.demands, p, v, day)
    ok &= ~np.isin(p * len(vacancy_ids) + v, leave_out.keys(pd.Index(people.ids), state.jobs.id_index))
    p, v = p[ok], v[ok]
    vectors = pipeline._vectors(people, state)
    tfidf_score = np.asarray(tfidf.transform(people.texts)[p].multiply(vacancy_tfidf[v]).sum(axis=1)).ravel()
    dense_score = np.einsum("ij,ij->i", vectors.participant_dense[p], vectors.vacancy_dense[v])

    def pipeline_recs(use_ranker: bool) -> pd.DataFrame:
        table = top_n(scored, state, k) if use_ranker else pipeline.recommend(frame, state, day, k, use_ranker=False,
                                                                              exclude=leave_out)
        return _as_recs(table, day)

    systems: dict[str, Callable[[], pd.DataFrame]] = {
        "random feasible": lambda: _ranked(query_ids, vacancy_ids, p, v, rng.random(len(p)), k),
        "popularity": lambda: _ranked(query_ids, vacancy_ids, p, v, popularity[v], k),
        "tf-idf + filters": lambda: _ranked(query_ids, vacancy_ids, p, v, tfidf_score, k),
        "embedding + filters": lambda: _ranked(query_ids, vacancy_ids, p, v, dense_score, k),
        NO_RANKER: lambda: pipeline_recs(False),
        FULL_PIPELINE: lambda: pipeline_recs(True),
    }
    out = {}
    position = pd.Series(np.arange(len(people)), index=query_ids)
    for name, make in systems.items():
        ranked = make()
        rp = position[ranked["query_id"]].to_numpy()
        rv = state.jobs.id_index.get_indexer(ranked["item_id"])
        out[name] = (ranked, ~feasible(people.limits, state.jobs.demands, rp, rv, day))
    return out
