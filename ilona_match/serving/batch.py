"""The one serving path (``serve_lists``) and the nightly batch in the contract's recommendations form.

Every list the engine hands out — the nightly table, ``Matcher.recommend`` / ``recommend_batch``,
the MLflow model and the HTTP API — comes from ``serve_lists``: open on the date, no hard
constraint broken, no pair already acted on, ranked, allocated where a run allocates, explained.
It scores participants in chunks (bounded memory, a progress callback per chunk) over vacancies
prepared once. The run id is derived from the model version, the as-of date, k and the input ids,
and ties are broken by vacancy id, so the same inputs and model give the same table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import pandas as pd

from ilona_match.contract.constraints import VacancyDemands, open_on
from ilona_match.contract.exclusion import ExcludedPairs
from ilona_match.contract.output import RECOMMENDATION_COLUMNS, RECOMMENDATIONS_SCHEMA
from ilona_match.matching.executor import Executor, LocalExecutor
from ilona_match.matching.features import CandidatePairs
from ilona_match.matching.history import InteractionHistory
from ilona_match.matching.pipeline import (
    MatchingPipeline,
    Scored,
    VacancyState,
    explain_top,
    ranked_rows,
    top_n,
)
from ilona_match.matching.reasons import Explanation
from ilona_match.serving.allocation import Allocation, AllocationConfig, CandidatePool, PoolChunk, allocate

__all__ = ["BatchResult", "ServedLists", "in_id_order", "run_batch", "run_id_for", "serve_lists"]

def run_id_for(model_version: str, as_of: date, k: int, participant_ids: pd.Series, vacancy_ids: pd.Series,
               variant: str = "") -> str:
    """A stable id of one run: same model, date, k, options (``variant``) and input ids give the same id."""
    digest = hashlib.sha256()
    for part in (model_version, as_of.isoformat(), str(k), variant):
        digest.update(part.encode() + b"\0")
    for ids in (participant_ids, vacancy_ids):
        digest.update("\n".join(sorted(map(str, ids))).encode() + b"\0")
    return f"run-{as_of:%Y%m%d}-{digest.hexdigest()[:12]}"


@dataclass(frozen=True)
class BatchResult:
    """One run's recommendations table (contract form) and, row-aligned, the explanations behind it."""

    frame: pd.DataFrame
    explanations: tuple[Explanation, ...]
    allocation: Allocation | None = None  # exposure caps applied across the run, with stats before/after


@dataclass(frozen=True)
class ServedLists:
    """The lists of one call of ``serve_lists``: participant_id, coach_id, rank, vacancy_id, score,
    to_check, reasons (``|``-joined), and row-aligned the explanations behind them."""

    frame: pd.DataFrame
    explanations: tuple[Explanation, ...]
    allocation: Allocation | None = None


@dataclass(frozen=True)
class _ChunkTask:
    """One chunk's work, computed wherever the executor runs it (module docstring of matching.executor)."""

    participants: pd.DataFrame
    as_of: date
    k: int
    exclude: ExcludedPairs | None
    use_ranker: bool
    calibrated: bool
    candidate_pool: int = 0  # > 0: the chunk's candidate pool for the allocation
    keep_features: bool = False  # with the pool, its candidates' features too (in this process only)
    pairs: CandidatePairs | None = None  # chosen pairs to score again and explain, at ``rank``
    rank: np.ndarray | None = None


def _explained(pipeline: MatchingPipeline, state: VacancyState, chosen: Scored, task: _ChunkTask,
               rank: np.ndarray | None = None) -> tuple[pd.DataFrame, list[Explanation]]:
    chance = pipeline.chance(chosen.scores, chosen.features.matrix) if task.calibrated else np.full(len(chosen.scores), np.nan)
    top = top_n(chosen, state, task.k, rank, chance)
    explained = explain_top(pipeline, chosen, state, top, use_ranker=task.use_ranker)
    top["reasons"] = ["|".join(e.reasons) for e in explained]
    return top, explained


def _chunk_lists(pipeline: MatchingPipeline, state: VacancyState, task: _ChunkTask) -> tuple[pd.DataFrame, list[Explanation]]:
    """A chunk's plain top k, explained (no allocation)."""
    scored = pipeline.score_candidates(task.participants, state, task.as_of, use_ranker=task.use_ranker,
                                       exclude=task.exclude)
    return _explained(pipeline, state, scored, task)


def _chunk_pool(pipeline: MatchingPipeline, state: VacancyState, task: _ChunkTask) -> tuple[PoolChunk, Scored | None]:
    """A chunk's top ``candidate_pool`` candidates per person for the allocation (and their features,
    when this process keeps them for the explanations)."""
    scored = pipeline.score_candidates(task.participants, state, task.as_of, use_ranker=task.use_ranker,
                                       exclude=task.exclude)
    pool = scored.take(ranked_rows(scored, state, task.candidate_pool)[0])
    chunk = PoolChunk.from_scored(pool, pipeline.chance(pool.scores, pool.features.matrix) if task.calibrated else None)
    return chunk, pool if task.keep_features else None


