"""What a run of P participants over V open vacancies holds in memory, measured part by part on a
world this machine can encode, then projected to a national size.

    python bench/scale_memory.py --world /tmp/ilona-stages/4000_5000_7 --cache DIR
                                 [--target-participants 1000000] [--target-vacancies 200000]
                                 [--pool 50] [--k 20] [--alloc-people 1000000]

WORLD is a folder made by ``bench/stages.py`` (its ``data`` and fitted ``model``); CACHE its
embedding cache, so nothing is encoded. Each part is the growth of the process's resident memory
(sampled from /proc every 5 ms while the part runs, so passing peaks count), not a count of bytes:

vacancy_side      profiles, vectors, FAISS and sparse indexes of every vacancy (per vacancy)
participants_in   the participants' input table as read (per participant)
chunk_work        scoring one chunk of 2,000 people, at the world's size and at half its vacancies:
                  the part that grows with the open vacancies is projected linearly
pool_row          bytes a pool row keeps until the allocation: with features, and compact (plus
                  the allocation's own copy, 24 bytes a row)
allocation        the greedy allocation of a random pool of ``--alloc-people`` x ``--pool`` rows
                  over ``--target-vacancies`` vacancies (Zipf-popular), measured, not projected
recommendation    bytes kept per explained recommendation until the run is written

The projection adds up, for the target size, what is alive at once in each phase of ``run_batch``
(scoring, pooling, allocating, explaining) and reports the largest. It is an estimate from measured parts, not a run:
a run of a million people needs about 10 hours of encoding here. Prints one JSON line per figure.
"""

from __future__ import annotations

import argparse
import gc
import threading
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
from _report import emit

from ilona_match.contract import load_data
from ilona_match.matching.persistence import load_pipeline
from ilona_match.matching.pipeline import explain_top, ranked_rows, top_n
from ilona_match.serving.allocation import AllocationConfig, CandidatePool, PoolChunk, allocate
from ilona_match.serving.batch import _feature_bytes
from ilona_match.training import default_as_of

T = TypeVar("T")


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def grows(work: Callable[[], T]) -> tuple[T, float, float]:
    """Run ``work``; return its result, the resident memory it added and kept, and its peak growth (MB)."""
    gc.collect()
    before = rss_mb()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], rss_mb())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = work()
    done.set()
    sampler.join()
    gc.collect()
    after = rss_mb()
    return result, after - before, max(peak[0], after) - before


