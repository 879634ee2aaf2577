"""The value checks of a parsed table, as a pandera schema, and its failures as faults."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pandera.pandas as pa

from ilona_match.contract.parsing import (
    COLUMN_NAMES,
    KIND_DTYPES,
    Unusual,
    empty_column,
    parse_table,
    plain_cell,
    quote,
)
from ilona_match.contract.spec import (
    COLUMNS,
    ISO_639_1,
    RECORD_LABELS,
    SHOWN_ROWS,
    ColumnSpec,
    Fault,
)

__all__ = ["CheckedTable", "TableIds", "bad_rows", "check_plain_records", "check_table", "table_ids"]


def _number(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class _Rule:
    """One value rule of a column in its two forms: a pandera check over a whole column, and
    ``accepts`` for one parsed, non-missing value (records checked one by one; None for the rules
    that compare rows: uniqueness and references). Then what a failure means: fatal or row-level,
    and the reason for a value (None for the uniqueness check, whose reason names the other rows)."""

    check: pa.Check
    accepts: Callable[[Any], bool] | None
    fatal: bool
    reason: Callable[[Any], str] | None


@dataclass(frozen=True)
class TableIds:
    """The ids of a checked table, for outcomes to refer to."""

    valid: pd.Index
    rejected: frozenset[str]


def _per_distinct(test: Callable[[tuple[str, ...]], bool]) -> Callable[[pd.Series], pd.Series]:
    """A list-column check that runs ``test`` once per distinct tuple (most lists repeat)."""

    def check(column: pd.Series) -> pd.Series:
        codes, distinct = pd.factorize(column)
        passed = np.fromiter(map(test, distinct), dtype=bool, count=len(distinct))
        return pd.Series(passed[codes], index=column.index)

    return check


def _items_within(allowed: Iterable[str]) -> Callable[[pd.Series], pd.Series]:
    allowed = frozenset(allowed)
    return _per_distinct(allowed.issuperset)


def _chars_within(limit: int) -> Callable[[pd.Series], pd.Series]:
    return _per_distinct(lambda items: sum(map(len, items)) <= limit)


def _length_reason(limit: int, of_list: bool) -> Callable[[Any], str]:
    def reason(value: Any) -> str:
        length = sum(map(len, value)) if of_list else len(value)
        return f"cell has {length:,} characters, above the limit {limit:,}"

    return reason


def _rules(spec: ColumnSpec, max_text_chars: int, ids: Mapping[str, TableIds]) -> list[_Rule]:
    """The checks of one column, in the order pandera numbers them."""
    rules: list[_Rule] = []
    if spec.kind in ("string", "text", "enum"):
        rules.append(_Rule(pa.Check.str_length(max_value=max_text_chars), lambda v: len(v) <= max_text_chars, False,
                           _length_reason(max_text_chars, False)))
    if spec.kind == "list":
        rules.append(_Rule(pa.Check(_chars_within(max_text_chars)), lambda v: sum(map(len, v)) <= max_text_chars, False,
                           _length_reason(max_text_chars, True)))
    allowed = ", ".join(spec.allowed)
    if spec.kind == "enum":
        rules.append(_Rule(pa.Check.isin(spec.allowed), frozenset(spec.allowed).__contains__, True,
                           lambda v: f"unknown value {quote(v)} (allowed: {allowed})"))
    if spec.kind == "list" and spec.allowed:
        rules.append(_Rule(pa.Check(_items_within(spec.allowed)), frozenset(spec.allowed).issuperset, True,
                           lambda v: "unknown value " + ", ".join(quote(item) for item in v if item not in spec.allowed)
                           + f" (allowed: {allowed})"))
    if spec.language_codes:
        rules.append(_Rule(pa.Check(_items_within(ISO_639_1)), ISO_639_1.issuperset, False,
                           lambda v: "not a 2-letter lowercase ISO 639-1 code: "
                           + ", ".join(quote(item) for item in v if item not in ISO_639_1)))
    if (minimum := spec.minimum) is not None:
        rules.append(_Rule(pa.Check.ge(minimum), lambda v: v >= minimum, False,
                           lambda v: f"{_number(v)} is below the minimum {_number(minimum)}"))
    if (above := spec.above) is not None:
        rules.append(_Rule(pa.Check.gt(above), lambda v: v > above, False,
                           lambda v: f"{_number(v)} must be above {_number(above)}"))
    if (maximum := spec.maximum) is not None:
        rules.append(_Rule(pa.Check.le(maximum), lambda v: v <= maximum, False,
                           lambda v: f"{_number(v)} is above the maximum {_number(maximum)}"))
    if spec.kind == "integer":
        rules.append(_Rule(pa.Check(lambda column: column % 1 == 0), lambda v: v % 1 == 0, False,
                           lambda v: f"{_number(v)} is not a whole number"))
    if spec.unique:  # the reason names the other rows, so it is written in _faults_from
        rules.append(_Rule(pa.Check(lambda column: ~column.duplicated(keep=False)), None, False, None))
    if spec.references in ids:
        known = ids[spec.references]
        singular = RECORD_LABELS[spec.references]
        # a custom check: the built-in isin would spell every valid id into its error text
        rules.append(_Rule(pa.Check(lambda column: column.isin(known.valid), name="known_id"), None, False, lambda v: (
            f"{singular} {quote(v)} was itself rejected" if v in known.rejected
            else f"unknown {singular} {quote(v)} (not in {spec.references})")))
    return rules



def _schema(table: str, max_text_chars: int, ids: Mapping[str, TableIds]) -> tuple[pa.DataFrameSchema, dict]:
    """The pandera schema of a parsed table and, per (column, check number), the rule behind it."""
    columns: dict[str, pa.Column] = {}
    rules: dict[tuple[str, int], _Rule] = {}
    for spec in COLUMNS[table]:
        column_rules = _rules(spec, max_text_chars, ids)
        rules.update({(spec.name, number): rule for number, rule in enumerate(column_rules)})
        columns[spec.name] = pa.Column(
            None if spec.kind == "list" else KIND_DTYPES.get(spec.kind, "str"), checks=[rule.check for rule in column_rules],
            nullable=not spec.required or spec.default is not None, required=spec.required,
        )
    return pa.DataFrameSchema(columns), rules


@functools.lru_cache(maxsize=16)
def _schema_without_ids(table: str, max_text_chars: int) -> tuple[pa.DataFrameSchema, dict]:
    """``_schema`` with no tables to refer to, built once: records checked one by one (an API
    request) would otherwise rebuild it every time (~14 ms)."""
    return _schema(table, max_text_chars, {})


def _faults_from(failures: pd.DataFrame, rules: dict, label: str, row_offset: int,
                 unparsed: set[tuple[int, str]]) -> list[Fault]:
    """Pandera's failure cases as faults."""
    faults: list[Fault] = []
    rows_of: dict[tuple[str, Any], list[int]] = {}  # duplicated value -> its rows (pandera lists every one)
    for failure in failures.itertuples(index=False):
        if not pd.isna(failure.check_number) and rules[(failure.column, int(failure.check_number))].reason is None:
            rows_of.setdefault((failure.column, failure.failure_case), []).append(int(failure.index) + row_offset)
    for failure in failures.itertuples(index=False):
        column, check = failure.column, failure.check
        if check == "column_in_dataframe":
            faults.append(Fault(label, failure.failure_case, None, "required column is missing", True))
            continue
        row = int(failure.index) + row_offset
        if check == "not_nullable":
            if (row, column) not in unparsed:
                faults.append(Fault(label, column, row, "required value is missing", False))
            continue
        if pd.isna(failure.check_number):
            raise RuntimeError(f"contract schema failed unexpectedly on {column}: {check}")
        rule = rules[(column, int(failure.check_number))]
        if rule.reason is None:
            others = [str(other) for other in rows_of[(column, failure.failure_case)] if other != row]
            shown = ", ".join(others[:SHOWN_ROWS]) + (f" and {len(others) - SHOWN_ROWS} more" if len(others) > SHOWN_ROWS else "")
            rows = "row" if len(others) == 1 else "rows"
            reason = f"duplicate {column} {quote(failure.failure_case)} (also in {rows} {shown})"
        else:
            reason = rule.reason(failure.failure_case)
        faults.append(Fault(label, column, row, reason, rule.fatal))
    return faults


