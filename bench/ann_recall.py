"""Approximate (HNSW) against exact FAISS search on the pipeline's own vectors: recall and speed.

    python bench/ann_recall.py [--vacancies 20000] [--participants 2000] [--seed 2032]
                               [--perturbed 1000000] [--noise 0.5] [--ef 16,32,64,128,256,512]

real       a generated world's vacancy and participant texts (as the pipeline builds them: profiles'
           ``texts``) encoded by the project's TextEmbedder (MiniLM, cached in --cache-dir); the
           vacancies indexed by VectorIndex exact (IndexFlatIP) and HNSW (IndexHNSWFlat with the
           IndexConfig defaults: M=32, efConstruction=80), the participants' vectors as queries.
perturbed  (with --perturbed N) N vectors made by adding Gaussian noise to randomly chosen real vacancy
           vectors and re-normalising: PERTURBED, NOT ENCODED TEXTS, to reach the scale of a national
           vacancy history without encoding a million texts; the queries are the real participant vectors.

For k = 10 and 100 and each efSearch (raised to k, as VectorIndex does) it reports recall@k of HNSW
against exact search — by id, and tie-aware (a returned vector counts when its score reaches the
exact k-th score; generated texts repeat, so equal vectors are common) — and milliseconds per
query of both, one thread each (faiss.omp_set_num_threads; the build uses --build-threads).
``subset`` rows search only a random share of the rows (the share of the world's vacancies open on
its middle day), as retrieval does with ``search_subset``, here always through the HNSW graph with
an ID selector; ``pipeline_uses`` says whether the pipeline's default IndexConfig would search
those rows exactly instead (fewer than exact_below = 20,000 rows in the index or in the subset).
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta
from functools import partial
from pathlib import Path

import faiss
import numpy as np
from _report import emit, markdown_table

from ilona_match.contract import load_data
from ilona_match.contract.constraints import VacancyDemands, open_on
from ilona_match.matching.index import IndexConfig, VectorIndex
from ilona_match.matching.profiles import build_participants, build_vacancies
from ilona_match.synthetic import generate_world
from ilona_match.text.embedding import EmbedderConfig, TextEmbedder
from ilona_match.text.taxonomy import Taxonomy

TIE_TOLERANCE = 1e-5


def world_vectors(out: Path, vacancies: int, participants: int, seed: int, cache_dir: str
                  ) -> tuple[np.ndarray, np.ndarray, float, dict[str, object]]:
    """Vacancy (passage) and participant (query) vectors of a generated world, the share of its
    vacancies open on its middle day, and facts about the texts (no text is printed)."""
    summary = generate_world(out, participants=participants, vacancies=vacancies, seed=seed)
    bundle = load_data(out)
    taxonomy = Taxonomy.load()
    jobs = build_vacancies(bundle.vacancies, taxonomy)
    people = build_participants(bundle.participants, taxonomy)
    embedder = TextEmbedder(EmbedderConfig(), cache_dir=cache_dir)
    start = time.time()
    vacancy_vectors = embedder.encode(jobs.texts, role="passage")
    query_vectors = embedder.encode([t for t in people.texts if t.strip()], role="query")
    middle = summary.config.start + timedelta(days=summary.config.days // 2)
    open_share = float(open_on(VacancyDemands.from_frame(bundle.vacancies), middle).mean())
    facts = {"vacancies": len(jobs), "distinct_vacancy_texts": len(set(jobs.texts)),
             "distinct_vacancy_vectors": int(len(np.unique(vacancy_vectors, axis=0))),
             "queries": len(query_vectors), "encode_s": round(time.time() - start, 1),
             "cache_hits": embedder.hits, "encoded": embedder.misses, "open_share_mid": open_share}
    return vacancy_vectors, query_vectors, open_share, facts


def perturbed(base: np.ndarray, n: int, noise: float, seed: int, chunk: int = 100_000) -> np.ndarray:
    """n unit vectors: a random base row plus N(0, noise^2 / d) per coordinate, re-normalised."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    scale = noise / np.sqrt(base.shape[1])
    for start in range(0, n, chunk):
        rows = base[rng.integers(len(base), size=min(chunk, n - start))]
        block = rows + rng.standard_normal(rows.shape, dtype=np.float32) * np.float32(scale)
        out[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def timed(search, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, float]:  # type: ignore[no-untyped-def]
    """Scores, positions and milliseconds per query of one batched search."""
    start = time.perf_counter()
    scores, positions = search(queries, k)
    return scores, positions, 1000 * (time.perf_counter() - start) / len(queries)


def recalls(exact: tuple[np.ndarray, np.ndarray], approx: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """Recall by id, and tie-aware recall (returned scores reaching the exact k-th score)."""
    (exact_scores, exact_pos), (approx_scores, approx_pos) = exact, approx
    k = exact_pos.shape[1]
    by_id = np.mean([len(np.intersect1d(a[a >= 0], e[e >= 0])) / k for a, e in zip(approx_pos, exact_pos)])
    threshold = exact_scores[:, -1:] - TIE_TOLERANCE
    tie_aware = np.mean(((approx_scores >= threshold) & (approx_pos >= 0)).sum(axis=1) / k)
    return float(by_id), float(tie_aware)


def compare(mode: str, vectors: np.ndarray, queries: np.ndarray, subset_share: float, efs: list[int], seed: int,
            build_threads: int, rows: list[dict[str, object]], common: dict[str, object]) -> None:
    """Exact vs HNSW over ``vectors``: whole index and a random subset, k = 10 and 100, each efSearch."""
    n = len(vectors)
    rng = np.random.default_rng(seed)
    allowed = np.sort(rng.choice(n, size=max(1, round(subset_share * n)), replace=False))
    faiss.omp_set_num_threads(1)
    exact = VectorIndex(IndexConfig(exact_below=n + 1)).fit(vectors)
    truth: dict[tuple[str, int], tuple[np.ndarray, np.ndarray, float]] = {}
    for k in (10, 100):
        truth["all", k] = timed(exact.search, queries, k)
        truth["subset", k] = timed(partial(exact.search_subset, allowed_positions=allowed), queries, k)
    del exact
    faiss.omp_set_num_threads(build_threads)
    start = time.time()
    hnsw = VectorIndex(IndexConfig(exact_below=0)).fit(vectors)
    build_s = time.time() - start
    faiss.omp_set_num_threads(1)
    emit({"figure": "hnsw_build", **common, "mode": mode, "n": n, "build_s": round(build_s, 1),
          "build_threads": build_threads, "config": hnsw.config.model_dump()})
    served = IndexConfig()  # what the pipeline runs with: HNSW only from exact_below rows on
    default_ef = served.ef_search
    for kind, search_set in (("all", None), ("subset", allowed)):
        searched = n if search_set is None else len(allowed)
        pipeline_uses = "hnsw" if n >= served.exact_below and searched >= served.exact_below else "exact"
        for k in (10, 100):
            exact_scores, exact_pos, exact_ms = truth[kind, k]
            for ef in sorted({max(e, k) for e in efs}):
                hnsw.config = hnsw.config.model_copy(update={"ef_search": ef})
                if search_set is None:
                    scores, positions, ms = timed(hnsw.search, queries, k)
                else:
                    scores, positions, ms = timed(partial(hnsw.search_subset, allowed_positions=search_set), queries, k)
                by_id, tie_aware = recalls((exact_scores, exact_pos), (scores, positions))
                row = {"figure": "ann_recall", **common, "mode": mode, "n": n, "search": kind,
                       "searched_rows": searched, "pipeline_uses": pipeline_uses,
                       "k": k, "ef_search": ef, "default_ef": ef == max(default_ef, k),
                       "recall": tie_aware, "recall_by_id": by_id, "exact_ms_per_query": exact_ms,
                       "hnsw_ms_per_query": ms, "speedup": exact_ms / ms}
                rows.append(emit(row))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vacancies", type=int, default=20_000)
    parser.add_argument("--participants", type=int, default=2000, help="their texts are the queries")
    parser.add_argument("--seed", type=int, default=2032)
    parser.add_argument("--world-dir", default=None, help="default /tmp/ann_world_<seed>_<vacancies>")
    parser.add_argument("--cache-dir", default="/tmp/embcache")
    parser.add_argument("--perturbed", type=int, default=0, help="also N perturbed copies of the real vectors")
    parser.add_argument("--noise", type=float, default=0.5, help="norm of the added noise, before re-normalising")
    parser.add_argument("--ef", default="16,32,64,128,256,512", help="efSearch values (raised to k)")
    parser.add_argument("--subset-share", type=float, default=None, help="default: the world's open share mid-year")
    parser.add_argument("--build-threads", type=int, default=2)
    parser.add_argument("--skip-real", action="store_true", help="only the perturbed comparison")
    args = parser.parse_args()
    efs = [int(e) for e in args.ef.split(",")]

    out = Path(args.world_dir or f"/tmp/ann_world_{args.seed}_{args.vacancies}")
    vectors, queries, open_share, facts = world_vectors(out, args.vacancies, args.participants, args.seed, args.cache_dir)
    share = args.subset_share if args.subset_share is not None else open_share
    common = {"seed": args.seed, "queries": len(queries), "subset_share": round(share, 4)}
    emit({"figure": "world", **common, **facts})
    rows: list[dict[str, object]] = []
    if not args.skip_real:
        compare("real", vectors, queries, share, efs, args.seed, args.build_threads, rows, common)
    if args.perturbed:
        base = np.unique(vectors, axis=0)
        fake = perturbed(base, args.perturbed, args.noise, args.seed)
        nearest = np.einsum("ij,ij->i", fake[:1000], base[np.argmax(fake[:1000] @ base.T, axis=1)])
        emit({"figure": "perturbed", **common, "n": args.perturbed, "noise": args.noise, "base_vectors": len(base),
              "note": "perturbed copies of real vacancy vectors, not encoded texts",
              "mean_cosine_to_nearest_base": float(nearest.mean())})
        compare(f"perturbed (noise {args.noise})", fake, queries, share, efs, args.seed, args.build_threads, rows, common)

    print()
    print(markdown_table(rows, ["mode", "n", "search", "searched_rows", "pipeline_uses", "k", "ef_search", "recall", "recall_by_id",
                                "exact_ms_per_query", "hnsw_ms_per_query", "speedup"]))


if __name__ == "__main__":
    main()
