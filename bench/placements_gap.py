"""The placements allocation's local search against the exact optimum, on real pools.

    python bench/placements_gap.py --data DATA --workdir WORK --as-of DATE [--people 40,80,160] [--pool 20]
                                   [--seconds 120]

WORK holds a trained, calibrated champion (e.g. a ``bench/hidden_truth.py`` run's ``work`` folder).
For the first N participants (each size in ``--people``) the champion scores the vacancies open on
DATE as the nightly job does, keeps each person's top ``--pool`` candidates with their calibrated
chances, and allocates with both solvers (k 10, the default ``relevance_weight`` and ``fill``). One JSON line per
size: pool rows, the objective and expected placements of plain top-k, of the greedy and of the
exact solve (proven or at its time limit), the greedy's gap to exact, and each solver's seconds.
With ``--random-people N`` it also times the local search on a random pool of N people (50
candidates each over N / 2 vacancies of heavy-tailed popularity; chances rise with the score).
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

import numpy as np
from _report import emit

from ilona_match.contract import load_data
from ilona_match.contract.exclusion import ExclusionConfig, acted_pairs
from ilona_match.learning.metrics import filled_openings
from ilona_match.learning.tracking import load_champion
from ilona_match.matching.pipeline import ranked_rows
from ilona_match.serving.allocation import AllocationConfig, CandidatePool, PoolChunk, allocate


def objective(pool: CandidatePool, rank: np.ndarray, weight: float, fill: str) -> float:
    """The openings expected to fill (``fill``) plus ``weight`` times the acted-on chances, of lists
    given as positions."""
    listed = rank > 0
    acted = pool.chance[listed] / np.log2(1.0 + rank[listed])
    load = np.bincount(pool.vacancy[listed], weights=acted, minlength=len(pool.openings))
    return float(filled_openings(pool.openings, load, fill).sum() + weight * acted.sum())


def random_pool_time(people: int, size: int = 50, seed: int = 0) -> None:
    """The local search's time and gain on a random congested pool (no exact solve at this size)."""
    rng = np.random.default_rng(seed)
    jobs = max(people // 2, size)
    popularity = np.log(rng.pareto(1.2, jobs) + 0.05)
    top = np.empty((people, size), dtype=np.int64)
    for first in range(0, people, 2000):
        keys = popularity[None, :] - np.log(-np.log(rng.random((min(2000, people - first), jobs))))
        top[first:first + 2000] = np.argpartition(-keys, size, axis=1)[:, :size]
    score = rng.normal(size=people * size)
    pool = CandidatePool(np.repeat(np.arange(people), size), top.ravel(), score,
                         rng.choice([1, 2, 3], jobs, p=[0.7, 0.2, 0.1]), 1.0 / (1.0 + np.exp(2.0 - score)))
    started = time.perf_counter()
    result = allocate(pool, AllocationConfig(method="greedy"))
    emit({"bench": "placements_gap", "random people": people, "pool rows": len(pool),
          "greedy seconds": time.perf_counter() - started,
          "expected placements top-k": result.before.expected_placements,
          "expected placements greedy": result.after.expected_placements})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--as-of", type=date.fromisoformat, required=True)
    parser.add_argument("--people", default="40,80,160")
    parser.add_argument("--pool", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=120.0)
    parser.add_argument("--random-people", type=int, default=0)
    args = parser.parse_args()
    if args.random_people:
        random_pool_time(args.random_people)

    bundle = load_data(args.data)
    pipeline, _ = load_champion(args.workdir)
    if pipeline.calibrator_ is None:
        raise SystemExit(f"{args.workdir}: the champion has no calibration (train it on a data folder with outcomes)")
    state = pipeline.prepare_vacancies(bundle.vacancies)
    exclude = acted_pairs(bundle.outcomes, args.as_of, ExclusionConfig())
    weight, fill = AllocationConfig().relevance_weight, AllocationConfig().fill
    for people in (int(n) for n in args.people.split(",")):
        scored = pipeline.score_candidates(bundle.participants.head(people), state, args.as_of, exclude=exclude)
        kept = scored.take(ranked_rows(scored, state, args.pool)[0])
        pool = CandidatePool.from_chunks([PoolChunk.from_scored(kept, pipeline.chance(kept.scores, kept.features.matrix))], state)
        found = {}
        for method in ("greedy", "exact"):
            started = time.perf_counter()
            result = allocate(pool, AllocationConfig(method=method, exact_seconds=args.seconds))
            found[method] = (result, time.perf_counter() - started)
        greedy, exact = found["greedy"][0], found["exact"][0]
        top_k = np.where(pool.rank() <= 10, pool.rank(), 0)
        emit({
            "bench": "placements_gap", "data": str(args.data), "participants": people, "pool rows": len(pool),
            "objective top-k": objective(pool, top_k, weight, fill),
            "objective greedy": objective(pool, greedy.rank, weight, fill),
            "objective exact": objective(pool, exact.rank, weight, fill), "exact solver kept": exact.method == "exact",
            "expected placements top-k": greedy.before.expected_placements,
            "expected placements greedy": greedy.after.expected_placements,
            "expected placements exact": exact.after.expected_placements,
            "greedy gap to exact": 1 - objective(pool, greedy.rank, weight, fill) / objective(pool, exact.rank, weight, fill),
            "greedy seconds": found["greedy"][1], "exact seconds": found["exact"][1],
        })


if __name__ == "__main__":
    main()
