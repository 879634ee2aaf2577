"""The results database: published nightly runs, their run logs, and outcome feedback.

SQLAlchemy Core only, so any SQLAlchemy URL works the same; the default is the SQLite file
``results.db`` in the work folder (WAL journal and a busy timeout, set on every connection).

Publishing is one transaction: the rows of a run, its log and its place as the newest run commit
together, so a reader sees the previous complete run or the new complete run, never a mix, also
when the publishing process dies half-way (the database rolls the open transaction back). The
current run is the one published last; runs beyond ``keep_runs`` are deleted in the same
transaction (least data kept). Every read of recommendations is one statement, hence one snapshot.

Nothing here holds free text about a person: recommendations carry reasons written by the engine,
run logs carry counts and short tokens only, feedback carries ids, events, dates and override codes.

The audit log (EU AI Act Art. 12: records of what the engine served) is append-only: one record per
published run and per API call that served lists or took feedback (``audit_log``), with the ids
served in order (``audit_served``) - ids, counts, hashes and dates, never text. Each record's digest
is a SHA-256 over the previous record's digest, its fields and its served rows, so a later change,
insertion or deletion in the middle breaks the chain (``verify_audit_log``). Records are kept for
``log_retention_days``, longer than the lists themselves (``keep_runs``): the lists are data about
people, the record is what accountability needs.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, timezone
from itertools import groupby
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, get_args

import numpy as np
import pandas as pd
import pandera.errors
import pandera.pandas as pa
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Index,
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
from ilona_match.contract.output import (
    PATHWAY_COLUMNS,
    PATHWAYS_SCHEMA,
    RECOMMENDATION_COLUMNS,
    RECOMMENDATIONS_SCHEMA,
)
from ilona_match.contract.spec import ACTOR_NAME, EVENTS

if TYPE_CHECKING:
    from ilona_match.learning.audit import AuditReport

__all__ = [
    "AUDIT_KINDS", "FEEDBACK_COLUMNS", "FEEDBACK_SCHEMA", "OVERRIDE_COLUMNS", "OVERRIDE_EVENT", "OVERRIDE_REASONS",
    "AuditEntry", "AuditRecord", "OverrideReason", "ResultStore", "RunLog", "default_database_url", "route_id",
    "utc_now",
]

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
OverrideReason = Literal[
    "not_suitable_health", "not_suitable_skills", "not_suitable_distance", "participant_not_interested", "other",
]
OVERRIDE_REASONS: tuple[str, ...] = get_args(OverrideReason)  # why a coach set a recommendation aside (declined)
OVERRIDE_EVENT = "declined"  # the one event a reason may come with
OVERRIDE_COLUMNS: tuple[str, ...] = ("participant_id", "vacancy_id", "reason", "event_date", "received_at")
AuditKind = Literal[
    "nightly", "nightly.pathways", "api.recommendations", "api.participant_recommendations", "api.pathways",
    "api.participant_pathways", "api.feedback", "model.promotion",
]
AUDIT_KINDS: tuple[str, ...] = get_args(AuditKind)
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


_Name = Annotated[str, StringConstraints(pattern=ACTOR_NAME)]
_Version = Annotated[str, StringConstraints(min_length=1, max_length=64)]


@dataclass(frozen=True)
class AuditEntry:
    """One served thing to log: what kind, for whom (caller), from which model, data and settings, and
    the ids served (``served``: participant_id and the ids in served order, one pair per list)."""

    kind: str
    caller: str
    model_version: str
    served: Sequence[tuple[str, Sequence[str]]]
    data_fingerprint: str = ""
    config_hash: str = ""
    run_id: str | None = None


class AuditRecord(BaseModel):
    """One audit-log record as stored: ids, counts, hashes and a UTC time, never free text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: Annotated[int, Field(ge=1)]
    at: str
    kind: AuditKind
    run_id: _Version | None
    model_version: _Version
    data_fingerprint: _Token
    config_hash: _Token
    caller: _Name
    participants: _Count
    items: _Count
    previous: _Token
    digest: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


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
    Column("fairness_audit", Text, nullable=True),  # the run's fairness audit report (learning.audit), JSON
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
    Column("reason", String(32), nullable=True),  # an override code (OVERRIDE_REASONS) of a declined event
)
_AUDIT = Table(
    "audit_log", _METADATA,
    Column("seq", Integer, primary_key=True, autoincrement=False),  # append order, set by the appender
    Column("at", String(40), nullable=False),  # UTC ISO 8601, always with microseconds (sorts as text)
    Column("kind", String(40), nullable=False),
    Column("run_id", String(64), nullable=True),
    Column("model_version", String(64), nullable=False),
    Column("data_fingerprint", String(64), nullable=False),
    Column("config_hash", String(64), nullable=False),
    Column("caller", String(64), nullable=False),  # the API key's name, "batch" for the nightly run
    Column("participants", Integer, nullable=False),
    Column("items", Integer, nullable=False),
    Column("previous", String(64), nullable=False),  # the digest of the record before ("" for the first)
    Column("digest", String(64), nullable=False),
    Index("ix_audit_log_at", "at"),
)
_SERVED = Table(
    "audit_served", _METADATA,
    Column("seq", Integer, ForeignKey("audit_log.seq"), primary_key=True),
    Column("position", Integer, primary_key=True, autoincrement=False),  # row order within the record
    Column("participant_id", String(128), nullable=False),
    Column("served_ids", Text, nullable=False),  # ids in served order, "|"-joined (a route: its steps ">"-joined)
)
_ROW_COLUMNS = [c.name for c in _RECS.columns]
_LOG_FIELDS = [c.name for c in _RUNS.columns if c.name not in ("seq", "fairness_audit")]


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
        # a database made before a column was added gets it (empty for the rows already in it)
        for table in (_RUNS, _RECS, _FEEDBACK):
            present = {column["name"] for column in inspect(conn).get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    kind = column.type.compile(dialect=conn.dialect)
                    conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind}"))


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


