"""Shared text normalisation for Finnish, Swedish and English.

Used by the ESCO taxonomy (label resolution and mention extraction) and by lexical retrieval.
Token keys are built in two steps: simplemma's dictionary lemmatiser maps an inflected word to its
base form (it knows Finnish consonant gradation: "vanhusten", "vanhuksista" -> "vanhus"), then the
Snowball stemmer (PyStemmer) folds what the dictionary does not know. Compounds and derivations
are handled where the vocabulary is known (``ilona_match.text.taxonomy``).
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from functools import cache, lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.parquet as pq
import Stemmer
from platformdirs import user_cache_dir
from simplemma.strategies import LOW_MEMORY_DICTIONARY_FACTORY, DictionaryLookupStrategy
from simplemma.strategies.dictionaries import DictionaryFactory
from simplemma.strategies.dictionaries.trie_dictionary_factory import TrieDictionaryFactory

__all__ = [
    "LANGUAGES",
    "Language",
    "STOPWORDS",
    "check_language",
    "detect_language",
    "lemmatize_word",
    "normalise",
    "stem_tokens",
    "stem_word",
    "token_key",
    "token_keys",
    "token_spans",
    "tokenize",
    "write_lemma_table",
]

# Lemmas of every ESCO label word, computed by simplemma when the tables are built: looking them
# up in simplemma's compressed dictionaries takes ~15 s of CPU per process (every batch run, API
# start and test), a dict lookup takes none. Used only when made by the installed simplemma.
LEMMA_TABLE = Path(__file__).resolve().parent.parent / "data" / "esco" / "lemmas.parquet"
_LEMMATISER = f"simplemma {version('simplemma')}"

# simplemma's dictionaries as MARISA tries, built once per machine and simplemma version: loading one
# takes milliseconds where reading the compressed dictionary takes seconds (Finnish 1.9 s) in every
# process that meets a word outside the lemma table (a nightly run with new ads, an API's first new text)
LEMMA_TRIES = Path(user_cache_dir("ilona-match")) / "lemma-tries" / version("simplemma")

Language = Literal["fi", "sv", "en"]
LANGUAGES: tuple[Language, ...] = ("fi", "sv", "en")

_SNOWBALL_NAMES: dict[str, str] = {"fi": "finnish", "sv": "swedish", "en": "english"}
_WORD = re.compile(r"(?:\w|[\u0300-\u036f])+")  # combining accents kept inside words (NFD input)
_SPACE = re.compile(r"\s+")

# Function words only: they carry no skill or occupation meaning, so matching ignores them.
STOPWORDS: dict[str, frozenset[str]] = {
    "fi": frozenset(
        [
            "ja",
            "tai",
            "sekä",
            "eli",
            "myös",
            "kuin",
            "että",
            "mutta",
            "vaan",
            "jos",
            "kun",
            "niin",
            "se",
            "ne",
            "sen",
            "sitä",
            "niitä",
            "hän",
            "hänen",
            "häntä",
            "he",
            "heidän",
            "minä",
            "minun",
            "minulla",
            "mä",
            "sinä",
            "me",
            "te",
            "on",
            "ovat",
            "olen",
            "olet",
            "olemme",
            "ole",
            "oli",
            "olivat",
            "ollut",
            "olla",
            "ei",
            "en",
            "et",
            "emme",
            "eivät",
            "jo",
            "vielä",
            "kanssa",
            "jossa",
            "joka",
            "jotka",
            "jonka",
            "joita",
            "mikä",
            "mitä",
            "tämä",
            "tämän",
            "tätä",
            "nämä",
            "tuo",
            "siinä",
            "siellä",
            "täällä",
            "hyvin",
            "paljon",
            "noin",
            "yli",
            "alle",
            "kohtaan",
        ]
    ),
    "sv": frozenset(
        [
            "och",
            "eller",
            "att",
            "i",
            "på",
            "av",
            "för",
            "med",
            "som",
            "en",
            "ett",
            "den",
            "det",
            "de",
            "dem",
            "denna",
            "detta",
            "dessa",
            "till",
            "om",
            "från",
            "vid",
            "inom",
            "hos",
            "åt",
            "sig",
            "sin",
            "sitt",
            "sina",
            "han",
            "hon",
            "hen",
            "jag",
            "du",
            "vi",
            "ni",
            "är",
            "var",
            "varit",
            "vara",
            "har",
            "hade",
            "haft",
            "inte",
            "men",
            "också",
            "så",
            "mycket",
            "mer",
            "än",
            "under",
            "över",
            "efter",
            "innan",
        ]
    ),
    "en": frozenset(
        [
            "and",
            "or",
            "of",
            "the",
            "a",
            "an",
            "to",
            "in",
            "on",
            "for",
            "with",
            "at",
            "by",
            "from",
            "as",
            "into",
            "onto",
            "their",
            "its",
            "his",
            "her",
            "our",
            "your",
            "my",
            "i",
            "me",
            "we",
            "you",
            "he",
            "she",
            "they",
            "it",
            "is",
            "are",
            "was",
            "were",
            "be",
            "been",
            "being",
            "have",
            "has",
            "had",
            "do",
            "does",
            "did",
            "not",
            "but",
            "also",
            "so",
            "than",
            "this",
            "that",
            "these",
            "those",
            "there",
            "which",
            "who",
            "whom",
            "while",
            "can",
            "could",
            "will",
            "would",
            "shall",
            "should",
            "may",
            "might",
            "must",
        ]
    ),
}


def check_language(lang: str) -> Language:
    """Return ``lang`` if it is one of fi/sv/en; raise ValueError otherwise."""
    if lang not in _SNOWBALL_NAMES:
        raise ValueError(f"unknown language {lang!r}; expected one of {', '.join(LANGUAGES)}")
    return lang  # type: ignore[return-value]


def normalise(text: str) -> str:
    """Unicode NFC, casefold and collapse whitespace, so that equal-looking texts compare equal."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text).casefold()).strip()


