"""Texts to what matching reads: normalising and stemming (fi/sv/en), the ESCO taxonomy and its
shipped tables, the lexical TF-IDF channel, sentence embeddings, and the on-disk cache of what was
computed from each text (never the text itself)."""

from __future__ import annotations

from ilona_match._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "normalise": "normalise", "tokenize": "normalise", "stem_tokens": "normalise",
    "Taxonomy": "taxonomy", "Mention": "taxonomy", "mentions_in": "taxonomy",
    "load_esco_tables": "esco", "ESCO_VERSION": "esco",
    "LexicalEncoder": "lexical",
    "EmbedderConfig": "embedding", "TextEmbedder": "embedding", "EmbeddingCache": "embedding",
    "TextAnalysisCache": "analysis",
})
