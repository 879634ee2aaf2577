"""Would pruning each participant's lexical query to its heaviest terms keep the lexical channel's
candidates? Recall against the exact channel, and the speed of the sparse top-k, per query length.

    python bench/lexical_pruning.py --world /tmp/ilona-stages/10000_20000_7 --cache DIR
                                    [--participants 2000] [--keep 16,32,64,128]

WORLD is a folder made by ``bench/stages.py`` (its ``data`` and fitted ``model``); every vacancy
is served as open. The exact channel is what retrieval runs today: each person's top
``per_channel`` vacancies by the full lexical product. A pruned query keeps each row's ``keep``
largest weights (no renormalisation: only the order matters for the top-k). Recall is the share
of the exact top-k the pruned top-k finds; nothing here changes the engine. One JSON line per figure.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit
from scipy import sparse

from ilona_match.contract import load_data
from ilona_match.matching.persistence import load_pipeline
from ilona_match.matching.profiles import build_participants
from ilona_match.matching.retrieval import _top_sparse
from ilona_match.training import default_as_of


def prune_rows(matrix: sparse.csr_matrix, keep: int) -> sparse.csr_matrix:
    """Each row's ``keep`` largest values (all of a shorter row)."""
    matrix = matrix.tocsr()
    rows = np.repeat(np.arange(matrix.shape[0]), np.diff(matrix.indptr))
    order = np.lexsort((-matrix.data, rows))
    rank = np.arange(len(order)) - matrix.indptr[rows[order]]
    chosen = order[rank < keep]
    return sparse.csr_matrix((matrix.data[chosen], (rows[chosen], matrix.indices[chosen])), shape=matrix.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--participants", type=int, default=2000)
    parser.add_argument("--keep", default="16,32,64,128")
    args = parser.parse_args()

    pipeline = load_pipeline(args.world / "model", cache_dir=args.cache)
    bundle = load_data(args.world / "data")
    as_of = default_as_of(bundle)
    vacancies = bundle.vacancies.assign(published_at=bundle.vacancies["published_at"].clip(upper=pd.Timestamp(as_of)),
                                        closes_at=pd.NaT)
    state = pipeline.prepare_vacancies(vacancies)
    people = build_participants(bundle.participants.head(args.participants).reset_index(drop=True), pipeline.taxonomy)
    query = pipeline.lexical_.transform(people.texts, list(people.language)).tocsr()
    items_t = state.lexical.T.tocsr().astype(query.dtype)
    k, chunk, threads = pipeline.config.retrieval.per_channel, pipeline.config.retrieval.chunk_size, os.cpu_count() or 1

    def top(matrix: sparse.csr_matrix) -> tuple[set[tuple[int, int]], float]:
        start = time.perf_counter()
        rows, cols = _top_sparse(matrix, items_t, k, chunk, threads)
        return set(zip(rows.tolist(), cols.tolist())), time.perf_counter() - start

    exact, exact_s = top(query)
    emit({"figure": "lexical_exact", "participants": len(people), "vacancies": len(state.jobs), "k": k,
          "terms_per_query": float(np.diff(query.indptr).mean()), "seconds": exact_s})
    for keep in (int(x) for x in args.keep.split(",")):
        pruned, seconds = top(prune_rows(query, keep))
        emit({"figure": "lexical_pruned", "keep": keep, "recall": len(pruned & exact) / max(1, len(exact)),
              "seconds": seconds, "speedup": exact_s / seconds})


if __name__ == "__main__":
    main()
