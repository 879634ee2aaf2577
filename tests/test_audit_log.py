"""The audit log (EU AI Act Art. 12) on a real SQLite file: an append-only hash chain of what the
engine served, written by the nightly publication in its own transaction and by every API call that
served lists or took feedback; tampering found by seq, retention by purge, coaches' override reasons,
and the `ilona-match audit-log` commands."""

from __future__ import annotations

import hashlib
import http.client
import json
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
import pytest

from ilona_match.cli import main
from ilona_match.config import Settings, load_settings
from ilona_match.contract import find_table, frame_to_records, load_data
from ilona_match.contract.output import PATHWAY_COLUMNS, RECOMMENDATION_COLUMNS
from ilona_match.learning.tracking import fingerprint_files
from ilona_match.serving.api import add_api_key, background_server, create_app
from ilona_match.serving.store import (
    FEEDBACK_COLUMNS,
    OVERRIDE_COLUMNS,
    OVERRIDE_REASONS,
    AuditEntry,
    ResultStore,
    RunLog,
    utc_now,
)

AS_OF = date(2026, 6, 1)
START = datetime(2026, 1, 1, 8, 0, tzinfo=timezone.utc)
SENTINEL = "Selkäkipu ja paniikkihäiriö, audit-sentinel 40417"  # health-related free text that must never be stored


