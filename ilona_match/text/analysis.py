"""ESCO mentions and lexical rows of texts, kept on disk by text hash beside the embeddings.

A nightly run meets mostly the texts it met the night before. ESCO extraction (~0.9 ms a vacancy
text) and the lexical vectors' n-gram counting (~0.8 ms) are then redone only for new or changed
texts. Keys are SHA-256 digests of a text and its language; values are concept URIs and sparse
rows, never text. Each value's kind names what produced it (the taxonomy's tables or the fitted
lexical vocabulary, the code that extracts and weighs, and the versions of the libraries it
leans on), so a changed taxonomy, model or release never reads another's results.
"""

from __future__ import annotations

import functools
import hashlib
import json
import weakref
from collections.abc import Callable, Iterable, Sequence
from importlib.metadata import version
from pathlib import Path

import numpy as np
from scipy import sparse

from ilona_match.text import lexical, taxonomy
from ilona_match.text import normalise as text
from ilona_match.text.embedding import EmbeddingCache
from ilona_match.text.lexical import LexicalEncoder
from ilona_match.text.linking import Link, LinkKind, NameLinker
from ilona_match.text.taxonomy import Mentioned, Taxonomy, mentions_in

__all__ = ["StoredLinks", "TextAnalysisCache"]


@functools.cache
def _code_fingerprint() -> str:
    """The extraction and weighting code and the libraries under it: a new release is a new kind."""
    digest = hashlib.sha256()
    for module in (taxonomy, text, lexical):
        digest.update(Path(module.__file__).read_bytes())
    for package in ("simplemma", "scikit-learn"):
        digest.update(f"{package}=={version(package)}".encode())
    return digest.hexdigest()[:16]


_LEXICAL_FINGERPRINTS: weakref.WeakKeyDictionary[LexicalEncoder, tuple[object, object, str]] = weakref.WeakKeyDictionary()


def _lexical_fingerprint(encoder: LexicalEncoder) -> str:
    """What a fitted lexical encoder's rows depend on: both vocabularies, their idf and the weights
    (hashed once per fit: ~0.3 s for a few hundred thousand terms)."""
    known = _LEXICAL_FINGERPRINTS.get(encoder)
    if known is None or known[0] is not encoder.words_ or known[1] is not encoder.chars_:  # refitted since
        digest = hashlib.sha256(repr((encoder.char_ngrams, encoder.char_weight)).encode())
        for vectorizer in (encoder.words_, encoder.chars_):
            terms = sorted(vectorizer.vocabulary_.items(), key=lambda item: item[1])
            digest.update("\x1f".join(term for term, _ in terms).encode())
            digest.update(np.asarray(vectorizer.idf_, dtype="<f8").tobytes())
        known = _LEXICAL_FINGERPRINTS[encoder] = (encoder.words_, encoder.chars_, digest.hexdigest()[:16])
    return known[2]


def _keys(texts: Sequence[str], languages: Sequence[str]) -> list[str]:
    if len(texts) != len(languages):
        raise ValueError(f"{len(texts)} texts but {len(languages)} languages")
    return [f"{lang}\x1f{t}" for t, lang in zip(texts, languages)]


def _mentions_blob(row: Mentioned) -> bytes:
    return "\n".join(f"{kind}\t{uri}" for kind, uri in row).encode()


def _mentions_of(blob: bytes) -> Mentioned:
    return tuple(tuple(line.split("\t", 1)) for line in blob.decode().split("\n")) if blob else ()  # type: ignore[misc]


def _row_blob(indices: np.ndarray, data: np.ndarray) -> bytes:
    return indices.astype("<i4").tobytes() + data.astype("<f4").tobytes()