@dataclass(frozen=True)
class CheckedTable:
    """A parsed table with every row kept, and its faults (which say which rows are bad)."""

    frame: pd.DataFrame
    faults: list[Fault]


def check_table(table: str, raw: pd.DataFrame, label: str, row_offset: int, max_text_chars: int,
                ids: Mapping[str, TableIds]) -> CheckedTable:
    """Parse and check one table. ``label`` names it in faults; ``row_offset`` turns the row
    position into the reported row (1 for files, 0 for records); ``ids`` are the tables it may
    refer to."""
    raw = raw.reset_index(drop=True)
    raw.columns = [str(name).strip() for name in raw.columns]
    repeated = raw.columns[raw.columns.duplicated()].unique()
    faults = [Fault(label, name, None, "appears more than once (names are compared without surrounding spaces)", True)
              for name in repeated]  # e.g. "skills" and " skills" in one Parquet file or record
    raw = raw.loc[:, ~raw.columns.duplicated()]
    frame, parse_faults = parse_table(table, raw, label, row_offset)
    faults += parse_faults
    schema, rules = _schema(table, max_text_chars, ids) if ids else _schema_without_ids(table, max_text_chars)
    try:
        schema.validate(frame, lazy=True, inplace=True)
    except pa.errors.SchemaErrors as error:
        unparsed = {(fault.row, fault.column) for fault in faults}
        faults += _faults_from(error.failure_cases, rules, label, row_offset, unparsed)
    order = {spec.name: number for number, spec in enumerate(COLUMNS[table])}
    faults.sort(key=lambda fault: (not fault.fatal, fault.row or 0, order.get(fault.column or "", -1)))
    return CheckedTable(frame, faults)


