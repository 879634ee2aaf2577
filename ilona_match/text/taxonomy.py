"""The ESCO taxonomy as the engine's common vocabulary: resolve names and codes, find mentions.

Built once per process from the shipped compact tables (``ilona_match.text.esco``). Three jobs:

* ``resolve`` turns what the data contract allows in skill/occupation fields (an ESCO URI, an
  ISCO-08 code, an ESCO occupation code, or a name in fi/sv/en) into a ``Concept``;
* ``extract`` finds skills and occupations mentioned in free text (profiles, vacancy texts);
* lookups: labels, essential/optional skills of an occupation, ISCO groups.

``Taxonomy.load()`` builds what needs no language knowledge (concepts, relations, exact label
indexes). The per-language token-key index (lemma + stem, see ``ilona_match.text.normalise``) is built on the
first call that needs that language — an inflected name in ``resolve`` or ``extract`` — because it
loads that language's lemma dictionary; a process that only sees URIs, codes and exact labels
never pays for it.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from types import MappingProxyType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ilona_match.text.esco import ESCO_VERSION, EscoTables, load_esco_tables
from ilona_match.text.normalise import (
    LANGUAGES,
    STOPWORDS,
    check_language,
    detect_language,
    lemmatize_word,
    token_key,
    token_spans,
)

__all__ = ["EXTRACTABLE_KINDS", "KINDS", "Concept", "ExtractMentions", "Mention", "Mentioned", "Taxonomy", "mentions_in",
           "score_mentions", "wished_words"]

KINDS: tuple[str, ...] = ("skill", "occupation", "isco_group")
EXTRACTABLE_KINDS: tuple[str, ...] = ("skill", "occupation")
ISCO_URI_PREFIX = "http://data.europa.eu/esco/isco/C"

_ISCO_CODE = re.compile(r"\d{1,4}")
_OCCUPATION_CODE = re.compile(r"\d{4}(?:\.\d+)+")
_SEGMENT_BREAK = re.compile(r"[.!?;:\n]")
_SPACES = re.compile(r"\s+")
_WORDS = re.compile(r"\w+")
_KIND_RANK = {"occupation": 0, "skill": 1, "isco_group": 2}
_PREFERRED, _ALTERNATIVE, _HEAD = 0, 1, 2  # label ranks: preferred, alternative (English, or the team's fi/sv), head of "X, Y"

# Extraction settings (general rules, documented in Taxonomy.extract).
_EXTRA_TOKENS = 2  # unrelated content tokens allowed inside a multiword match
_MIN_SCORE = 0.55
_MAX_DERIVATION = 5  # letters a text word's key may add to a label key (derivation suffixes)
_SHORT_LEMMA = 5  # a one-word label with a shorter lemma must meet that exact lemma
_GENERIC_LABEL_COUNT = 40  # a one-word skill label whose key occurs in more labels is too generic
_MAX_HEAD_SHARERS = 2  # "X, Y" occupation labels make X a label when at most this many share X
_WEIGHT_EXACT, _WEIGHT_COMPOUND, _WEIGHT_DERIVATION, _WEIGHT_LABEL_COMPOUND = 1.0, 0.9, 0.8, 0.6

# Negation: a clause that holds one of these words says what a job does not need or a person cannot
# do ("Körkort behövs inte", "no heavy lifting", "en voi nostaa"), so extraction reports nothing in
# it. A clause ends at punctuation or at a coordinating word; "eikä", "nor", "without", "ilman" and
# "utan" both end the clause before them and negate the one they begin ("osaan siivota eikä minulla
# ole ajokorttia", "sort waste without help").
# English "n't" is tokenised as a lone "t".
_NEGATIONS: dict[str, frozenset[str]] = {
    "fi": frozenset(
        ["ei", "en", "et", "emme", "ette", "eivät", "eikä", "enkä", "etkä", "emmekä", "ettekä", "eivätkä",
         "älä", "älkää", "ilman"]
    ),
    "sv": frozenset(["inte", "ej", "icke", "ingen", "inget", "inga", "aldrig", "utan", "varken"]),
    "en": frozenset(["no", "not", "never", "without", "nor", "neither", "cannot", "unable", "t"]),
}
_CLAUSE_WORDS: dict[str, frozenset[str]] = {
    "fi": frozenset(
        ["ja", "sekä", "mutta", "vaan", "tai", "eikä", "enkä", "etkä", "emmekä", "ettekä", "eivätkä", "ilman"]
    ),
    "sv": frozenset(["och", "samt", "men", "eller", "utan"]),
    "en": frozenset(["and", "but", "or", "nor", "while", "whereas", "without"]),
}
_CLAUSE_BREAK = re.compile(r"[.!?;:,()\n]")
# A negation reaches over a list: across "or" ("I cannot lift heavy loads or work night shifts",
# "Körkort eller truckkort krävs inte") and across the commas of "X, Y or Z" when the items are short
# ("emme edellytä kokemusta, ajokorttia tai trukkikorttia"). "And" does not carry it ("I have no
# licence and I can cook").
_OR_WORDS: dict[str, frozenset[str]] = {
    "fi": frozenset(["tai", "eikä"]),
    "sv": frozenset(["eller"]),
    "en": frozenset(["or", "nor"]),
}
_LIST_ITEM_WORDS = 2  # content words a clause may hold to be an item of such a list
# A wish is no skill: "Toiveala: siivous", "Olen kiinnostunut vanhustyöstä", "Jag är intresserad av
# städning", "I would like to work in recycling" say what a person wants, not what they can do, so
# extraction reports nothing from the clause of a wish word, nor from the list after its colon or
# one-word items joined to it (``_wished_clauses``). Only the writer's own wish counts ("haluamme", "vill du", "would you like" in an ad do
# not): a word of _WISHES_OWN counts alone, one of _WISHES_AFTER_I when the nearest person word before
# it in its sentence is "I" / "jag" / "olen" ("Jag har arbetat som städare och är intresserad av"),
# and _WISH_HEADINGS are two-word headings ("önskad bransch").
_WISHES_OWN: dict[str, frozenset[str]] = {
    "fi": frozenset(["toivon", "toiveala", "toivealani", "toivealat", "toivetyö", "toivetyöni", "toiveammatti",
                     "haluan", "haluaisin", "kiinnostaa", "kiinnostaisi", "kiinnostavin", "kiinnostavinta",
                     "haaveilen", "unelmatyö", "unelmatyöni"]),
    "sv": frozenset(["önskebransch", "önskeyrke", "önskejobb", "drömjobb"]),
    "en": frozenset(["dream"]),
}
_WISHES_AFTER_I: dict[str, frozenset[str]] = {
    "fi": frozenset(["kiinnostunut", "kiinnostuneempi"]),
    "sv": frozenset(["vill", "önskar", "intresserad", "skulle", "hoppas"]),
    "en": frozenset(["want", "wish", "like", "interested", "hope", "prefer"]),
}
_ONLY_AFTER: dict[str, dict[str, frozenset[str]]] = {"fi": {}, "sv": {}, "en": {"like": frozenset(["would", "d"])}}
_FIRST_PERSON: dict[str, frozenset[str]] = {"fi": frozenset(["olen", "olisin", "minä", "mä"]),
                                            "sv": frozenset(["jag"]), "en": frozenset(["i"])}
_OTHER_PERSONS: dict[str, frozenset[str]] = {
    "fi": frozenset(["olet", "olisit", "olette", "olisitte", "olemme", "olisimme", "sinä", "te", "me", "hän", "he"]),
    "sv": frozenset(["du", "ni", "vi", "han", "hon", "de", "man"]),
    "en": frozenset(["you", "we", "he", "she", "they"]),
}
_WISH_HEADINGS: dict[str, frozenset[tuple[str, str]]] = {
    "fi": frozenset(),
    "sv": frozenset([("önskad", "bransch"), ("önskat", "yrke"), ("önskat", "arbete"), ("önskad", "tjänst")]),
    "en": frozenset([("preferred", "field"), ("preferred", "sector"), ("preferred", "industry"),
                     ("wished", "field"), ("desired", "field")]),
}
# "not only X but also Y" affirms both: a negation word one or two words before one of these words
# negates nothing ("ei ole vain"), and Swedish "utan" before "också" / "även" is "but", not "without".
_NOT_ONLY: dict[str, frozenset[str]] = {
    "fi": frozenset(["vain", "ainoastaan", "pelkästään", "pelkkää", "pelkkä"]),
    "sv": frozenset(["bara", "endast", "enbart", "också", "även"]),
    "en": frozenset(["only", "just", "merely"]),
}
# Someone else's occupation: a supporter or a colleague ("työhönvalmentajan tuki", "stöd av en
# jobbcoach", "support from a job coach", "sairaanhoitajan kanssa") is not the occupation of the
# person or the job the text is about. The name is followed by a word of _SOMEONE_ELSES_AFTER (in
# Finnish as a genitive, "-n") or, in Swedish and English, follows one of _SOMEONE_ELSES_BEFORE or
# "stöd/hjälp/handledning av"; articles and English "'s" are skipped.
_SOMEONE_ELSES_AFTER: dict[str, frozenset[str]] = {
    "fi": frozenset(["tuki", "tuen", "tukea", "tuella", "tukena", "avulla", "apu", "apua", "ohjaus",
                     "ohjausta", "ohjauksessa", "ohjauksella", "kanssa"]),
    "sv": frozenset(["stöd", "stödet", "hjälp", "hjälpen", "handledning"]),
    "en": frozenset(["support", "help", "guidance"]),
}
_SOMEONE_ELSES_BEFORE: dict[str, frozenset[str]] = {
    "fi": frozenset(),
    "sv": frozenset(["med", "från"]),
    "en": frozenset(["with", "from", "by"]),
}
_SUPPORT_BY = {"sv": frozenset(["stöd", "hjälp", "handledning"])}  # "stöd av": "av" names the supporter
_SKIPPED_BESIDE: dict[str, frozenset[str]] = {
    "fi": frozenset(), "sv": frozenset(["en", "ett"]), "en": frozenset(["a", "an", "the", "s"]),
}

# Concepts whose labels are the frame of every ad or CV: ESCO's "job market offers" (sv "lediga jobb",
# en "job opportunities") is a career adviser's knowledge, but in an ad the same words are its heading
# ("Ledigt jobb: truckförare"), never a requirement. Extraction skips them; `resolve` still knows them.
_FRAME_CONCEPTS = frozenset({"http://data.europa.eu/esco/skill/38a5c459-c591-4f76-a358-37de342bb11d"})


@dataclass(frozen=True)
class Concept:
    """One ESCO skill or occupation, or an ISCO-08 group. Equality and hash ignore the labels."""

    uri: str
    kind: str
    code: str
    labels: Mapping[str, str] = field(compare=False, hash=False)
    isco_group: str


@dataclass(frozen=True)
class Mention:
    """A concept found in a text: characters ``[start, end)``, the text there, a score in (0, 1]."""

    uri: str
    kind: str
    start: int
    end: int
    text: str
    score: float


def _check_kind(kind: str | None, allowed: Sequence[str] = KINDS) -> None:
    if kind is not None and kind not in allowed:
        raise ValueError(f"unknown kind {kind!r}; expected one of {', '.join(allowed)}")


def _check_optional_language(lang: str | None) -> None:
    if lang is not None:
        check_language(lang)


def _normalised(texts: list[str]) -> tuple[list[str], list[str]]:
    """Texts normalised like ``text.normalise`` (NFC, lower case, single spaces), and the same
    without punctuation (words joined by one space). Vectorised with Arrow: there are 170,000
    labels. (NFC is applied in Python: pyarrow 25's utf8_normalize decomposes instead.)"""
    nfc = [t if unicodedata.is_normalized("NFC", t) else unicodedata.normalize("NFC", t) for t in texts]
    exact = pc.utf8_trim_whitespace(
        pc.replace_substring_regex(pc.utf8_lower(pa.array(nfc, pa.string())), r"\s+", " ")
    )
    loose = pc.utf8_trim_whitespace(pc.replace_substring_regex(exact, r"[^\p{L}\p{N}_]+", " "))
    return exact.to_pylist(), loose.to_pylist()


def _normalise_one(text: str) -> tuple[str, str]:
    """``_normalised`` for one query, in plain Python (Arrow's per-call overhead is milliseconds)."""
    exact = _SPACES.sub(" ", unicodedata.normalize("NFC", text).lower()).strip()
    return exact, " ".join(_WORDS.findall(exact))


class _LanguageIndex:
    """Token keys of one language's labels, for key-set resolution and mention extraction."""

    def __init__(self, lang: str, label_ids: list[int], loose: list[str], extractable: list[bool]) -> None:
        self.lang = lang
        stop = STOPWORDS[lang]
        words_of = {label_id: [w for w in loose[label_id].split() if w not in stop] for label_id in label_ids}
        unique_words = {word for words in words_of.values() for word in words}
        lemma = {word: lemmatize_word(word, lang) for word in unique_words}
        key = {word: token_key(word, lang) for word in unique_words}
        self.keys: dict[int, tuple[str, ...]] = {}
        self.lemmas: dict[int, tuple[str, ...]] = {}
        self.keyset: dict[tuple[str, ...], list[int]] = defaultdict(list)
        self.label_count: Counter[str] = Counter()
        for label_id, words in words_of.items():
            if not words:
                continue
            keys = tuple(key[word] for word in words)
            self.keys[label_id] = keys
            self.lemmas[label_id] = tuple(lemma[word] for word in words)
            self.keyset[tuple(sorted(keys))].append(label_id)
            if extractable[label_id]:
                self.label_count.update(set(keys))
        self.vocabulary = set(self.label_count)
        self.by_suffix: dict[str, list[str]] = defaultdict(list)  # proper suffix (>= 4) -> keys
        for vocabulary_key in self.vocabulary:
            for cut in range(1, len(vocabulary_key) - 3):
                self.by_suffix[vocabulary_key[cut:]].append(vocabulary_key)
        self.anchors: dict[str, list[int]] = defaultdict(list)
        self._options: dict[str, dict[str, float]] = {}

    def add_anchor(self, label_id: int) -> None:
        keys = self.keys[label_id]
        self.anchors[min(keys, key=lambda k: (self.label_count[k], k))].append(label_id)

    def options(self, word: str) -> dict[str, float]:
        """Label keys a text word can stand for, with weights.

        Its own key (1.0); a label key that is the head of the word as a compound (0.9,
        "polkupyörä" -> "pyörä"); a label key that the word's key extends by at most five letters
        — a derivation of a label verb (0.8, "siivous"/"siivota", "täyttö"/"täyttää",
        "städning"/"städa") — or that is the modifier of the word as a compound of two label
        words (0.8, "ensiapukoulutus" -> "ensiapu"); a label compound whose head is the word (0.6, "trukki" ->
        "haarukkatrukki", weak because a modifier may be what the label is about).
        """
        cached = self._options.get(word)
        if cached is not None:
            return cached
        own = token_key(word, self.lang)
        options = {own: _WEIGHT_EXACT}
        for cut in range(1, len(own) - 3):
            if own[cut:] in self.vocabulary:
                options.setdefault(own[cut:], _WEIGHT_COMPOUND)
        for cut in range(3, len(own)):
            prefix = own[:cut]
            if prefix in self.vocabulary and (
                len(own) - cut <= _MAX_DERIVATION or (cut >= _SHORT_LEMMA and own[cut:] in self.vocabulary)
            ):
                options.setdefault(prefix, _WEIGHT_DERIVATION)
        for longer in self.by_suffix.get(own, ()):
            options.setdefault(longer, _WEIGHT_LABEL_COMPOUND)
        if len(self._options) > 200_000:
            self._options.clear()
        self._options[word] = options
        return options


class Taxonomy:
    """ESCO v1.1.1 skills, occupations and ISCO-08 groups with fi/sv/en labels.

    Use ``Taxonomy.load()`` (cached per process). Concepts are immutable; ``resolve`` memoises,
    so repeated values cost one dictionary lookup. Thread-safe.
    """

    version: str = ESCO_VERSION

    def __init__(self, tables: EscoTables) -> None:
        start = time.perf_counter()
        self._concepts = self._make_concepts(tables)
        # what the tables hold, so results stored by text hash (TextAnalysisCache) name their taxonomy
        self.fingerprint = hashlib.sha256(b"".join(
            pd.util.hash_pandas_object(table, index=False).to_numpy().tobytes()
            for table in (tables.concepts, tables.relations, tables.isco_groups, tables.alt_labels)
            if len(table))).hexdigest()[:16]
        self._esco_rows = len(tables.concepts)
        self._by_uri = {concept.uri: index for index, concept in enumerate(self._concepts)}
        self._by_code = {c.code: i for i, c in enumerate(self._concepts) if c.kind != "skill"}
        self._build_relations(tables.relations)
        self._build_labels(tables.concepts, tables.alt_labels)
        self._reuse = dict(zip(tables.concepts["uri"].tolist(), tables.concepts["reuse_level"].fillna("").tolist(),
                               strict=True))
        self._languages: dict[str, _LanguageIndex] = {}
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, str | None, str | None], Concept | None] = {}
        self.build_seconds = time.perf_counter() - start

    # ----------------------------------------------------------------------------------- building
    @classmethod
    @lru_cache(maxsize=1)
    def load(cls) -> Taxonomy:
        """The taxonomy of the shipped ESCO tables, built once per process."""
        return cls(load_esco_tables())

    def label_words(self) -> dict[str, set[str]]:
        """Every word of every label, by language: what the shipped lemma table must cover."""
        words: dict[str, set[str]] = defaultdict(set)
        for lang, loose in zip(self._label_lang, self._label_loose, strict=True):
            words[lang].update(loose.split())
        return dict(words)

    @staticmethod
    def _make_concepts(tables: EscoTables) -> list[Concept]:
        concepts = [
            Concept(
                uri=uri,
                kind=kind,
                code=code,
                isco_group=isco,
                labels=MappingProxyType({"fi": fi, "sv": sv, "en": en}),
            )
            for uri, kind, code, isco, fi, sv, en in zip(
                *(
                    tables.concepts[column].tolist()
                    for column in ("uri", "kind", "code", "isco_group", "label_fi", "label_sv", "label_en")
                ),
                strict=True,
            )
        ]
        concepts.extend(
            Concept(
                uri=ISCO_URI_PREFIX + code,
                kind="isco_group",
                code=code,
                isco_group=code,
                labels=MappingProxyType({"fi": fi, "sv": sv, "en": en}),
            )
            for code, fi, sv, en in zip(
                *(
                    tables.isco_groups[column].tolist()
                    for column in ("code", "label_fi", "label_sv", "label_en")
                ),
                strict=True,
            )
        )
        return concepts

    def _build_relations(self, relations: pd.DataFrame) -> None:
        """Occupation -> (essential, optional) skill URIs, in ESCO table order of the skills."""
        occupations = relations["occupation"].to_numpy()
        skills = relations["skill"].to_numpy()
        essential = relations["essential"].to_numpy()
        order = np.lexsort((skills, occupations))
        occupations, skills, essential = occupations[order], skills[order], essential[order]
        bounds = np.flatnonzero(np.diff(occupations)) + 1
        starts = np.concatenate(([0], bounds))
        ends = np.concatenate((bounds, [len(occupations)]))
        self._skills_of: dict[int, tuple[np.ndarray, np.ndarray]] = {
            int(occupations[start]): (skills[start:end], essential[start:end])
            for start, end in zip(starts.tolist(), ends.tolist(), strict=True)
        }

    def _build_labels(self, concepts: pd.DataFrame, team_labels: pd.DataFrame) -> None:
        """One entry per label: preferred fi/sv/en of every concept, English alternatives, the
        team's fi/sv alternatives (``esco.ALT_LABELS``), and heads of qualified occupation labels
        (see ``_add_head_labels``); exact and loose indexes."""
        rows = len(self._concepts)
        alternatives = pc.split_pattern(pa.array(concepts["alt_labels_en"], pa.string()), "\n")
        texts = [c.labels[lang] for lang in LANGUAGES for c in self._concepts]
        texts += pc.list_flatten(alternatives).to_pylist()
        concept_ids = list(range(rows)) * 3 + pc.list_parent_indices(alternatives).to_pylist()
        langs = [lang for lang in LANGUAGES for _ in range(rows)] + ["en"] * (len(texts) - 3 * rows)
        texts += team_labels["label"].tolist()
        concept_ids += [self._by_uri[uri] for uri in team_labels["uri"].tolist()]
        langs += team_labels["lang"].tolist()
        ranks = [_PREFERRED] * (3 * rows) + [_ALTERNATIVE] * (len(texts) - 3 * rows)
        exact, loose = _normalised(texts)
        keep = [i for i, words in enumerate(loose) if words]
        self._label_concept: list[int] = [concept_ids[i] for i in keep]
        self._label_lang: list[str] = [langs[i] for i in keep]
        self._label_rank: list[int] = [ranks[i] for i in keep]
        self._label_loose: list[str] = [loose[i] for i in keep]
        self._label_exact: list[str] = [exact[i] for i in keep]
        self._add_head_labels()
        self._exact = self._group(self._label_exact)
        self._loose = self._group(self._label_loose)

    def _add_head_labels(self) -> None:
        """Finnish and Swedish occupation labels qualify a head with a comma ("lastenhoitaja,
        päiväkoti"); the head X becomes a label when it is no label of its own in that language
        and at most two occupations share it, since texts say just "sjuksköterska"."""
        known = set(zip(self._label_lang, self._label_loose, strict=True))
        heads: dict[tuple[str, str], list[int]] = defaultdict(list)
        for label_id, exact in enumerate(self._label_exact):
            concept = self._label_concept[label_id]
            if (
                "," in exact
                and self._label_lang[label_id] in ("fi", "sv")
                and self._label_rank[label_id] == _PREFERRED
                and self._concepts[concept].kind == "occupation"
            ):
                head = exact.split(",")[0].strip()
                head_loose = " ".join(_WORDS.findall(head))
                if head_loose and (self._label_lang[label_id], head_loose) not in known:
                    heads[(self._label_lang[label_id], head)].append(concept)
        for (lang, head), concepts in heads.items():
            if len(concepts) <= _MAX_HEAD_SHARERS:
                for concept in concepts:
                    self._label_concept.append(concept)
                    self._label_lang.append(lang)
                    self._label_rank.append(_HEAD)
                    self._label_exact.append(head)
                    self._label_loose.append(" ".join(_WORDS.findall(head)))

    @staticmethod
    def _group(keys: list[str]) -> dict[str, list[int]]:
        grouped: dict[str, list[int]] = defaultdict(list)
        for label_id, key in enumerate(keys):
            grouped[key].append(label_id)
        return dict(grouped)

    def _language(self, lang: str) -> _LanguageIndex:
        """The token-key index of one language, built on first use."""
        index = self._languages.get(lang)
        if index is not None:
            return index
        with self._lock:
            if lang not in self._languages:
                self._languages[lang] = self._build_language(lang)
        return self._languages[lang]

    def _build_language(self, lang: str) -> _LanguageIndex:
        label_ids = [i for i, label_lang in enumerate(self._label_lang) if label_lang == lang]
        extractable = [self._concepts[c].kind in EXTRACTABLE_KINDS for c in self._label_concept]
        index = _LanguageIndex(lang, label_ids, self._label_loose, extractable)
        for label_id in label_ids:
            if extractable[label_id] and label_id in index.keys and self._extractable_label(index, label_id):
                index.add_anchor(label_id)
        return index

    def _extractable_label(self, index: _LanguageIndex, label_id: int) -> bool:
        """Whether extraction may report this label.

        Not when its concept is an ad's frame (``_FRAME_CONCEPTS``). Not when it is an
        alternative label that several concepts share and none has as preferred label ("repair
        bicycles" is an alternative of three skills: a coin toss is not a finding). Multiword
        labels otherwise always; a one-word label only when specific: at least 3 letters, and
        (unless it is an occupation's preferred label or label head) a key that few labels share —
        ESCO's English alternatives hold everyday words like "office".
        """
        concept = self._concepts[self._label_concept[label_id]]
        if concept.uri in _FRAME_CONCEPTS:
            return False
        if self._label_rank[label_id] == _ALTERNATIVE:
            sharers = self._loose[self._label_loose[label_id]]
            concepts = {
                self._label_concept[other] for other in sharers if self._label_lang[other] == index.lang
            }
            if len(concepts) > 1 and all(self._label_rank[other] != _PREFERRED for other in sharers):
                return False
        keys = index.keys[label_id]
        if len(keys) > 1:
            return True
        if len(keys[0]) < 3:
            return False
        if concept.kind == "occupation" and self._label_rank[label_id] != _ALTERNATIVE:
            return True
        return index.label_count[keys[0]] <= _GENERIC_LABEL_COUNT

    # ---------------------------------------------------------------------------------- resolving
    def resolve(self, value: str, kind: str | None = None, lang: str | None = None) -> Concept | None:
        """The concept a contract value denotes, or None when nothing matches.

        Accepted values, tried in this order: an ESCO or ISCO URI; an ISCO-08 code of 1–4 digits
        (-> that isco_group; also with kind="occupation", since the contract allows codes in
        occupation fields); an ESCO occupation code such as "5322.1"; a name. Names are matched
        on preferred labels (fi, sv, en), alternative labels (ESCO's English ones and the team's
        Finnish and Swedish ones, ``esco.ALT_LABELS``) and heads of qualified occupation labels
        ("lastenhoitaja" of "lastenhoitaja, päiväkoti" when no label of its own) in three tiers — exact after case/space/Unicode normalisation, then ignoring
        punctuation, then on token keys (lemma + stem, any word order: "kodinhoitajana",
        "vanhuksista huolehtia") — and the first tier with a hit wins. Within a tier the winner
        is a label in ``lang`` (when given), then preferred before alternative before head
        labels, then occupation before skill before ISCO group, then the smallest URI.
        """
        _check_kind(kind)
        _check_optional_language(lang)
        if not isinstance(value, str):
            return None
        memo_key = (value, kind, lang)
        try:
            return self._memo[memo_key]
        except KeyError:
            pass
        resolved = self._resolve(value.strip(), kind, lang)
        if len(self._memo) > 2_000_000:
            self._memo.clear()
        self._memo[memo_key] = resolved
        return resolved

    def resolve_many(
        self, values: Iterable[str | None], kind: str | None = None, lang: str | None = None
    ) -> list[Concept | None]:
        """``resolve`` for many cells (missing values give None); each distinct value once."""
        _check_kind(kind)
        _check_optional_language(lang)
        codes, uniques = pd.factorize(pd.Series(list(values), dtype=object))
        resolved = [self.resolve(value, kind, lang) for value in uniques]
        resolved.append(None)  # code -1, a missing value
        return [resolved[code] for code in codes.tolist()]

    def _resolve(self, text: str, kind: str | None, lang: str | None) -> Concept | None:
        if not text:
            return None
        index = self._by_uri.get(text)
        if index is None and (_ISCO_CODE.fullmatch(text) or _OCCUPATION_CODE.fullmatch(text)):
            index = self._by_code.get(text)
            if index is None:
                return None
            if kind == "occupation" and self._concepts[index].kind == "isco_group":
                return self._concepts[index]
        if index is not None:
            concept = self._concepts[index]
            return concept if kind is None or concept.kind == kind else None
        for candidates in self._name_candidates(text, lang):
            best = self._best_label(candidates, kind, lang)
            if best is not None:
                return self._concepts[self._label_concept[best]]
        return None

    def _name_candidates(self, text: str, lang: str | None) -> Iterator[list[int]]:
        """Label ids per tier: exact, punctuation-free, key set in the query's possible languages."""
        exact, loose = _normalise_one(text)
        yield self._exact.get(exact, [])
        yield self._loose.get(loose, [])
        by_key: list[int] = []
        for query_lang in (lang,) if lang else LANGUAGES:
            words = [word for word in loose.split() if word not in STOPWORDS[query_lang]]
            if words:
                keys = tuple(sorted(token_key(word, query_lang) for word in words))
                by_key.extend(self._language(query_lang).keyset.get(keys, []))
        yield by_key

    def _best_label(self, candidates: list[int], kind: str | None, lang: str | None) -> int | None:
        best_rank: tuple[int, int, int, str] | None = None
        best = None
        for label_id in candidates:
            concept = self._concepts[self._label_concept[label_id]]
            if kind is not None and concept.kind != kind:
                continue
            rank = (
                0 if lang is None or self._label_lang[label_id] == lang else 1,
                self._label_rank[label_id],
                _KIND_RANK[concept.kind],
                concept.uri,
            )
            if best_rank is None or rank < best_rank:
                best_rank, best = rank, label_id
        return best

    # --------------------------------------------------------------------------------- extracting
    def extract(
        self, text: str, lang: str | None = None, kinds: Sequence[str] = EXTRACTABLE_KINDS
    ) -> list[Mention]:
        """Skills and occupations mentioned in ``text`` (fi/sv/en; detected when ``lang`` is None).

        Labels of the text's language are matched (English texts also use English alternative
        labels). A label matches when each of its content words (function words ignored) meets a
        distinct token of the same sentence, in any order, with at most two unrelated tokens
        inside the span. Words meet on equal keys (lemma + stem) or, with a lower weight, through
        compounds and derivations (``_LanguageIndex.options``). A one-word label must be specific
        (``_extractable_label``) and meet a word closely (``_single_word_score``). Score =
        product of word weights × label words / span tokens × 0.9 when out of label order
        (alternative labels match only in their own order: "working time" is not "time@work");
        matches under 0.55 are dropped. Overlapping matches: the larger label words × score²
        wins (a tight two-word match beats a loose three-word one), then preferred labels, then
        the smaller URI; each concept is reported once. Nothing is reported from a negated
        clause (``_NEGATIONS``: "Körkort behövs inte", "no heavy lifting", "en voi siivota"): a
        job ad's "not needed" is no requirement and a profile's "cannot" no skill ("not only ...
        but also" negates nothing, ``_NOT_ONLY``). The negation reaches over a list joined by "or"
        ("no licence, forklift card or experience needed", ``_OR_WORDS``), not over "and"; a label
        that holds a negation word itself still matches. A label spelled with "@" (a product name,
        "time@work") matches only as spelled. Nor is a wish of the writer's own
        ("Toiveala: siivous", "Jag är intresserad av städning", ``_WISHES_OWN``): it says what a
        person wants, not what they can do. Nor is an occupation named as a supporter or a
        colleague (``_SOMEONE_ELSES_AFTER`` / ``_BEFORE``: "työhönvalmentajan tuki", "stöd av en
        jobbcoach", "work with a nurse"): it is not the person's or the job's own.
        """
        _check_optional_language(lang)
        for kind in kinds:
            _check_kind(kind, EXTRACTABLE_KINDS)
        if not isinstance(text, str) or not text.strip():
            return []
        index = self._language(lang or detect_language(text))
        lang = index.lang
        spans = token_spans(text)
        tokens, segments, negated, wished, raw = self._content_tokens(text, spans, lang)
        options = [index.options(word) for word, _, _ in tokens]
        words = [word for word, _, _ in tokens]
        lemmas = [lemmatize_word(word, lang) for word in words]
        candidates = self._match_labels(index, segments, options, words, lemmas, set(kinds))
        negation_words = _NEGATIONS[lang]

        def stated(label_id: int, positions: tuple[int, ...]) -> bool:
            label, first, last = self._label_exact[label_id], min(positions), max(positions)
            if "@" in label and text[tokens[first][1]:tokens[last][2]].casefold() != label:
                return False  # a product name ("time@work") only as it is spelled, not "part-time work"
            return not wished[first] and not _negated(negated, tokens, positions, bool(negation_words & set(label.split())))

        affirmed = {match: score for match, score in candidates.items() if stated(*match)}
        all_words = [word for word, _, _ in spans]

        def someone_elses(label_id: int, positions: tuple[int, ...]) -> bool:
            return self._concepts[self._label_concept[label_id]].kind == "occupation" and _someone_elses(
                lang, all_words, raw[positions[0]], raw[positions[-1]]
            )

        return self._select(affirmed, tokens, text, someone_elses)

    @staticmethod
    def _content_tokens(
        text: str, spans: list[tuple[str, int, int]], lang: str
    ) -> tuple[list[tuple[str, int, int]], list[int], list[frozenset[int]], list[bool], list[int]]:
        """Non-function-word tokens of ``spans`` with offsets, the sentence number of each, the offsets
        of the negation words that reach its clause (``_negations_by_clause``), whether its clause
        states a wish (``_wished_clauses``) and its position in ``spans``."""
        stop, negations, clause_words = STOPWORDS[lang], _NEGATIONS[lang], _CLAUSE_WORDS[lang]
        tokens, segments, clauses, raw = [], [], [], []
        own: list[set[int]] = [set()]
        wishes = [False]
        links: list[str] = []  # how clause i + 1 is joined to clause i: "comma", "or", "and", "colon", "break"
        sizes = [0]
        segment = clause = previous_end = 0
        for position, (word, start, end) in enumerate(spans):
            if _SEGMENT_BREAK.search(text, previous_end, start):
                segment += 1
            gap = _CLAUSE_BREAK.findall(text, previous_end, start)
            if gap or word in clause_words:
                clause += 1
                own.append(set())
                wishes.append(False)
                sizes.append(0)
                links.append(_link(gap, word, lang))
            previous_end = end
            if word in negations and not _not_only(text, spans, position, lang):
                own[clause].add(start)
            if _wish(text, spans, position, lang):
                wishes[clause] = True
            if word not in stop:
                tokens.append((word, start, end))
                segments.append(segment)
                clauses.append(clause)
                raw.append(position)
                sizes[clause] += 1
        reach = _negations_by_clause(own, links, sizes)
        wished = _wished_clauses(wishes, links, sizes)
        return tokens, segments, [reach[c] for c in clauses], [wished[c] for c in clauses], raw

    def _match_labels(
        self,
        index: _LanguageIndex,
        segments: list[int],
        options: list[dict[str, float]],
        words: list[str],
        lemmas: list[str],
        kinds: set[str],
    ) -> dict[tuple[int, tuple[int, ...]], float]:
        """All label matches: (label id, token positions) -> score."""
        found: dict[tuple[int, tuple[int, ...]], float] = {}
        # a multi-word label can only match when every one of its keys is somewhere in the text:
        # checking that first spares most placements (common anchors such as "hoito" begin
        # hundreds of labels whose other words are absent)
        present = set().union(*options)
        for position, token_options in enumerate(options):
            for key, weight in token_options.items():
                for label_id in index.anchors.get(key, ()):
                    if self._concepts[self._label_concept[label_id]].kind not in kinds:
                        continue
                    label_keys = index.keys[label_id]
                    if len(label_keys) == 1:
                        score = self._single_word_score(
                            label_id,
                            key,
                            weight,
                            words[position],
                            lemmas[position],
                            index.lemmas[label_id][0],
                        )
                        if score and not _stem_collision(
                            index.lang, words[position], lemmas[position], index.lemmas[label_id][0]
                        ):
                            found[(label_id, (position,))] = score
                        continue
                    if not present.issuperset(label_keys):
                        continue
                    match = _match_around(label_keys, position, key, options, segments)
                    if match is None:
                        continue
                    placed, score, by_slot = match
                    if self._label_rank[label_id] == _ALTERNATIVE and by_slot != sorted(by_slot):
                        continue  # alternative labels are many and loose: only in their own word order
                    label_lemmas = index.lemmas[label_id]
                    if any(
                        _stem_collision(index.lang, words[p], lemmas[p], label_lemmas[slot])
                        for slot, p in enumerate(by_slot)
                    ):
                        continue
                    if score >= _MIN_SCORE:
                        found[(label_id, placed)] = max(found.get((label_id, placed), 0.0), score)
        return found

    def _single_word_score(
        self, label_id: int, key: str, weight: float, word: str, lemma: str, label_lemma: str
    ) -> float:
        """Score of a one-word label on one text word (0.0 = no match).

        On its own key: the same lemma, or the label's lemma but its last letter begins the word
        (which rules out stemmer collisions such as "neuvonut" (advised) / "neuvoja" (adviser)).
        A skill label also meets derivations and compound modifiers of its key when the key has
        five letters or more and begins the word ("siivous" for "siivota", "ensiapukoulutus"
        for "ensiapu"); occupations do not (an occupation's derivations are rarely the job).
        """
        if weight == _WEIGHT_EXACT:
            same = lemma == label_lemma or (
                len(label_lemma) >= _SHORT_LEMMA and word.startswith(label_lemma[:-1])
            )
            return 1.0 if same else 0.0
        is_skill = self._concepts[self._label_concept[label_id]].kind == "skill"
        if is_skill and weight == _WEIGHT_DERIVATION and len(key) >= _SHORT_LEMMA and word.startswith(key):
            return weight
        return 0.0

    def _select(
        self,
        candidates: dict[tuple[int, tuple[int, ...]], float],
        tokens: list[tuple[str, int, int]],
        text: str,
        unreported: Callable[[int, tuple[int, ...]], bool],
    ) -> list[Mention]:
        """Keep non-overlapping matches, best first; one mention per concept. A match that is
        ``unreported`` (someone else's occupation) still takes its words, so that no lesser label
        reads them ("forklift driver" is not "drive agricultural machines")."""

        def rank(item: tuple[tuple[int, tuple[int, ...]], float]) -> tuple[float, int, int, str]:
            (label_id, positions), score = item
            concept = self._concepts[self._label_concept[label_id]]
            return (
                -len(positions) * score * score,
                self._label_rank[label_id],
                _KIND_RANK[concept.kind],
                concept.uri,
            )

        taken: set[int] = set()
        seen: set[int] = set()
        mentions = []
        for (label_id, positions), score in sorted(candidates.items(), key=rank):
            concept_index = self._label_concept[label_id]
            if concept_index in seen or taken.intersection(positions):
                continue
            taken.update(positions)
            if unreported(label_id, positions):
                continue
            seen.add(concept_index)
            concept = self._concepts[concept_index]
            start, end = tokens[positions[0]][1], tokens[positions[-1]][2]
            mentions.append(Mention(concept.uri, concept.kind, start, end, text[start:end], round(score, 3)))
        return sorted(mentions, key=lambda mention: (mention.start, mention.end, mention.uri))

    # ------------------------------------------------------------------------------------ lookups
    def concept(self, uri: str) -> Concept:
        """The concept with this URI (KeyError when unknown)."""
        try:
            return self._concepts[self._by_uri[uri]]
        except KeyError:
            raise KeyError(f"unknown ESCO URI {uri!r}") from None

    def label(self, uri: str, lang: str = "en") -> str:
        """Preferred label in ``lang``, or the English one when that is empty."""
        check_language(lang)
        labels = self.concept(uri).labels
        return labels[lang] or labels["en"]

    def _related_skills(self, occupation_uri: str, essential: bool) -> tuple[str, ...]:
        index = self._by_uri.get(occupation_uri)
        if index is None or self._concepts[index].kind != "occupation":
            raise ValueError(f"not an ESCO occupation URI: {occupation_uri!r}")
        skills, is_essential = self._skills_of.get(index, (np.empty(0, int), np.empty(0, bool)))
        return tuple(self._concepts[skill].uri for skill in skills[is_essential == essential].tolist())

    def essential_skills(self, occupation_uri: str) -> tuple[str, ...]:
        """URIs of the occupation's essential skills, in ESCO table order."""
        return self._related_skills(occupation_uri, essential=True)

    def optional_skills(self, occupation_uri: str) -> tuple[str, ...]:
        """URIs of the occupation's optional skills, in ESCO table order."""
        return self._related_skills(occupation_uri, essential=False)

    def reuse_level(self, skill_uri: str) -> str:
        """ESCO's reuse level of a skill: how far it carries between jobs (``transversal``,
        ``cross-sector``, ``sector-specific``, ``occupation-specific``; empty when ESCO gives none)."""
        if skill_uri not in self._reuse:
            raise KeyError(f"unknown ESCO URI {skill_uri!r}")
        return self._reuse[skill_uri]

    def isco_group(self, occupation_uri: str, digits: int = 4) -> str:
        """ISCO-08 group code of an occupation (or of an ISCO group), cut to 1–4 digits."""
        if digits not in (1, 2, 3, 4):
            raise ValueError(f"digits must be 1 to 4, got {digits!r}")
        concept = self.concept(occupation_uri)
        if concept.kind == "skill":
            raise ValueError(f"{occupation_uri!r} is a skill; skills have no ISCO group")
        if len(concept.isco_group) < digits:
            raise ValueError(f"{occupation_uri!r} is an ISCO group of {len(concept.isco_group)} digits")
        return concept.isco_group[:digits]

    def occupations_in_isco_group(self, code: str) -> tuple[str, ...]:
        """URIs of the ESCO occupations inside an ISCO-08 group (1–4 digit code), sorted."""
        if not isinstance(code, str) or not _ISCO_CODE.fullmatch(code):
            raise ValueError(f"an ISCO-08 code has 1 to 4 digits, got {code!r}")
        return tuple(
            sorted(
                c.uri
                for c in self._concepts[: self._esco_rows]
                if c.kind == "occupation" and c.isco_group.startswith(code)
            )
        )

    @cached_property
    def skill_uris(self) -> tuple[str, ...]:
        """All ESCO skill URIs, in table order."""
        return tuple(c.uri for c in self._concepts[: self._esco_rows] if c.kind == "skill")

    @cached_property
    def occupation_uris(self) -> tuple[str, ...]:
        """All ESCO occupation URIs, in table order."""
        return tuple(c.uri for c in self._concepts[: self._esco_rows] if c.kind == "occupation")


