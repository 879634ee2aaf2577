"""The results database on a real SQLite file: publish and read, replace, prune, readers that only
ever see a whole run (also while another process publishes, or dies publishing), and feedback from
many writers at once."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import threading
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError
from sqlalchemy import create_engine, text

from ilona_match.config import load_settings
from ilona_match.contract.output import RECOMMENDATION_COLUMNS
from ilona_match.serving.store import FEEDBACK_COLUMNS, ResultStore, RunLog, utc_now

AS_OF = date(2026, 6, 1)


def run_frame(run_id: str, people: int, k: int, *, seed: int = 0) -> tuple[pd.DataFrame, RunLog]:
    """A valid run: ``people`` participants P000000.. with ``k`` ranked vacancies each."""
    rng = np.random.default_rng(seed)
    person = np.repeat(np.arange(people), k)
    frame = pd.DataFrame({
        "run_id": run_id,
        "as_of": AS_OF.isoformat(),
        "participant_id": [f"P{i:06d}" for i in person],
        "coach_id": [f"C{i % 7}" for i in person],
        "rank": np.tile(np.arange(1, k + 1), people),
        "vacancy_id": [f"V{i:05d}" for i in rng.integers(0, 90_000, len(person))],
        "score": -np.sort(-rng.random((people, k)), axis=1).ravel(),
        "p_outcome": np.where(np.arange(len(person)) % 5 == 0, np.nan, rng.random(len(person)) * 0.4),
        "reasons": "Taidot sopivat|Sopiva työaika",
        "to_check": np.where(np.arange(len(person)) % 4 == 0, "hours_per_week", ""),
        "model_version": "7",
    })[list(RECOMMENDATION_COLUMNS)]
    log = RunLog(run_id=run_id, as_of=AS_OF, model_version="7", started_at=utc_now(), finished_at=utc_now(),
                 participants=people, vacancies=200, open_vacancies=150, rejected_rows=2,
                 recommendations=len(frame), to_check=int((frame["to_check"] != "").sum()),
                 details={"allocation.capped_vacancies": 3, "exposure_per_opening": 3.0, "mode": "capacity"})
    return frame, log


def publish_in_child(url: str, run_id: str, people: int, k: int) -> None:
    ResultStore(url).publish(*run_frame(run_id, people, k, seed=1))


def append_in_child(url: str, writer: int, appends: int) -> None:
    store = ResultStore(url)
    for i in range(appends):
        store.append_feedback(pd.DataFrame({
            "participant_id": [f"W{writer}-{i}", f"W{writer}-{i}"], "vacancy_id": ["V1", "V2"],
            "event": ["applied", "hired"], "event_date": ["2026-06-02", "2026-06-20"],
        }))


def _children() -> multiprocessing.context.BaseContext:
    """Children forked from a clean server that has already imported the store (fast, no threads)."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["ilona_match.serving.store", "pandas", "numpy"])
    return context


@pytest.fixture()
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'results.db'}"


def test_publish_then_read_the_current_run(url: str) -> None:
    store = ResultStore(url)
    assert store.latest_run() is None
    assert store.recommendations_for("P000001").empty
    frame, log = run_frame("run-a", people=20, k=5)
    store.publish(frame, log)

    assert store.latest_run() == log
    assert store.runs() == [log]
    got = store.recommendations_for("P000003")
    expected = frame[frame["participant_id"] == "P000003"].sort_values("rank").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert list(got.columns) == list(RECOMMENDATION_COLUMNS) and got["rank"].tolist() == [1, 2, 3, 4, 5]
    assert store.recommendations_for("nobody").empty


def test_republishing_a_run_replaces_it_and_makes_it_current(url: str) -> None:
    store = ResultStore(url)
    first, first_log = run_frame("run-a", people=10, k=5)
    second, second_log = run_frame("run-b", people=10, k=3)
    again, again_log = run_frame("run-a", people=10, k=2, seed=9)
    store.publish(first, first_log)
    store.publish(second, second_log)
    assert store.latest_run() == second_log
    store.publish(again, again_log)

    assert [run.run_id for run in store.runs()] == ["run-a", "run-b"]
    assert store.latest_run() == again_log
    got = store.recommendations_for("P000004")
    assert got["rank"].tolist() == [1, 2]
    assert got["score"].tolist() == pytest.approx(again.loc[again["participant_id"] == "P000004", "score"].tolist())