def token_spans(text: str) -> list[tuple[str, int, int]]:
    """Word tokens (NFC, casefolded) with their character offsets ``[start, end)`` in ``text``."""
    return [
        (unicodedata.normalize("NFC", match.group()).casefold(), match.start(), match.end())
        for match in _WORD.finditer(text)
    ]


def tokenize(text: str) -> list[str]:
    """Casefolded word tokens; punctuation and hyphens separate words ("WC-tiloja" -> wc, tiloja)."""
    return _WORD.findall(normalise(text))


@cache
def _stemmer(lang: str) -> Stemmer.Stemmer:
    """One Snowball stemmer per language (they are not free to build)."""
    return Stemmer.Stemmer(_SNOWBALL_NAMES[check_language(lang)])


def stem_word(word: str, lang: str) -> str:
    """Snowball stem of one casefolded word."""
    return _stemmer(lang).stemWord(word)


def stem_tokens(tokens: Sequence[str], lang: str) -> list[str]:
    """Snowball stems of casefolded tokens (PyStemmer; fast, no dictionary)."""
    return _stemmer(lang).stemWords(tokens)


class _SharedTries(TrieDictionaryFactory):
    """simplemma's trie backend whose cached tries are written whole: a file is saved under a name of
    its own and renamed into place, so processes building the same language at once never read a
    partial one."""

    def _write_trie_to_disk(self, lang: str, trie: object) -> None:
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        partial = self._cache_dir / f"{lang}.dic.{os.getpid()}.partial"
        try:
            trie.save(str(partial))  # type: ignore[attr-defined]
            os.replace(partial, self._cache_dir / f"{lang}.dic")
        finally:
            partial.unlink(missing_ok=True)


def lemma_dictionaries(cache_dir: Path = LEMMA_TRIES) -> DictionaryFactory:
    """Where simplemma's dictionaries come from: tries cached in ``cache_dir`` (the first process to
    need a language builds its trie: Finnish 11 s and 0.7 GB once, then milliseconds), or, when that
    folder cannot be written, the low-memory backend that reads the compressed dictionary in every
    process (Finnish 1.9 s, 19 MB)."""
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        writable = os.access(cache_dir, os.W_OK)
    except OSError:
        writable = False
    if not writable:
        return LOW_MEMORY_DICTIONARY_FACTORY
    return _SharedTries(disk_cache_dir=str(cache_dir))