_AND_WORDS: dict[str, frozenset[str]] = {"fi": frozenset(["ja", "sekä"]), "sv": frozenset(["och", "samt"]),
                                         "en": frozenset(["and"])}


def _link(gap: list[str], word: str, lang: str) -> str:
    """How a clause is joined to the one before it: by a comma alone, by "or" or "and" (a comma may
    stand before them), by a colon alone, or by anything else."""
    if set(gap) <= {","} and word in _OR_WORDS[lang]:
        return "or"
    if set(gap) <= {","} and word in _AND_WORDS[lang]:
        return "and"
    if gap in ([","], [":"]) and word not in _CLAUSE_WORDS[lang]:
        return "comma" if gap == [","] else "colon"
    return "break"


def _wish(text: str, spans: list[tuple[str, int, int]], position: int, lang: str) -> bool:
    """Whether the word at ``spans[position]`` says the writer wants something (``_WISHES_OWN``,
    ``_WISHES_AFTER_I`` after a first-person word, or the first word of a ``_WISH_HEADINGS``)."""
    word = spans[position][0]
    if word in _WISHES_OWN[lang]:
        return True
    if word in _ONLY_AFTER[lang] and (position == 0 or spans[position - 1][0] not in _ONLY_AFTER[lang][word]):
        return False  # "I would like to", not "I like working in a team"
    if word in _WISHES_AFTER_I[lang]:
        for before in range(position - 1, -1, -1):
            if _SEGMENT_BREAK.search(text, spans[before][2], spans[before + 1][1]):
                return False
            if spans[before][0] in _FIRST_PERSON[lang] or spans[before][0] in _OTHER_PERSONS[lang]:
                return spans[before][0] in _FIRST_PERSON[lang]
        return False
    return position + 1 < len(spans) and (word, spans[position + 1][0]) in _WISH_HEADINGS[lang]