def test_runs_beyond_keep_runs_are_deleted_with_their_rows(url: str) -> None:
    store = ResultStore(url, keep_runs=2)
    for name in ("run-1", "run-2", "run-3"):
        store.publish(*run_frame(name, people=5, k=2))
    assert [run.run_id for run in store.runs()] == ["run-3", "run-2"]
    with create_engine(url).connect() as conn:
        kept = conn.execute(text("SELECT run_id, COUNT(*) FROM recommendations GROUP BY run_id ORDER BY run_id")).all()
    assert [tuple(row) for row in kept] == [("run-2", 10), ("run-3", 10)]


def test_settings_choose_the_database(tmp_path: Path) -> None:
    settings = load_settings(None, {"workdir": tmp_path / "work", "batch": {"keep_runs": 5}})
    store = ResultStore.from_settings(settings)
    store.publish(*run_frame("run-a", people=2, k=1))
    assert (tmp_path / "work" / "results.db").is_file() and store.keep_runs == 5
    other = load_settings(None, {"workdir": tmp_path / "w2", "batch": {"database_url": f"sqlite:///{tmp_path / 'x.db'}"}})
    assert ResultStore.from_settings(other).url.endswith("x.db")


def test_frames_and_logs_that_do_not_fit_are_refused(url: str) -> None:
    store = ResultStore(url)
    frame, log = run_frame("run-a", people=3, k=2)
    with pytest.raises(ValueError, match="rank"):
        store.publish(frame.drop(columns="rank"), log)
    with pytest.raises(ValueError, match="score"):
        store.publish(frame.assign(score=np.inf), log)
    with pytest.raises(ValueError, match="run_id"):
        store.publish(frame.assign(run_id="run-x"), log)
    with pytest.raises(ValueError, match="recommendations=6"):
        store.publish(frame.head(4), log)
    with pytest.raises(ValidationError, match="UTC"):
        RunLog(**{**log.model_dump(), "started_at": "2026-06-01T03:00:00+03:00"})
    with pytest.raises(ValidationError, match="details"):
        RunLog(**{**log.model_dump(), "details": {"note": "Matti has back pain"}})
    assert store.latest_run() is None


def test_a_reader_sees_the_old_or_the_new_run_while_another_process_publishes(url: str) -> None:
    store = ResultStore(url)
    store.publish(*run_frame("run-old", people=50, k=5))
    child = _children().Process(target=publish_in_child, args=(url, "run-new", 12_000, 8))
    child.start()
    seen: list[tuple[str, int]] = []
    while child.is_alive() or not seen:
        rows = store.recommendations_for("P000007")
        assert rows["run_id"].nunique() == 1
        seen.append((rows["run_id"].iloc[0], len(rows)))
        assert store.latest_run().run_id in ("run-old", "run-new")
        time.sleep(0.02)
    child.join()
    assert child.exitcode == 0
    assert set(seen) <= {("run-old", 5), ("run-new", 8)}
    assert ("run-old", 5) in seen  # reads happened while the new run was being written
    assert store.recommendations_for("P000007")["run_id"].unique().tolist() == ["run-new"]
    assert store.latest_run().recommendations == 96_000


def test_a_publisher_killed_half_way_leaves_the_previous_run(url: str, tmp_path: Path) -> None:
    store = ResultStore(url)
    old, old_log = run_frame("run-old", people=4, k=3)
    store.publish(old, old_log)
    wal = tmp_path / "results.db-wal"
    child = _children().Process(target=publish_in_child, args=(url, "run-new", 60_000, 10))
    child.start()
    while child.is_alive() and (not wal.exists() or wal.stat().st_size < 2_000_000):
        time.sleep(0.01)
    os.kill(child.pid, signal.SIGKILL)
    child.join()
    assert child.exitcode == -signal.SIGKILL  # killed while its transaction was open

    reader = ResultStore(url)
    assert reader.latest_run() == old_log and [r.run_id for r in reader.runs()] == ["run-old"]
    assert reader.recommendations_for("P000002")["run_id"].tolist() == ["run-old"] * 3
    reader.publish(*run_frame("run-next", people=2, k=1))  # the dead writer left no lock behind
    assert reader.latest_run().run_id == "run-next"