def random_pool(people: int, jobs: int, size: int, seed: int = 0) -> CandidatePool:
    """``size`` distinct vacancies per person, drawn by Zipf popularity, in each person's ranked order."""
    rng = np.random.default_rng(seed)
    popularity = rng.zipf(1.3, size=jobs).astype(np.float64)
    popularity /= popularity.sum()
    vacancy = np.empty(people * size, np.int64)
    for start in range(0, people, 100_000):
        stop = min(people, start + 100_000)
        draws = rng.choice(jobs, size=(stop - start, size * 3), p=popularity)
        for i, row in enumerate(draws):
            unique = pd.unique(row)
            if len(unique) < size:
                unique = pd.unique(np.concatenate([unique, rng.choice(jobs, size * 3, replace=False)]))
            vacancy[(start + i) * size:(start + i + 1) * size] = unique[:size]
    participant = np.repeat(np.arange(people), size)
    score = -np.tile(np.arange(size, dtype=np.float64), people)
    return CandidatePool(participant, vacancy, score, rng.integers(1, 4, jobs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--target-participants", type=int, default=1_000_000)
    parser.add_argument("--target-vacancies", type=int, default=200_000)
    parser.add_argument("--pool", type=int, default=50)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--alloc-people", type=int, default=1_000_000)
    args = parser.parse_args()

    baseline = rss_mb()
    pipeline = load_pipeline(args.world / "model", cache_dir=args.cache)
    bundle = load_data(args.world / "data")
    as_of = default_as_of(bundle)
    vacancies = bundle.vacancies.assign(published_at=bundle.vacancies["published_at"].clip(upper=pd.Timestamp(as_of)),
                                        closes_at=pd.NaT)
    people_frame = bundle.participants
    frame_bytes = people_frame.memory_usage(deep=True).sum() / len(people_frame)
    emit({"figure": "participants_in_bytes", "per_participant": frame_bytes})

    # the vacancy side, at half the world and at all of it: its growth per vacancy
    half = vacancies.head(len(vacancies) // 2).reset_index(drop=True)
    pipeline.prepare_vacancies(half.head(50))  # taxonomy tables, lemma dictionaries, the model: loaded once
    loaded = rss_mb() - baseline
    state_half, half_mb, _ = grows(lambda: pipeline.prepare_vacancies(half))
    del state_half
    state, full_mb, full_peak = grows(lambda: pipeline.prepare_vacancies(vacancies))
    per_vacancy_kb = full_mb * 1024 / len(vacancies)
    emit({"figure": "vacancy_side", "vacancies": len(vacancies), "kept_mb": full_mb, "peak_mb": full_peak,
          "half_kept_mb": half_mb, "per_vacancy_kb": per_vacancy_kb, "fixed_mb": loaded})

    chunk = people_frame.head(args.chunk_size).reset_index(drop=True)
    chunk_peak = {}
    for name, served in (("half", pipeline.prepare_vacancies(half)), ("full", state)):
        scored, _, peak = grows(lambda served=served: pipeline.score_candidates(chunk, served, as_of))
        chunk_peak[name] = peak
    per_vacancy_chunk_kb = (chunk_peak["full"] - chunk_peak["half"]) * 1024 / (len(vacancies) - len(half))
    emit({"figure": "chunk_work", "chunk": len(chunk), "peak_mb_half": chunk_peak["half"],
          "peak_mb_full": chunk_peak["full"], "per_open_vacancy_kb": per_vacancy_chunk_kb})

    pool = scored.take(ranked_rows(scored, state, args.pool)[0])
    compact = PoolChunk.from_scored(pool)
    row_full = _feature_bytes(pool) / len(compact)
    row_compact = sum(a.nbytes for a in (compact.participant, compact.vacancy, compact.score)) / len(compact)
    emit({"figure": "pool_row_bytes", "with_features": row_full, "compact": row_compact})

    chosen = pool.take(ranked_rows(pool, state, args.k)[0])
    tracemalloc.start()
    top = top_n(chosen, state, args.k)
    explained = explain_top(pipeline, chosen, state, top)
    top["reasons"] = ["|".join(e.reasons) for e in explained]
    per_recommendation = tracemalloc.get_traced_memory()[0] / len(top)
    tracemalloc.stop()
    del explained
    emit({"figure": "recommendation_bytes", "rows": len(top), "per_row": per_recommendation})

    pool_people = args.alloc_people
    start = time.perf_counter()
    big = random_pool(pool_people, args.target_vacancies, args.pool)
    built = time.perf_counter() - start
    start = time.perf_counter()
    allocated, _, alloc_peak = grows(lambda: allocate(big, AllocationConfig(k=args.k, objective="cap", method="greedy")))
    emit({"figure": "allocation", "pool_rows": len(big), "vacancies": args.target_vacancies, "build_s": built,
          "seconds": time.perf_counter() - start, "peak_mb": alloc_peak,
          "pool_mb": sum(a.nbytes for a in (big.participant, big.vacancy, big.score)) / 2**20,
          "chosen": int(allocated.chosen.sum())})

    P, V = args.target_participants, args.target_vacancies
    recommendations = int(allocated.chosen.sum()) * P / pool_people
    mb = {
        "process_and_models": baseline + loaded,
        "vacancy_side": per_vacancy_kb * V / 1024,
        "participants_in": frame_bytes * P / 2**20,
        "chunk_work": chunk_peak["full"] + per_vacancy_chunk_kb * (V - len(vacancies)) / 1024,
        "pools_compact": row_compact * args.pool * P / 2**20,
        "candidate_pool": 24 * args.pool * P / 2**20,  # the allocation's own int64/float64 copy of the pool
        "allocation": alloc_peak * P / pool_people,
        "allocation_result": 9 * args.pool * P / 2**20,  # chosen (bool) and new rank (int64) per pool row
        "recommendations": per_recommendation * recommendations / 2**20,
    }
    held = mb["process_and_models"] + mb["vacancy_side"] + mb["participants_in"]
    phases = {  # what is alive at once in each phase of run_batch
        "scoring": held + mb["chunk_work"] + mb["pools_compact"],
        "pooling": held + mb["pools_compact"] + mb["candidate_pool"],  # chunks copied into the pool, then dropped
        "allocating": held + mb["candidate_pool"] + mb["allocation"],
        "explaining": held + mb["candidate_pool"] + mb["allocation_result"] + mb["chunk_work"] + mb["recommendations"],
    }
    emit({"figure": "projected_peak_rss_mb", "participants": P, "vacancies": V, "peak_mb": max(phases.values()),
          "pools_with_features_mb": row_full * args.pool * P / 2**20, **{f"phase_{k}": v for k, v in phases.items()}, **mb})


if __name__ == "__main__":
    main()
