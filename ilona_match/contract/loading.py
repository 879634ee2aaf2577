"""The public entry points: check a data folder, load it (raising or setting rows aside), and
parse API records the same way."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from ilona_match.contract.checking import (
    CheckedTable,
    TableIds,
    bad_rows,
    check_plain_records,
    check_table,
    table_ids,
)
from ilona_match.contract.files import find_table, read_table
from ilona_match.contract.parsing import empty_raw_table, quote
from ilona_match.contract.spec import (
    ALL_TABLES,
    AUDIT_TABLES,
    COLUMNS,
    OPTIONAL_TABLES,
    RECORD_LABELS,
    SERVICE_EVENTS,
    TABLES,
    ContractError,
    DataBundle,
    Fault,
)

__all__ = ["load_data", "records_to_frame", "validate_data"]


def _check_tables(directory: Path | str, tables: Sequence[str], max_text_chars: int
                  ) -> tuple[dict[str, CheckedTable], dict[str, Path], list[Fault]]:
    """Read and check each table asked for; a table that cannot be read is left out of the result."""
    unknown = set(tables) - set(ALL_TABLES)
    if unknown:
        raise ValueError(f"unknown table(s) {sorted(unknown)}; the contract has {ALL_TABLES}")
    checked: dict[str, CheckedTable] = {}
    sources: dict[str, Path] = {}
    faults: list[Fault] = []
    ids: dict[str, TableIds] = {}
    for table in (name for name in ALL_TABLES if name in tables):  # outcomes last: they refer to the others
        if table in OPTIONAL_TABLES and not any((Path(directory) / f"{table}.{suffix}").is_file()
                                                for suffix in ("csv", "parquet")):
            ids[table] = TableIds(pd.Index([]), frozenset())  # absent: outcomes naming one name an unknown id
            continue
        try:
            path = find_table(directory, table)
            raw = read_table(path)
        except ContractError as error:
            faults += error.faults
            continue
        sources[table] = path
        result = check_table(table, raw, path.name, 1, max_text_chars, ids)
        if table == "outcomes":
            result = CheckedTable(result.frame, outcome_row_faults(result.frame, result.faults, path.name, 1))
        if raw.empty and table in TABLES and table != "outcomes":
            result.faults.insert(0, Fault(path.name, None, None, "table has a header but no rows", True))
        checked[table] = result
        faults += result.faults
        if table != "outcomes" and (found := table_ids(table, result, 1)) is not None:
            ids[table] = found
    return checked, sources, faults


def outcome_row_faults(frame: pd.DataFrame, faults: list[Fault], label: str, row_offset: int) -> list[Fault]:
    """The faults of an outcomes table once each row is about exactly one thing (contract v1.1): a row
    naming a ``service_id`` needs no ``vacancy_id`` (and must not name one too); the events of a
    service (``SERVICE_EVENTS``) need a service."""
    if "service_id" not in frame.columns:
        return faults
    service = frame["service_id"].notna().to_numpy()
    vacancy = frame["vacancy_id"].notna().to_numpy() if "vacancy_id" in frame.columns else np.zeros(len(frame), bool)
    kept = [fault for fault in faults if not (fault.column == "vacancy_id" and fault.row is not None
                                             and fault.reason == "required value is missing"
                                             and service[fault.row - row_offset])]
    for position in np.flatnonzero(service & vacancy):
        kept.append(Fault(label, "service_id", int(position) + row_offset,
                          "names both a vacancy_id and a service_id: an outcome row is about exactly one", False))
    if "event" in frame.columns:
        for position in np.flatnonzero(~service & frame["event"].isin(SERVICE_EVENTS).to_numpy()):
            kept.append(Fault(label, "event", int(position) + row_offset,
                              f"{quote(frame['event'].iloc[position])} is an event of a service: "
                              "the row names no service_id", False))
    return kept


def _split_outcomes(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(rows about a vacancy, rows about a service) of a checked outcomes table."""
    service = frame["service_id"].notna()
    vacancies = frame[~service].drop(columns="service_id").reset_index(drop=True)
    services = frame.loc[service, ["participant_id", "service_id", "event", "event_date"]].reset_index(drop=True)
    return vacancies, services


def validate_data(directory: Path | str, *, tables: Sequence[str] = ALL_TABLES,
                  max_text_chars: int = 20_000) -> list[Fault]:
    """Every fault in a data folder, fatal and row-level, across all tables (empty when valid)."""
    return _check_tables(directory, tables, max_text_chars)[2]


ENGINE_TABLES: tuple[str, ...] = tuple(name for name in ALL_TABLES if name not in AUDIT_TABLES)


