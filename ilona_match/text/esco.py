"""The compact ESCO v1.1.1 tables shipped with the package (see data/esco/README.md).

ESCO (European Skills, Competences, Qualifications and Occupations) v1.1.1, (c) European Union,
reused with attribution under Commission Decision 2011/833/EU.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pandas as pd

__all__ = ["ESCO_DIR", "ESCO_VERSION", "EscoTables", "load_esco_tables"]

ESCO_DIR = Path(__file__).resolve().parent.parent / "data" / "esco"
ESCO_VERSION = "ESCO v1.1.1"


@dataclass(frozen=True)
class EscoTables:
    """Raw ESCO tables.

    concepts: uri, kind (skill/occupation), code, isco_group, label_fi, label_sv, label_en,
        alt_labels_en (newline-separated), skill_type, reuse_level — one row per concept.
    relations: occupation, skill (row positions in ``concepts``), essential (bool).
    isco_groups: code, label_fi, label_sv, label_en (ISCO-08 groups, 1 to 4 digits).
    """

    concepts: pd.DataFrame
    relations: pd.DataFrame
    isco_groups: pd.DataFrame


@lru_cache(maxsize=1)
def load_esco_tables(directory: Path = ESCO_DIR) -> EscoTables:
    """Load the shipped tables once per process (they are read-only)."""
    return EscoTables(
        concepts=pd.read_parquet(directory / "concepts.parquet"),
        relations=pd.read_parquet(directory / "relations.parquet"),
        isco_groups=pd.read_parquet(directory / "isco_groups.parquet"),
    )
