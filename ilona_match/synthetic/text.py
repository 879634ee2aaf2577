"""Vectorised sentence templates: fill thousands of rows per call with Arrow string kernels.

Each row picks a template by (language, category); rows that share a template are filled with one
element-wise join, so the cost is per template, not per row. A sentence whose field is missing (null)
is null itself and drops out when sentences are joined.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from ilona_match.synthetic.catalogue import LANGUAGES

__all__ = [
    "TEMPLATES_PATH",
    "TemplateSet",
    "assemble",
    "empty_to_null",
    "join_list",
    "join_present",
    "load_templates",
    "scatter",
]

TEMPLATES_PATH = Path(__file__).resolve().parent / "templates.yaml"
_FORMATTER = string.Formatter()


def scatter(n: int, parts: Sequence[tuple[np.ndarray, pa.Array]]) -> pa.Array:
    """Put each part's values at its row positions in an array of length n (other rows null)."""
    filled = np.concatenate([rows for rows, _ in parts]) if parts else np.empty(0, dtype=np.int64)
    empty = np.setdiff1d(np.arange(n), filled, assume_unique=True)
    values = pa.concat_arrays([values for _, values in parts] + [pa.nulls(empty.size, pa.string())])
    order = np.argsort(np.concatenate([filled, empty]), kind="stable")
    return values.take(pa.array(order))


def empty_to_null(values: pa.Array) -> pa.Array:
    """Empty strings become null, so sentences built on them drop out."""
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, pa.string()), values)


def join_list(values: pa.Array, separator: str = ", ") -> pa.Array:
    """Join each row's list of strings; an empty or null list gives null."""
    return empty_to_null(pc.binary_join(values, separator))


@dataclass(frozen=True)
class TemplateSet:
    """One text kind's templates, flattened over (language, category) groups."""

    kind: str
    categories: tuple[str, ...]
    texts: tuple[str, ...]
    offsets: np.ndarray  # per group = language * len(categories) + category
    counts: np.ndarray

    def choose(
        self,
        rng: np.random.Generator,
        language: np.ndarray,
        category: np.ndarray | None = None,
        present: np.ndarray | None = None,
    ) -> np.ndarray:
        """A template index per row (-1 where absent or where the group has no template)."""
        group = language.astype(np.int64) * len(self.categories)
        if category is not None:
            group = group + category
        counts = self.counts[group]
        choice = self.offsets[group] + np.minimum((rng.random(group.size) * counts).astype(np.int64), counts - 1)
        keep = counts > 0 if present is None else (counts > 0) & present
        return np.where(keep, choice, -1)

    def render(self, choice: np.ndarray, fields: Mapping[str, pa.Array] | None = None) -> pa.Array:
        """Fill each row's chosen template from the row's field values; -1 or a null field gives null."""
        fields = fields or {}
        parts = []
        for template in np.unique(choice[choice >= 0]):
            rows = np.flatnonzero(choice == template)
            taken = pa.array(rows)
            pieces: list[pa.Array | pa.Scalar] = []
            for literal, field, _, _ in _FORMATTER.parse(self.texts[template]):
                if literal:
                    pieces.append(pa.scalar(literal))
                if field is not None:
                    if field not in fields:
                        raise KeyError(f"template {self.kind!r} needs field {field!r}")
                    pieces.append(fields[field].take(taken))
            if not any(isinstance(piece, pa.Array) for piece in pieces):
                parts.append((rows, pa.repeat(self.texts[template], rows.size)))
            else:
                parts.append((rows, pc.binary_join_element_wise(*pieces, "")))
        return scatter(choice.size, parts)


def join_present(columns: Sequence[pa.Array], separator: str = " ") -> pa.Array:
    """Join row-wise, leaving out null values; a row with none gives an empty string.

    pyarrow's ``null_handling="skip"`` drops rows whose inputs are all null (seen in pyarrow 25), so a
    never-null empty column is appended and the separator it leaves at the end is trimmed.
    """
    size = len(columns[0])
    joined = pc.binary_join_element_wise(*columns, pa.repeat("", size), separator, null_handling="skip")
    return pc.utf8_rtrim(joined, characters=separator)


def assemble(sentences: Sequence[pa.Array], orders: Sequence[Sequence[int]], choice: np.ndarray) -> pa.Array:
    """Join each row's sentences with spaces in the order ``orders[choice]``; null sentences drop out."""
    parts = []
    for o in np.unique(choice):
        rows = np.flatnonzero(choice == o)
        taken = pa.array(rows)
        parts.append((rows, join_present([sentences[i].take(taken) for i in orders[o]])))
    return scatter(choice.size, parts)


def _template_set(kind: str, tree: Mapping[str, object]) -> TemplateSet:
    if set(tree) != set(LANGUAGES):
        raise ValueError(f"templates {kind!r}: languages must be exactly {LANGUAGES}, got {sorted(tree)}")
    first = tree[LANGUAGES[0]]
    categories = tuple(first) if isinstance(first, Mapping) else ("",)
    texts: list[str] = []
    offsets, counts = [], []
    for language in LANGUAGES:
        node = tree[language]
        for category in categories:
            if categories == ("",):
                group = node
            else:
                if not isinstance(node, Mapping) or set(node) != set(categories):
                    raise ValueError(f"templates {kind!r}/{language}: categories must be {categories}")
                group = node[category]
            offsets.append(len(texts))
            counts.append(len(group))
            texts.extend(str(text) for text in group)
    return TemplateSet(kind, categories, tuple(texts), np.array(offsets), np.array(counts))


@lru_cache(maxsize=2)
def load_templates(path: Path = TEMPLATES_PATH) -> dict[str, dict[str, TemplateSet]]:
    """Templates by table ('participant', 'vacancy') and kind, read once per process."""
    with open(path, encoding="utf-8") as handle:
        raw = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {table: {kind: _template_set(f"{table}.{kind}", tree) for kind, tree in kinds.items()}
            for table, kinds in raw.items()}