def _wished_clauses(wishes: list[bool], links: list[str], sizes: list[int]) -> list[bool]:
    """The clauses that state a wish: a wish word's own; after its colon every clause joined by commas,
    "and" or "or" ("Toiveala: logistiikka ja varasto"); without a colon, one-word items joined so
    ("Olen kiinnostunut kiertotaloudesta ja vanhustyöstä", but not "... ja osaan kokata")."""
    wished = list(wishes)
    for clause, wish in enumerate(wishes):
        if not wish or clause == len(links):
            continue
        listed = links[clause] == "colon"
        following = clause + 1 if listed else clause
        wished[following] = True
        while following < len(links) and links[following] in ("comma", "or", "and") and (
            listed or sizes[following + 1] <= 1
        ):
            following += 1
            wished[following] = True
    return wished


def _negations_by_clause(own: list[set[int]], links: list[str], sizes: list[int]) -> list[frozenset[int]]:
    """The negation words (their offsets) that reach each clause: its own, and across a list those of
    the clauses it is listed with. "Or" joins two clauses into one list; a comma joins a short
    clause (``_LIST_ITEM_WORDS``) to the one before it when the list goes on, over commas between
    short clauses, to an "or"."""
    joined = [False] * len(links)
    for i, link in enumerate(links):
        if link == "or":
            joined[i] = True
        elif link == "comma" and sizes[i + 1] <= _LIST_ITEM_WORDS:
            j = i + 1
            while j < len(links) and links[j] == "comma" and sizes[j + 1] <= _LIST_ITEM_WORDS:
                j += 1
            joined[i] = j < len(links) and links[j] == "or"
    reach = [frozenset(words) for words in own]
    start = 0
    for end in range(len(own)):
        if end == len(links) or not joined[end]:
            together = frozenset().union(*reach[start:end + 1])
            reach[start:end + 1] = [together] * (end + 1 - start)
            start = end + 1
    return reach


