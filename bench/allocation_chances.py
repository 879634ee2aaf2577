"""How good a chance the placements allocation needs: one run's night allocated again with other
chances, scored on the world's hidden hire probabilities.

    python bench/allocation_chances.py --data WORLD --run RUN_DIR [--relevance-weights 0.5,1,2]
                                       [--fills poisson,fluid] [--chances served,hidden]

RUN_DIR is a ``bench/hidden_truth.py`` run (its ``work/`` holds the champion, its ``recs.csv`` the
as-of day). The champion scores the night as ``batch`` does (vacancies open that day, no hard
constraint broken, pairs already acted on left out, each person's top ``batch.candidate_pool``
candidates) and the pool is allocated with the default settings but the chance, at each relevance
weight and fill (``batch.fill``):

* **served**: the champion's calibrated chance of a success, what ``batch`` allocates with;
* **hire share**: served times the share of the history's successes that became hires (pairs met at
  least ``--matured-days`` before the as-of day), a chance of a hire in the run's own units: an
  opening is filled by a hire, not by an interview;
* **features, fitted on the truth**: a LightGBM regression of the hidden hire chance on each pool
  row's features and score, out of fold by participant (5 folds). No data gives this: it is the
  best a chance read from the engine's features could be;
* **hidden**: the world's own hire chance.

One JSON line per chance, fill and weight: expected placements with the allocation and with each person's
plain top k (``hidden_truth.py``'s "without allocation"), their ratio, NDCG@10 with / without (the
judged pairs and ideal of ``hidden_truth.py``) and the chance's correlation with the hidden one. The
served chance at the default weight reproduces the run's own ``recs.csv`` figure, printed first.
"""

from __future__ import annotations