class Clock:
    """A settable clock for the store (records get its time; purges count back from it)."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def entry(n: int = 0, *, kind: str = "api.recommendations", caller: str = "crm") -> AuditEntry:
    return AuditEntry(kind=kind, caller=caller, model_version="7",
                      served=[(f"P{n}", [f"V{n}-1", f"V{n}-2", f"V{n}-3"]), (f"Q{n}", [])],
                      data_fingerprint="a" * 64, config_hash="b" * 64)


def run(run_id: str, people: int, k: int, *, details: dict[str, Any] | None = None) -> tuple[pd.DataFrame, RunLog]:
    """A valid run: participants P000.. with ``k`` vacancies each, ranks in shuffled row order."""
    rng = np.random.default_rng(3)
    person = np.repeat(np.arange(people), k)
    frame = pd.DataFrame({
        "run_id": run_id, "as_of": AS_OF.isoformat(), "participant_id": [f"P{i:03d}" for i in person],
        "coach_id": "C1", "rank": np.tile(np.arange(1, k + 1), people),
        "vacancy_id": [f"V{p:03d}-{r}" for p, r in zip(person, np.tile(np.arange(1, k + 1), people))],
        "score": 1.0 - np.tile(np.arange(k), people) / 10, "reasons": "Taidot sopivat", "to_check": "",
        "model_version": "7", "p_outcome": 0.2,
    })[list(RECOMMENDATION_COLUMNS)].iloc[rng.permutation(people * k)].reset_index(drop=True)
    log = RunLog(run_id=run_id, as_of=AS_OF, model_version="7", started_at=utc_now(), finished_at=utc_now(),
                 participants=people, vacancies=50, open_vacancies=40, rejected_rows=0,
                 recommendations=len(frame), to_check=0, details=details or {})
    return frame, log


def routes(run_id: str, participant_id: str) -> pd.DataFrame:
    """Two routes to work for one participant, in contract form."""
    return pd.DataFrame({
        "run_id": run_id, "as_of": AS_OF.isoformat(), "participant_id": participant_id, "coach_id": "C1",
        "rank": [1, 2], "target_occupation": "http://data.europa.eu/esco/occupation/x1",
        "gap_skills": [("S1",), ()], "steps": [("SRV-1", "SRV-2"), ("SRV-3",)], "leads_to": [("V1",), ("V2",)],
        "p_gain": [0.1, 0.05], "reasons": [("r",), ("r",)], "to_check": [(), ()],
    })[list(PATHWAY_COLUMNS)]


@pytest.fixture()
def db(tmp_path: Path) -> Path:
    return tmp_path / "results.db"


@pytest.fixture()
def clock() -> Clock:
    return Clock()


@pytest.fixture()
def store(db: Path, clock: Clock) -> ResultStore:
    return ResultStore(f"sqlite:///{db}", log_retention_days=30, clock=clock)


def sql(db: Path, statement: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute(statement)


def appended(store: ResultStore, clock: Clock, count: int, *, every: timedelta = timedelta(days=1)) -> None:
    for n in range(count):
        store.append_audit(entry(n))
        clock.now += every


# -------------------------------------------------------------------------------- the chain
def test_the_chain_verifies_after_appends_and_after_a_purge(store: ResultStore, clock: Clock) -> None:
    assert store.verify_audit_log() is None and store.audit_records() == []
    first = store.append_audit(entry(0))
    assert (first.seq, first.previous, first.participants, first.items) == (1, "", 2, 3)
    assert first.at == START.isoformat(timespec="microseconds")
    clock.now += timedelta(days=1)
    appended(store, clock, 9)
    records = store.audit_records()
    assert [r.seq for r in records] == list(range(1, 11))
    assert all(after.previous == before.digest for before, after in zip(records, records[1:]))
    assert store.audit_served(2) == [("P0", ("V0-1", "V0-2", "V0-3")), ("Q0", ())]
    assert store.verify_audit_log() is None

    clock.now = START + timedelta(days=35)  # 30 days' retention: the records of days 0-4 go
    assert store.purge_audit_log(30) == 5
    assert [r.seq for r in store.audit_records()] == list(range(6, 11))
    assert store.verify_audit_log() is None  # checked from the first kept record's previous
    assert store.append_audit(entry(99)).seq == 11
    assert store.verify_audit_log() is None


@pytest.mark.parametrize("tamper, broken", [
    ("UPDATE audit_log SET caller = 'someone' WHERE seq = 4", 4),
    ("UPDATE audit_log SET items = 2 WHERE seq = 5", 5),
    ("UPDATE audit_served SET served_ids = 'V9|V0-1' WHERE seq = 4 AND position = 0", 4),
    ("DELETE FROM audit_served WHERE seq = 6 AND position = 1", 6),
    ("INSERT INTO audit_served VALUES (5, 2, 'P7', 'V7')", 5),
    ("DELETE FROM audit_log WHERE seq = 4", 4),  # its served rows left behind
    ("DELETE FROM audit_served WHERE seq = 4", 4),
])
def test_a_change_insertion_or_deletion_in_the_middle_is_found_with_its_seq(
        store: ResultStore, clock: Clock, db: Path, tamper: str, broken: int) -> None:
    appended(store, clock, 8)
    sql(db, tamper)
    assert store.verify_audit_log() == broken


def test_a_whole_record_deleted_or_its_digest_recomputed_breaks_the_chain(store: ResultStore, clock: Clock,
                                                                          db: Path) -> None:
    appended(store, clock, 8)
    sql(db, "DELETE FROM audit_served WHERE seq = 3")
    sql(db, "DELETE FROM audit_log WHERE seq = 3")
    assert store.verify_audit_log() == 3  # the missing seq
    sql(db, "UPDATE audit_log SET seq = 3 WHERE seq = 4")  # renumbered to hide the gap: its digest covers seq
    assert store.verify_audit_log() == 3
    sql(db, f"UPDATE audit_log SET digest = '{'0' * 64}' WHERE seq = 6")
    assert store.verify_audit_log() == 3


def test_appends_from_many_threads_form_one_chain(store: ResultStore) -> None:
    def append(worker: int) -> None:
        for n in range(10):
            store.append_audit(entry(worker * 100 + n))

    threads = [threading.Thread(target=append, args=(w,)) for w in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [r.seq for r in store.audit_records()] == list(range(1, 61))
    assert store.verify_audit_log() is None


def test_entries_holding_anything_but_ids_counts_and_tokens_are_refused(store: ResultStore) -> None:
    with pytest.raises(ValueError, match="audit record field kind"):
        store.append_audit(entry(kind="api.everything"))
    with pytest.raises(ValueError, match="audit record field caller"):
        store.append_audit(entry(caller="Matti Meikäläinen, coach"))
    with pytest.raises(ValueError, match="audit record field data_fingerprint"):
        store.append_audit(AuditEntry("nightly", "batch", "7", [], data_fingerprint="has back pain"))
    with pytest.raises(ValueError, match="participant_id"):
        store.append_audit(AuditEntry("api.feedback", "crm", "7", [("", ["V1"])]))
    with pytest.raises(ValueError, match="last must be at least 1"):
        store.audit_records(last=0)
    with pytest.raises(ValueError, match="older_than_days must be at least 1"):
        store.purge_audit_log(0)
    assert store.audit_records() == []


def test_purge_keeps_recent_records_and_always_the_newest(store: ResultStore, clock: Clock) -> None:
    appended(store, clock, 10, every=timedelta(days=10))  # days 0, 10, .., 90
    clock.now = START + timedelta(days=100)
    assert store.purge_audit_log(45) == 6  # days 0-50 are older than 45 days
    assert [r.seq for r in store.audit_records()] == [7, 8, 9, 10]
    assert store.purge_audit_log(45) == 0
    clock.now = START + timedelta(days=1000)
    assert store.purge_audit_log(45) == 3  # all are old: the head stays, so the next record links to it
    assert [r.seq for r in store.audit_records()] == [10]
    assert store.append_audit(entry(5)).seq == 11 and store.verify_audit_log() is None
    with sqlite3.connect(store.url.removeprefix("sqlite:///")) as conn:
        assert conn.execute("SELECT DISTINCT seq FROM audit_served ORDER BY seq").fetchall() == [(10,), (11,)]


def test_records_are_read_since_a_date_and_the_last_n(store: ResultStore, clock: Clock) -> None:
    appended(store, clock, 6)  # Jan 1 .. Jan 6
    assert [r.seq for r in store.audit_records(since=date(2026, 1, 4))] == [4, 5, 6]
    assert [r.seq for r in store.audit_records(last=2)] == [5, 6]
    assert [r.seq for r in store.audit_records(since=date(2026, 1, 2), last=10)] == [2, 3, 4, 5, 6]
    assert store.audit_records(since=date(2026, 2, 1)) == []


# ------------------------------------------------------------------------------- publication
def test_publish_writes_one_nightly_record_with_every_list_in_rank_order(store: ResultStore) -> None:
    frame, log = run("run-a", people=12, k=4, details={"data_fingerprint": "c" * 64, "config_hash": "d" * 64})
    store.publish(frame, log)
    [record] = store.audit_records()
    assert (record.kind, record.caller, record.run_id, record.model_version) == ("nightly", "batch", "run-a", "7")
    assert (record.data_fingerprint, record.config_hash) == ("c" * 64, "d" * 64)
    assert (record.participants, record.items) == (12, 48)
    served = dict(store.audit_served(record.seq))
    expected = {p: tuple(rows.sort_values("rank")["vacancy_id"]) for p, rows in frame.groupby("participant_id")}
    assert served == expected and len(store.audit_served(record.seq)) == 12
    assert store.verify_audit_log() is None


def test_a_run_with_pathways_also_records_its_routes(store: ResultStore) -> None:
    frame, log = run("run-a", people=2, k=2)  # no fingerprint in the details: empty fields
    store.publish(frame, log, routes("run-a", "P001"))
    nightly, paths = store.audit_records()
    assert (nightly.kind, nightly.data_fingerprint, nightly.config_hash) == ("nightly", "", "")
    assert (paths.kind, paths.run_id, paths.participants, paths.items) == ("nightly.pathways", "run-a", 1, 2)
    assert store.audit_served(paths.seq) == [("P001", ("SRV-1>SRV-2", "SRV-3"))]


def test_a_publication_that_fails_writes_no_record(store: ResultStore, db: Path) -> None:
    frame, log = run("run-a", people=3, k=2)
    with pytest.raises(ValueError, match="recommendations=6"):
        store.publish(frame.head(4), log)
    store.latest_run()  # creates the tables
    # a failure inside the transaction, after the record's rows: the run and its record roll back together
    sql(db, "CREATE TRIGGER refuse AFTER INSERT ON audit_served BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(Exception, match="disk full"):
        store.publish(frame, log)
    assert store.latest_run() is None and store.audit_records() == [] and store.recommendations_for("P001").empty
    sql(db, "DROP TRIGGER refuse")
    store.publish(frame, log)
    assert [r.kind for r in store.audit_records()] == ["nightly"]


def test_runs_leave_after_keep_runs_but_their_records_stay_for_the_retention(db: Path, clock: Clock) -> None:
    store = ResultStore(f"sqlite:///{db}", keep_runs=1, log_retention_days=3, clock=clock)
    for day in range(5):
        clock.now = START + timedelta(days=day)
        store.publish(*run(f"run-{day}", people=2, k=2))
    assert [r.run_id for r in store.runs()] == ["run-4"]
    assert [r.run_id for r in store.audit_records()] == ["run-1", "run-2", "run-3", "run-4"]  # day 0 is past 3 days
    assert store.verify_audit_log() is None


def test_a_run_keeps_its_fairness_audit_report(store: ResultStore) -> None:
    """The nightly run's fairness report (group aggregates, ``learning.audit``) is stored with the run."""
    report = json.dumps({"summary": {"participants": 2}, "violations": ["a gap"], "overrides": [
        {"reason": "other", "overrides": 1}]})
    store.publish(*run("run-a", people=2, k=1), audit=report)
    store.publish(*run("run-b", people=2, k=1))
    run_id, stored = store.audit_report("run-a")
    assert run_id == "run-a" and stored.violations == ("a gap",) and stored.overrides["overrides"].tolist() == [1]
    assert store.audit_report() == ("run-b", None) and store.audit_report("run-x") is None
    assert [r.run_id for r in store.runs()] == ["run-b", "run-a"]
    with pytest.raises(ValueError, match="must be JSON text"):
        store.publish(*run("run-c", people=2, k=1), audit="not json")


