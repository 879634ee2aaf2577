"""Time each stage of the nightly batch on a generated world of a given size, cold and warm cache.

    python bench/stages.py [--participants 5000] [--vacancies 2500] [--k 20] [--chunk-size 2000]
                           [--workdir /tmp/ilona-stages] [--seed 5] [--train-pairs 0] [--all-open]
                           [--cache DIR] [--repeats 3] [--pool-memory-mb 2048] [--embedder-model DIR]

The world is generated once into WORKDIR/P_V_SEED/data (the generator's streaming mode) and a
pipeline is fitted on its outcomes before the default as-of date (on the vacancies that have
outcomes plus 1,000 others). Then the batch for every participant over the vacancies open on that
date (with --all-open: every vacancy) runs twice: ``cold`` (an empty embedding cache) and ``warm``
(the cache the cold run filled), stage by stage, exactly as ``run_batch`` does them. With --cache
DIR the runs start from that cache instead (the generator makes the same vacancies for the same
seed and count whatever the number of participants, so a cache filled by another run of the
world's vacancies spares their hours of encoding); the first run is then ``given_cache``. The warm
run is repeated ``--repeats`` times; each stage's figure is the median of those runs (each with its own
freshly loaded pipeline, as a new process would start). With --embedder-model the pipeline is fitted
with that embedder (e.g. a static model of ``ilona-match distill-embedder``) and saved in
P_V_SEED/model-NAME.

vacancy_profiles   ESCO concepts of the vacancy texts (taxonomy extraction)
vacancy_encode     dense text and concept-label embeddings of the vacancies
vacancy_lexical    the lexical (BM25-style) vectors of the vacancies
index_build        the retrieval indexes (FAISS and sparse)
participant_*      the same per participant chunk: profiles, encode (dense + lexical), then
retrieve           candidates from every channel, over-fetched and filtered by the hard constraints
features           pairwise features of all candidates (vectorised)
rank               LightGBM predict on the feature block
top_k              the k best per participant (or the allocation pool)
allocation         the capacity-aware allocation across the run
rescore            profiles, vectors and features again for the chosen rows of chunks whose pool was
                   kept without features (beyond --pool-memory-mb; none by default at this size)
explain            reasons from pred_contrib and ESCO skills, for the chosen rows
write              the recommendations table (CSV) and the SQLite results database

With ``--train-pairs N`` it also times ``LambdaRanker.fit`` on N synthetic labelled pairs (groups of
50, the real feature count, 500 trees, two threads): the training-speed target of issue 5. With
``--participants 0`` it times only that.

Both runs are in one process, so the warm one also finds the taxonomy and lemma memos of this process
filled (a new nightly process starts with them empty, and with the embedding cache warm).

Prints one JSON line per figure (seconds; peak RSS of the process so far in MB).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit

from ilona_match.contract import load_data, write_table
from ilona_match.contract.constraints import VacancyDemands, open_on
from ilona_match.matching.features import FEATURE_NAMES, CandidatePairs, TextVectors, compute_features
from ilona_match.matching.persistence import load_pipeline, save_pipeline
from ilona_match.matching.pipeline import (
    MatchingPipeline,
    PipelineConfig,
    Scored,
    VacancyState,
    explain_top,
    ranked_rows,
    top_n,
)
from ilona_match.matching.profiles import build_participants, build_vacancies
from ilona_match.matching.ranker import LambdaRanker, RankerConfig
from ilona_match.matching.retrieval import CandidateRetriever
from ilona_match.serving.allocation import AllocationConfig, CandidatePool, PoolChunk, allocate
from ilona_match.serving.batch import _contract_form, _feature_bytes
from ilona_match.serving.store import ResultStore, RunLog
from ilona_match.synthetic import generate_world
from ilona_match.text.embedding import DEFAULT_MODEL, EmbedderConfig
from ilona_match.training import default_as_of


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Clock:
    """Seconds per stage name, summed over chunks."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.seconds[name] += time.perf_counter() - start


