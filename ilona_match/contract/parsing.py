"""Vectorised parsing of raw cells (CSV text, Parquet values or API records) into contract dtypes."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow

from ilona_match.contract.spec import COLUMNS, DATE_DTYPE, ColumnSpec, Fault

__all__ = ["COLUMN_NAMES", "KIND_DTYPES", "Unusual", "as_str", "empty_column", "empty_raw_table", "parse_table", "plain_cell", "quote"]

_QUOTE_LIMIT = 40
_BOOL_WORDS = {"true": True, "false": False, "1": True, "0": False, "1.0": True, "0.0": False}
COLUMN_NAMES = {table: frozenset(spec.name for spec in specs) for table, specs in COLUMNS.items()}
KIND_DTYPES = {"number": "float64", "integer": "float64", "bool": "boolean", "date": DATE_DTYPE}  # others: "str"


def quote(value: Any) -> str:
    """A non-free-text value for a fault message: repr-quoted, cut to 40 characters, one line."""
    text = str(value)
    return repr(text[:_QUOTE_LIMIT]) + ("…" if len(text) > _QUOTE_LIMIT else "")


def as_str(raw: pd.Series) -> pd.Series:
    """Cells as pandas strings, missing kept missing (Parquet and records may hold other types)."""
    return raw if pd.api.types.is_string_dtype(raw) and raw.dtype != object else raw.astype("str")


def _blank(raw: pd.Series) -> pd.Series:
    """Missing cells: null, or a string that is empty or only spaces."""
    text = as_str(raw)
    return text.isna() | (text.str.strip() == "")


def _parse_text(raw: pd.Series, strip: bool) -> tuple[pd.Series, pd.Series]:
    text = as_str(raw)
    stripped = text.str.strip()
    kept = stripped if strip else text
    return kept.where(stripped != ""), pd.Series(False, index=raw.index)


def _via_distinct(raw: pd.Series, parse: Callable[[pd.Series], pd.Series]) -> pd.Series:
    """``parse`` applied once per distinct text cell (dates and flags repeat a lot)."""
    if raw.dtype == object:  # records or odd Parquet types: cells may be unhashable
        return parse(raw)
    codes, distinct = pd.factorize(raw)
    parsed = parse(pd.Series(distinct, dtype=raw.dtype))
    return pd.Series(parsed.array.take(codes, allow_fill=True), index=raw.index)


def _floats(text: pd.Series) -> pd.Series:
    try:  # Arrow parses a clean column in one C pass; anything odd falls back to pandas
        return pd.Series(pyarrow.array(text).cast(pyarrow.float64()).to_numpy(zero_copy_only=False), index=text.index)
    except (pyarrow.ArrowException, TypeError):
        return pd.to_numeric(as_str(text).str.strip(), errors="coerce").astype("float64")


def _parse_number(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(raw):
        values = pd.Series(np.nan, index=raw.index)
    elif pd.api.types.is_numeric_dtype(raw):
        values = raw.astype("float64")
    elif raw.dtype != object:
        values = _floats(raw)
    else:  # records may hold Python bools, which are not numbers here
        values = pd.to_numeric(raw, errors="coerce").astype("float64")
        values = values.mask(raw.map(lambda value: isinstance(value, bool)))
    bad = ~_blank(raw) & ~np.isfinite(values)  # NaN is not finite either: unparseable or "nan"/"inf"
    return values.where(~bad), bad


def _words_to_bool(raw: pd.Series) -> pd.Series:
    return as_str(raw).str.strip().str.lower().map(_BOOL_WORDS).astype("boolean")


def _parse_bool(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("boolean"), pd.Series(False, index=raw.index)
    values = _via_distinct(raw, _words_to_bool)
    return values, ~_blank(raw) & values.isna()


def _iso_dates(raw: pd.Series) -> pd.Series:
    """Dates from ISO 8601 text or date objects; a number is no date (pandas would soon read it as an epoch)."""
    if pd.api.types.is_numeric_dtype(raw):  # bools included
        source = pd.Series(None, index=raw.index, dtype=object)
    elif raw.dtype == object:  # records: text, dates or anything else
        source = raw.where(raw.map(lambda cell: isinstance(cell, (str, date))).astype(bool), None)
    else:
        source = as_str(raw).str.strip()
    try:
        return pd.to_datetime(source, format="ISO8601", errors="coerce")
    except (ValueError, TypeError):  # mixed time zones: compare on UTC
        return pd.to_datetime(source, format="ISO8601", errors="coerce", utc=True)


def _parse_date(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    values = raw if pd.api.types.is_datetime64_any_dtype(raw) else _via_distinct(raw, _iso_dates)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        values = values.dt.tz_localize(None)
    values = values.dt.normalize().astype(DATE_DTYPE)
    return values, ~_blank(raw) & values.isna()


def _list_items(cell: Any) -> tuple[str, ...]:
    if isinstance(cell, str):
        return tuple(item for item in map(str.strip, cell.split("|")) if item)
    if isinstance(cell, (list, tuple, np.ndarray)):
        items = (str(item).strip() for item in cell if not pd.isna(item))
        return tuple(item for item in items if item)
    return () if pd.isna(cell) else _list_items(str(cell))


def _parse_list(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Tuples of stripped, non-empty items; text cells are split on ``|`` once per distinct cell."""
    if raw.dtype == object or not pd.api.types.is_string_dtype(raw):  # lists from Parquet or records
        cells = np.empty(len(raw), dtype=object)
        cells[:] = [_list_items(cell) for cell in raw.to_numpy(dtype=object)]
    else:
        codes, distinct = pd.factorize(raw)
        parsed = np.empty(len(distinct) + 1, dtype=object)
        parsed[:] = [*map(_list_items, distinct), ()]  # code -1 (missing) takes the last, empty tuple
        cells = parsed[codes]
    return pd.Series(cells, index=raw.index, dtype=object), pd.Series(False, index=raw.index)


