"""The lexical text channel: TF-IDF over stemmed words and character n-grams (fi/sv/en).

English-only sentence embeddings do little for Finnish, so words have to meet on their own:
Snowball stems fold inflection ("kodinhoitajana" / "kodinhoitaja"), and character n-grams inside
word boundaries catch what stems miss — Finnish compounds ("vanhustenhoito" shares "hoito" with
"hoitotyö") and spelling variants. Both parts are L2-normalised and weighted, so the cosine of two
rows is a score in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.exceptions import NotFittedError
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from ilona_match.text.normalise import LANGUAGES, STOPWORDS, normalise, stem_tokens, tokenize

__all__ = ["LexicalEncoder", "stemmed_text"]


def stemmed_text(text: str, lang: str) -> str:
    """The text as space-separated Snowball stems, function words dropped."""
    lang = lang if lang in LANGUAGES else "fi"
    stop = STOPWORDS[lang]
    return " ".join(stem_tokens([t for t in tokenize(text) if t not in stop], lang))


class LexicalEncoder:
    """Fit on the vacancy texts (the collection searched), then transform either side."""

    def __init__(self, char_ngrams: tuple[int, int] = (3, 5), char_weight: float = 0.5,
                 min_df: int = 1, max_features: int | None = 500_000) -> None:
        self.char_ngrams = char_ngrams
        self.char_weight = char_weight
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, texts: Sequence[str], languages: Sequence[str]) -> LexicalEncoder:
        if not 0.0 <= self.char_weight <= 1.0:
            raise ValueError(f"char_weight must be within [0, 1], got {self.char_weight}")
        if len(texts) != len(languages):
            raise ValueError(f"{len(texts)} texts but {len(languages)} languages")
        common = {"min_df": self.min_df, "max_features": self.max_features, "sublinear_tf": True, "dtype": np.float32}
        self.words_ = TfidfVectorizer(analyzer=str.split, **common)
        self.chars_ = TfidfVectorizer(analyzer="char_wb", ngram_range=self.char_ngrams, **common)
        self.words_.fit([stemmed_text(t, lang) for t, lang in zip(texts, languages)])
        self.chars_.fit([normalise(t) for t in texts])
        return self

    def transform(self, texts: Sequence[str], languages: Sequence[str]) -> sparse.csr_matrix:
        """L2-normalised rows; the dot product of two rows is their lexical similarity."""
        if not hasattr(self, "words_"):
            raise NotFittedError("LexicalEncoder is not fitted yet: call fit(texts, languages) first")
        if len(texts) != len(languages):
            raise ValueError(f"{len(texts)} texts but {len(languages)} languages")
        words = self.words_.transform([stemmed_text(t, lang) for t, lang in zip(texts, languages)])
        chars = self.chars_.transform([normalise(t) for t in texts])
        weight = np.float32(self.char_weight)
        stacked = sparse.hstack([words * np.sqrt(1 - weight), chars * np.sqrt(weight)], format="csr")
        return normalize(stacked).astype(np.float32)