def _chunk_chosen(pipeline: MatchingPipeline, state: VacancyState, task: _ChunkTask) -> tuple[pd.DataFrame, list[Explanation]]:
    """The allocation's chosen pairs of a chunk, scored again (same features and scores) and explained."""
    assert task.pairs is not None
    scored = pipeline.score_pairs(task.participants, state, task.pairs, task.as_of, use_ranker=task.use_ranker)
    return _explained(pipeline, state, scored, task, task.rank)


def serve_lists(
    pipeline: MatchingPipeline,
    participants: pd.DataFrame,
    state: VacancyState,
    as_of: date,
    *,
    k: int = 10,
    exclude: ExcludedPairs | None = None,
    allocation: AllocationConfig | None = None,
    candidate_pool: int = 50,
    pool_memory_mb: float = 2048,
    chunk_size: int = 2000,
    progress: Callable[[int], None] | None = None,
    use_ranker: bool = True,
    executor: Executor | None = None,
) -> ServedLists:
    """The one serving path of the nightly batch, the Python API, the MLflow model and the HTTP API:
    vacancies open on ``as_of`` that break no hard constraint, minus the pairs already acted on
    (``exclude``, from ``exclusion.acted_pairs``), ranked, cut to k (after the allocation across
    everyone in the call, when one is given), with reasons.

    Participants are served in ``participant_id`` order (and ``run_batch`` prepares the vacancies in
    ``vacancy_id`` order), so the lists do not depend on the rows' order in the files. They are
    scored in chunks of ``chunk_size`` by ``executor`` (``matching.executor``: here
    by default, or on a Dask cluster); the chunks are the same with any executor, so is the output.
    Without ``allocation`` each chunk is cut to its top k and explained at once, so memory grows
    with the recommendations only. With it, each participant's top ``candidate_pool`` candidates
    are kept from every chunk and one allocation across the whole call caps how many people each
    vacancy goes to (``allocation.k`` is replaced by ``k``); only the chosen rows are explained. The
    placements objective needs calibrated chances: a model without a calibration serves plain top k.
    In this process a chunk's pool keeps its candidates' features while the kept ones fit in
    ``pool_memory_mb``; beyond that (and always on a cluster) it keeps (participant, vacancy, score)
    alone, 16 bytes a row, and its chosen rows are scored again after the allocation (the same
    features and scores, at the cost of building the chunk's profiles and vectors twice).
    ``use_ranker=False`` ranks with the documented prior alone (the no-ranker baseline).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be at least 1, got {chunk_size}")
    if allocation is not None and candidate_pool < k:
        raise ValueError(f"candidate_pool must be at least k={k}, got {candidate_pool}")
    if pool_memory_mb < 0:
        raise ValueError(f"pool_memory_mb must be at least 0, got {pool_memory_mb}")
    # one order, whatever the rows' order in the files: the local search of the allocation and ties
    # are read in row order, so a re-sorted export would otherwise change most lists (the run id,
    # made from the sorted ids, would not)
    participants = participants.sort_values("participant_id", kind="stable", ignore_index=True)
    executor = executor or LocalExecutor()
    here = isinstance(executor, LocalExecutor)
    # the calibrator maps the shipped model's scores
    calibrated = (use_ranker or pipeline.ranker_ is None) and getattr(pipeline, "calibrator_", None) is not None
    if allocation is not None and allocation.objective == "placements" and not calibrated:
        allocation = None  # expected placements need chances: without them, each person's plain top k
    firsts = range(0, len(participants), chunk_size)  # each chunk's first participant position
    tasks = [
        _ChunkTask(participants.iloc[first:first + chunk_size].reset_index(drop=True), as_of, k,
                   exclude if exclude is None or here  # a task shipped elsewhere carries its own pairs only
                   else exclude.among(participants["participant_id"].iloc[first:first + chunk_size]),
                   use_ranker, calibrated, candidate_pool=0 if allocation is None else candidate_pool,
                   keep_features=here and pool_memory_mb > 0)
        for first in firsts
    ]
    explained: dict[int, tuple[pd.DataFrame, list[Explanation]]] = {}
    allocated = None
    with executor.session(pipeline, state) as session:
        if allocation is None:
            for i, lists in session.map(_chunk_lists, tasks):
                explained[i] = lists
                if progress is not None:
                    progress(len(tasks[i].participants))
        else:
            pools: list[PoolChunk | None] = [None] * len(tasks)
            kept: dict[int, Scored] = {}
            budget = pool_memory_mb * 2**20
            for i, (pool_chunk, features) in session.map(_chunk_pool, tasks):
                pools[i] = pool_chunk
                size = 0 if features is None else _feature_bytes(features)
                if features is not None and size <= budget:
                    kept[i] = features
                    budget -= size
                if progress is not None:
                    progress(len(tasks[i].participants))
            candidates = CandidatePool.from_chunks([pool for pool in pools if pool is not None], state)
            sizes = [len(pool) for pool in pools if pool is not None]
            pools.clear()  # the allocation's own copy holds the rows now: one copy less at its memory peak
            allocated = allocate(candidates, allocation.model_copy(update={"k": k}))
            starts = np.cumsum([0, *sizes])
            again: dict[int, _ChunkTask] = {}
            for i, (rows, rank) in enumerate(allocated.chosen_rows(sizes)):
                if i in kept:
                    explained[i] = _explained(pipeline, state, kept.pop(i).take(rows), tasks[i], rank)
                else:  # features not kept: score the chosen rows again
                    at = starts[i] + rows
                    pairs = CandidatePairs(candidates.participant[at] - firsts[i], candidates.vacancy[at])
                    again[i] = replace(tasks[i], pairs=pairs, rank=rank)
            order = sorted(again)
            for j, lists in session.map(_chunk_chosen, [again[i] for i in order]):
                explained[order[j]] = lists
    parts = [explained[i][0] for i in range(len(tasks))]
    explanations = [e for i in range(len(tasks)) for e in explained[i][1]]
    columns = ["participant_id", "coach_id", "rank", "vacancy_id", "score", "p_outcome", "to_check", "reasons"]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)
    return ServedLists(frame, tuple(explanations), allocated)


def run_batch(
    pipeline: MatchingPipeline,
    participants: pd.DataFrame,
    vacancies: pd.DataFrame | VacancyState,
    as_of: date,
    *,
    k: int = 10,
    model_version: str = "unregistered",
    chunk_size: int = 2000,
    progress: Callable[[int], None] | None = None,
    allocation: AllocationConfig | None = None,
    candidate_pool: int = 50,
    pool_memory_mb: float = 2048,
    exclude: ExcludedPairs | None = None,
    use_ranker: bool = True,
    executor: Executor | None = None,
    history: InteractionHistory | None = None,
) -> BatchResult:
    """``serve_lists`` for a whole run, in the contract's recommendations form (RECOMMENDATION_COLUMNS),
    with a run id derived from the model version, date, k, options and input ids. ``history``: the
    run's interaction history (``MatchingPipeline.prepare_history``), for its channels and features."""
    state = vacancies if isinstance(vacancies, VacancyState) else _prepare_open(pipeline, vacancies, as_of)
    if history is not None:
        state = state.with_history(history)
    vacancy_ids = pd.Series(state.jobs.ids) if isinstance(vacancies, VacancyState) else vacancies["vacancy_id"]
    variant = "" if allocation is None else f"{allocation.exposure_per_opening}:{allocation.method}:{candidate_pool}"
    if not use_ranker:
        variant += ":prior"
    run_id = run_id_for(model_version, as_of, k, participants["participant_id"], vacancy_ids, variant)
    served = serve_lists(pipeline, participants, state, as_of, k=k, exclude=exclude, allocation=allocation,
                         candidate_pool=candidate_pool, pool_memory_mb=pool_memory_mb, chunk_size=chunk_size,
                         progress=progress, use_ranker=use_ranker, executor=executor)
    return BatchResult(_contract_form(served.frame, run_id, as_of, model_version), served.explanations,
                       served.allocation)


