"""Leave the last interaction out: does a system find what a person engaged with next?

A run stands on a date D; the window is [S, D) with S = D - ``horizon_days``. For every participant
with vacancies in the log before D, the vacancy that entered their log last (its first event; ties
broken by vacancy id) is held out when it entered within the window and at least one other vacancy
entered before that day, and the engine may list it: open on that day and breaking no hard
constraint of the person (a board that ignores work capacity logs views no list may ever show; those
are counted as set aside). Each system then ranks, for that person, the vacancies open on that day,
as the list of that morning would have: the hard filter, and the pairs the person acted on before
that day left out (``exclusion.acted_pairs``). The held-out pair's own events are on or after the
day, so no system sees them.

- The engine is fitted on the log before S (``training.leave_last_out``) and reads the interaction
  history before the day: its history and collaborative channels and features see the person's
  earlier events and everyone's events before the day.
- **Baselines**, all with the same hard filter and exclusions: ``popularity`` (events on the vacancy
  in the ``window_days`` before the day), ``local popularity`` (the same, by people of the person's
  municipality; popularity breaks ties) and ``tf-idf + filters`` (the person's text against the
  vacancy's, fitted on vacancies published before S).
- **Ablations** of the engine's channels use the same fitted model with a channel switched off.

Hit@10: the held-out vacancy is in the top 10; NDCG@10 is 1 / log2(1 + rank) when it is.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from ilona_match.contract.constraints import feasible, open_on
from ilona_match.contract.events import strongest_outcomes
from ilona_match.contract.exclusion import ExclusionConfig, acted_pairs
from ilona_match.learning.evaluation import FULL_PIPELINE, NO_RANKER, text_baseline
from ilona_match.matching.pipeline import MatchingPipeline, VacancyState
from ilona_match.matching.profiles import ParticipantProfiles, build_participants

__all__ = ["ENGINE_VARIANTS", "LeaveLastOutResult", "PairScorer", "evaluate_leave_last_out", "last_interactions",
           "per_participant_ndcg"]

# an extra system: (participant ids, vacancy ids, day) of the candidate pairs -> a score per pair, higher first
PairScorer = Callable[[np.ndarray, np.ndarray, date], np.ndarray]

_K = 10
_LISTABLE = "_judged"  # every judged person, whatever the systems listed
# engine variants: (retrieval channels switched off, use the ranker)
ENGINE_VARIANTS: dict[str, tuple[tuple[str, ...], bool]] = {
    FULL_PIPELINE: ((), True),
    NO_RANKER: ((), False),
    "without history channel": (("history",), True),
    "without collaborative channel": (("collaborative",), True),
    "without popular channel": (("popular",), True),
    "without the interaction channels": (("history", "collaborative", "popular"), True),
}


@dataclass(frozen=True)
class LeaveLastOutResult:
    """Hit@10 and NDCG@10 per system (index) on the held-out last interactions, and the ranks."""

    table: pd.DataFrame  # index: system; hit@10, ndcg@10, judged
    ranks: pd.DataFrame  # index: participant_id; one column per system: rank of the held-out vacancy (NaN: not listed)
    split: date
    end: date
    set_aside: int  # last interactions no list may show (closed that day, or breaking a hard constraint)


def last_interactions(outcomes: pd.DataFrame, split: date, end: date) -> pd.DataFrame:
    """The held-out pairs: participant_id, vacancy_id, day (module docstring)."""
    events = outcomes[outcomes["event_date"] < pd.Timestamp(end)]
    if "vacancy_id" in events:
        events = events[events["vacancy_id"].notna()]
    pairs = strongest_outcomes(events).sort_values(["participant_id", "first_date", "vacancy_id"], kind="stable")
    if pairs.empty:
        return pd.DataFrame({"participant_id": [], "vacancy_id": [], "day": []})
    last = pairs.groupby("participant_id", sort=True).tail(1)
    earliest = pairs.groupby("participant_id")["first_date"].min()
    last = last[(last["first_date"] >= pd.Timestamp(split))
                & (earliest.reindex(last["participant_id"]).to_numpy() < last["first_date"].to_numpy())]
    return pd.DataFrame({"participant_id": last["participant_id"].to_numpy(), "vacancy_id": last["vacancy_id"].to_numpy(),
                         "day": last["first_date"].dt.date.to_numpy()})


def _without(state: VacancyState, channels: tuple[str, ...]) -> VacancyState:
    if not channels:
        return state
    retriever = copy.copy(state.retriever)
    retriever.config = retriever.config.model_copy(
        update={"channels": tuple(c for c in retriever.config.channels if c not in channels)})
    return replace(state, retriever=retriever)


def _rank_of(order_ids: np.ndarray, scores: np.ndarray, target: str) -> float:
    """1-based rank of ``target`` among ids ordered by score (best first, ties by id); NaN if absent."""
    hit = np.flatnonzero(order_ids == target)
    if len(hit) == 0:
        return np.nan
    s = scores[hit[0]]
    return float(1 + np.sum(scores > s) + np.sum((scores == s) & (order_ids < target)))


def evaluate_leave_last_out(pipeline: MatchingPipeline, participants: pd.DataFrame, vacancies: pd.DataFrame,
                            outcomes: pd.DataFrame, split: date, end: date, exclusion: ExclusionConfig | None = None,
                            window_days: int = 28, engines: tuple[str, ...] = tuple(ENGINE_VARIANTS),
                            baselines: bool = True, scorers: Mapping[str, PairScorer] | None = None
                            ) -> LeaveLastOutResult:
    """Every system's rank of each held-out last interaction in [split, end) (module docstring);
    ``engines``: the engine variants to run (``ENGINE_VARIANTS``), ``baselines``: whether to run those;
    ``scorers``: further systems ranking the same candidate pairs (e.g. a synthetic world's hidden truth)."""
    unknown = sorted(set(engines) - set(ENGINE_VARIANTS))
    if unknown:
        raise ValueError(f"unknown engine variants {unknown}: use some of {', '.join(ENGINE_VARIANTS)}")
    held = last_interactions(outcomes, split, end)
    if held.empty:
        raise ValueError(f"no participant has a last interaction in [{split}, {end}) after an earlier one")
    vacancies = vacancies.reset_index(drop=True)
    known = outcomes[outcomes["event_date"] < pd.Timestamp(end)]
    state = pipeline.prepare_vacancies(vacancies).with_history(pipeline.prepare_history(known, vacancies, end, participants))
    if baselines:  # fitted only when the baselines run (train's judgement runs the engines alone)
        tfidf = text_baseline(vacancies, state.jobs.texts, split)
        vacancy_tfidf = tfidf.transform(state.jobs.texts)
    towns = participants.set_index("participant_id")["municipality"] if "municipality" in participants else None
    engaged = known[known["vacancy_id"].notna()] if "vacancy_id" in known else known
    engaged = engaged.assign(town=(towns.reindex(engaged["participant_id"]).fillna("").str.casefold().to_numpy()
                                   if towns is not None else ""))
    ranks: dict[str, dict[str, float]] = {}
    set_aside: set[str] = set()
    for day, group in held.groupby("day", sort=True):
        frame = participants[participants["participant_id"].isin(set(group["participant_id"]))].reset_index(drop=True)
        target = group.set_index("participant_id")["vacancy_id"]
        exclude = acted_pairs(known[known["event_date"] < pd.Timestamp(day)], day, exclusion)
        for name in engines:
            off, use_ranker = ENGINE_VARIANTS[name]
            listed = pipeline.recommend(frame, _without(state, off), day, _K, use_ranker=use_ranker, exclude=exclude)
            found = listed[listed["vacancy_id"].to_numpy() == target.reindex(listed["participant_id"]).to_numpy()]
            got = ranks.setdefault(name, {})
            for pid in frame["participant_id"]:
                got[pid] = np.nan
            got.update(dict(zip(found["participant_id"], found["rank"].astype(float))))
        people = build_participants(frame, pipeline.taxonomy, pipeline.extract_mentions(), pipeline.linker)
        ranks.setdefault(_LISTABLE, {}).update(dict.fromkeys(people.ids.tolist(), 1.0))
        held_p = np.arange(len(people))
        held_v = state.jobs.id_index.get_indexer(target.reindex(people.ids).to_numpy())
        listable = (held_v >= 0) & feasible(people.limits, state.jobs.demands, held_p, np.maximum(held_v, 0), day)
        set_aside.update(people.ids[~listable].tolist())
        if not baselines and not scorers:  # the engines alone (train's judgement): no candidate pairs needed
            continue
        open_positions = np.flatnonzero(open_on(state.jobs.demands, day))
        p = np.repeat(np.arange(len(people)), len(open_positions))
        v = np.tile(open_positions, len(people))
        ok = feasible(people.limits, state.jobs.demands, p, v, day)
        ok &= ~np.isin(p * len(state.jobs) + v, exclude.keys(pd.Index(people.ids), state.jobs.id_index))
        p, v = p[ok], v[ok]
        systems = {name: scorer(people.ids[p], state.jobs.ids[v], day) for name, scorer in (scorers or {}).items()}
        if baselines:
            systems.update(_baseline_scores(engaged, people, state, p, v, day, window_days, tfidf, vacancy_tfidf))
        ids = state.jobs.ids[v].astype(str)
        for name, score in systems.items():
            got = ranks.setdefault(name, {})
            for i, pid in enumerate(people.ids):
                mine = p == i
                got[pid] = _rank_of(ids[mine], score[mine], str(target[pid]))
    table_ranks = pd.DataFrame(ranks).drop(index=list(set_aside)).drop(columns=_LISTABLE)
    if table_ranks.empty:
        raise ValueError(f"no last interaction in [{split}, {end}) is one a list may show (open, no hard constraint broken)")
    hit = (table_ranks <= _K).mean()
    ndcg = per_participant_ndcg(table_ranks).mean()
    table = pd.DataFrame({"hit@10": hit, "ndcg@10": ndcg, "judged": len(table_ranks)})
    return LeaveLastOutResult(table, table_ranks, split, end, len(set_aside))


def _baseline_scores(engaged: pd.DataFrame, people: ParticipantProfiles, state: VacancyState, p: np.ndarray,
                     v: np.ndarray, day: date, window_days: int, tfidf: TfidfVectorizer,
                     vacancy_tfidf: sparse.csr_matrix) -> dict[str, np.ndarray]:
    """Popularity, local popularity and TF-IDF + filters scores of the candidate pairs (module docstring)."""
    recent = engaged[(engaged["event_date"] < pd.Timestamp(day))
                     & (engaged["event_date"] >= pd.Timestamp(day - timedelta(days=window_days)))]
    popularity = recent.groupby("vacancy_id").size().reindex(state.jobs.ids).fillna(0).to_numpy()
    local = recent.groupby(["town", "vacancy_id"]).size()
    person_town = people.municipality[p]
    local_score = local.reindex(pd.MultiIndex.from_arrays([person_town, state.jobs.ids[v]])).fillna(0).to_numpy()
    text = np.asarray(tfidf.transform(people.texts)[p].multiply(vacancy_tfidf[v]).sum(axis=1)).ravel()
    return {"popularity": popularity[v], "local popularity": local_score + popularity[v] / (1 + popularity.max()),
            "tf-idf + filters": text}


def per_participant_ndcg(ranks: pd.Series) -> pd.Series:
    """NDCG@10 of each judged participant from the held-out vacancy's rank (0 when not in the top 10)."""
    return (1.0 / np.log2(1.0 + ranks.where(ranks <= _K))).fillna(0.0)
