"""Data contract v1 (docs/data-contract.md): its vocabulary, and reading, checking and writing its tables.

Everything that crosses the engine's boundary passes through here, so the rest of the engine can
trust the frames it gets: normalised dtypes, contract defaults applied, every column present.
Parsing is vectorised per column; the value checks are a pandera schema run lazily over whole
columns, so one pass reports every fault. A few records in plain JSON form (an API request) are
parsed and checked value by value with the same rules (``check_plain_records``, ~1 ms instead of
~20); any other cell, and every fault, goes the column way.

Fault rows are 1-based *data* row numbers: the header is not counted, and a quoted CSV cell that
spans several lines still belongs to one row. For ``records_to_frame`` the row is the list index.

Free text (profile_text, title, description) never appears in a fault: only its length does.
Other values are quoted, cut to 40 characters.

Empty tables: a file of 0 bytes (no header) is fatal for every table. A header with no rows is
fatal for participants and vacancies (nothing to match) and valid for outcomes (a cold start).
"""

from ilona_match.contract.files import find_table, neutralise_formula, read_table, write_rejects, write_table
from ilona_match.contract.loading import frame_to_records, load_data, records_to_frame, validate_data
from ilona_match.contract.spec import (
    COLUMNS,
    DATE_DTYPE,
    EMPLOYER_TYPES,
    EVENT_STRENGTH,
    EVENTS,
    HARD_RESTRICTIONS,
    ISO_639_1,
    LANGUAGES,
    OPTIONAL_TABLES,
    OUTCOME_COLUMNS,
    PARTICIPANT_COLUMNS,
    PHYSICAL_LEVELS,
    RESTRICTIONS,
    SECTOR_NAMES,
    SERVICE_COLUMNS,
    SUPPORTS,
    TABLES,
    VACANCY_COLUMNS,
    ColumnSpec,
    ContractError,
    DataBundle,
    Fault,
)

__all__ = [
    "COLUMNS", "DATE_DTYPE", "EMPLOYER_TYPES", "EVENTS", "EVENT_STRENGTH", "HARD_RESTRICTIONS", "ISO_639_1",
    "LANGUAGES", "OPTIONAL_TABLES", "OUTCOME_COLUMNS", "PARTICIPANT_COLUMNS", "PHYSICAL_LEVELS", "RESTRICTIONS",
    "SECTOR_NAMES", "SERVICE_COLUMNS", "SUPPORTS", "TABLES",
    "VACANCY_COLUMNS", "ColumnSpec", "ContractError", "DataBundle", "Fault", "find_table", "frame_to_records", "load_data",
    "neutralise_formula", "read_table", "records_to_frame", "validate_data", "write_rejects", "write_table",
]