def _feature_bytes(pool: Scored) -> int:
    """Memory a chunk's pool keeps for its candidates' features until the allocation is done."""
    f = pool.features
    arrays = (f.matrix, f.to_check, f.pairs.participant, f.pairs.vacancy, pool.scores, *pool.proposed_by.values())
    return sum(a.nbytes for a in arrays)


def _prepare_open(pipeline: MatchingPipeline, vacancies: pd.DataFrame, as_of: date) -> VacancyState:
    """The vacancy side of a run: only the vacancies open on ``as_of`` are profiled, embedded and
    indexed (a feed with its history may hold many times more closed ones, which no one can be
    recommended, and a small open share searched through a graph of all of them loses recall)."""
    served = vacancies[open_on(VacancyDemands.from_frame(vacancies), as_of)]
    return pipeline.prepare_vacancies(in_id_order(served if len(served) else vacancies))


def in_id_order(vacancies: pd.DataFrame) -> pd.DataFrame:
    """Vacancies in ``vacancy_id`` order: the index and ties are built and read in row order, so the
    lists of a run do not depend on the order of the feed's rows."""
    return vacancies.sort_values("vacancy_id", kind="stable", ignore_index=True)


def _contract_form(frame: pd.DataFrame, run_id: str, as_of: date, model_version: str) -> pd.DataFrame:
    frame = frame.assign(run_id=run_id, as_of=as_of.isoformat(), model_version=str(model_version))
    frame = frame.astype({"rank": "int64", "score": "float64", "p_outcome": "float64"})
    frame = frame.astype({c: str for c in ("participant_id", "coach_id", "vacancy_id", "reasons", "to_check")})
    return RECOMMENDATIONS_SCHEMA.validate(frame[list(RECOMMENDATION_COLUMNS)])
