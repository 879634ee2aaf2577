"""Ranking quality and model size of pipeline settings side by side, over several ranker seeds.

    python bench/config_variants.py [--data /tmp/w2031] [--world-seed 2031] [--as-of 2026-07-01]
                                    [--seeds 0,1,2] [--cache-dir /tmp/embcache]
                                    --variant NAME[:SECTION.FIELD=VALUE[,SECTION.FIELD=VALUE...]] ...

Each variant is the default ``matching`` settings with the given fields changed, e.g.
``--variant default --variant lr0.1:ranker.learning_rate=0.1 --variant all-terms:retrieval.lexical_max_df=1.0``
(values are read as YAML scalars; an unknown section or field is refused). The first variant is
the reference. For each variant and ranker seed the pipeline is fitted on the outcomes before AS_OF
and evaluated on the 60 days after (``ilona_match.learning.evaluation``, as ``ilona-match evaluate`` does),
with one LightGBM thread; the trees it keeps and the time of its reasons (``pred_contrib``, which
grows with the trees) on every candidate scored for the judged people are reported beside NDCG@10.
Without --data a 3,000 × 1,200 world (seed --world-seed) is generated into the --data folder.

One JSON line per (variant, seed), then one per variant: mean NDCG@10 with its standard error over
seeds and the change relative to the first variant (negative: a loss).
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import yaml
from _report import emit

from ilona_match.contract import load_data
from ilona_match.learning.evaluation import evaluate_systems, held_out
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig
from ilona_match.synthetic import generate_world

PIPELINE_ROW = "full pipeline"


def parse_variant(text: str) -> tuple[str, dict[str, dict[str, Any]]]:
    """``NAME[:section.field=value,...]`` as a name and the changed fields per section (a value may be a
    YAML list, e.g. ``ranker.label_gain=[0,1,1,3,3]``)."""
    name, _, spec = text.partition(":")
    changes: dict[str, dict[str, Any]] = {}
    for item in filter(None, re.split(r",(?![^\[]*\])", spec)):  # commas inside [...] belong to a list value
        path, sep, value = item.partition("=")
        section, dot, field = path.partition(".")
        if not sep or not dot or not field:
            raise ValueError(f"variant {name!r}: {item!r} is not SECTION.FIELD=VALUE")
        changes.setdefault(section, {})[field] = yaml.safe_load(value)
    return name, changes


def variant_config(changes: dict[str, dict[str, Any]]) -> PipelineConfig:
    """The default settings with ``changes``, validated (unknown sections or fields raise)."""
    base = PipelineConfig().model_dump()
    for section, fields in changes.items():
        if section not in base or not isinstance(base[section], dict):
            raise ValueError(f"unknown settings section {section!r}; one of {sorted(k for k, v in base.items() if isinstance(v, dict))}")
        base[section] = {**base[section], **fields}
    return PipelineConfig.model_validate(base)


def compare(variants: dict[str, dict[str, dict[str, Any]]], data: Path, world_seed: int, as_of: date,
            seeds: list[int], cache_dir: str) -> None:
    """Fit and evaluate every variant (changed fields per section) with every ranker seed; print the figures."""
    configs = {name: variant_config(changes) for name, changes in variants.items()}  # all checked before any fit
    if not (data / "outcomes.csv").exists():
        generate_world(data, participants=3000, vacancies=1200, seed=world_seed)
    bundle = load_data(data)
    window = held_out(bundle.outcomes, bundle.vacancies, as_of, as_of + timedelta(days=60))
    judged = bundle.participants[bundle.participants["participant_id"].isin(window.queries)].reset_index(drop=True)
    ndcg: dict[str, list[float]] = {}
    for name, config in configs.items():
        for seed in seeds:
            seeded = config.model_copy(update={"ranker": config.ranker.model_copy(update={"seed": seed, "num_threads": 1})})
            start = time.perf_counter()
            pipeline = MatchingPipeline(seeded, cache_dir=cache_dir).fit(
                bundle.participants, bundle.vacancies, bundle.outcomes, as_of)
            result = evaluate_systems(pipeline, bundle.participants, bundle.vacancies, bundle.outcomes, as_of)
            seconds = time.perf_counter() - start
            trees = pipeline.ranker_.best_iteration_ if pipeline.ranker_ is not None else 0
            scored = pipeline.score_candidates(judged, pipeline.prepare_vacancies(bundle.vacancies), as_of)
            explain_start = time.perf_counter()
            if pipeline.ranker_ is not None:
                pipeline.ranker_.contributions(scored.features.matrix)
            explain_ms = 1000 * (time.perf_counter() - explain_start) / max(1, len(scored.scores))
            row = result.table.loc[PIPELINE_ROW]
            ndcg.setdefault(name, []).append(float(row["ndcg@10"]))
            emit({"bench": "config_variants", "variant": name, "ranker_seed": seed, "ndcg@10": row["ndcg@10"],
                  "recall@10": row["recall@10"], "recall@50": row["recall@50"],
                  "constraint_breaks": row["constraint_breaks"], "judged_participants": result.participants,
                  "trees": trees, "reasons_ms_per_row": explain_ms, "fit_and_evaluate_seconds": seconds})
    reference = statistics.fmean(next(iter(ndcg.values())))
    for name, values in ndcg.items():
        mean = statistics.fmean(values)
        spread = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None
        emit({"bench": "config_variants", "variant": name, "changes": variants[name], "mean_ndcg@10": mean,
              "standard_error": spread, "seeds": len(values), "relative_change": (mean - reference) / reference})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/w2031"))
    parser.add_argument("--world-seed", type=int, default=2031, help="seed of a world generated into --data")
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 7, 1))
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--cache-dir", default="/tmp/embcache")
    parser.add_argument("--variant", action="append", required=True, help="NAME[:section.field=value,...]")
    args = parser.parse_args()
    compare(dict(parse_variant(text) for text in args.variant), args.data, args.world_seed, args.as_of,
            [int(seed) for seed in args.seeds.split(",")], args.cache_dir)


if __name__ == "__main__":
    main()
