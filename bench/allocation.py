"""The capped allocation (`batch.allocation: cap`) on a generated world: exposure, utility and NDCG@10 before and after.

Generates a world, fits the pipeline on outcomes before the split date, scores every participant
over the vacancies open then (in chunks, as the nightly batch does), cuts each participant to their
top ``--pool`` candidates and allocates with c in (1, 2, 3, 5) by both solvers. NDCG@10 is scored
against the strongest outcome of each pair in the test window, as ilona_match.learning.evaluation does.
Prints one JSON line per configuration, then a markdown table; the embedding cache is /tmp/embcache.

    python bench/allocation.py [--participants 3000] [--vacancies 1200] [--seed 23] [--as-of 2026-06-01]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit, markdown_table
from _window import split_day_relevance

from ilona_match.contract import load_data
from ilona_match.contract.constraints import open_on
from ilona_match.learning.metrics import evaluate_rankings
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig, ranked_rows, top_n
from ilona_match.matching.ranker import RankerConfig
from ilona_match.serving.allocation import AllocationConfig, CandidatePool, PoolChunk, allocate, capacities
from ilona_match.synthetic import generate_world

EXPOSURES = (1.0, 2.0, 3.0, 5.0)


def _recs(tops: list[pd.DataFrame]) -> pd.DataFrame:
    frame = pd.concat(tops, ignore_index=True)
    return frame.rename(columns={"participant_id": "query_id", "vacancy_id": "item_id"})[["query_id", "item_id", "rank"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=3000)
    parser.add_argument("--vacancies", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 6, 1))
    parser.add_argument("--horizon", type=int, default=60, help="test window in days")
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--pool", type=int, default=50, help="candidates per participant the allocation chooses from")
    parser.add_argument("--chunk", type=int, default=1000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        generate_world(Path(tmp), participants=args.participants, vacancies=args.vacancies, seed=args.seed)
        bundle = load_data(tmp)
    start = time.perf_counter()
    pipeline = MatchingPipeline(PipelineConfig(ranker=RankerConfig(num_threads=1)), cache_dir="/tmp/embcache").fit(
        bundle.participants, bundle.vacancies, bundle.outcomes, args.as_of)
    fitted = time.perf_counter() - start
    state = pipeline.prepare_vacancies(bundle.vacancies)
    chunks = []
    for first in range(0, len(bundle.participants), args.chunk):
        people = bundle.participants.iloc[first:first + args.chunk].reset_index(drop=True)
        scored = pipeline.score_candidates(people, state, args.as_of)
        chunks.append(scored.take(ranked_rows(scored, state, args.pool)[0]))
    scored_seconds = time.perf_counter() - start - fitted
    compact = [PoolChunk.from_scored(chunk) for chunk in chunks]
    pool = CandidatePool.from_chunks(compact, state)
    relevance = split_day_relevance(bundle.outcomes, bundle.vacancies, args.as_of, args.horizon)
    n_open = int(open_on(state.jobs.demands, args.as_of).sum())
    in_pool = np.unique(pool.vacancy)
    emit({"bench": "allocation_world", "participants": args.participants, "vacancies": args.vacancies,
          "seed": args.seed, "as_of": args.as_of.isoformat(), "open_vacancies": n_open,
          "vacancies_in_pool": len(in_pool), "pool_rows": len(pool), "judged_queries": relevance["query_id"].nunique(),
          "fit_s": fitted, "score_s": scored_seconds, "k": args.k, "pool": args.pool})

    plain = evaluate_rankings(_recs([top_n(chunk, state, args.k) for chunk in chunks]), relevance, ks=(10,), n_items=n_open)
    rows = []
    exact_utility: dict[float, float] = {}
    for c in EXPOSURES:
        places = int(capacities(pool.openings[in_pool], c).sum())
        for method in ("exact", "greedy"):
            start = time.perf_counter()
            result = allocate(pool, AllocationConfig(k=args.k, objective="cap", exposure_per_opening=c, method=method))
            seconds = time.perf_counter() - start
            tops = [top_n(chunk.take(rows_), state, args.k) for chunk, rows_ in zip(chunks, result.chosen_rows([len(rows) for rows in compact]))]
            metrics = evaluate_rankings(_recs(tops), relevance, ks=(10,), n_items=n_open)
            if method == "exact":
                exact_utility[c] = result.after.utility
            before, after = result.before, result.after
            if not rows:
                rows.append(emit({"bench": "allocation", "c": None, "method": "plain top-k", "seconds": None,
                                  "max_per_opening": before.max_per_opening, "over_cap_before": None, "gini": before.gini,
                                  "utility_lost_share": 0.0, "short": before.short,
                                  "recommendations": before.recommendations, "ndcg@10": plain["ndcg@10"],
                                  "ndcg_cost": 0.0, "recall@10": plain["recall@10"], "gap_to_exact": None}))
            rows.append(emit({
                "bench": "allocation", "c": c, "method": method, "seconds": seconds, "places": places,
                "max_per_opening": after.max_per_opening, "over_cap_before": before.over_capacity, "gini": after.gini,
                "utility_lost_share": result.utility_lost / before.utility, "short": after.short,
                "recommendations": after.recommendations, "ndcg@10": metrics["ndcg@10"],
                "ndcg_cost": 1.0 - metrics["ndcg@10"] / plain["ndcg@10"], "recall@10": metrics["recall@10"],
                "gap_to_exact": 1.0 - after.utility / exact_utility[c],
            }))
    print()
    print(markdown_table(rows, ["c", "method", "places", "over_cap_before", "max_per_opening", "gini", "short",
                                "recommendations", "utility_lost_share", "ndcg@10", "ndcg_cost", "recall@10",
                                "gap_to_exact", "seconds"]))


if __name__ == "__main__":
    main()