@cache
def _lemma_lookup() -> DictionaryLookupStrategy:
    """simplemma's plain dictionary lookup (its guessing strategies mangle unknown compounds)."""
    return DictionaryLookupStrategy(lemma_dictionaries())


@cache
def _known_lemmas(path: Path = LEMMA_TABLE) -> Mapping[str, Mapping[str, str]]:
    """language -> word -> lemma from the shipped table; empty when it is missing or was made by
    another lemmatiser version (its lemmas could differ from what simplemma says now)."""
    try:
        table = pq.read_table(path)
    except FileNotFoundError:
        return {}
    if (table.schema.metadata or {}).get(b"lemmatiser", b"").decode() != _LEMMATISER:
        return {}
    known: dict[str, dict[str, str]] = {}
    for lang, word, lemma in zip(*(table.column(name).to_pylist() for name in ("lang", "word", "lemma")), strict=True):
        known.setdefault(lang, {})[word] = lemma or word
    return known


def _simplemma_lemma(word: str, lang: str) -> str:
    lemma = _lemma_lookup().get_lemma(word, check_language(lang))
    return lemma.casefold() if lemma else word


@lru_cache(maxsize=1 << 18)
def lemmatize_word(word: str, lang: str) -> str:
    """Dictionary lemma of one casefolded word (simplemma), or the word itself when unknown.

    ESCO label words come from the shipped lemma table; for any other word the first call per
    language loads simplemma's dictionary (``lemma_dictionaries``).
    """
    known = _known_lemmas().get(lang)
    if known is not None and (lemma := known.get(word)) is not None:
        return lemma
    return _simplemma_lemma(word, lang)


def write_lemma_table(words: Mapping[str, Iterable[str]], path: Path = LEMMA_TABLE) -> int:
    """Lemmatise ``words`` (language -> words) with simplemma and store them for ``lemmatize_word``.

    Lemmas equal to their word are stored empty (most are). Returns the number of words stored.
    """
    rows = sorted({(check_language(lang), word) for lang, many in words.items() for word in many})
    lemmas = [_simplemma_lemma(word, lang) for lang, word in rows]
    table = pa.table(
        {"lang": [lang for lang, _ in rows], "word": [word for _, word in rows],
         "lemma": ["" if lemma == word else lemma for (_, word), lemma in zip(rows, lemmas, strict=True)]},
        metadata={"lemmatiser": _LEMMATISER},
    )
    pq.write_table(table, path, compression="zstd")
    _known_lemmas.cache_clear()
    lemmatize_word.cache_clear()
    token_key.cache_clear()
    return len(rows)


@lru_cache(maxsize=1 << 18)
def token_key(word: str, lang: str) -> str:
    """Matching key of one casefolded word: the Snowball stem of its dictionary lemma."""
    return stem_word(lemmatize_word(word, lang), lang)


def token_keys(tokens: Sequence[str], lang: str) -> list[str]:
    """``token_key`` of each token: inflection-insensitive terms for matching and BM25."""
    return [token_key(token, lang) for token in tokens]


def detect_language(text: str, default: Language = "fi") -> Language:
    """Guess fi/sv/en by a vote of function words (and "å", which only Swedish uses).

    Cheap and good enough for the short texts of this domain; ``default`` breaks ties, including
    the empty text.
    """
    tokens = tokenize(text)
    votes: dict[Language, float] = {lang: 0.0 for lang in LANGUAGES}
    for token in tokens:
        for lang in LANGUAGES:
            if token in STOPWORDS[lang]:
                votes[lang] += 1.0
        if "å" in token:
            votes["sv"] += 1.0
        elif "ä" in token or "ö" in token:
            votes["fi"] += 0.5
            votes["sv"] += 0.25
    return max(LANGUAGES, key=lambda lang: (votes[lang], lang == default))