import argparse
import itertools
import os
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the world's data folder")
    parser.add_argument("--run", type=Path, required=True, help="a bench/hidden_truth.py run folder")
    parser.add_argument("--relevance-weights", default="0.5,1,2", help="comma-separated batch.relevance_weight values")
    parser.add_argument("--fills", default="poisson,fluid", help="comma-separated batch.fill values")
    parser.add_argument("--matured-days", type=int, default=60, help="hire share: pairs met at least this long ago")
    parser.add_argument("--chances", default="served,hire share,features fitted on the truth,hidden",
                        help="comma-separated subset of the chances above")
    args = parser.parse_args()
    os.environ.update({"ILONA_MATCH_WORKDIR": str(args.run / "work"), "HF_HUB_OFFLINE": "1"})

    import lightgbm as lgb

    from ilona_match.config import load_settings
    from ilona_match.contract import load_data
    from ilona_match.contract.events import strongest_outcomes
    from ilona_match.contract.exclusion import acted_pairs
    from ilona_match.learning.tracking import load_champion
    from ilona_match.matching.pipeline import ranked_rows
    from ilona_match.serving.allocation import AllocationConfig, CandidatePool, PoolChunk, allocate
    from ilona_match.serving.batch import _prepare_open
    from ilona_match.synthetic.truth import (
        hidden_ndcg,
        hidden_placements,
        judged_pairs,
        list_ranks,
        load_truth,
    )

    settings = load_settings()
    bundle = load_data(args.data)
    k = settings.batch.k
    as_of = pd.Timestamp(pd.read_csv(args.run / "recs.csv", nrows=1)["as_of"][0]).date()
    pipeline, version = load_champion(settings.workdir)
    if pipeline.calibrator_ is None:
        raise SystemExit(f"{args.run}: the champion has no calibration, so the night was not allocated")
    acted = acted_pairs(bundle.outcomes, as_of, settings.exclusion)
    frame = judged_pairs(load_truth(args.data), bundle.participants, bundle.vacancies, as_of,
                         set(zip(acted.participant_ids, acted.vacancy_ids)))
    openings = bundle.vacancies.set_index("vacancy_id")["openings"].fillna(1)

    # the night's pool, as serve_lists builds it (participants in id order, chunks of batch.chunk_size)
    state = _prepare_open(pipeline, bundle.vacancies, as_of).with_history(
        pipeline.prepare_history(bundle.outcomes, bundle.vacancies, as_of, bundle.participants))
    people = bundle.participants.sort_values("participant_id", kind="stable", ignore_index=True)
    chunks, ids, rows = [], [], []
    for first in range(0, len(people), settings.batch.chunk_size):
        part = people.iloc[first:first + settings.batch.chunk_size].reset_index(drop=True)
        scored = pipeline.score_candidates(part, state, as_of, exclude=acted)
        kept = scored.take(ranked_rows(scored, state, settings.batch.candidate_pool)[0])
        chunks.append(PoolChunk.from_scored(kept, pipeline.chance(kept.scores, kept.features.matrix)))
        ids.append(part["participant_id"].to_numpy()[kept.features.pairs.participant])
        rows.append(np.column_stack([kept.features.matrix, kept.scores]))
    pool = CandidatePool.from_chunks(chunks, state)
    participant_ids, vacancy_ids = np.concatenate(ids), state.jobs.ids[pool.vacancy]
    truth = frame.set_index(["participant", "vacancy"])["truth"]
    hidden = truth.reindex(pd.MultiIndex.from_arrays([participant_ids, vacancy_ids])).fillna(0.0).to_numpy()

    known = bundle.outcomes[bundle.outcomes["event_date"] < pd.Timestamp(as_of)]
    pairs = strongest_outcomes(known)
    matured = pairs[pairs["first_date"] < pd.Timestamp(as_of - timedelta(days=args.matured_days))]
    successes = int((matured["grade"] > 0).sum())
    hire_share = float((matured["grade"] >= 3).sum() / successes) if successes else 1.0

    features = np.concatenate(rows).astype(np.float64)
    fitted = np.empty(len(pool))
    fold = pd.Series(participant_ids).astype("category").cat.codes.to_numpy() % 5
    for f in range(5):
        model = lgb.LGBMRegressor(n_estimators=400, learning_rate=0.05, num_leaves=31, verbose=-1, random_state=0)
        model.fit(features[fold != f], hidden[fold != f])
        fitted[fold == f] = model.predict(features[fold == f])
    served = pool.chance
    chances = {"served": served, "hire share": served * hire_share,
               "features fitted on the truth": np.clip(fitted, 1e-4, 1.0), "hidden": hidden}
    wanted = [name.strip() for name in args.chances.split(",")]
    unknown = [name for name in wanted if name not in chances]
    if unknown:
        raise SystemExit(f"--chances {unknown[0]!r}: choose from {', '.join(chances)}")

    def recs_of(position: np.ndarray) -> pd.DataFrame:
        listed = position > 0
        return pd.DataFrame({"participant_id": participant_ids[listed], "vacancy_id": vacancy_ids[listed],
                             "rank": position[listed]})

    def scored_lists(recs: pd.DataFrame) -> tuple[float, float]:
        return hidden_placements(frame, recs, openings), hidden_ndcg(frame, list_ranks(frame, recs, k), k)

    rank = pool.rank()
    plain_placements, plain_ndcg = scored_lists(recs_of(np.where(rank <= k, rank, 0)))
    recs = pd.read_csv(args.run / "recs.csv", dtype={"participant_id": str, "vacancy_id": str})
    emit({"bench": "allocation_chances", "data": str(args.data), "model_version": version,
          "ranker": "trained" if pipeline.ranker_ is not None else "prior", "pool rows": len(pool),
          "hire share": hire_share, "matured successes": successes,
          "placements of recs.csv": hidden_placements(frame, recs, openings),
          "placements without allocation": plain_placements, "ndcg@10 without allocation": plain_ndcg})
    for name in wanted:
        chance = chances[name]
        candidates = CandidatePool(pool.participant, pool.vacancy, pool.score, pool.openings, chance)
        for fill, weight in itertools.product(args.fills.split(","), map(float, args.relevance_weights.split(","))):
            allocated = allocate(candidates, AllocationConfig(k=k, relevance_weight=weight, fill=fill))
            placements, ndcg = scored_lists(recs_of(allocated.rank))
            emit({"bench": "allocation_chances", "chance": name, "fill": fill, "relevance_weight": weight,
                  "correlation with hidden": float(np.corrcoef(chance, hidden)[0, 1]),
                  "placements": placements, "placements ratio": placements / plain_placements,
                  "ndcg@10": ndcg, "ndcg ratio": ndcg / plain_ndcg})


if __name__ == "__main__":
    main()