def run_stages(pipeline: MatchingPipeline, participants: pd.DataFrame, vacancies: pd.DataFrame, as_of, k: int,
               chunk_size: int, out: Path, pool_memory_mb: float = 2048) -> tuple[Clock, int]:
    """``run_batch`` with allocation, stage by stage; returns the clock and the number of rows written."""
    clock = Clock()
    with clock.stage("vacancy_profiles"):
        jobs = build_vacancies(vacancies, pipeline.taxonomy, pipeline._extract())
    with clock.stage("vacancy_encode"):
        dense = pipeline._dense(jobs.texts, "passage")
        concept = pipeline._dense(jobs.concept_texts, "passage")
    with clock.stage("vacancy_lexical"):
        lexical = pipeline._lexical(jobs.texts, list(jobs.language))
    with clock.stage("index_build"):
        vectors = TextVectors(dense[:0], dense, concept[:0], concept, lexical[:0], lexical)
        retriever = CandidateRetriever(pipeline.config.retrieval, pipeline.config.index).fit(jobs, vectors)
    state = VacancyState(jobs, dense, concept, lexical, retriever)
    chunks = [participants.iloc[start:start + chunk_size].reset_index(drop=True)
              for start in range(0, len(participants), chunk_size)]
    pools: list[PoolChunk] = []
    kept: list[Scored | None] = []
    calibrated = getattr(pipeline, "calibrator_", None) is not None
    budget = pool_memory_mb * 2**20
    for chunk in chunks:
        with clock.stage("participant_profiles"):
            people = build_participants(chunk, pipeline.taxonomy, pipeline._extract())
        with clock.stage("participant_encode"):
            vectors = pipeline._vectors(people, state)
        with clock.stage("retrieve"):
            retrieved = state.retriever.retrieve(people, state.jobs, vectors, as_of)
        with clock.stage("features"):
            features = compute_features(people, state.jobs, retrieved.pairs, vectors, as_of)
        with clock.stage("rank"):
            scores = np.asarray(pipeline.predict(features.matrix), dtype=np.float64)
        with clock.stage("top_k"):
            scored = Scored(people, features, scores, retrieved.proposed_by)
            pool = scored.take(ranked_rows(scored, state, 50)[0])
            pools.append(PoolChunk.from_scored(pool, pipeline.chance(pool.scores, pool.features.matrix) if calibrated else None))
            size = _feature_bytes(pool)
            kept.append(pool if size <= budget else None)
            budget -= size if size <= budget else 0
    with clock.stage("allocation"):
        candidates = CandidatePool.from_chunks(pools, state)
        sizes = [len(pool) for pool in pools]
        pools.clear()
        # the nightly default (placements) needs calibrated chances; a pipeline fitted here without a
        # held-out window has none, so it is timed with the cap
        allocated = allocate(candidates, AllocationConfig(k=k, objective="placements" if calibrated else "cap"))
    starts, offsets = np.cumsum([0, *sizes]), np.cumsum([0, *map(len, chunks)])
    parts = []
    for i, (chunk, full, (rows, rank)) in enumerate(zip(chunks, kept, allocated.chosen_rows(sizes))):
        if full is None:
            with clock.stage("rescore"):  # the chunk's profiles and vectors again, for its chosen rows only
                at = starts[i] + rows
                pairs = CandidatePairs(candidates.participant[at] - offsets[i], candidates.vacancy[at])
                chosen = pipeline.score_pairs(chunk, state, pairs, as_of)
        else:
            chosen = full.take(rows)
        with clock.stage("explain"):
            top = top_n(chosen, state, k, rank, pipeline.chance(chosen.scores, chosen.features.matrix))
            top["reasons"] = ["|".join(e.reasons) for e in explain_top(pipeline, chosen, state, top)]
            parts.append(top)
    frame = _contract_form(pd.concat(parts, ignore_index=True), "bench-run", as_of, "bench")
    with clock.stage("write"):
        write_table(frame, out / "recommendations.csv")
        now = datetime.now(timezone.utc).isoformat()
        ResultStore(f"sqlite:///{out / 'results.db'}").publish(frame, RunLog(
            run_id="bench-run", as_of=as_of, model_version="bench", started_at=now, finished_at=now,
            participants=len(participants), vacancies=len(vacancies), open_vacancies=len(jobs), rejected_rows=0,
            recommendations=len(frame), to_check=int((frame["to_check"] != "").sum())))
    return clock, len(frame)


