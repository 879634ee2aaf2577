"""Output helpers of the bench scripts: one JSON line per figure, and markdown tables of them."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

__all__ = ["emit", "markdown_table", "setting_overrides"]


def _plain(value: object, digits: int) -> object:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, digits)
    if hasattr(value, "item"):  # NumPy scalars
        return _plain(value.item(), digits)
    return value


def setting_overrides(items: Sequence[str]) -> dict[str, str]:
    """``--set SECTION__FIELD=VALUE`` arguments as the ``ILONA_MATCH_*`` environment variables the
    settings read; exits naming the argument that has no ``=``."""
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item!r}: expected SECTION__FIELD=VALUE")
        overrides[f"ILONA_MATCH_{key.upper()}"] = value
    return overrides


def emit(record: Mapping[str, object], digits: int = 4) -> dict[str, object]:
    """Print ``record`` as one JSON line (floats rounded, NaN as null) and return the printed dict."""
    plain = {key: _plain(value, digits) for key, value in record.items()}
    print(json.dumps(plain, ensure_ascii=False), flush=True)
    return plain


def markdown_table(rows: Sequence[Mapping[str, object]], columns: Sequence[str], digits: int = 3) -> str:
    """A GitHub markdown table of ``columns`` from ``rows`` (missing cells empty, floats rounded)."""

    def cell(value: object) -> str:
        value = _plain(value, digits)
        if value is None:
            return ""
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(column)) for column in columns) + " |" for row in rows]
    return "\n".join(lines)
