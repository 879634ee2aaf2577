"""The engine's embedder and retrieval beside what a team would write by hand, measured in the same run.

    python bench/reference_ratios.py [--texts 2000] [--queries 500] [--repeats 3] [--seed 11] [--out DIR]
                                     [--static DIR] [--no-int8]

encode     ``TextEmbedder.encode`` (no cache: every text encoded) against a plain
           ``SentenceTransformer.encode`` of the same model on the same texts with the same batch
           size and normalisation; and the int8 mode (``EmbedderConfig(quantize="int8")``) against
           the default; with --static DIR also that static model (``ilona-match distill-embedder``)
           against the default. Texts are vacancy texts of a generated world (title + description, as
           written, mixed fi/sv/en). Throughput in texts/s, median of --repeats runs, run in
           alternating order after one untimed warm-up each. ``engine_model`` is the engine's own
           model instance called directly, without the engine's code: ``engine_vs_its_model`` is the
           engine's overhead alone, ``its_model_vs_plain`` how much two instances of the same model
           differ in one process (the noise the target's ratio carries).
int8_loss  how much the int8 (and static) vectors change retrieval: recall@10 of their top-10 against
           the default top-10 on the same queries (the ranking-level NDCG loss needs a trained ranker: see
           docs/benchmarks.md).
retrieval  ``VectorIndex`` (exact FAISS inner product) against
           ``sentence_transformers.util.semantic_search`` on the same normalised vectors, top-100,
           one thread each; overlap of their top-100 (ties may order differently).

Prints one JSON line per figure; ratios are engine / reference (> 1: the engine is faster).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import faiss
import numpy as np
import pandas as pd
import torch
from _report import emit

from ilona_match.matching.index import IndexConfig, VectorIndex
from ilona_match.synthetic import generate_world
from ilona_match.text.embedding import EmbedderConfig, TextEmbedder, _bundled_minilm_dir


def _texts(out: Path, count: int, seed: int) -> list[str]:
    generate_world(out, participants=max(50, count // 10), vacancies=count, seed=seed)
    vacancies = pd.read_csv(out / "vacancies.csv", dtype=str, keep_default_na=False)
    return (vacancies["title"] + ". " + vacancies["description"]).tolist()[:count]


def _median_seconds(runs: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median wall time of each callable, after one untimed warm-up each, in alternating order."""
    for run in runs.values():
        run()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for repeat in range(repeats):
        for name in (list(runs) if repeat % 2 == 0 else list(reversed(runs))):
            start = time.perf_counter()
            runs[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def _top(vectors: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    return VectorIndex(IndexConfig(exact_below=len(vectors) + 1)).fit(vectors).search(queries, k)[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=None, help="world folder (default: a temporary one)")
    parser.add_argument("--static", type=Path, default=None, help="a static model folder to time beside the default")
    parser.add_argument("--no-int8", action="store_true",
                        help="time only plain encode and the engine (other models in the process slow both unevenly)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    faiss.omp_set_num_threads(1)

    with tempfile.TemporaryDirectory() as scratch:
        texts = _texts(args.out or Path(scratch) / "world", args.texts, args.seed)
    facts = {"texts": len(texts), "mean_chars": round(float(np.mean([len(t) for t in texts])), 1)}

    # ------------------------------------------------------------------------------- encoding
    from sentence_transformers import SentenceTransformer, util

    config = EmbedderConfig()
    plain = SentenceTransformer(str(_bundled_minilm_dir()), local_files_only=True)
    plain.max_seq_length = config.max_seq_length
    engine = TextEmbedder(config)
    modes = {} if args.no_int8 else {"engine_int8": TextEmbedder(EmbedderConfig(quantize="int8"))}
    if args.static is not None:
        modes["engine_static"] = TextEmbedder(EmbedderConfig(model=str(args.static)))
    seconds = _median_seconds({
        "plain": lambda: plain.encode(texts, batch_size=config.batch_size, normalize_embeddings=True,
                                      convert_to_numpy=True, show_progress_bar=False),
        "engine": lambda: engine.encode(texts),
        # the engine's own model instance called directly: the engine's code is the only difference
        # from "engine", the model instance the only one from "plain"
        "engine_model": lambda: engine._loaded().encode(texts, "passage"),
        **{name: (lambda mode=mode: mode.encode(texts)) for name, mode in modes.items()},
    }, args.repeats)
    rate = {name: len(texts) / value for name, value in seconds.items()}
    emit({"figure": "encode_texts_per_s", **facts, **{name: round(value, 1) for name, value in rate.items()},
          "engine_vs_plain": rate["engine"] / rate["plain"], "engine_vs_its_model": rate["engine"] / rate["engine_model"],
          "its_model_vs_plain": rate["engine_model"] / rate["plain"],
          **{f"{name.removeprefix('engine_')}_vs_default": rate[name] / rate["engine"] for name in modes}})

    # ----------------------------------------------------------------- what int8 changes in retrieval
    vectors = engine.encode(texts)
    rng = np.random.default_rng(args.seed)
    picked = rng.choice(len(texts), size=min(args.queries, len(texts)), replace=False)
    top_default = _top(vectors, vectors[picked], 11)[:, 1:]  # the query's own text is first: left out
    for name, mode in modes.items():
        top_mode = _top(mode.encode(texts), mode.encode([texts[i] for i in picked]), 11)[:, 1:]
        overlap = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(top_default, top_mode)])
        emit({"figure": f"{name.removeprefix('engine_')}_recall_at_10_of_default", **facts, "queries": len(picked),
              "value": overlap})

    # ------------------------------------------------------------------------------- retrieval
    k = 100
    queries = vectors[picked]
    corpus_t, queries_t = torch.from_numpy(vectors), torch.from_numpy(queries)
    torch.set_num_threads(1)
    index = VectorIndex(IndexConfig(exact_below=len(vectors) + 1)).fit(vectors)
    seconds = _median_seconds({
        "semantic_search": lambda: util.semantic_search(queries_t, corpus_t, top_k=k),
        "vector_index": lambda: index.search(queries, k),
    }, args.repeats)
    hits = util.semantic_search(queries_t, corpus_t, top_k=k)
    ours = index.search(queries, k)[1]
    agree = np.mean([len({h["corpus_id"] for h in row} & set(mine)) / k for row, mine in zip(hits, ours)])
    emit({"figure": "retrieval_top100_ms_per_query", **facts, "queries": len(picked),
          "semantic_search": seconds["semantic_search"] * 1000 / len(picked),
          "vector_index": seconds["vector_index"] * 1000 / len(picked),
          "engine_vs_reference": seconds["semantic_search"] / seconds["vector_index"], "top100_agreement": agree})


if __name__ == "__main__":
    main()
