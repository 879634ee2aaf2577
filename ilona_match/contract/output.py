"""What the engine hands back: the contract's recommendations table, checked before it leaves.

Beside the contract's columns it carries ``p_outcome``, last, so readers that go by position keep
working: the calibrated chance that the pair leads to an interview, a work trial or a hire (empty
when no held-out window calibrated the model). ``score`` orders one person's list only; ``p_outcome`` means the same for everyone.
"""

from __future__ import annotations

import pandera.pandas as pa

__all__ = ["RECOMMENDATION_COLUMNS", "RECOMMENDATIONS_SCHEMA"]

RECOMMENDATION_COLUMNS: tuple[str, ...] = (
    "run_id", "as_of", "participant_id", "coach_id", "rank", "vacancy_id", "score", "reasons", "to_check", "model_version",
    "p_outcome",
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
        "p_outcome": pa.Column(float, pa.Check.in_range(0.0, 1.0), nullable=True),
    },
    strict=True,
    ordered=True,
    unique=["participant_id", "rank"],
)
