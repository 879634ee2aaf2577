"""The results database: published nightly runs, their run logs, and outcome feedback.

SQLAlchemy Core only, so any SQLAlchemy URL works the same; the default is the SQLite file
``results.db`` in the work folder (WAL journal and a busy timeout, set on every connection).

Publishing is one transaction: the rows of a run, its log and its place as the newest run commit
together, so a reader sees the previous complete run or the new complete run, never a mix, also
when the publishing process dies half-way (the database rolls the open transaction back). The
current run is the one published last; runs beyond ``keep_runs`` are deleted in the same
transaction (least data kept). Every read of recommendations is one statement, hence one snapshot.

Nothing here holds free text about a person: recommendations carry reasons written by the engine,
run logs carry counts and short tokens only, feedback carries ids, events and dates.
"""

from __future__ import annotations

import json
import threading
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import pandera.errors
import pandera.pandas as pa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator
from sqlalchemy import (
    Column,
    Engine,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
)
from sqlalchemy.schema import CreateIndex, CreateTable

from ilona_match.config import Settings
from ilona_match.contract import EVENTS
from ilona_match.contract.output import (
    PATHWAY_COLUMNS,
    PATHWAYS_SCHEMA,
    RECOMMENDATION_COLUMNS,
    RECOMMENDATIONS_SCHEMA,
)

__all__ = ["FEEDBACK_COLUMNS", "FEEDBACK_SCHEMA", "ResultStore", "RunLog", "default_database_url", "utc_now"]

FEEDBACK_COLUMNS: tuple[str, ...] = ("participant_id", "vacancy_id", "event", "event_date", "received_at")
_DATE = r"^\d{4}-\d{2}-\d{2}$"
FEEDBACK_SCHEMA = pa.DataFrameSchema(
    {
        "participant_id": pa.Column(str, pa.Check.str_length(1, 128)),
        "vacancy_id": pa.Column(str, pa.Check.str_length(1, 128)),
        "event": pa.Column(str, pa.Check.isin(EVENTS)),
        "event_date": pa.Column(str, pa.Check.str_matches(_DATE)),
        "received_at": pa.Column(str, pa.Check.str_matches(r"^\d{4}-\d{2}-\d{2}T[\d:.]+(\+00:00|Z)$")),
    },
    strict=True,
)
_INSERT_CHUNK = 20_000  # rows per executemany
_SQLITE_BUSY_TIMEOUT_MS = 120_000  # a writer waits this long for another writer (e.g. a large publish)

_Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:+-]{0,64}$")]
_Key = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_.]{1,64}$")]
_Count = Annotated[int, Field(ge=0)]


def utc_now() -> str:
    """The current UTC time as an ISO 8601 string (the form of RunLog's timestamps)."""
    return datetime.now(timezone.utc).isoformat()