def time_training(pairs: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_features = len(FEATURE_NAMES)
    X = rng.random((pairs, n_features), dtype=np.float32)
    signal = X[:, : min(5, n_features)].sum(axis=1) + rng.normal(0, 0.5, pairs)
    y = np.digitize(signal, np.quantile(signal, [0.7, 0.9, 0.97, 0.99])).astype(np.int32)
    group = np.full(pairs // 50, 50)
    group[-1] += pairs - group.sum()
    start = time.perf_counter()
    LambdaRanker(RankerConfig(num_threads=2, use_monotone=False, early_stopping_rounds=0)).fit(
        X, np.minimum(y, 4), group, FEATURE_NAMES)
    emit({"figure": "train_s", "pairs": pairs, "features": n_features, "trees": RankerConfig().n_estimators,
          "seconds": time.perf_counter() - start, "peak_rss_mb": peak_rss_mb()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=5000)
    parser.add_argument("--vacancies", type=int, default=2500)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ilona-stages"))
    parser.add_argument("--train-pairs", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None,
                        help="an embedding cache to start from and keep (e.g. one holding this world's vacancies): "
                             "the first run is then 'given_cache', not 'cold'")
    parser.add_argument("--repeats", type=int, default=3, help="warm runs; each figure is their median (0: none)")
    parser.add_argument("--embedder-model", help="fit with this embedder (EmbedderConfig.model) instead of the default")
    parser.add_argument("--pool-memory-mb", type=float, default=2048,
                        help="batch.pool_memory_mb: pool features kept up to this; beyond it chosen rows are re-scored "
                             "(stage 'rescore'); 0 re-scores every chunk")
    parser.add_argument("--all-open", action="store_true",
                        help="serve every vacancy as open on as-of (a national feed's size), not only the open ones")
    args = parser.parse_args()
    if args.repeats < 0:
        parser.error(f"--repeats must be at least 0, got {args.repeats}")

    if args.train_pairs:
        time_training(args.train_pairs, args.seed)
    if args.participants == 0:  # --participants 0: training only
        return
    folder = args.workdir / f"{args.participants}_{args.vacancies}_{args.seed}"
    data = folder / "data"
    if not (data / "outcomes.csv").exists():
        start = time.perf_counter()
        generate_world(data, participants=args.participants, vacancies=args.vacancies, seed=args.seed)
        emit({"figure": "generate_s", "seconds": time.perf_counter() - start})
    bundle = load_data(data)
    as_of = default_as_of(bundle)
    model = folder / ("model" if args.embedder_model is None else f"model-{Path(args.embedder_model).name}")
    if not model.exists():  # fitted once per world, with its own cache: the batch's cold run starts empty
        start = time.perf_counter()
        # training needs the vacancies that have outcomes (plus some without, for the lexical
        # vocabulary); preparing all of a national feed's vacancies is the batch's job, timed below
        with_outcomes = bundle.vacancies["vacancy_id"].isin(set(bundle.outcomes["vacancy_id"]))
        training_vacancies = pd.concat([bundle.vacancies[with_outcomes], bundle.vacancies[~with_outcomes].head(1000)])
        embedder = EmbedderConfig(model=args.embedder_model or DEFAULT_MODEL)
        pipeline = MatchingPipeline(PipelineConfig(embedder=embedder, ranker=RankerConfig(num_threads=2)),
                                    cache_dir=args.cache or folder / "fit-cache")
        pipeline.fit(bundle.participants, training_vacancies, bundle.outcomes, as_of)
        emit({"figure": "fit_s", "seconds": time.perf_counter() - start, **pipeline.training_summary_})
        save_pipeline(pipeline, model)

    if args.all_open:
        vacancies = bundle.vacancies.assign(published_at=bundle.vacancies["published_at"].clip(upper=pd.Timestamp(as_of)),
                                            closes_at=pd.NaT)
    else:
        vacancies = bundle.vacancies[open_on(VacancyDemands.from_frame(bundle.vacancies), as_of)].reset_index(drop=True)
    facts = {"participants": len(bundle.participants), "open_vacancies": len(vacancies), "k": args.k,
             "chunk_size": args.chunk_size, "pool_memory_mb": args.pool_memory_mb}
    cache = args.cache or folder / "batch-cache"
    if args.cache is None:
        shutil.rmtree(cache, ignore_errors=True)
    first = "cold" if args.cache is None else "given_cache"
    for cache_state, runs in ((first, 1), ("warm", args.repeats)):
        if runs == 0:
            continue
        stage_runs: dict[str, list[float]] = defaultdict(list)
        totals: list[float] = []
        for _ in range(runs):
            pipeline = load_pipeline(model, cache_dir=cache)  # a new process would start like this
            out = folder / f"out-{cache_state}"
            out.mkdir(parents=True, exist_ok=True)
            (out / "results.db").unlink(missing_ok=True)
            start = time.perf_counter()
            clock, rows = run_stages(pipeline, bundle.participants, vacancies, as_of, args.k, args.chunk_size, out,
                                     args.pool_memory_mb)
            totals.append(time.perf_counter() - start)
            for name, seconds in clock.seconds.items():
                stage_runs[name].append(seconds)
        for name, seconds in stage_runs.items():
            emit({"figure": "stage_s", "cache": cache_state, "stage": name, "seconds": statistics.median(seconds),
                  "runs": runs, **facts})
        emit({"figure": "batch_total_s", "cache": cache_state, "seconds": statistics.median(totals), "runs": runs,
              "rows": rows, "peak_rss_mb": peak_rss_mb(), **facts})


if __name__ == "__main__":
    main()
