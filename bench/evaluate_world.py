"""Evaluate the pipeline beside the baselines on a data folder, and print the ranker's top features.

    python bench/evaluate_world.py DATA AS_OF      # e.g. /tmp/w2027 2026-07-01

The same steps as `ilona-match evaluate --data DATA --as-of AS_OF`, with one LightGBM thread and
the feature importances added; the embedding cache lives in /tmp/embcache.
"""

from __future__ import annotations

import sys
import time
from datetime import date

import pandas as pd

from ilona_match.contract import load_data
from ilona_match.learning.evaluation import evaluate_systems
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig
from ilona_match.matching.ranker import RankerConfig


def main(data: str, as_of_text: str) -> None:
    bundle = load_data(data)
    as_of = date.fromisoformat(as_of_text)
    config = PipelineConfig(ranker=RankerConfig(num_threads=1))
    start = time.time()
    pipeline = MatchingPipeline(config, cache_dir="/tmp/embcache").fit(
        bundle.participants, bundle.vacancies, bundle.outcomes, as_of
    )
    print("fit", round(time.time() - start, 1), "s", pipeline.training_summary_)
    result = evaluate_systems(pipeline, bundle.participants, bundle.vacancies, bundle.outcomes, as_of)
    print(f"{result.participants} participants, {result.open_vacancies} open vacancies, {result.relevant_pairs} judged pairs")
    pd.set_option("display.width", 200)
    print(result.table.round(3).to_string())
    if pipeline.ranker_ is not None:
        print(pipeline.ranker_.feature_importance().head(12).round(0).to_string())


if __name__ == "__main__":
    main(*sys.argv[1:3])
