"""Reading and writing table files: CSV (UTF-8, RFC 4180, ``|`` lists) and Parquet."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow
import pyarrow.parquet

from ilona_match.contract.parsing import as_str
from ilona_match.contract.spec import ContractError, Fault

__all__ = ["find_table", "neutralise_formula", "read_table", "write_rejects", "write_table"]

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def find_table(directory: Path | str, table: str) -> Path:
    """The one ``TABLE.parquet`` or ``TABLE.csv`` in ``directory``; ContractError when none or both."""
    directory = Path(directory)
    found = [path for path in (directory / f"{table}.parquet", directory / f"{table}.csv") if path.is_file()]
    if len(found) == 1:
        return found[0]
    reason = (f"both {table}.csv and {table}.parquet exist; keep one" if found
              else f"no {table}.csv or {table}.parquet in {directory}")
    raise ContractError([Fault(table, None, None, reason, True)])


def read_table(path: Path | str) -> pd.DataFrame:
    """Raw cells of a CSV (all strings, empty cell = missing) or Parquet file (native types).

    Typed parsing depends on the table, so it happens in ``load_data`` / ``records_to_frame``.
    Raises ContractError with a fatal fault for a file that is missing, unreadable, not UTF-8,
    empty (no header) or has a column name twice.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet"):
        raise ValueError(f"{path.name}: expected a .csv or .parquet file")

    def fault(reason: str, column: str | None = None) -> ContractError:
        return ContractError([Fault(path.name, column, None, reason, True)])

    try:
        if path.stat().st_size == 0:
            raise fault("file is empty (no header row)")
        if suffix == ".parquet":
            return pd.read_parquet(path)
        options: dict[str, Any] = {"encoding": "utf-8-sig", "keep_default_na": False, "na_values": [""]}
        header = pd.read_csv(path, header=None, nrows=1, dtype=str, **options).iloc[0]
        names = pd.Series(["" if pd.isna(name) else str(name).strip() for name in header])
        repeated = names[names.duplicated()]
        if not repeated.empty:
            raise fault("appears more than once in the header", column=repeated.iloc[0])
        frame = pd.read_csv(path, dtype=str, **options)
        if not isinstance(frame.index, pd.RangeIndex):  # pandas took the extra first field as an index
            raise fault("malformed CSV: data rows have more fields than the header")
    except UnicodeDecodeError as error:
        raise fault(f"file is not UTF-8 (cannot decode byte 0x{error.object[error.start]:02x})") from None
    except pd.errors.EmptyDataError:
        raise fault("file is empty (no header row)") from None
    except pd.errors.ParserError as error:
        raise fault(f"malformed CSV: {str(error).strip()[:200]}") from None
    except (OSError, pyarrow.ArrowException) as error:
        message = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise fault(f"cannot read file: {message[:200]}") from None
    frame.columns = names
    return frame


def neutralise_formula(text: str) -> str:
    """Prefix ``'`` to text a spreadsheet would run as a formula (starts with = + - @ tab or CR);
    plain numbers such as ``-12.5`` stay as they are."""
    if text.startswith(_FORMULA_STARTS) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _neutralise(column: pd.Series) -> pd.Series:
    text = as_str(column)
    risky = text.str.match(r"[=+\-@\t\r]").fillna(False) & ~text.str.fullmatch(_NUMBER.pattern).fillna(False)
    return text.where(~risky, "'" + text)


def _is_list_column(column: pd.Series) -> bool:
    present = column.dropna()
    return column.dtype == object and not present.empty and isinstance(present.iloc[0], (list, tuple, np.ndarray))


def _is_date_column(column: pd.Series) -> bool:
    present = column.dropna()
    return pd.api.types.is_datetime64_any_dtype(column) and bool((present == present.dt.normalize()).all())


def _csv_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out: dict[str, pd.Series] = {}
    for name, column in frame.items():
        if pd.api.types.is_bool_dtype(column):
            out[name] = column.map({True: "true", False: "false"}, na_action="ignore")
        elif _is_date_column(column):
            out[name] = column.dt.strftime("%Y-%m-%d")
        elif _is_list_column(column):
            joined = ["|".join(map(str, cell)) if isinstance(cell, (list, tuple, np.ndarray)) else cell for cell in column]
            out[name] = _neutralise(pd.Series(joined, index=column.index, dtype="str"))
        elif column.dtype == object or pd.api.types.is_string_dtype(column):
            out[name] = _neutralise(column)
        else:
            out[name] = column
    return pd.DataFrame(out, index=frame.index)


def _parquet_ready(frame: pd.DataFrame) -> pd.DataFrame:
    out: dict[str, pd.Series] = {}
    for name, column in frame.items():
        if _is_list_column(column):
            cells = [list(map(str, cell)) if isinstance(cell, (list, tuple, np.ndarray)) else None for cell in column]
            out[name] = pd.Series(cells, index=column.index, dtype=pd.ArrowDtype(pyarrow.list_(pyarrow.string())))
        elif _is_date_column(column) and not isinstance(column.dtype, pd.DatetimeTZDtype):
            out[name] = column.astype(pd.ArrowDtype(pyarrow.date32()))
        else:
            out[name] = column
    return pd.DataFrame(out, index=frame.index)


def write_table(frame: pd.DataFrame, path: Path | str) -> None:
    """Write CSV or Parquet by extension. CSV: lists joined by ``|``, booleans true/false, dates
    ISO, and text cells that a spreadsheet would run as formulas neutralised. Parquet: list<string>
    and native bool/date columns."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        _csv_ready(frame).to_csv(path, index=False, encoding="utf-8", lineterminator="\n")
    elif path.suffix.lower() == ".parquet":
        table = pyarrow.Table.from_pandas(_parquet_ready(frame), preserve_index=False)
        pyarrow.parquet.write_table(table.replace_schema_metadata(None), path)  # plain Arrow types for any reader
    else:
        raise ValueError(f"{path.name}: write_table writes .csv or .parquet files")


def write_rejects(rejects: pd.DataFrame, path: Path | str) -> None:
    """Write ``DataBundle.rejects`` (CSV or Parquet by extension)."""
    write_table(rejects, path)
