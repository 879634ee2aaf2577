"""Which pairs the chance of a good outcome should be calibrated on, judged where it matters: the
allocation's expected placements and the served lists' NDCG@10 on a world's hidden hire probabilities.

    python bench/calibration_windows.py --data WORLD --run RUN_DIR --windows 60,120,0,60:none

RUN_DIR is a run of ``bench/hidden_truth.py`` (its ``work/`` holds the champion, its ``recs.csv`` the
as-of day). For each window (days before the as-of day, 0 = the whole history; ``:none`` = the score
alone, without the pair facts of ``matching.calibration.context``) the champion's calibration is
fitted again on the pairs met in that window (``learning.evaluation.calibrate``, as ``train`` does),
the nightly run is served with the default allocation, and its lists are scored on the hidden truth
beside the plain top k. One JSON line per window: pairs, successes, out-of-fold ECE, its sampling
noise and the Brier score, the learned weights, expected placements with / without the allocation
and NDCG@10 with / without.
"""

from __future__ import annotations

import argparse
import os
from datetime import timedelta
from pathlib import Path

import pandas as pd
from _report import emit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the world's data folder")
    parser.add_argument("--run", type=Path, required=True, help="a bench/hidden_truth.py run folder")
    parser.add_argument("--windows", default="60,120,240,0,60:none", help="DAYS[:none],...; 0 = the whole history")
    parser.add_argument("--relevance-weights", default=None, help="batch.relevance_weight values to serve each "
                        "window with, comma-separated (default: the configured one)")
    parser.add_argument("--context", default=None, help="pair features the chance reads beside the score, "
                        "comma-separated (default: matching.calibration.context)")
    args = parser.parse_args()
    os.environ.update({"ILONA_MATCH_WORKDIR": str(args.run / "work"), "HF_HUB_OFFLINE": "1"})

    from ilona_match.config import load_settings
    from ilona_match.contract import load_data
    from ilona_match.contract.exclusion import acted_pairs
    from ilona_match.learning.evaluation import calibrate
    from ilona_match.learning.tracking import load_champion
    from ilona_match.serving.allocation import AllocationConfig
    from ilona_match.serving.batch import run_batch
    from ilona_match.synthetic.truth import (
        hidden_ndcg,
        hidden_placements,
        judged_pairs,
        list_ranks,
        load_truth,
    )
    from ilona_match.training import outcome_history

    settings = load_settings()
    bundle = load_data(args.data)
    as_of = pd.Timestamp(pd.read_csv(args.run / "recs.csv", nrows=1)["as_of"][0]).date()
    pipeline, version = load_champion(settings.workdir)
    events = outcome_history(bundle, settings).events
    acted = acted_pairs(bundle.outcomes, as_of, settings.exclusion)
    frame = judged_pairs(load_truth(args.data), bundle.participants, bundle.vacancies, as_of,
                         set(zip(acted.participant_ids, acted.vacancy_ids)))
    openings = bundle.vacancies.set_index("vacancy_id")["openings"].fillna(1)
    history = pipeline.prepare_history(bundle.outcomes, bundle.vacancies, as_of, bundle.participants)

    def served(allocation: AllocationConfig | None) -> tuple[float, float]:
        recs = run_batch(pipeline, bundle.participants, bundle.vacancies, as_of, k=settings.batch.k,
                         allocation=allocation, candidate_pool=settings.batch.candidate_pool, exclude=acted,
                         history=history).frame
        return hidden_placements(frame, recs, openings), hidden_ndcg(frame, list_ranks(frame, recs, settings.batch.k),
                                                                     settings.batch.k)

    plain_placements, plain_ndcg = served(None)
    first, configured = events["event_date"].min().date(), pipeline.config
    weights = ([float(w) for w in args.relevance_weights.split(",")] if args.relevance_weights
               else [settings.batch.relevance_weight])
    for spec in args.windows.split(","):
        days, _, context = spec.partition(":")
        if context not in ("", "none"):
            raise SystemExit(f"--windows {spec!r}: write DAYS or DAYS:none")
        chosen = () if context else (tuple(args.context.split(",")) if args.context else configured.calibration.context)
        calibration = type(configured.calibration)(**{**configured.calibration.model_dump(), "context": chosen})
        pipeline.config = configured.model_copy(update={"calibration": calibration})
        split = first if int(days) == 0 else as_of - timedelta(days=int(days))
        pipeline.calibrator_ = calibrate(pipeline, bundle.participants, bundle.vacancies, events, split, as_of)
        if pipeline.calibrator_ is None:
            emit({"bench": "calibration_windows", "window": spec, "calibrated": False})
            continue
        reliability = pipeline.calibrator_.reliability_
        for relevance_weight in weights:
            placements, ndcg = served(AllocationConfig(k=settings.batch.k, relevance_weight=relevance_weight))
            emit({"bench": "calibration_windows", "data": str(args.data), "model_version": version,
                  "ranker": "trained" if pipeline.ranker_ is not None else "prior", "window": spec,
                  "relevance_weight": relevance_weight, "pairs": reliability.pairs,
                  "successes": round(reliability.base_rate * reliability.pairs), "ece": reliability.ece,
                  "ece_noise": reliability.noise, "brier": reliability.brier,
                  **{f"weight {name}": value for name, value in pipeline.calibrator_.weights().items()},
                  "placements": placements, "placements without allocation": plain_placements,
                  "placements ratio": placements / plain_placements, "ndcg@10": ndcg,
                  "ndcg@10 without allocation": plain_ndcg, "ndcg ratio": ndcg / plain_ndcg})


if __name__ == "__main__":
    main()
