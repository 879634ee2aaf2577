"""What the engine hands back: the contract's recommendations table, checked before it leaves.

Beside the contract's columns it carries ``p_outcome``, last, so readers that go by position keep
working: the calibrated chance that the pair leads to an interview, a work trial or a hire (empty
when no held-out window calibrated the model). ``score`` orders one person's list only; ``p_outcome`` means the same for everyone.
"""

from __future__ import annotations

import pandera.pandas as pa

__all__ = ["PATHWAY_COLUMNS", "PATHWAYS_SCHEMA", "RECOMMENDATION_COLUMNS", "RECOMMENDATIONS_SCHEMA"]

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

# v1.1: the pathways table (one row per participant and route). gap_skills, steps, leads_to, reasons
# and to_check are lists (``|``-joined in CSV, list<string> in Parquet); p_gain is the estimated gain
# in the chance of a good outcome from following the route.
PATHWAY_COLUMNS: tuple[str, ...] = (
    "run_id", "as_of", "participant_id", "coach_id", "rank", "target_occupation", "gap_skills", "steps", "leads_to",
    "p_gain", "reasons", "to_check",
)
PATHWAYS_SCHEMA = pa.DataFrameSchema(
    {
        "run_id": pa.Column(str, nullable=False),
        "as_of": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}$")),
        "participant_id": pa.Column(str, nullable=False),
        "coach_id": pa.Column(str, nullable=False),
        "rank": pa.Column(int, pa.Check.ge(1)),
        "target_occupation": pa.Column(str, pa.Check.str_startswith("http://data.europa.eu/esco/occupation/")),
        "gap_skills": pa.Column(object),
        "steps": pa.Column(object, pa.Check(lambda s: s.map(len) >= 1, error="a route has at least one step")),
        "leads_to": pa.Column(object),
        "p_gain": pa.Column(float, pa.Check.in_range(0.0, 1.0)),
        "reasons": pa.Column(object),
        "to_check": pa.Column(object),
    },
    strict=True,
    ordered=True,
    unique=["participant_id", "rank"],
)