def test_settings_give_the_retention(tmp_path: Path) -> None:
    settings = load_settings(None, {"workdir": tmp_path / "work", "audit": {"log_retention_days": 90}})
    assert ResultStore.from_settings(settings).log_retention_days == 90
    with pytest.raises(ValueError, match="log_retention_days must be at least 1"):
        ResultStore(f"sqlite:///{tmp_path / 'x.db'}", log_retention_days=0)


# ---------------------------------------------------------------------------- override reasons
def test_feedback_reasons_are_stored_and_returned_by_overrides(store: ResultStore) -> None:
    events = pd.DataFrame({"participant_id": ["P1", "P1", "P2"], "vacancy_id": ["V1", "V2", "V3"],
                           "event": ["declined", "applied", "declined"], "event_date": ["2026-06-02"] * 3,
                           "reason": ["not_suitable_health", None, ""]})
    assert store.append_feedback(events) == 3
    assert list(store.feedback().columns) == list(FEEDBACK_COLUMNS) and len(store.feedback()) == 3
    overrides = store.overrides()
    assert list(overrides.columns) == list(OVERRIDE_COLUMNS)
    assert overrides[["participant_id", "vacancy_id", "reason", "event_date"]].values.tolist() == [
        ["P1", "V1", "not_suitable_health", "2026-06-02"]]
    with pytest.raises(ValueError, match="reason: only a 'declined' event has a reason"):
        store.append_feedback(events.assign(reason="other"))
    with pytest.raises(ValueError, match="feedback reason 'too_old' is not one of"):
        store.append_feedback(events.head(1).assign(reason="too_old"))
    assert len(store.feedback()) == 3 and store.audit_records() == []


