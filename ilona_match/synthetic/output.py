"""Streaming writers for the contract's tables: CSV (`|` lists, true/false, ISO dates) or Parquet."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ["FORMATS", "SCHEMAS", "TableWriter"]

FORMATS: tuple[str, ...] = ("csv", "parquet")
_TEXT, _LIST, _NUM, _BOOL, _DATE = pa.string(), pa.list_(pa.string()), pa.float64(), pa.bool_(), pa.date32()

SCHEMAS: dict[str, pa.Schema] = {
    "participants": pa.schema([
        ("participant_id", _TEXT), ("coach_id", _TEXT), ("language", _TEXT), ("profile_text", _TEXT),
        ("skills", _LIST), ("occupations", _LIST), ("languages_spoken", _LIST), ("max_hours_per_week", _NUM),
        ("physical_capacity", _TEXT), ("restrictions", _LIST), ("municipality", _TEXT), ("lat", _NUM),
        ("lon", _NUM), ("max_commute_km", _NUM), ("remote_ok", _BOOL), ("preferred_sectors", _LIST),
        ("supports", _LIST), ("unemployment_months", pa.int64()), ("available_from", _DATE),
    ]),
    "vacancies": pa.schema([
        ("vacancy_id", _TEXT), ("employer_id", _TEXT), ("employer_type", _TEXT), ("sector", _TEXT),
        ("occupation", _TEXT), ("title", _TEXT), ("description", _TEXT), ("language", _TEXT),
        ("required_skills", _LIST), ("optional_skills", _LIST), ("languages_required", _LIST),
        ("hours_per_week", _NUM), ("physical_load", _TEXT), ("night_shifts", _BOOL), ("weekend_work", _BOOL),
        ("customer_contact", _BOOL), ("heavy_lifting", _BOOL), ("driving", _BOOL), ("municipality", _TEXT),
        ("lat", _NUM), ("lon", _NUM), ("remote", _BOOL), ("openings", pa.int64()),
        ("supports_accepted", _LIST), ("published_at", _DATE), ("closes_at", _DATE),
    ]),
    "services": pa.schema([
        ("service_id", _TEXT), ("provider_id", _TEXT), ("provider_type", _TEXT), ("kind", _TEXT), ("title", _TEXT),
        ("description", _TEXT), ("language", _TEXT), ("skills_taught", _LIST), ("occupations_toward", _LIST),
        ("hours_per_week", _NUM), ("physical_load", _TEXT), ("night_shifts", _BOOL), ("weekend_work", _BOOL),
        ("customer_contact", _BOOL), ("heavy_lifting", _BOOL), ("driving", _BOOL), ("municipality", _TEXT),
        ("lat", _NUM), ("lon", _NUM), ("remote", _BOOL), ("seats", pa.int64()), ("starts_at", _DATE),
        ("closes_at", _DATE), ("duration_weeks", _NUM), ("supports_accepted", _LIST),
    ]),
    # contract v1.1: a row names a vacancy_id or a service_id
    "outcomes": pa.schema([
        ("participant_id", _TEXT), ("vacancy_id", _TEXT), ("event", _TEXT), ("event_date", _DATE),
        ("service_id", _TEXT),
    ]),
    # contract v1.1, read by the fairness audit only: one row per participant, hidden group attributes
    "participant_groups": pa.schema([
        ("participant_id", _TEXT), ("age_band", _TEXT), ("gender", _TEXT), ("mother_tongue_group", _TEXT),
        ("capacity_category", _TEXT), ("region", _TEXT),
    ]),
}


def _csv_cells(table: pa.Table) -> pa.Table:
    """Lists become `a|b` cells and empty strings become empty cells (missing, as the contract reads them)."""
    columns = []
    for column in table.columns:
        if pa.types.is_list(column.type):
            column = pc.binary_join(column, "|")
        if pa.types.is_string(column.type):
            column = pc.if_else(pc.equal(column, ""), pa.scalar(None, pa.string()), column)
        columns.append(column)
    return pa.table(columns, names=table.column_names)


class TableWriter:
    """Appends chunks of one contract table to ``directory/NAME.csv`` or ``NAME.parquet``."""

    def __init__(self, directory: Path, name: str, fmt: str) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
        self.schema = SCHEMAS[name]
        self.path = Path(directory) / f"{name}.{fmt}"
        self.rows = 0
        self._csv: pacsv.CSVWriter | None = None
        self._parquet: pq.ParquetWriter | None = None
        self._sink = None
        if fmt == "csv":
            self._sink = open(self.path, "wb")  # noqa: SIM115 - closed in close()
            self._sink.write((",".join(self.schema.names) + "\n").encode("utf-8"))
            csv_schema = _csv_cells(self.schema.empty_table()).schema
            options = pacsv.WriteOptions(include_header=False, quoting_style="needed")
            self._csv = pacsv.CSVWriter(self._sink, csv_schema, write_options=options)
        else:
            self._parquet = pq.ParquetWriter(self.path, self.schema, compression="zstd")

    def write(self, table: pa.Table) -> None:
        """Append rows (columns in the contract's order and types)."""
        table = table.select(self.schema.names).cast(self.schema)
        self.rows += table.num_rows
        if self._csv is not None:
            self._csv.write_table(_csv_cells(table))
        elif self._parquet is not None:
            self._parquet.write_table(table)

    def close(self) -> None:
        """Finish the file."""
        if self._csv is not None:
            self._csv.close()
            self._csv = None
        if self._sink is not None:
            self._sink.close()
            self._sink = None
        if self._parquet is not None:
            self._parquet.close()
            self._parquet = None

    def __enter__(self) -> TableWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()
