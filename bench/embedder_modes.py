"""Ranking loss of a faster embedder mode: the whole pipeline fitted and evaluated with each mode.

    python bench/embedder_modes.py [--data /tmp/w2031] [--as-of 2026-07-01] [--modes none,int8]
                                   [--seeds 0] [--cache-dir /tmp/embcache] [--static DIR] [--world-seed 2031]

For each embedder mode (``EmbedderConfig.quantize``; with --static DIR also ``static``, that folder
of ``ilona-match distill-embedder`` as the model) and ranker seed, fits the pipeline on the
outcomes before AS_OF and evaluates it on the 60 days after (``ilona_match.evaluation``, as
``ilona-match evaluate`` does), with one LightGBM thread. The mode changes every dense vector, in
training and in serving, so the NDCG@10 difference is the mode's whole ranking cost. Without
--data a 3,000 × 1,200 world (seed --world-seed) is generated into the --data folder.

Prints one JSON line per (mode, seed) and one per mode with its NDCG@10 change against ``none``
relative to ``none`` (negative: a loss). Differences between ranker seeds of one mode show how much
of a change is noise.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from datetime import date
from pathlib import Path

from _report import emit

from ilona_match.contract import load_data
from ilona_match.embedding import EmbedderConfig
from ilona_match.evaluation import evaluate_systems
from ilona_match.pipeline import MatchingPipeline, PipelineConfig
from ilona_match.ranker import RankerConfig
from ilona_match.synthetic import generate_world

PIPELINE_ROW = "full pipeline"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/w2031"))
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 7, 1))
    parser.add_argument("--modes", default="none,int8")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--cache-dir", default="/tmp/embcache")
    parser.add_argument("--static", type=Path, default=None, help="a static model folder: adds the mode 'static'")
    parser.add_argument("--world-seed", type=int, default=2031, help="seed of a world generated into --data")
    args = parser.parse_args()
    if not (args.data / "outcomes.csv").exists():
        generate_world(args.data, participants=3000, vacancies=1200, seed=args.world_seed)
    embedders = {mode: EmbedderConfig(quantize=mode) for mode in args.modes.split(",")}
    if args.static is not None:
        embedders["static"] = EmbedderConfig(model=str(args.static))
    bundle = load_data(args.data)
    seeds = [int(seed) for seed in args.seeds.split(",")]
    ndcg: dict[str, list[float]] = {}
    for mode, embedder in embedders.items():
        for seed in seeds:
            config = PipelineConfig(embedder=embedder, ranker=RankerConfig(num_threads=1, seed=seed))
            start = time.perf_counter()
            pipeline = MatchingPipeline(config, cache_dir=args.cache_dir).fit(
                bundle.participants, bundle.vacancies, bundle.outcomes, args.as_of)
            result = evaluate_systems(pipeline, bundle.participants, bundle.vacancies, bundle.outcomes, args.as_of)
            row = result.table.loc[PIPELINE_ROW]
            ndcg.setdefault(mode, []).append(float(row["ndcg@10"]))
            emit({"bench": "embedder_modes", "mode": mode, "ranker_seed": seed, "ndcg@10": row["ndcg@10"],
                  "recall@10": row["recall@10"], "recall@50": row["recall@50"],
                  "constraint_breaks": row["constraint_breaks"], "judged_participants": result.participants,
                  "seconds": time.perf_counter() - start})
    base = sum(ndcg["none"]) / len(ndcg["none"]) if "none" in ndcg else None
    for mode, values in ndcg.items():
        mean = statistics.fmean(values)
        spread = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
        emit({"bench": "embedder_modes", "mode": mode, "mean_ndcg@10": mean, "standard_error": spread,
              "seeds": len(values), "relative_change_vs_none": None if base is None else (mean - base) / base})


if __name__ == "__main__":
    main()