def _checked_pathways(pathways: pd.DataFrame | None, log: RunLog) -> pd.DataFrame | None:
    """A run's pathways checked against the contract and its run log (None when there are none)."""
    if pathways is None or pathways.empty:
        return None
    try:
        frame = PATHWAYS_SCHEMA.validate(pathways)
    except (pandera.errors.SchemaError, pandera.errors.SchemaErrors) as exc:
        raise ValueError(f"pathways do not fit the contract: {exc}") from None
    if set(frame["run_id"]) != {log.run_id}:
        raise ValueError(f"pathways name run {sorted(set(frame['run_id']))[:3]}, the run log says {log.run_id!r}")
    return frame


def _pathway_records(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    """Checked pathways as rows (lists ``|``-joined)."""
    if frame is None:
        return []
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


# ------------------------------------------------------------------------------ audit log
_CHAINED = ("seq", "at", "kind", "run_id", "model_version", "data_fingerprint", "config_hash", "caller",
            "participants", "items", "previous")  # the fields a digest covers, in this order


def _audit_digest(fields: Mapping[str, Any], served: Sequence[tuple[str, str]]) -> str:
    """SHA-256 of the canonical form of a record: JSON of [its fields with the previous digest, its
    served rows (participant_id, joined ids) in order], without spaces, in UTF-8."""
    payload = json.dumps([[fields[name] for name in _CHAINED], served],  # tuples encode as arrays
                         ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class _AuditRows:
    """An entry checked and made ready to store: its fields but seq, at, previous and digest, and its
    served rows (participant_id, "|"-joined ids)."""

    fields: dict[str, Any]
    served: list[tuple[str, str]]


def _audit_rows(entry: AuditEntry) -> _AuditRows:
    """``entry`` checked (ValueError naming the field) and joined for storage."""
    served: list[tuple[str, str]] = []
    items = 0
    for participant_id, ids in entry.served:
        ids = [ids] if isinstance(ids, str) else list(ids)
        served.append((participant_id, "|".join(str(i) for i in ids)))
        items += len(ids)
    return _checked_audit_rows(entry, served, items)


def _checked_audit_rows(entry: AuditEntry, served: list[tuple[str, str]], items: int) -> _AuditRows:
    fields = {"kind": entry.kind, "run_id": entry.run_id, "model_version": entry.model_version,
              "data_fingerprint": entry.data_fingerprint, "config_hash": entry.config_hash, "caller": entry.caller,
              "participants": len({participant_id for participant_id, _ in served}), "items": items}
    try:
        AuditRecord.model_validate({**fields, "seq": 1, "at": "", "previous": "", "digest": "0" * 64})
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ValueError(f"audit record field {'.'.join(map(str, error['loc']))}: {error['msg']}") from None
    for participant_id, _ in served:
        if not isinstance(participant_id, str) or not 1 <= len(participant_id) <= 128:
            raise ValueError(f"audit record participant_id {str(participant_id)[:40]!r}: must be 1-128 characters")
    return _AuditRows(fields, served)


def _ranked_lists(frame: pd.DataFrame, ids: str, joined: Callable[[list[Any]], str]) -> tuple[list[tuple[str, str]], int]:
    """Per participant (in order of first appearance) the ``ids`` column by rank, each list through
    ``joined``; and the number of ids. Vectorised: a million rows take a fraction of a second."""
    codes, people = pd.factorize(frame["participant_id"])
    order = np.lexsort((frame["rank"].to_numpy(), codes))
    values = frame[ids].to_numpy(dtype=object)[order].tolist()
    rows: list[tuple[str, str]] = []
    start = 0
    for participant_id, count in zip(people.tolist(), np.bincount(codes, minlength=len(people)).tolist()):
        rows.append((participant_id, joined(values[start:start + count])))
        start += count
    return rows, len(values)


def route_id(steps: Sequence[str]) -> str:
    """A pathway route as the audit log names it: its step (service) ids in order, ">"-joined."""
    return ">".join(steps)


def _utc_iso(moment: datetime) -> str:
    if moment.utcoffset() is None:
        raise ValueError("audit log times must be timezone-aware")
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _take_audit_lock(conn: Connection) -> None:
    """Serialise appenders before the chain's head is read: two records must never follow the same one.

    SQLite: a write first (the driver opens the transaction at the first write, which takes the write
    lock, waiting for other writers, before the head is read). PostgreSQL: a table lock one appender
    holds at a time. Elsewhere the primary key on seq refuses the second of two racing records.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(text(f"LOCK TABLE {_AUDIT.name} IN SHARE ROW EXCLUSIVE MODE"))
    else:
        conn.execute(delete(_AUDIT).where(_AUDIT.c.seq < 0))  # matches nothing; takes the lock


class ResultStore:
    """Published recommendation runs, outcome feedback and the audit log in one SQL database.

    ``log_retention_days``: audit records older than this are purged after each publication (the
    newest record always stays). ``clock``: the time of new audit records (timezone-aware; default now).
    """

    def __init__(self, url: str, keep_runs: int = 3, log_retention_days: int = 365,
                 clock: Callable[[], datetime] | None = None) -> None:
        if keep_runs < 1:
            raise ValueError(f"keep_runs must be at least 1, got {keep_runs}")
        if log_retention_days < 1:
            raise ValueError(f"log_retention_days must be at least 1, got {log_retention_days}")
        self.url = url
        self.keep_runs = keep_runs
        self.log_retention_days = log_retention_days
        self._clock = clock or (lambda: datetime.now(timezone.utc))
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
        return cls(default_database_url(settings), keep_runs=settings.batch.keep_runs,
                   log_retention_days=settings.audit.log_retention_days)

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
    def publish(self, recommendations: pd.DataFrame, log: RunLog, pathways: pd.DataFrame | None = None, *,
                audit: str | None = None) -> None:
        """Store a run's recommendations, pathways (``PATHWAY_COLUMNS``), log and fairness audit report
        (``audit``: ``AuditReport.to_json()``, group aggregates only; None without one), and make it the
        current run, in one transaction.

        The same transaction appends the run's audit record (kind ``nightly``, caller ``batch``: every
        participant's vacancy ids by rank; and ``nightly.pathways`` with each one's routes when the run
        has pathways) and purges audit records older than ``log_retention_days``: a run is published
        with its record or not at all. ``data_fingerprint`` and ``config_hash`` come from ``log.details``.
        """
        frame = _checked_recommendations(recommendations, log)
        checked_paths = _checked_pathways(pathways, log)
        path_rows = _pathway_records(checked_paths)
        audits = self._nightly_audits(frame, checked_paths, log)
        if audit is not None:
            try:
                json.loads(audit)
            except (TypeError, ValueError):
                raise ValueError("the fairness audit report (audit) must be JSON text") from None
        run = {**log.model_dump(exclude={"as_of", "details"}), "as_of": log.as_of.isoformat(),
               "details": json.dumps(log.details, sort_keys=True), "fairness_audit": audit}
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
            for audit in audits:
                self._append_audit(conn, audit)
            self._purge_audit(conn, self.log_retention_days)

    @staticmethod
    def _nightly_audits(frame: pd.DataFrame, paths: pd.DataFrame | None, log: RunLog) -> list[_AuditRows]:
        """The audit records of a run: its lists, and its routes when it has pathways."""
        entry = AuditEntry(kind="nightly", caller="batch", model_version=log.model_version, served=(),
                           data_fingerprint=str(log.details.get("data_fingerprint", "")),
                           config_hash=str(log.details.get("config_hash", "")), run_id=log.run_id)
        audits = [_checked_audit_rows(entry, *_ranked_lists(frame, "vacancy_id", "|".join))]
        if paths is not None:
            routes = _ranked_lists(paths, "steps", lambda steps: "|".join(route_id(s) for s in steps))
            audits.append(_checked_audit_rows(replace(entry, kind="nightly.pathways"), *routes))
        return audits

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

    def audit_report(self, run_id: str | None = None) -> tuple[str, AuditReport | None] | None:
        """(run_id, its fairness audit report: ``learning.audit.AuditReport``, None when the run had none) of
        the run ``run_id`` (default: the current run); None when no such run is kept."""
        from ilona_match.learning.audit import AuditReport

        query = select(_RUNS.c.run_id, _RUNS.c.fairness_audit).order_by(_RUNS.c.seq.desc()).limit(1)
        if run_id is not None:
            query = query.where(_RUNS.c.run_id == run_id)
        with self._ready().connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return row.run_id, None if row.fairness_audit is None else AuditReport.from_json(row.fairness_audit)

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
    def append_feedback(self, events: pd.DataFrame, *, audit: AuditEntry | None = None) -> int:
        """Append outcome events (participant_id, vacancy_id, event, event_date[, received_at][, reason]).

        event_date may be ISO strings or datetimes; a missing received_at is now (UTC). ``reason`` (empty
        or missing: none) is a coach's override code, one of OVERRIDE_REASONS, and goes with ``declined``
        events only. ``audit``: a record appended in the same transaction. Returns the number of rows
        stored. Each call is one transaction, so concurrent writers lose nothing.
        """
        frame = events.copy()
        reasons = _checked_reasons(frame)
        frame = frame.drop(columns="reason", errors="ignore")
        if "received_at" not in frame.columns:
            frame["received_at"] = utc_now()
        if "event_date" in frame.columns and pd.api.types.is_datetime64_any_dtype(frame["event_date"]):
            frame["event_date"] = frame["event_date"].dt.strftime("%Y-%m-%d")
        try:
            frame = FEEDBACK_SCHEMA.validate(frame)
        except (pandera.errors.SchemaError, pandera.errors.SchemaErrors) as exc:
            raise ValueError(f"feedback does not fit the outcomes form: {exc}") from None
        reason_rows = reasons.reindex(frame.index).tolist()
        if (bad := [i for i, r in enumerate(reason_rows) if r is not None and frame["event"].iloc[i] != OVERRIDE_EVENT]):
            raise ValueError(f"feedback reason: only a {OVERRIDE_EVENT!r} event has a reason; row {bad[0]} is "
                             f"{frame['event'].iloc[bad[0]]!r}")
        records = [{**row, "reason": reason} for row, reason in zip(_records(frame[list(FEEDBACK_COLUMNS)]), reason_rows)]
        checked = _audit_rows(audit) if audit is not None else None
        if records or checked is not None:
            with self._ready().begin() as conn:
                for start in range(0, len(records), _INSERT_CHUNK):
                    conn.execute(insert(_FEEDBACK), records[start:start + _INSERT_CHUNK])
                if checked is not None:
                    self._append_audit(conn, checked)
        return len(records)

    def feedback(self) -> pd.DataFrame:
        """Every stored feedback event, in arrival order (FEEDBACK_COLUMNS: the outcomes form)."""
        with self._ready().connect() as conn:
            rows = conn.execute(select(*(_FEEDBACK.c[c] for c in FEEDBACK_COLUMNS)).order_by(_FEEDBACK.c.id)).all()
        return _frame(rows, list(FEEDBACK_COLUMNS), {})

    def overrides(self) -> pd.DataFrame:
        """The feedback events that carry a reason (OVERRIDE_COLUMNS), in arrival order: the coaches'
        overrides, which the fairness audit counts by reason and by group."""
        query = (select(*(_FEEDBACK.c[c] for c in OVERRIDE_COLUMNS)).where(_FEEDBACK.c.reason.is_not(None))
                 .order_by(_FEEDBACK.c.id))
        with self._ready().connect() as conn:
            rows = conn.execute(query).all()
        return _frame(rows, list(OVERRIDE_COLUMNS), {})

    # --------------------------------------------------------------------------- audit log
    def append_audit(self, entry: AuditEntry) -> AuditRecord:
        """Append one record to the audit log (one transaction) and return it as stored.

        ValueError naming the field when the entry holds anything but a known kind, a key name as
        caller, short tokens and ids. There is no update: records are only appended and purged.
        """
        checked = _audit_rows(entry)
        with self._ready().begin() as conn:
            return self._append_audit(conn, checked)

    def _append_audit(self, conn: Connection, checked: _AuditRows) -> AuditRecord:
        """Append a checked record in the open transaction ``conn``, after the current head of the chain."""
        _take_audit_lock(conn)
        head = conn.execute(select(_AUDIT.c.seq, _AUDIT.c.digest).order_by(_AUDIT.c.seq.desc()).limit(1)).first()
        fields = {**checked.fields, "seq": 1 if head is None else head.seq + 1, "at": _utc_iso(self._clock()),
                  "previous": "" if head is None else head.digest}
        fields["digest"] = _audit_digest(fields, checked.served)
        conn.execute(insert(_AUDIT), [fields])
        rows = [{"seq": fields["seq"], "position": position, "participant_id": participant_id, "served_ids": ids}
                for position, (participant_id, ids) in enumerate(checked.served)]
        for start in range(0, len(rows), _INSERT_CHUNK):
            conn.execute(insert(_SERVED), rows[start:start + _INSERT_CHUNK])
        return AuditRecord.model_construct(**fields)

    def audit_records(self, since: date | datetime | None = None, last: int | None = None) -> list[AuditRecord]:
        """Audit records in append order: those at or after ``since`` (a date: its start, UTC), the newest
        ``last`` of them when given."""
        if last is not None and last < 1:
            raise ValueError(f"last must be at least 1, got {last}")
        query = select(*_AUDIT.c).order_by(_AUDIT.c.seq.desc())
        if since is not None:
            start = since if isinstance(since, datetime) else datetime(since.year, since.month, since.day,
                                                                        tzinfo=timezone.utc)
            query = query.where(_AUDIT.c.at >= _utc_iso(start))
        if last is not None:
            query = query.limit(last)
        with self._ready().connect() as conn:
            rows = conn.execute(query).all()
        return [AuditRecord.model_construct(**row._asdict()) for row in reversed(rows)]

    def audit_served(self, seq: int) -> list[tuple[str, tuple[str, ...]]]:
        """The served rows of record ``seq`` in order: (participant_id, ids); a route is its steps ">"-joined."""
        query = (select(_SERVED.c.participant_id, _SERVED.c.served_ids).where(_SERVED.c.seq == seq)
                 .order_by(_SERVED.c.position))
        with self._ready().connect() as conn:
            rows = conn.execute(query).all()
        return [(row.participant_id, tuple(row.served_ids.split("|")) if row.served_ids else ()) for row in rows]

    def verify_audit_log(self) -> int | None:
        """Recompute the chain; the seq of the first record that does not fit, None when all do.

        A record fits when its seq follows the one before, its ``previous`` is that record's digest and
        its digest is that of its fields and served rows. The first kept record (after a purge) is
        trusted for its ``previous``; served rows without a record break the chain at their seq.
        Read in one statement (one snapshot) and streamed, so a long log needs little memory.
        """
        query = (select(*_AUDIT.c, _SERVED.c.participant_id, _SERVED.c.served_ids)
                 .select_from(_AUDIT.outerjoin(_SERVED, _SERVED.c.seq == _AUDIT.c.seq))
                 .order_by(_AUDIT.c.seq, _SERVED.c.position))
        orphans = select(func.min(_SERVED.c.seq)).where(~select(_AUDIT.c.seq).where(_AUDIT.c.seq == _SERVED.c.seq).exists())
        with self._ready().connect() as conn:
            broken = _first_break(conn.execution_options(yield_per=10_000).execute(query))
            orphan = conn.execute(orphans).scalar()
        found = [seq for seq in (broken, orphan) if seq is not None]
        return min(found) if found else None

    def purge_audit_log(self, older_than_days: int) -> int:
        """Delete audit records (and their served rows) older than ``older_than_days``; returns how many.

        Records go from the oldest on, so the rest still chains; the newest record always stays (the
        head the next record links to, so seq never starts again).
        """
        with self._ready().begin() as conn:
            return self._purge_audit(conn, older_than_days)

    def _purge_audit(self, conn: Connection, older_than_days: int) -> int:
        if older_than_days < 1:
            raise ValueError(f"older_than_days must be at least 1, got {older_than_days}")
        cutoff = _utc_iso(self._clock() - timedelta(days=older_than_days))
        _take_audit_lock(conn)
        keep_from = conn.execute(select(func.min(_AUDIT.c.seq)).where(_AUDIT.c.at >= cutoff)).scalar()
        if keep_from is None:
            keep_from = conn.execute(select(func.max(_AUDIT.c.seq))).scalar()
            if keep_from is None:
                return 0
        conn.execute(delete(_SERVED).where(_SERVED.c.seq < keep_from))
        return conn.execute(delete(_AUDIT).where(_AUDIT.c.seq < keep_from)).rowcount


def _first_break(rows: Iterator[Any]) -> int | None:
    """The first seq where the chain breaks, over rows of records joined with their served rows, in order."""
    expected_seq: int | None = None
    expected_previous: str | None = None
    for seq, group in groupby(rows, key=lambda row: row.seq):
        first, *rest = list(group)
        served = [(row.participant_id, row.served_ids) for row in (first, *rest) if row.participant_id is not None]
        if expected_seq is not None and seq != expected_seq:
            return expected_seq  # a record is missing
        if expected_previous is not None and first.previous != expected_previous:
            return seq
        if _audit_digest(first._mapping, served) != first.digest:
            return seq
        expected_seq, expected_previous = seq + 1, first.digest
    return None


def _checked_reasons(frame: pd.DataFrame) -> pd.Series:
    """The frame's override reasons (None where there is none); ValueError naming ``reason`` for a code
    outside OVERRIDE_REASONS."""
    if "reason" not in frame.columns:
        return pd.Series([None] * len(frame), index=frame.index, dtype=object)
    reasons = pd.Series([None if value is None or (isinstance(value, float) and pd.isna(value)) or value == ""
                         else value for value in frame["reason"]], index=frame.index, dtype=object)
    unknown = [value for value in reasons if value is not None and value not in OVERRIDE_REASONS]
    if unknown:
        raise ValueError(f"feedback reason {str(unknown[0])[:40]!r} is not one of {', '.join(OVERRIDE_REASONS)}")
    return reasons
