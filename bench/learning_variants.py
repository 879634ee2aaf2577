"""What makes the ranker learn hiring rather than the log: training settings judged on hidden truth.

    python bench/learning_variants.py --world DATA [--world DATA ...] [--cache DIR] [--seeds 0]
                                      --variant NAME[:SECTION.FIELD=VALUE,...] ...

For each generated world (``bench/hidden_truth.py`` makes them; ``world.json`` holds the truth) and
each variant of the ``matching`` settings (as in ``bench/config_variants.py``), in one process:
fit on the outcomes before the world's last day minus 60 days (as ``ilona-match train`` does), then

- the engine's own held-out NDCG@10 (``ilona_match.learning.evaluation``) of the full pipeline and of the
  pipeline without ranker, and the paired bootstrap decision ``train`` would take;
- the nightly batch on the day after the world ends (allocation off, pairs already acted on left
  out), scored with NDCG@10 on the hidden hire probabilities, beside the prior alone.

One JSON line per (world, variant, seed). The hidden-truth figure is what a coach's people would
get; the held-out figure is what the engine can see. A variant helps when it raises the first, and
the selection rule is sound when the second moves with it.
"""

from __future__ import annotations

import argparse
import json
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit
from config_variants import parse_variant, variant_config
from hidden_truth import K

from ilona_match.contract import load_data
from ilona_match.contract.exclusion import acted_pairs
from ilona_match.learning.evaluation import FULL_PIPELINE, NO_RANKER, NoHeldOutData, evaluate_systems
from ilona_match.learning.model_selection import judge
from ilona_match.matching.pipeline import MatchingPipeline
from ilona_match.serving.batch import run_batch
from ilona_match.synthetic.truth import WORLD_FILE, hidden_ndcg, judged_pairs, list_ranks, load_truth


def world_dates(data: Path, bundle) -> date:
    world = json.loads((data / WORLD_FILE).read_text())["config"]
    end = date.fromisoformat(world["start"]) + timedelta(days=world["days"])
    return max(end, (bundle.outcomes["event_date"].max() + pd.Timedelta(days=1)).date())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--world", type=Path, action="append", required=True)
    parser.add_argument("--cache", type=Path, default=None, help="embedding cache (default: WORLD/../../cache/NAME)")
    parser.add_argument("--seeds", default="0", help="ranker seeds, e.g. 0,1,2")
    parser.add_argument("--variant", action="append", required=True)
    parser.add_argument("--horizon", type=int, default=60)
    args = parser.parse_args()
    variants = [parse_variant(text) for text in args.variant]
    for _, changes in variants:
        variant_config(changes)  # refuse unknown settings before any fit
    seeds = [int(s) for s in args.seeds.split(",")]

    for data in args.world:
        bundle = load_data(data)
        as_of = world_dates(data, bundle)
        split = as_of - timedelta(days=args.horizon)
        cache = args.cache or data.parent.parent / "cache" / data.name
        acted = acted_pairs(bundle.outcomes, as_of)
        frame = judged_pairs(load_truth(data), bundle.participants, bundle.vacancies, as_of,
                             set(zip(acted.participant_ids, acted.vacancy_ids)))
        prior_score = None
        for name, changes in variants:
            for seed in seeds:
                config = variant_config({**changes, "ranker": {**changes.get("ranker", {}), "seed": seed}})
                started = time.perf_counter()
                pipeline = MatchingPipeline(config, cache_dir=cache).fit(
                    bundle.participants, bundle.vacancies, bundle.outcomes, split)
                fit_s = time.perf_counter() - started
                try:
                    result = evaluate_systems(pipeline, bundle.participants, bundle.vacancies, bundle.outcomes, split,
                                              horizon_days=args.horizon)
                    decision = judge(result.met_per_participant[FULL_PIPELINE], result.met_per_participant[NO_RANKER],
                                     result.per_query[FULL_PIPELINE], result.per_query[NO_RANKER],
                                     learned_who_is_shown=config.training.negatives_per_participant > 0)
                    check, replay = decision.met, decision.replay
                    held = {"met full": result.table.loc[FULL_PIPELINE, "met ndcg@10"],
                            "met no ranker": result.table.loc[NO_RANKER, "met ndcg@10"],
                            "met tf-idf": result.table.loc["tf-idf + filters", "met ndcg@10"],
                            "met judged": result.met_participants, "met gain low": check.low,
                            "ranker kept": decision.better and pipeline.ranker_ is not None,
                            "replay full": result.table.loc[FULL_PIPELINE, "ndcg@10"],
                            "replay no ranker": result.table.loc[NO_RANKER, "ndcg@10"],
                            "replay judged": result.participants, "replay gain low": replay.low,
                            "set aside": result.set_aside_pairs}
                except NoHeldOutData:
                    held = {"held-out judged": 0}
                recs = run_batch(pipeline, bundle.participants, bundle.vacancies, as_of, k=K, exclude=acted).frame
                engine = hidden_ndcg(frame, list_ranks(frame, recs, K), K)
                if prior_score is None:
                    prior = run_batch(pipeline, bundle.participants, bundle.vacancies, as_of, k=K, exclude=acted,
                                      use_ranker=False).frame
                    prior_score = hidden_ndcg(frame, list_ranks(frame, prior, K), K)
                summary = pipeline.training_summary_
                emit({"bench": "learning_variants", "world": data.name, "variant": name, "seed": seed,
                      "truth engine": engine, "truth prior": prior_score, "engine / prior": engine / prior_score,
                      **held, "train rows": summary.get("train_rows"), "trees": summary.get("best_iteration"),
                      "fit s": round(fit_s, 1)})


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