_PARSERS: dict[str, Callable[[pd.Series], tuple[pd.Series, pd.Series]]] = {
    "string": lambda raw: _parse_text(raw, strip=True),
    "enum": lambda raw: _parse_text(raw, strip=True),
    "text": lambda raw: _parse_text(raw, strip=False),
    "number": _parse_number,
    "integer": _parse_number,
    "bool": _parse_bool,
    "date": _parse_date,
    "list": _parse_list,
}
_UNPARSEABLE = {
    "number": "is not a number", "integer": "is not a number",
    "bool": "is not a boolean (true/false/1/0)", "date": "is not an ISO 8601 date (YYYY-MM-DD)",
}


def empty_column(spec: ColumnSpec, index: pd.Index) -> pd.Series:
    """An absent optional column: its default, or missing values of the right dtype."""
    if spec.kind == "list":
        return pd.Series([()] * len(index), index=index, dtype=object)
    return pd.Series(spec.default, index=index, dtype=KIND_DTYPES.get(spec.kind, "str"))


def parse_table(table: str, raw: pd.DataFrame, label: str, row_offset: int) -> tuple[pd.DataFrame, list[Fault]]:
    """Typed, default-filled frame (contract columns first, extras after) and the unparseable cells."""
    columns: dict[str, pd.Series] = {}
    faults: list[Fault] = []
    for spec in COLUMNS[table]:
        if spec.name not in raw.columns:
            if not spec.required:
                columns[spec.name] = empty_column(spec, raw.index)
            continue
        column = raw[spec.name]
        if spec.kind != "list" and column.dtype == object:  # Parquet or records: lists where one value belongs
            nested = ~column.map(pd.api.types.is_scalar).astype(bool)
            for position in column.index[nested.to_numpy()]:
                faults.append(Fault(label, spec.name, int(position) + row_offset, "holds a list or mapping, not one value",
                                    False))
            column = column.mask(nested, None)
        values, bad = _PARSERS[spec.kind](column)
        for position, cell in column[bad.to_numpy()].items():
            reason = f"{quote(cell)} {_UNPARSEABLE[spec.kind]}"
            faults.append(Fault(label, spec.name, int(position) + row_offset, reason, False))
        if spec.default is not None:
            values = values.fillna(spec.default)
        columns[spec.name] = values
    extras = {name: raw[name] for name in raw.columns if name not in columns and name not in COLUMN_NAMES[table]}
    return pd.DataFrame({**columns, **extras}, index=raw.index), faults


def empty_raw_table(table: str) -> pd.DataFrame:
    """A raw table with every contract column and no rows."""
    return pd.DataFrame({spec.name: pd.Series([], dtype=object) for spec in COLUMNS[table]})


# ------------------------------------------------------------------ one record, value by value
class Unusual(Exception):
    """A record cell outside the plain JSON form, left to the column parser (which parses it or
    reports the fault in its own words)."""


_ISO_DAY = re.compile(r"(19|20|21)\d\d-\d\d-\d\d")
_LARGEST_EXACT_INTEGER = 2**53


def plain_cell(spec: ColumnSpec, cell: Any) -> Any:
    """One record cell parsed as its column parser would, for the plain JSON forms only: None
    (missing), a str that needs no stripping (free text: one with a letter or digit), a finite
    int or float, a bool, a ``YYYY-MM-DD`` date of 1900-2199, a list of str or a ``|``-joined
    str. Returns None for a missing value, else the parsed value; raises ``Unusual`` for any
    other cell, whose parsing is then left to ``parse_table``.

    Why: the API checks one record per request, and the column path costs ~10 ms of pandas
    calls for it. Only forms that leave nothing to interpret are taken (no stripping, no number
    or date text), so this cannot become a second set of parsing rules; tests compare the two
    parsers on odd cells in every column.
    """
    kind = spec.kind
    if cell is None:
        return () if kind == "list" else None
    plain_type = type(cell)
    if kind in ("string", "enum"):
        if plain_type is str and cell == cell.strip():
            return cell or None
    elif kind == "text":
        if plain_type is str and (cell == "" or any(map(str.isalnum, cell))):
            return cell or None
    elif kind in ("number", "integer"):
        if (plain_type is int or plain_type is float) and abs(cell) <= _LARGEST_EXACT_INTEGER:  # NaN, inf fail too
            return float(cell)
    elif kind == "bool":
        if plain_type is bool:
            return cell
    elif kind == "date":
        if plain_type is str and _ISO_DAY.fullmatch(cell):
            try:
                return pd.Timestamp(date.fromisoformat(cell))
            except ValueError:  # e.g. 2026-02-30: the column parser words the fault
                pass
    elif kind == "list" and (plain_type is str or (plain_type is list and all(type(item) is str for item in cell))):
        return _list_items(cell)
    raise Unusual(spec.name)