class TextAnalysisCache:
    """ESCO mentions and lexical rows through an ``EmbeddingCache`` file, computed for misses only.

    ``hits`` and ``misses`` count distinct (text, language) pairs served from the file and computed.
    """

    def __init__(self, cache: EmbeddingCache) -> None:
        self.cache = cache
        self.hits = 0
        self.misses = 0

    def _blobs(self, kind: str, texts: Sequence[str], languages: Sequence[str],
               compute: Callable[[list[str], list[str]], list[bytes]]) -> list[bytes]:
        """The stored blob of each (text, language), computing and storing the missing ones at once."""
        keys = _keys(texts, languages)
        unique = list(dict.fromkeys(keys))
        found = self.cache.get_blobs(kind, unique)
        missing = [i for i, blob in enumerate(found) if blob is None]
        self.hits += len(unique) - len(missing)
        self.misses += len(missing)
        if missing:
            first = {key: i for i, key in reversed(list(enumerate(keys)))}
            rows = [first[unique[i]] for i in missing]
            computed = compute([texts[r] for r in rows], [languages[r] for r in rows])
            self.cache.put_blobs(kind, [unique[i] for i in missing], computed)
            for i, blob in zip(missing, computed):
                found[i] = blob
        position = {key: i for i, key in enumerate(unique)}
        return [found[position[key]] for key in keys]  # type: ignore[misc]

    def mentions(self, taxonomy: Taxonomy, texts: Sequence[str], languages: Sequence[str]) -> list[Mentioned]:
        """``profiles.mentions_in`` of each text, read where stored and stored where not."""
        kind = f"esco-mentions|{taxonomy.fingerprint}|{_code_fingerprint()}"
        blobs = self._blobs(kind, texts, languages, lambda t, lang: [
            _mentions_blob(row) for row in mentions_in(taxonomy, t, lang)])
        return [_mentions_of(blob) for blob in blobs]

    def stored_links(self, linker: NameLinker) -> StoredLinks:
        """``linker`` with its links kept in this cache by name hash: a run links only new names."""
        return StoredLinks(linker, self)

    def lexical(self, encoder: LexicalEncoder, texts: Sequence[str], languages: Sequence[str]) -> sparse.csr_matrix:
        """``encoder.transform`` of the texts (the same rows: each row depends on its text alone)."""
        def transform(t: list[str], lang: list[str]) -> list[bytes]:
            rows = encoder.transform(t, lang)
            return [_row_blob(rows.indices[a:b], rows.data[a:b]) for a, b in zip(rows.indptr[:-1], rows.indptr[1:])]

        kind = f"lexical|{_lexical_fingerprint(encoder)}|{_code_fingerprint()}"
        blobs = self._blobs(kind, texts, languages, transform)
        width = len(encoder.words_.vocabulary_) + len(encoder.chars_.vocabulary_)
        lengths = np.array([len(blob) // 8 for blob in blobs], dtype=np.int64)
        if any(len(blob) % 8 for blob in blobs):
            raise ValueError(f"a stored lexical row in {self.cache.path} is damaged: delete the file to rebuild it")
        indices = np.empty(int(lengths.sum()), dtype=np.int32)
        data = np.empty(int(lengths.sum()), dtype=np.float32)
        at = 0
        for blob, n in zip(blobs, lengths):
            indices[at:at + n] = np.frombuffer(blob, dtype="<i4", count=n)
            data[at:at + n] = np.frombuffer(blob, dtype="<f4", offset=4 * n)
            at += n
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        return sparse.csr_matrix((data, indices, indptr), shape=(len(blobs), width))


def _link_blob(link: Link) -> bytes:
    return json.dumps({"uri": link.concept.uri if link.concept else "", "confidence": link.confidence,
                       "level": link.level, "alternatives": link.alternatives}).encode()


class StoredLinks:
    """A ``NameLinker`` whose links live in a ``TextAnalysisCache`` (keys are name hashes; values the
    concept URI, confidence and level, never the name): names met the night before cost a lookup."""

    def __init__(self, linker: NameLinker, analysis: TextAnalysisCache) -> None:
        self.linker = linker
        self.analysis = analysis

    def warm_up(self) -> None:
        self.linker.warm_up()

    def link(self, name: str, kind: LinkKind, lang: str) -> Link:
        known = self.linker.known(name.strip() if isinstance(name, str) else "", kind, lang)
        return known if known is not None else self.link_many([name], kind, lang)[0]

    def link_many(self, names: Iterable[str], kind: LinkKind, lang: str) -> list[Link]:
        names = [n.strip() if isinstance(n, str) else "" for n in names]
        missing = [n for n in dict.fromkeys(names) if self.linker.known(n, kind, lang) is None]
        if missing:
            blobs = self.analysis._blobs(f"name-links|{kind}|{self.linker.fingerprint}", missing, [lang] * len(missing),
                                         lambda t, _: [_link_blob(x) for x in self.linker.link_many(t, kind, lang)])
            self.linker.remember((self._link_of(n, blob) for n, blob in zip(missing, blobs, strict=True)), kind, lang)
        return self.linker.link_many(names, kind, lang)

    def _link_of(self, name: str, blob: bytes) -> Link:
        stored = json.loads(blob)
        concept = self.linker.taxonomy.concept(stored["uri"]) if stored["uri"] else None
        return Link(name, concept, stored["confidence"], stored["level"],
                    tuple((uri, p) for uri, p in stored["alternatives"]))
