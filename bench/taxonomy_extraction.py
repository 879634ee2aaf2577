"""Measure ESCO mention extraction and resolution; print JSON lines.

    python bench/taxonomy_extraction.py [--sentences tests/data/extraction_sentences.yaml] [--detect]

Lines: build timings (taxonomy load, each language's key index), micro precision / recall / F1 of
``Taxonomy.extract`` on the hand-written sentences (overall and per language), and ``resolve_many``
throughput on one million cells. ``--detect`` lets extraction guess each sentence's language.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

import yaml

from ilona_match.text.normalise import LANGUAGES
from ilona_match.text.taxonomy import Taxonomy, score_mentions

__all__ = ["main"]

DEFAULT_SENTENCES = Path(__file__).resolve().parents[1] / "tests" / "data" / "extraction_sentences.yaml"


def _emit(**fields: object) -> None:
    print(json.dumps(fields, ensure_ascii=False), flush=True)


def _quality(taxonomy: Taxonomy, sentences: list[dict], detect: bool) -> None:
    started = time.perf_counter()
    predicted = [
        {m.uri for m in taxonomy.extract(s["text"], lang=None if detect else s["lang"])} for s in sentences
    ]
    seconds = time.perf_counter() - started
    for lang in ("all", *LANGUAGES):
        chosen = [i for i, s in enumerate(sentences) if lang in ("all", s["lang"])]
        correct, predictions, found, mentions = score_mentions(
            [predicted[i] for i in chosen], [sentences[i]["mentions"] for i in chosen]
        )
        precision = correct / predictions if predictions else 0.0
        recall = found / mentions if mentions else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        _emit(
            metric="extraction",
            lang=lang,
            detected_language=detect,
            sentences=len(chosen),
            mentions=mentions,
            predictions=predictions,
            precision=round(precision, 3),
            recall=round(recall, 3),
            f1=round(f1, 3),
        )
    _emit(metric="extraction_speed", sentences_per_second=round(len(sentences) / seconds, 1))


def _resolve_throughput(taxonomy: Taxonomy, cells: int = 1_000_000, distinct: int = 5_000) -> None:
    rng = random.Random(0)
    uris = list(taxonomy.skill_uris) + list(taxonomy.occupation_uris)
    names = [taxonomy.label(uri, rng.choice(LANGUAGES)) for uri in rng.sample(uris, distinct // 2)]
    pool = rng.sample(uris, distinct // 2) + [name.upper() for name in names]
    values = [rng.choice(pool) for _ in range(cells)]
    started = time.perf_counter()
    resolved = taxonomy.resolve_many(values)
    seconds = time.perf_counter() - started
    _emit(
        metric="resolve_many",
        cells=cells,
        distinct=len(set(pool)),
        seconds=round(seconds, 2),
        cells_per_second=round(cells / seconds),
        unresolved=sum(r is None for r in resolved),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sentences", type=Path, default=DEFAULT_SENTENCES)
    parser.add_argument("--detect", action="store_true", help="detect each sentence's language")
    args = parser.parse_args()
    sentences = yaml.safe_load(args.sentences.read_text(encoding="utf-8"))

    started = time.perf_counter()
    taxonomy = Taxonomy.load()
    _emit(
        metric="build",
        load_seconds=round(time.perf_counter() - started, 2),
        taxonomy_build_seconds=round(taxonomy.build_seconds, 2),
    )
    for lang in LANGUAGES:
        started = time.perf_counter()
        taxonomy.resolve("x", lang=lang)  # a name miss reaches the key tier: builds that index
        _emit(metric="build_language_index", lang=lang, seconds=round(time.perf_counter() - started, 2))
    _quality(taxonomy, sentences, args.detect)
    _resolve_throughput(taxonomy)


if __name__ == "__main__":
    main()