def test_a_database_made_before_reasons_gets_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE feedback (id INTEGER PRIMARY KEY, participant_id VARCHAR(128) NOT NULL, "
                   "vacancy_id VARCHAR(128) NOT NULL, event VARCHAR(16) NOT NULL, event_date VARCHAR(10) NOT NULL, "
                   "received_at VARCHAR(40) NOT NULL)")
        db.execute("INSERT INTO feedback VALUES (1, 'P0', 'V0', 'declined', '2026-05-01', '2026-05-01T10:00:00+00:00')")
    store = ResultStore(f"sqlite:///{path}")
    store.append_feedback(pd.DataFrame({"participant_id": ["P1"], "vacancy_id": ["V1"], "event": ["declined"],
                                        "event_date": ["2026-06-02"], "reason": ["participant_not_interested"]}))
    assert store.feedback()["participant_id"].tolist() == ["P0", "P1"]
    assert store.overrides()["reason"].tolist() == ["participant_not_interested"]


# ------------------------------------------------------------------------------------ the API
@dataclass(frozen=True)
class Api:
    url: str
    key: str
    settings: Settings
    store: ResultStore
    db: Path
    person: dict[str, Any]


def call(api: Api, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    parts = urlsplit(api.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    try:
        connection.request(method, path, body=None if body is None else json.dumps(body).encode(),
                           headers={"Content-Type": "application/json", "X-API-Key": api.key})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


@pytest.fixture(scope="module")
def api(served_world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:  # noqa: ANN001
    root = tmp_path_factory.mktemp("audit-api")
    db = root / "results.db"
    settings = load_settings(None, {
        "workdir": served_world.workdir, "batch": {"database_url": f"sqlite:///{db}", "k": 3},
        "api": {"data_dir": served_world.data_dir, "as_of": served_world.as_of, "keys_file": root / "keys.json"},
    })
    key = add_api_key(settings.api.keys_file, "coach-tool")
    store = ResultStore.from_settings(settings)
    frame, log = run("run-n", people=2, k=3)
    store.publish(frame, log, routes("run-n", "P001"))
    person = frame_to_records(load_data(served_world.data_dir).participants.iloc[[0]])[0]
    with background_server(create_app(settings)) as url:
        yield Api(url, key, settings, store, db, person)


def new_records(api: Api, before: int) -> list[Any]:
    return [r for r in api.store.audit_records() if r.seq > before]


def head(api: Api) -> int:
    records = api.store.audit_records(last=1)
    return records[0].seq if records else 0


def test_api_calls_write_records_with_the_caller_name_and_no_free_text(api: Api, served_world) -> None:  # noqa: ANN001
    before = head(api)
    status, body = call(api, "POST", "/recommendations", {**api.person, "profile_text": SENTINEL, "k": 3})
    assert status == 200
    [record] = new_records(api, before)
    served = [r["vacancy_id"] for r in body["recommendations"]]
    assert (record.kind, record.caller, record.run_id, record.model_version) == (
        "api.recommendations", "coach-tool", None, body["model_version"])
    assert (record.participants, record.items) == (1, len(served))
    assert api.store.audit_served(record.seq) == [(api.person["participant_id"], tuple(served))]
    files = [find_table(served_world.data_dir, name) for name in ("vacancies", "services", "outcomes")]
    assert record.data_fingerprint == fingerprint_files(files)
    assert record.config_hash == hashlib.sha256(api.settings.model_dump_json().encode()).hexdigest()
    assert api.key not in json.dumps(record.model_dump())  # the key's name, never the key

    with sqlite3.connect(api.db) as conn:  # the sentinel is in no table
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        assert {"audit_log", "audit_served", "feedback", "recommendations"} <= set(tables)
        for table in tables:
            assert all(SENTINEL not in str(row) for row in conn.execute(f"SELECT * FROM {table}")), table
    assert api.store.verify_audit_log() is None


def test_nightly_lists_pathways_and_feedback_served_by_the_api_are_recorded(api: Api) -> None:
    before = head(api)
    assert call(api, "GET", "/participants/P001/recommendations")[0] == 200
    assert call(api, "GET", "/participants/P001/pathways")[0] == 200
    event = {"participant_id": "P001", "vacancy_id": "V001-1", "event": "declined", "event_date": "2026-06-02",
             "reason": "not_suitable_distance"}
    assert call(api, "POST", "/feedback", [event, {**event, "vacancy_id": "V001-2", "event": "viewed",
                                                   "reason": None}])[0] == 201
    nightly, paths, feedback = new_records(api, before)
    assert (nightly.kind, nightly.run_id, nightly.caller, nightly.items) == (
        "api.participant_recommendations", "run-n", "coach-tool", 3)
    assert api.store.audit_served(nightly.seq) == [("P001", ("V001-1", "V001-2", "V001-3"))]
    assert (paths.kind, paths.run_id, paths.model_version) == ("api.participant_pathways", "run-n", "7")
    assert api.store.audit_served(paths.seq) == [("P001", ("SRV-1>SRV-2", "SRV-3"))]
    assert (feedback.kind, feedback.participants, feedback.items) == ("api.feedback", 1, 2)
    assert api.store.audit_served(feedback.seq) == [("P001", ("V001-1", "V001-2"))]
    assert api.store.verify_audit_log() is None


def test_refused_calls_write_no_record(api: Api) -> None:
    before = head(api)
    status, _ = call(api, "POST", "/recommendations", {**api.person, "max_hours_per_week": 75})
    assert status == 422
    assert call(api, "POST", "/recommendations", {**api.person, "favourite_colour": "red"})[0] == 422
    assert call(api, "GET", "/participants/NOBODY/recommendations")[0] == 404
    assert call(api, "GET", "/participants/NOBODY/pathways")[0] == 404
    assert call(api, "POST", "/feedback", {"participant_id": "P1", "vacancy_id": "V1", "event": "called",
                                           "event_date": "2026-06-02"})[0] == 422
    assert new_records(api, before) == []


def test_feedback_with_a_reason_is_stored_and_returned_by_overrides(api: Api) -> None:
    for reason in OVERRIDE_REASONS:
        event = {"participant_id": "P-O1", "vacancy_id": f"V-{reason}", "event": "declined",
                 "event_date": "2026-06-03", "reason": reason}
        assert call(api, "POST", "/feedback", event) == (201, {"stored": 1})
    overrides = api.store.overrides()
    mine = overrides[overrides["participant_id"] == "P-O1"]
    assert mine["reason"].tolist() == list(OVERRIDE_REASONS)
    assert mine["vacancy_id"].tolist() == [f"V-{r}" for r in OVERRIDE_REASONS]
    assert (mine["event_date"] == "2026-06-03").all() and mine["received_at"].str.endswith("+00:00").all()
    assert list(api.store.feedback().columns) == list(FEEDBACK_COLUMNS)


@pytest.mark.parametrize("event, reason", [("applied", "not_suitable_health"), ("hired", "other"),
                                           ("declined", "too_far_away"), ("declined", "")])
def test_a_reason_with_another_event_or_outside_the_codes_is_422_naming_reason(api: Api, event: str,
                                                                               reason: str) -> None:
    before, stored = head(api), len(api.store.feedback())
    body = {"participant_id": "P-O2", "vacancy_id": "V1", "event": event, "event_date": "2026-06-03", "reason": reason}
    status, answer = call(api, "POST", "/feedback", body)
    assert status == 422 and answer["detail"][0]["loc"] == ["body", 0, "reason"], answer
    assert len(api.store.feedback()) == stored and new_records(api, before) == []


# ------------------------------------------------------------------------------------ the CLI
@pytest.fixture()
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(f"workdir: {tmp_path / 'work'}\naudit:\n  log_retention_days: 30\n", encoding="utf-8")
    return path


def cli_store(config: Path, clock: Clock) -> ResultStore:
    settings = load_settings(config)
    return ResultStore(ResultStore.from_settings(settings).url, clock=clock)


def test_audit_log_show_purge_and_verify(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    now = datetime.now(timezone.utc)
    clock = Clock(now - timedelta(days=40))
    store = cli_store(config, clock)
    appended(store, clock, 4, every=timedelta(days=5))  # 40, 35, 30 and 25 days ago
    clock.now = now
    store.publish(*run("run-a", people=2, k=2, details={"data_fingerprint": "e" * 64, "config_hash": "f" * 64}))

    assert main(["audit-log", "show", "--config", str(config)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["seq", "at", "kind", "caller", "run_id", "model_version", "participants", "items",
                              "data_fingerprint", "config_hash"]
    assert len(out) == 6 and out[-1].split()[2:] == ["nightly", "batch", "run-a", "7", "2", "4", "e" * 12, "f" * 12]
    assert main(["audit-log", "show", "--last", "2", "--config", str(config)]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["4", "5"]
    since = (now - timedelta(days=32)).date().isoformat()
    assert main(["audit-log", "show", "--since", since, "--config", str(config)]) == 0
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]] == ["3", "4", "5"]

    assert main(["audit-log", "verify", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "audit log intact: 5 records"
    assert main(["audit-log", "purge", "--older-than-days", "33", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "2 audit records older than 33 days deleted"
    assert main(["audit-log", "purge", "--config", str(config)]) == 0  # settings: 30 days
    assert capsys.readouterr().out.strip() == "1 audit records older than 30 days deleted"
    assert main(["audit-log", "verify", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "audit log intact: 2 records"

    sql(Path(store.url.removeprefix("sqlite:///")), "UPDATE audit_log SET participants = 1 WHERE seq = 4")
    assert main(["audit-log", "verify", "--config", str(config)]) == 1
    assert capsys.readouterr().err.strip() == (
        "ilona-match audit-log: audit log broken at seq 4: a record was changed, inserted or deleted there")


def test_audit_log_commands_on_an_empty_log_and_bad_values(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["audit-log", "show", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "no audit records"
    assert main(["audit-log", "verify", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "audit log intact: 0 records"
    with pytest.raises(SystemExit):
        main(["audit-log", "purge", "--older-than-days", "0", "--config", str(config)])
    assert "must be at least 1" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["audit-log", "show", "--since", "yesterday", "--config", str(config)])
    assert "not an ISO date" in capsys.readouterr().err