def _negated(
    negations: list[frozenset[int]], tokens: list[tuple[str, int, int]], positions: tuple[int, ...], label_negates: bool
) -> bool:
    """Whether a match is negated: a negation word reaches its first word's clause, other than one
    inside the match of a label that holds one itself ("se till att post inte skadas eller öppnas")."""
    first = min(positions)
    if not label_negates:
        return bool(negations[first])
    start, end = tokens[first][1], tokens[max(positions)][2]
    return any(not start <= offset < end for offset in negations[first])


def _not_only(text: str, spans: list[tuple[str, int, int]], position: int, lang: str) -> bool:
    """Whether the negation word at ``spans[position]`` begins "not only" (``_NOT_ONLY``), one or two
    words on and in the same clause ("inte bara", "ei ole vain")."""
    end = spans[position][2]
    for word, start, next_end in spans[position + 1:position + 3]:
        if _CLAUSE_BREAK.search(text, end, start):
            return False
        if word in _NOT_ONLY[lang]:
            return True
        end = next_end
    return False


def _stem_collision(lang: str, word: str, lemma: str, label_lemma: str) -> bool:
    """An English "-ally" adverb that meets a label word only through the stemmer ("physically" and
    "physics" both stem to "physic", "personally" and "person" to "person"): manner, not the noun."""
    return lang == "en" and word.endswith("ally") and lemma != label_lemma