def test_concurrent_feedback_from_processes_and_threads_all_lands(url: str) -> None:
    children = [_children().Process(target=append_in_child, args=(url, w, 15)) for w in range(3)]
    for child in children:
        child.start()
    store = ResultStore(url)
    threads = [threading.Thread(target=append_in_child, args=(url, 10 + w, 10)) for w in range(4)]
    for thread in threads:
        thread.start()
    for worker in [*children, *threads]:
        worker.join()
    assert all(child.exitcode == 0 for child in children)

    stored = store.feedback()
    assert list(stored.columns) == list(FEEDBACK_COLUMNS)
    assert len(stored) == 2 * (3 * 15 + 4 * 10)
    expected = {f"W{w}-{i}" for w in range(3) for i in range(15)} | {f"W{10 + w}-{i}" for w in range(4) for i in range(10)}
    assert set(stored["participant_id"]) == expected
    assert stored["received_at"].str.endswith("+00:00").all()


def _first_write(store: ResultStore, writer: int, start: threading.Barrier, failures: list[BaseException]) -> None:
    start.wait()
    try:
        store.append_feedback(pd.DataFrame({"participant_id": [f"W{writer}"], "vacancy_id": ["V1"],
                                            "event": ["applied"], "event_date": ["2026-06-02"]}))
    except BaseException as error:  # noqa: BLE001 - collected and reported by the test
        failures.append(error)


def test_stores_opened_at_the_same_moment_on_a_new_database_all_create_their_tables(tmp_path: Path) -> None:
    """Regression (a CI failure): check-then-create let two first writers both create a table."""
    for attempt in range(5):
        url = f"sqlite:///{tmp_path / f'race{attempt}.db'}"
        stores = [ResultStore(url) for _ in range(8)]
        start = threading.Barrier(len(stores))
        failures: list[BaseException] = []

        threads = [threading.Thread(target=_first_write, args=(store, w, start, failures)) for w, store in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == []
        assert sorted(stores[0].feedback()["participant_id"]) == sorted(f"W{w}" for w in range(8))


def test_feedback_takes_dates_and_refuses_unknown_events(url: str) -> None:
    store = ResultStore(url)
    events = pd.DataFrame({"participant_id": ["P1"], "vacancy_id": ["V1"], "event": ["interview"],
                           "event_date": pd.to_datetime(["2026-06-03"])})
    assert store.append_feedback(events) == 1
    assert store.feedback()["event_date"].tolist() == ["2026-06-03"]
    with pytest.raises(ValueError, match="event"):
        store.append_feedback(events.assign(event="called"))
    with pytest.raises(ValueError, match="vacancy_id"):
        store.append_feedback(events.drop(columns="vacancy_id"))
    assert len(store.feedback()) == 1


def test_a_database_made_before_p_outcome_gets_the_column(tmp_path: Path) -> None:
    """A results database written by an earlier version has no p_outcome column: the store adds it, keeps
    the old rows (their chance unknown) and publishes and reads new runs with it."""
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE recommendations (run_id VARCHAR(64) NOT NULL, participant_id VARCHAR(128) NOT NULL, "
                   "rank INTEGER NOT NULL, coach_id VARCHAR(128) NOT NULL, vacancy_id VARCHAR(128) NOT NULL, "
                   "score FLOAT NOT NULL, reasons TEXT NOT NULL, to_check TEXT NOT NULL, "
                   "PRIMARY KEY (run_id, participant_id, rank))")
        db.execute("INSERT INTO recommendations VALUES ('run-old', 'P000001', 1, 'C1', 'V1', 0.5, 'r', '')")
    store = ResultStore(f"sqlite:///{path}")
    frame, log = run_frame("run-new", people=4, k=3)
    store.publish(frame, log)
    got = store.recommendations_for("P000000")
    np.testing.assert_allclose(got["p_outcome"].to_numpy(), frame.loc[frame["participant_id"] == "P000000",
                                                                       "p_outcome"].to_numpy())
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT p_outcome FROM recommendations WHERE run_id = 'run-old'").fetchone() == (None,)