class RunLog(BaseModel):
    """What one published run did: ids, UTC timestamps and counts, never free text.

    ``details`` holds extra figures (e.g. allocation statistics): lower-case keys, numbers or short
    tokens of letters, digits and ``_.:+-``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    as_of: date
    model_version: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    started_at: str
    finished_at: str
    participants: _Count
    vacancies: _Count
    open_vacancies: _Count
    rejected_rows: _Count
    recommendations: _Count
    to_check: _Count
    details: dict[_Key, int | Annotated[float, Field(allow_inf_nan=False)] | _Token] = {}

    @field_validator("started_at", "finished_at")
    @classmethod
    def _utc_iso(cls, value: str) -> str:
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
        if moment.utcoffset() is None or moment.utcoffset().total_seconds() != 0:
            raise ValueError("must be a UTC timestamp (offset +00:00)")
        return moment.isoformat()


_METADATA = MetaData()
_RUNS = Table(
    "runs", _METADATA,
    Column("run_id", String(64), primary_key=True),
    Column("seq", Integer, nullable=False, unique=True),  # publication order: the highest is current
    Column("as_of", String(10), nullable=False),
    Column("model_version", String(64), nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("finished_at", String(40), nullable=False),
    *(Column(name, Integer, nullable=False) for name in
      ("participants", "vacancies", "open_vacancies", "rejected_rows", "recommendations", "to_check")),
    Column("details", Text, nullable=False),
)
_RECS = Table(
    "recommendations", _METADATA,
    Column("run_id", String(64), primary_key=True),
    Column("participant_id", String(128), primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("coach_id", String(128), nullable=False),
    Column("vacancy_id", String(128), nullable=False),
    Column("score", Float, nullable=False),
    Column("p_outcome", Float, nullable=True),
    Column("reasons", Text, nullable=False),
    Column("to_check", Text, nullable=False),
)
_PATHS = Table(
    "pathways", _METADATA,
    Column("run_id", String(64), primary_key=True),
    Column("participant_id", String(128), primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("coach_id", String(128), nullable=False),
    Column("target_occupation", String(200), nullable=False),
    *(Column(name, Text, nullable=False) for name in ("gap_skills", "steps", "leads_to")),
    Column("p_gain", Float, nullable=False),
    Column("reasons", Text, nullable=False),
    Column("to_check", Text, nullable=False),
)
_LIST_FIELDS = ("gap_skills", "steps", "leads_to", "reasons", "to_check")
_FEEDBACK = Table(
    "feedback", _METADATA,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("participant_id", String(128), nullable=False),
    Column("vacancy_id", String(128), nullable=False),
    Column("event", String(16), nullable=False),
    Column("event_date", String(10), nullable=False),
    Column("received_at", String(40), nullable=False),
)
_ROW_COLUMNS = [c.name for c in _RECS.columns]
_LOG_FIELDS = [c.name for c in _RUNS.columns if c.name != "seq"]


def _create_tables(engine: Engine) -> None:
    """Create the missing tables; safe when other processes do the same at the same moment.

    ``MetaData.create_all`` checks, then creates: two writers that both find a table missing both
    create it and one fails. ``CREATE TABLE IF NOT EXISTS`` lets the database decide.
    """
    with engine.begin() as conn:
        for table in _METADATA.sorted_tables:
            conn.execute(CreateTable(table, if_not_exists=True))
            for index in table.indexes:
                conn.execute(CreateIndex(index, if_not_exists=True))
        # a database made before a column was added gets it (empty for the runs already in it)
        present = {column["name"] for column in inspect(conn).get_columns(_RECS.name)}
        for column in _RECS.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=conn.dialect)
                conn.execute(text(f"ALTER TABLE {_RECS.name} ADD COLUMN {column.name} {kind}"))


def default_database_url(settings: Settings) -> str:
    """``settings.batch.database_url``, else the SQLite file results.db in the work folder."""
    return settings.batch.database_url or f"sqlite:///{Path(settings.workdir).resolve() / 'results.db'}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {_SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def _checked_recommendations(frame: pd.DataFrame, log: RunLog) -> pd.DataFrame:
    """The frame validated against the contract and against its run log (ValueError naming the field)."""
    try:
        frame = RECOMMENDATIONS_SCHEMA.validate(frame)
    except (pandera.errors.SchemaError, pandera.errors.SchemaErrors) as exc:
        raise ValueError(f"recommendations do not fit the contract: {exc}") from None
    expected = {"run_id": log.run_id, "as_of": log.as_of.isoformat(), "model_version": log.model_version}
    for column, value in expected.items():
        found = set(frame[column].unique())
        if found - {value}:
            raise ValueError(f"recommendations column {column} holds {sorted(found)[:3]}, the run log says {value!r}")
    to_check = int((frame["to_check"] != "").sum())
    if len(frame) != log.recommendations or to_check != log.to_check:
        raise ValueError(f"run log counts recommendations={log.recommendations}, to_check={log.to_check}; "
                         f"the frame holds {len(frame)} and {to_check}")
    return frame


def _pathway_records(pathways: pd.DataFrame | None, log: RunLog) -> list[dict[str, Any]]:
    """A run's pathways checked against the contract and its run log, as rows (lists ``|``-joined)."""
    if pathways is None or pathways.empty:
        return []
    try:
        frame = PATHWAYS_SCHEMA.validate(pathways)
    except (pandera.errors.SchemaError, pandera.errors.SchemaErrors) as exc:
        raise ValueError(f"pathways do not fit the contract: {exc}") from None
    if set(frame["run_id"]) != {log.run_id}:
        raise ValueError(f"pathways name run {sorted(set(frame['run_id']))[:3]}, the run log says {log.run_id!r}")
    rows = frame.drop(columns=["as_of"]).copy()
    for name in _LIST_FIELDS:
        rows[name] = ["|".join(cell) for cell in rows[name]]
    return _records(rows)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as dicts of plain Python values (column-wise: far faster than DataFrame.to_dict)."""
    columns = list(frame.columns)
    return [dict(zip(columns, row)) for row in zip(*(frame[c].tolist() for c in columns))]


def _frame(rows: list[Any], columns: list[str], dtypes: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame([tuple(r) for r in rows], columns=columns).astype(dtypes)


class ResultStore:
    """Published recommendation runs and outcome feedback in one SQL database."""

    def __init__(self, url: str, keep_runs: int = 3) -> None:
        if keep_runs < 1:
            raise ValueError(f"keep_runs must be at least 1, got {keep_runs}")
        self.url = url
        self.keep_runs = keep_runs
        self._engine: Engine = create_engine(url)
        if self._engine.dialect.name == "sqlite":
            event.listen(self._engine, "connect", _sqlite_pragmas)
        self._created = False
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ResultStore:
        """The store ``settings.batch`` names (creates the work folder for the default SQLite file)."""
        if settings.batch.database_url is None:
            Path(settings.workdir).mkdir(parents=True, exist_ok=True)
        return cls(default_database_url(settings), keep_runs=settings.batch.keep_runs)

    def _ready(self) -> Engine:
        """The engine, with the tables created on first use."""
        with self._lock:
            if not self._created:
                _create_tables(self._engine)
                self._created = True
        return self._engine

    def close(self) -> None:
        """Close the pooled connections."""
        self._engine.dispose()

    # ------------------------------------------------------------------------------- runs
    def publish(self, recommendations: pd.DataFrame, log: RunLog, pathways: pd.DataFrame | None = None) -> None:
        """Store a run's recommendations, pathways (``PATHWAY_COLUMNS``) and log, and make it the current
        run, in one transaction."""
        frame = _checked_recommendations(recommendations, log)
        path_rows = _pathway_records(pathways, log)
        run = {**log.model_dump(exclude={"as_of", "details"}), "as_of": log.as_of.isoformat(),
               "details": json.dumps(log.details, sort_keys=True)}
        rows = frame[_ROW_COLUMNS].astype({"p_outcome": object})
        rows.loc[rows["p_outcome"].isna(), "p_outcome"] = None  # NULL, not NaN, in every database
        with self._ready().begin() as conn:
            # a write first: on SQLite it takes the write lock (waiting for other writers) before any read
            conn.execute(delete(_RECS).where(_RECS.c.run_id == log.run_id))
            conn.execute(delete(_PATHS).where(_PATHS.c.run_id == log.run_id))
            conn.execute(delete(_RUNS).where(_RUNS.c.run_id == log.run_id))
            seq = conn.execute(select(func.coalesce(func.max(_RUNS.c.seq), 0))).scalar_one() + 1
            conn.execute(insert(_RUNS), [{**run, "seq": seq}])
            for start in range(0, len(rows), _INSERT_CHUNK):
                conn.execute(insert(_RECS), _records(rows.iloc[start:start + _INSERT_CHUNK]))
            for start in range(0, len(path_rows), _INSERT_CHUNK):
                conn.execute(insert(_PATHS), path_rows[start:start + _INSERT_CHUNK])
            stale = conn.execute(select(_RUNS.c.run_id).order_by(_RUNS.c.seq.desc()).offset(self.keep_runs)).scalars().all()
            if stale:
                conn.execute(delete(_RECS).where(_RECS.c.run_id.in_(stale)))
                conn.execute(delete(_PATHS).where(_PATHS.c.run_id.in_(stale)))
                conn.execute(delete(_RUNS).where(_RUNS.c.run_id.in_(stale)))

    def runs(self) -> list[RunLog]:
        """The kept runs, newest publication first."""
        with self._ready().connect() as conn:
            rows = conn.execute(select(*(_RUNS.c[f] for f in _LOG_FIELDS)).order_by(_RUNS.c.seq.desc())).all()
        return [RunLog(**{**row._asdict(), "details": json.loads(row.details)}) for row in rows]

    def latest_run(self) -> RunLog | None:
        """The log of the current published run, None before the first publication."""
        with self._ready().connect() as conn:
            row = conn.execute(select(*(_RUNS.c[f] for f in _LOG_FIELDS)).order_by(_RUNS.c.seq.desc()).limit(1)).first()
        return None if row is None else RunLog(**{**row._asdict(), "details": json.loads(row.details)})

    def recommendations_for(self, participant_id: str) -> pd.DataFrame:
        """This participant's rows of the current run, by rank (RECOMMENDATION_COLUMNS; empty when none)."""
        current = select(_RUNS.c.run_id).order_by(_RUNS.c.seq.desc()).limit(1).scalar_subquery()
        columns = [_RUNS.c[c] if c in ("as_of", "model_version") else _RECS.c[c] for c in RECOMMENDATION_COLUMNS]
        query = (select(*columns).join_from(_RECS, _RUNS, _RECS.c.run_id == _RUNS.c.run_id)
                 .where(_RECS.c.run_id == current, _RECS.c.participant_id == participant_id)
                 .order_by(_RECS.c.rank))
        with self._ready().connect() as conn:
            rows = conn.execute(query).all()
        return _frame(rows, list(RECOMMENDATION_COLUMNS), {"rank": "int64", "score": "float64", "p_outcome": "float64"})

    def pathways_for(self, participant_id: str) -> pd.DataFrame:
        """This participant's pathways in the current run, by rank (PATHWAY_COLUMNS, lists as tuples;
        empty when none)."""
        current = select(_RUNS.c.run_id).order_by(_RUNS.c.seq.desc()).limit(1).scalar_subquery()
        columns = [_RUNS.c.as_of if c == "as_of" else _PATHS.c[c] for c in PATHWAY_COLUMNS]
        query = (select(*columns).join_from(_PATHS, _RUNS, _PATHS.c.run_id == _RUNS.c.run_id)
                 .where(_PATHS.c.run_id == current, _PATHS.c.participant_id == participant_id)
                 .order_by(_PATHS.c.rank))
        with self._ready().connect() as conn:
            rows = conn.execute(query).all()
        frame = _frame(rows, list(PATHWAY_COLUMNS), {"rank": "int64", "p_gain": "float64"})
        for name in _LIST_FIELDS:
            frame[name] = [tuple(cell.split("|")) if cell else () for cell in frame[name]]
        return frame

    def current_lists(self) -> pd.DataFrame:
        """participant_id, vacancy_id, rank of the current published run (empty before the first): what
        coaches saw last, to tell them what a new run changed."""
        current = select(_RUNS.c.run_id).order_by(_RUNS.c.seq.desc()).limit(1).scalar_subquery()
        query = (select(_RECS.c.participant_id, _RECS.c.vacancy_id, _RECS.c.rank).where(_RECS.c.run_id == current)
                 .order_by(_RECS.c.participant_id, _RECS.c.rank))
        with self._ready().connect() as conn:
            rows = conn.execute(query).all()
        return _frame(rows, ["participant_id", "vacancy_id", "rank"], {"rank": "int64"})

    # ---------------------------------------------------------------------------- feedback
    def append_feedback(self, events: pd.DataFrame) -> int:
        """Append outcome events (participant_id, vacancy_id, event, event_date[, received_at]).

        event_date may be ISO strings or datetimes; a missing received_at is now (UTC). Returns the
        number of rows stored. Each call is one transaction, so concurrent writers lose nothing.
        """
        frame = events.copy()
        if "received_at" not in frame.columns:
            frame["received_at"] = utc_now()
        if "event_date" in frame.columns and pd.api.types.is_datetime64_any_dtype(frame["event_date"]):
            frame["event_date"] = frame["event_date"].dt.strftime("%Y-%m-%d")
        try:
            frame = FEEDBACK_SCHEMA.validate(frame)
        except (pandera.errors.SchemaError, pandera.errors.SchemaErrors) as exc:
            raise ValueError(f"feedback does not fit the outcomes form: {exc}") from None
        records = _records(frame[list(FEEDBACK_COLUMNS)])
        if records:
            with self._ready().begin() as conn:
                for start in range(0, len(records), _INSERT_CHUNK):
                    conn.execute(insert(_FEEDBACK), records[start:start + _INSERT_CHUNK])
        return len(records)

    def feedback(self) -> pd.DataFrame:
        """Every stored feedback event, in arrival order."""
        with self._ready().connect() as conn:
            rows = conn.execute(select(*(_FEEDBACK.c[c] for c in FEEDBACK_COLUMNS)).order_by(_FEEDBACK.c.id)).all()
        return _frame(rows, list(FEEDBACK_COLUMNS), {})

