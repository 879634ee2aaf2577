"""What leaving the most common terms out of the lexical channel's index (``RetrievalConfig.lexical_max_df``)
costs and saves: the channel's own recall and speed, then the whole pipeline's judged ranking.

    python bench/lexical_common_terms.py --world /tmp/ilona-stages/10000_50000_7 --cache DIR
                                         [--max-df 1.0,0.5,0.2,0.1,0.05] [--participants 2000]
                                         [--refit] [--skip-channel] [--skip-judged]

WORLD is a folder made by ``bench/stages.py`` (its ``data``, and its fitted ``model`` for the channel
figures). One JSON line per figure.

channel  over every vacancy of the world, open or not; for ``--participants`` people, the share of the exact lexical
         channel's top-``per_channel`` (all terms) that the channel finds with terms in more than
         ``max_df`` of the vacancies left out, and the speed-up of its sparse top-k (two threads).
judged   a pipeline fitted with every term on the outcomes before AS_OF (the last outcome day minus
         59 days), then served with each ``max_df`` to the people with outcomes in the 60 days from
         AS_OF, over the vacancies open then: NDCG@10 and Recall@10/@50 as ``ilona-match evaluate``
         computes them, the share of the all-terms top-20 that stays, and the seconds of scoring.
         With --refit each ``max_df`` is also used for the training negatives (one fit per value).
         The lexical *feature* is the whole vectors' similarity in every case: only candidates change.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit
from _window import as_recs, split_day_relevance

from ilona_match.contract import load_data
from ilona_match.learning.metrics import evaluate_rankings
from ilona_match.matching.persistence import load_pipeline
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig, top_n
from ilona_match.matching.profiles import build_participants
from ilona_match.matching.ranker import RankerConfig
from ilona_match.matching.retrieval import RetrievalConfig, _top_sparse, _without_common_terms


def channel(pipeline: MatchingPipeline, bundle, participants: int, values: list[float]) -> None:
    """Recall and speed of the lexical channel alone, per ``max_df``."""
    state = pipeline.prepare_vacancies(bundle.vacancies)
    people = build_participants(bundle.participants.head(participants).reset_index(drop=True), pipeline.taxonomy)
    query = pipeline.lexical_.transform(people.texts, list(people.language)).tocsr()
    items_t = state.lexical.T.tocsr().astype(query.dtype)
    k, chunk = pipeline.config.retrieval.per_channel, pipeline.config.retrieval.chunk_size
    threads = min(2, os.cpu_count() or 1)

    def top(index) -> tuple[set[tuple[int, int]], float]:
        start = time.perf_counter()
        rows, cols = _top_sparse(query, index, k, chunk, threads)
        return set(zip(rows.tolist(), cols.tolist())), time.perf_counter() - start

    exact, exact_s = top(items_t)
    walked = np.diff(items_t.indptr)[query.indices].sum()
    for max_df in values:
        index = _without_common_terms(items_t, max_df)
        found, seconds = top(index)
        emit({"figure": "lexical_channel", "max_df": max_df, "participants": len(people), "vacancies": items_t.shape[1],
              "k": k, "recall_of_all_terms_top_k": len(found & exact) / max(1, len(exact)), "seconds": seconds,
              "speedup": exact_s / seconds, "terms_left_out": int((np.diff(index.indptr) == 0).sum()
                                                                   - (np.diff(items_t.indptr) == 0).sum()),
              "postings_walked_share": float(np.diff(index.indptr)[query.indices].sum() / max(1, walked))})


def judged(bundle, cache: Path, values: list[float], refit: bool) -> None:
    """The whole pipeline served (and with ``refit`` also trained) with each ``max_df``."""
    as_of = (bundle.outcomes["event_date"].max() - pd.Timedelta(days=59)).date()
    relevance = split_day_relevance(bundle.outcomes, bundle.vacancies, as_of, 60)
    people = bundle.participants[bundle.participants["participant_id"].isin(relevance["query_id"])].reset_index(drop=True)

    def fit(max_df: float) -> MatchingPipeline:
        config = PipelineConfig(ranker=RankerConfig(num_threads=2), retrieval=RetrievalConfig(lexical_max_df=max_df))
        start = time.perf_counter()
        fitted = MatchingPipeline(config, cache_dir=cache).fit(bundle.participants, bundle.vacancies, bundle.outcomes, as_of)
        emit({"figure": "fit", "max_df": max_df, "seconds": time.perf_counter() - start, "as_of": str(as_of),
              "trees": fitted.ranker_.best_iteration_})
        return fitted

    first = fit(1.0)
    all_terms_top: set[tuple[str, str]] | None = None
    for max_df in values:
        pipeline = fit(max_df) if refit and max_df < 1.0 else first
        pipeline.config = pipeline.config.model_copy(update={"retrieval": RetrievalConfig(lexical_max_df=max_df)})
        state = pipeline.prepare_vacancies(bundle.vacancies)
        start = time.perf_counter()
        scored = pipeline.score_candidates(people, state, as_of)
        seconds = time.perf_counter() - start
        recs = as_recs(top_n(scored, state, 50))
        metrics = evaluate_rankings(recs, relevance, ks=(10, 50), n_items=len(state.jobs))
        top20 = recs[recs["rank"] <= 20]
        shown = set(zip(top20["query_id"], top20["item_id"]))
        all_terms_top = shown if all_terms_top is None else all_terms_top
        emit({"figure": "judged", "max_df": max_df, "refit": refit and max_df < 1.0, "as_of": str(as_of),
              "judged_participants": len(people), "ndcg@10": metrics["ndcg@10"], "recall@10": metrics["recall@10"],
              "recall@50": metrics["recall@50"], "top20_kept": len(shown & all_terms_top) / max(1, len(all_terms_top)),
              "candidate_pairs": len(scored.features.pairs.participant), "scoring_seconds": seconds})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--max-df", default="1.0,0.5,0.2,0.1,0.05", help="the first value is the reference (1.0: every term)")
    parser.add_argument("--participants", type=int, default=2000)
    parser.add_argument("--refit", action="store_true", help="also train with each max_df")
    parser.add_argument("--skip-channel", action="store_true")
    parser.add_argument("--skip-judged", action="store_true")
    args = parser.parse_args()
    values = [float(x) for x in args.max_df.split(",")]
    if values[0] != 1.0:
        parser.error("--max-df must start with 1.0, the reference")
    bundle = load_data(args.world / "data")
    if not args.skip_channel:
        channel(load_pipeline(args.world / "model", cache_dir=args.cache), bundle, args.participants, values)
    if not args.skip_judged:
        judged(bundle, args.cache, values, args.refit)


if __name__ == "__main__":
    main()
