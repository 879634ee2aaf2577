"""What the engine hands back: the contract's recommendations table, checked before it leaves."""

from __future__ import annotations

import pandera.pandas as pa

__all__ = ["RECOMMENDATION_COLUMNS", "RECOMMENDATIONS_SCHEMA"]

RECOMMENDATION_COLUMNS: tuple[str, ...] = (
    "run_id", "as_of", "participant_id", "coach_id", "rank", "vacancy_id", "score", "reasons", "to_check", "model_version",
)
RECOMMENDATIONS_SCHEMA = pa.DataFrameSchema(
    {
        "run_id": pa.Column(str, nullable=False),
        "as_of": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$")),
        "participant_id": pa.Column(str, nullable=False),
        "coach_id": pa.Column(str, nullable=False),
        "rank": pa.Column(int, pa.Check.ge(1)),
        "vacancy_id": pa.Column(str, nullable=False),
        "score": pa.Column(float, pa.Check(lambda s: s.notna() & (s.abs() < float("inf")))),
        "reasons": pa.Column(str),
        "to_check": pa.Column(str),
        "model_version": pa.Column(str, nullable=False),
    },
    strict=True,
    ordered=True,
    unique=["participant_id", "rank"],
)