def load_data(directory: Path | str, *, on_error: Literal["raise", "continue"] = "raise",
              tables: Sequence[str] = ENGINE_TABLES, max_text_chars: int = 20_000) -> DataBundle:
    """Read and check a data folder (an optional table of contract v1.1, such as ``services``, when
    its file is there; an empty frame with its columns when not).

    By default the tables the engine matches with: ``participant_groups`` is read only when asked for
    (by the fairness audit), so no group attribute can reach a feature or the ranker.

    on_error="raise" stops on any fault; "continue" sets rows with row-level faults aside in
    ``rejects`` (one line per fault) and keeps every other row. Fatal faults (unreadable file,
    missing required column, unknown enum value) always raise ContractError. Outcomes are checked
    against participants / vacancies only when those tables are loaded too.
    """
    if on_error not in ("raise", "continue"):
        raise ValueError(f"on_error must be 'raise' or 'continue', not {on_error!r}")
    checked, sources, faults = _check_tables(directory, tables, max_text_chars)
    if faults and (on_error == "raise" or any(fault.fatal for fault in faults)):
        raise ContractError(faults)
    frames: dict[str, pd.DataFrame] = {}
    rejects: list[pd.DataFrame] = []
    for table in ALL_TABLES:
        if table not in checked:
            frames[table] = check_table(table, empty_raw_table(table), table, 1, max_text_chars, {}).frame
            continue
        frame, table_faults = checked[table].frame, checked[table].faults
        bad = sorted(bad_rows(table_faults, 1))
        frames[table] = frame.drop(index=bad).reset_index(drop=True)
        if table_faults:
            rejects.append(_rejects(table, frame, table_faults))
    columns = ["file", "row", "column", "reason", "record_id"]
    rejected = pd.concat(rejects, ignore_index=True) if rejects else pd.DataFrame(columns=columns)
    frames["outcomes"], service_outcomes = _split_outcomes(frames["outcomes"])
    return DataBundle(**frames, rejects=rejected[columns], source_files=sources, service_outcomes=service_outcomes)


def _rejects(table: str, frame: pd.DataFrame, faults: list[Fault]) -> pd.DataFrame:
    """One line per row-level fault, with the id of the record it sets aside."""
    rows = frame.iloc[[fault.row - 1 for fault in faults]].reset_index(drop=True)
    if table == "outcomes":
        record_ids = rows["participant_id"].fillna("") + "/" + rows["vacancy_id"].fillna(rows["service_id"]).fillna("")
    else:
        record_ids = rows[COLUMNS[table][0].name]
    return pd.DataFrame({
        "file": [fault.file for fault in faults], "row": [fault.row for fault in faults],
        "column": [fault.column for fault in faults], "reason": [fault.reason for fault in faults],
        "record_id": record_ids,
    })


_PLAIN_RECORDS = 64  # up to this many records are first tried value by value (the API sends one)


def records_to_frame(kind: str, records: Sequence[Mapping[str, Any]], *, max_text_chars: int = 20_000) -> pd.DataFrame:
    """Parse and check records (dicts in the contract's form, e.g. from the API) like a table file.

    kind: "participant(s)", "vacancy"/"vacancies" or "outcome(s)". Faults name the record kind as
    file and the list index as row; any fault raises ContractError. Outcomes are not checked
    against other tables here.
    """
    table = {**{name: name for name in ALL_TABLES}, **{label: name for name, label in RECORD_LABELS.items()}}.get(kind)
    if table is None:
        raise ValueError(f"unknown record kind {kind!r}; use one of {sorted(RECORD_LABELS.values())}")
    if len(records) <= _PLAIN_RECORDS and (frame := check_plain_records(table, records, max_text_chars)) is not None:
        if table == "outcomes":
            if faults := outcome_row_faults(frame, [], RECORD_LABELS[table], 0):
                raise ContractError(faults)
            return _vacancy_outcomes(frame)
        return frame
    raw = pd.DataFrame(list(records)) if records else empty_raw_table(table)
    checked = check_table(table, raw, RECORD_LABELS[table], 0, max_text_chars, {})
    faults = outcome_row_faults(checked.frame, checked.faults, RECORD_LABELS[table], 0) if table == "outcomes" \
        else checked.faults
    if faults:
        raise ContractError(faults)
    return _vacancy_outcomes(checked.frame) if table == "outcomes" else checked.frame


def _vacancy_outcomes(frame: pd.DataFrame) -> pd.DataFrame:
    """Outcome records as the vacancy ranking reads them; a record naming a service is refused here
    (service outcomes come with the data folder's outcomes table)."""
    named = frame["service_id"].notna().to_numpy() if "service_id" in frame.columns else np.zeros(len(frame), bool)
    if named.any():
        raise ContractError([Fault("outcome", "service_id", int(row), "service outcomes are read from the data "
                                   "folder's outcomes table, not taken as records", False)
                             for row in np.flatnonzero(named)])
    return frame.drop(columns="service_id", errors="ignore")


def frame_to_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a loaded table as JSON-ready records, the inverse of ``records_to_frame``: lists for
    list cells, ISO dates, plain numbers, and missing values left out (as another system sends them)."""
    records = []
    for row in frame.to_dict(orient="records"):
        record: dict[str, Any] = {}
        for name, value in row.items():
            if isinstance(value, (tuple, list)):
                record[name] = list(value)
            elif isinstance(value, pd.Timestamp):
                record[name] = value.date().isoformat()
            elif value is not None and value is not pd.NaT and not (isinstance(value, float) and math.isnan(value)):
                record[name] = value.item() if hasattr(value, "item") else value
        records.append(record)
    return records