def check_plain_records(table: str, records: Sequence[Mapping[str, Any]], max_text_chars: int) -> pd.DataFrame | None:
    """The checked frame of records in the plain JSON form, parsed and checked value by value with
    the column path's own rules (``_rules``), or None when a cell is unusual or breaks a rule: the
    column path (``check_table``) then parses the records and words the faults.

    Why: one record through pandas and pandera costs ~20 ms, most of an API request's time; value
    by value it is well under a millisecond. The frame is the one ``check_table`` gives (a test
    compares the two on generated records).
    """
    specs = COLUMNS[table]
    if not records or any(not COLUMN_NAMES[table].issuperset(record) for record in records):
        return None  # extra or misspelt fields: the column path keeps or reports them
    rules = _schema_without_ids(table, max_text_chars)[1]
    index = pd.RangeIndex(len(records))
    columns: dict[str, pd.Series] = {}
    for spec in specs:
        if all(spec.name not in record for record in records):
            if spec.required:
                return None
            columns[spec.name] = empty_column(spec, index)
            continue
        try:
            values = [plain_cell(spec, record.get(spec.name)) for record in records]
        except Unusual:
            return None
        if spec.default is not None:
            values = [spec.default if value is None else value for value in values]
        present = [value for value in values if value is not None]
        if spec.required and len(present) < len(values):
            return None
        if spec.unique and len(set(present)) < len(present):
            return None
        number = 0
        while (rule := rules.get((spec.name, number))) is not None:
            if rule.accepts is not None and not all(map(rule.accepts, present)):
                return None
            number += 1
        columns[spec.name] = _plain_column(spec, values, index)
    return pd.DataFrame(columns, index=index)


def _plain_column(spec: ColumnSpec, values: list[Any], index: pd.Index) -> pd.Series:
    if spec.kind == "list":
        cells = np.empty(len(values), dtype=object)
        cells[:] = values
        return pd.Series(cells, index=index, dtype=object)
    return pd.Series(values, index=index, dtype=KIND_DTYPES.get(spec.kind, "str"))


def table_ids(table: str, checked: CheckedTable, row_offset: int) -> TableIds | None:
    """The valid and the rejected ids of a checked table (None when its id column is missing)."""
    id_column = COLUMNS[table][0].name
    if id_column not in checked.frame.columns:
        return None
    bad = bad_rows(checked.faults, row_offset)
    ids = checked.frame[id_column]
    rejected = ids.iloc[sorted(bad)].dropna()
    return TableIds(pd.Index(ids.drop(index=sorted(bad)).dropna()), frozenset(rejected))


def bad_rows(faults: Iterable[Fault], row_offset: int) -> set[int]:
    """Rows set aside for row-level faults (fatal faults stop the run, so they set nothing aside)."""
    return {fault.row - row_offset for fault in faults if fault.row is not None and not fault.fatal}