def _someone_elses(lang: str, words: list[str], first: int, last: int) -> bool:
    """Whether the name at ``words[first..last]`` is a supporter's or a colleague's occupation."""
    skipped = _SKIPPED_BESIDE[lang]
    after = last + 1
    while after < len(words) and words[after] in skipped:
        after += 1
    if after < len(words) and words[after] in _SOMEONE_ELSES_AFTER[lang] and (lang != "fi" or words[last].endswith("n")):
        return True
    before = first - 1
    while before >= 0 and words[before] in skipped:
        before -= 1
    if before < 0:
        return False
    return words[before] in _SOMEONE_ELSES_BEFORE[lang] or (
        words[before] == "av" and before > 0 and words[before - 1] in _SUPPORT_BY.get(lang, frozenset())
    )


def _match_around(
    label_keys: tuple[str, ...],
    anchor: int,
    anchor_key: str,
    options: list[dict[str, float]],
    segments: list[int],
) -> tuple[tuple[int, ...], float, list[int]] | None:
    """Place every label key on a distinct token near the anchor, in its sentence: the positions
    (sorted), the score and the position of each label word in turn."""
    width = len(label_keys) + _EXTRA_TOKENS
    nearby = sorted(
        (
            p
            for p in range(max(0, anchor - width + 1), min(len(options), anchor + width))
            if segments[p] == segments[anchor] and p != anchor
        ),
        key=lambda p: abs(p - anchor),
    )
    remaining = list(range(len(label_keys)))
    anchor_slot = label_keys.index(anchor_key)
    remaining.remove(anchor_slot)
    placed = {anchor_slot: anchor}
    weight = options[anchor][anchor_key]
    for slot in remaining:
        key = label_keys[slot]
        position = next((p for p in nearby if p not in placed.values() and key in options[p]), None)
        if position is None:
            return None
        placed[slot] = position
        weight *= options[position][key]
    in_label_order = [placed[slot] for slot in range(len(label_keys))]
    span = max(in_label_order) - min(in_label_order) + 1
    if span > width:
        return None
    ordered = in_label_order == sorted(in_label_order)
    return tuple(sorted(in_label_order)), weight * len(label_keys) / span * (1.0 if ordered else 0.9), in_label_order


