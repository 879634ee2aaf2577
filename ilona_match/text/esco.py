"""The compact ESCO v1.1.1 tables shipped with the package (see data/esco/README.md).

ESCO (European Skills, Competences, Qualifications and Occupations) v1.1.1, (c) European Union,
reused with attribution under Commission Decision 2011/833/EU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = ["ALT_LABELS", "ESCO_DIR", "ESCO_VERSION", "EscoTables", "load_alt_labels", "load_esco_tables"]

ESCO_DIR = Path(__file__).resolve().parent.parent / "data" / "esco"
ESCO_VERSION = "ESCO v1.1.1"
# Finnish and Swedish alternative labels written by the ilona-match team (not part of ESCO):
# ESCO v1.1.1 gives one preferred label per concept in these languages. See data/names/README.md.
ALT_LABELS = Path(__file__).resolve().parent.parent / "data" / "names" / "alt_labels.csv"


@dataclass(frozen=True)
class EscoTables:
    """Raw ESCO tables.

    concepts: uri, kind (skill/occupation), code, isco_group, label_fi, label_sv, label_en,
        alt_labels_en (newline-separated), skill_type, reuse_level — one row per concept.
    relations: occupation, skill (row positions in ``concepts``), essential (bool).
    isco_groups: code, label_fi, label_sv, label_en (ISCO-08 groups, 1 to 4 digits).
    alt_labels: label, lang (fi/sv), uri — the team's alternative labels (``ALT_LABELS``).
    """

    concepts: pd.DataFrame
    relations: pd.DataFrame
    isco_groups: pd.DataFrame
    alt_labels: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"label": [], "lang": [], "uri": []}))


@lru_cache(maxsize=1)
def load_esco_tables(directory: Path = ESCO_DIR, alt_labels: Path | None = ALT_LABELS) -> EscoTables:
    """Load the shipped tables once per process (they are read-only); ``alt_labels=None`` leaves
    out the team's alternative labels (ESCO's own labels only)."""
    concepts = pd.read_parquet(directory / "concepts.parquet")
    tables = EscoTables(
        concepts=concepts,
        relations=pd.read_parquet(directory / "relations.parquet"),
        isco_groups=pd.read_parquet(directory / "isco_groups.parquet"),
    )
    if alt_labels is None:
        return tables
    return EscoTables(tables.concepts, tables.relations, tables.isco_groups,
                      load_alt_labels(alt_labels, set(concepts["uri"])))


def load_alt_labels(path: Path, known_uris: set[str]) -> pd.DataFrame:
    """The alternative-label table (label, lang, kind, uri, …), checked: a bad row names its line."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = {"label", "lang", "uri"} - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    for row, (label, lang, uri) in enumerate(zip(frame["label"], frame["lang"], frame["uri"], strict=True), start=2):
        if not label.strip() or lang not in ("fi", "sv", "en") or uri not in known_uris:
            raise ValueError(f"{path}, line {row}: label {label!r}, lang {lang!r}, uri {uri!r} — "
                             "needs a label, lang fi/sv/en and an ESCO URI of the shipped tables")
    return frame[["label", "lang", "uri"]].reset_index(drop=True)