def score_mentions(
    predicted: Sequence[Iterable[str]], expected: Sequence[Sequence[Iterable[str]]]
) -> tuple[int, int, int, int]:
    """Counts for micro precision/recall of extraction against hand-labelled mentions.

    ``expected[i]`` lists the mentions of text i, each a set of acceptable URIs (near-synonyms).
    Returns (correct predictions, predictions, found mentions, mentions): a predicted URI is
    correct when some mention of its text accepts it; a mention is found when any of its URIs
    was predicted.
    """
    correct = predicted_count = found = mention_count = 0
    for uris, mentions in zip(predicted, expected, strict=True):
        uris = set(uris)
        accepted = [set(mention) for mention in mentions]
        everything = set().union(*accepted) if accepted else set()
        correct += len(uris & everything)
        predicted_count += len(uris)
        found += sum(1 for mention in accepted if mention & uris)
        mention_count += len(accepted)
    return correct, predicted_count, found, mention_count


Mentioned = tuple[tuple[str, str], ...]  # (kind, uri) of each ESCO concept a text mentions
ExtractMentions = Callable[[Sequence[str], Sequence[str]], list[Mentioned]]  # (texts, languages) -> per text


def wished_words(text: str, lang: str) -> list[str]:
    """The content words (casefolded) of the clauses in which the writer states a wish of their own
    (``_WISHES_OWN``: "Toiveala: siivous", "Jag är intresserad av städning"): what ``extract``
    leaves out as no skill, for reading as a wish instead."""
    _check_optional_language(lang)
    if not isinstance(text, str) or not text.strip():
        return []
    tokens, _, _, wished, _ = Taxonomy._content_tokens(text, token_spans(text), lang)
    return [word for (word, _, _), wish in zip(tokens, wished, strict=True) if wish]


def mentions_in(taxonomy: Taxonomy, texts: Sequence[str], languages: Sequence[str]) -> list[Mentioned]:
    """The skills and occupations each text mentions (``Taxonomy.extract``), as (kind, uri) pairs."""
    return [tuple((m.kind, m.uri) for m in taxonomy.extract(t, lang=lang)) if t else () for t, lang in zip(texts, languages)]
