"""The nightly job as the scheduler runs it: rejects set aside, atomic publishing also when killed,
byte-identical reruns, a run log with counts only — on the shared served world (real MLflow store,
real SQLite results database)."""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from ilona_match.contract import read_table
from ilona_match.contract.output import PATHWAY_COLUMNS, RECOMMENDATIONS_SCHEMA
from ilona_match.serving.nightly import run_nightly
from ilona_match.serving.store import ResultStore
from tests.conftest import ServedWorld

REPO = Path(__file__).resolve().parents[1]
SECRET = "Minulla on selkävaiva ja masennus ZX-SECRET-TEXT"  # planted free text that must stay out of outputs


@pytest.fixture(scope="module")
def dirty_data(served_world: ServedWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served world with one bad participant row, one bad vacancy row and a planted health text."""
    data = tmp_path_factory.mktemp("nightly") / "data"
    shutil.copytree(served_world.data_dir, data)
    people = pd.read_csv(data / "participants.csv", dtype=str, keep_default_na=False)
    people.loc[3, "max_hours_per_week"] = "75"  # out of range: rejected
    people.loc[5, "profile_text"] = SECRET
    people.to_csv(data / "participants.csv", index=False)
    jobs = pd.read_csv(data / "vacancies.csv", dtype=str, keep_default_na=False)
    jobs.loc[2, "published_at"] = "yesterday"  # unparseable date: rejected
    jobs.to_csv(data / "vacancies.csv", index=False)
    return data


def test_nightly_sets_bad_rows_aside_keeps_valid_ones_and_logs_counts(
    served_world: ServedWorld, dirty_data: Path, tmp_path: Path
) -> None:
    settings = served_world.settings.model_copy(update={"workdir": served_world.workdir})
    outputs = run_nightly(settings, dirty_data, served_world.as_of, tmp_path / "recs.parquet", k=5)
    log = outputs.log
    # the outcome rows naming the rejected person or vacancy go aside with them (outcomes are read to
    # leave the pairs already acted on out of the lists), and so does the person's participant_groups row
    people = pd.read_csv(dirty_data / "participants.csv", dtype=str, keep_default_na=False)
    jobs = pd.read_csv(dirty_data / "vacancies.csv", dtype=str, keep_default_na=False)
    events = pd.read_csv(dirty_data / "outcomes.csv", dtype=str)
    orphaned = int((events["participant_id"].eq(people.loc[3, "participant_id"])
                    | events["vacancy_id"].eq(jobs.loc[2, "vacancy_id"])).sum())
    assert log.participants == 299 and log.vacancies == 149 and log.rejected_rows == 2 + orphaned + 1
    rejects = read_table(outputs.rejects)
    assert set(rejects["file"]) == ({"participants.csv", "participant_groups.csv", "vacancies.csv"}
                                    | ({"outcomes.csv"} if orphaned else set()))
    assert {"max_hours_per_week", "published_at"} <= set(rejects["column"])
    recs = RECOMMENDATIONS_SCHEMA.validate(pd.read_parquet(outputs.table))
    assert len(recs) == log.recommendations and recs.groupby("participant_id").size().max() <= 5
    assert log.details["constraint_checks"] == len(recs) and log.details["constraint_breaks"] == 0
    assert log.to_check == int((recs["to_check"] != "").sum())
    store = ResultStore.from_settings(settings)
    assert store.latest_run() == log
    first = recs["participant_id"].iloc[0]
    assert list(store.recommendations_for(first)["vacancy_id"]) == list(recs.loc[recs["participant_id"] == first, "vacancy_id"])
    # the pathways table: in the contract form, stored with the run, a route for everyone no job fitted
    # who can take a step (the planner's own property tests: tests/test_pathways.py)
    paths = pd.read_parquet(outputs.pathways)
    assert list(paths.columns) == list(PATHWAY_COLUMNS) and len(paths) == log.details["pathways"] > 0
    assert set(paths["run_id"]) == {log.run_id} and (paths["p_gain"].between(0, 1)).all()
    routed = paths["participant_id"].iloc[0]
    assert store.pathways_for(routed)["steps"].tolist() == [tuple(s) for s in paths.loc[
        paths["participant_id"] == routed, "steps"]]
    assert log.details["participants_with_pathway"] == paths["participant_id"].nunique()
    pages = sorted(outputs.reports.glob("*.html"))
    assert len(pages) == pd.read_csv(dirty_data / "participants.csv", dtype=str)["coach_id"].nunique()
    # no participant free text anywhere the run wrote
    for path in [outputs.table, outputs.rejects, outputs.pathways, *pages, Path(settings.workdir) / "results.db"]:
        assert b"ZX-SECRET-TEXT" not in path.read_bytes(), path


def test_same_inputs_and_model_give_byte_identical_tables(served_world: ServedWorld, tmp_path: Path) -> None:
    settings = served_world.settings
    first = run_nightly(settings, served_world.data_dir, served_world.as_of, tmp_path / "a.csv", reports=False)
    second = run_nightly(settings, served_world.data_dir, served_world.as_of, tmp_path / "b.csv", reports=False)
    assert first.log.run_id == second.log.run_id
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()


def test_a_recommendation_breaking_a_hard_constraint_stops_the_run(served_world: ServedWorld, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """The nightly job re-checks every chosen pair with the contract's rule, apart from the code that chose
    it. A defect that lets one breaking pair through (here planted into the real batch's table) stops the
    run before anything is published: no table, no coach pages, no new run in the results database."""
    from ilona_match.contract import load_data
    from ilona_match.serving import nightly

    bundle = load_data(served_world.data_dir, tables=("participants", "vacancies"))
    heavy = bundle.vacancies[bundle.vacancies["physical_load"] == "heavy"].iloc[0]
    sedentary = bundle.participants[bundle.participants["physical_capacity"] == "sedentary"].iloc[0]
    real_batch = nightly.run_batch
    run_ids: list[str] = []

    def defective(*args: object, **kwargs: object):  # noqa: ANN202
        result = real_batch(*args, **kwargs)
        run_ids.append(str(result.frame["run_id"].iloc[0]))
        broken = result.frame.iloc[[0]].assign(participant_id=sedentary["participant_id"], vacancy_id=heavy["vacancy_id"])
        return dataclasses.replace(result, frame=pd.concat([result.frame, broken], ignore_index=True))

    monkeypatch.setattr(nightly, "run_batch", defective)
    database = served_world.settings.batch.model_copy(update={"database_url": f"sqlite:///{tmp_path / 'r.db'}"})
    settings = served_world.settings.model_copy(update={"batch": database})
    out = tmp_path / "recs.csv"
    with pytest.raises(RuntimeError, match="1 recommendations break a hard constraint; nothing was published"):
        run_nightly(settings, served_world.data_dir, served_world.as_of, out, k=7)
    assert run_ids and not (Path(settings.workdir) / "reports" / run_ids[0]).exists()
    assert not out.exists() and ResultStore.from_settings(settings).latest_run() is None


def _batch_command(data: Path, out: Path, k: int, who: Path) -> list[str]:
    exe = shutil.which("ilona-match")
    command = [exe] if exe else [sys.executable, "-m", "ilona_match.cli"]
    return [*command, "batch", "--data", str(data), "--as-of", "2026-06-01", "--out", str(out), "--k", str(k),
            "--participants", str(who), "--quiet"]


def _published_state(out: Path, store: ResultStore, reports: Path, coaches: int) -> tuple[bytes, str]:
    """What a reader sees now; fails when any output is partial."""
    table = out.read_bytes()
    frame = pd.read_csv(out, dtype=str, keep_default_na=False)
    frame = frame.astype({"rank": "int64", "score": "float64"}).assign(p_outcome=pd.to_numeric(frame["p_outcome"]))
    RECOMMENDATIONS_SCHEMA.validate(frame)
    assert frame["run_id"].nunique() == 1  # the table file holds one run
    run = store.latest_run()
    assert run is not None
    with sqlite3.connect(store.url.removeprefix("sqlite:///")) as db:
        (rows,) = db.execute("SELECT COUNT(*) FROM recommendations WHERE run_id = ?", (run.run_id,)).fetchone()
    assert rows == run.recommendations  # the database run is complete
    assert len(list((reports / run.run_id).glob("*.html"))) == coaches  # its coach reports are whole
    return table, run.run_id


@pytest.mark.slow
def test_killing_the_nightly_job_never_leaves_a_partial_or_mixed_result(served_world: ServedWorld, tmp_path: Path) -> None:
    """Ten SIGKILLs at random points of real `ilona-match batch` runs; after each, every output is
    one complete run (the old or the new one), and the next run succeeds."""
    env = {**os.environ, "ILONA_MATCH_WORKDIR": str(served_world.workdir), "ILONA_MATCH_BATCH__CHUNK_SIZE": "25",
           "ILONA_MATCH_BATCH__DATABASE_URL": f"sqlite:///{tmp_path / 'kill.db'}",
           "ILONA_MATCH_MATCHING__RANKER__NUM_THREADS": "1"}
    env.pop("MLFLOW_TRACKING_URI", None)
    out = tmp_path / "recs.csv"
    store = ResultStore(f"sqlite:///{tmp_path / 'kill.db'}")
    reports = served_world.workdir / "reports"
    people = pd.read_csv(served_world.data_dir / "participants.csv", dtype=str).head(120)
    who = tmp_path / "who.csv"
    people[["participant_id"]].to_csv(who, index=False)
    coaches = people["coach_id"].nunique()
    complete: dict[int, tuple[bytes, str]] = {}
    durations = []
    for k in (3, 4):  # complete runs: the states a reader may see (the second one is warm)
        started = time.monotonic()
        done = subprocess.run(_batch_command(served_world.data_dir, out, k, who), env=env, capture_output=True,
                              text=True, timeout=600)
        durations.append(time.monotonic() - started)
        assert done.returncode == 0, done.stderr
        complete[k] = _published_state(out, store, reports, coaches)
    seen = []
    rng = random.Random(20261128)
    fastest = durations[-1]  # a warm run: what a killed attempt takes when left alone
    while sum(state == "killed" for state, _ in seen) < 10:
        assert len(seen) < 25, f"runs kept finishing before the kill: {seen}"
        attempt = len(seen)
        before = _published_state(out, store, reports, coaches)
        # a run whose database run differs from the current one: then the database showing it means this
        # run committed (a kill between the file's rename and the commit legitimately leaves the file ahead)
        k = 3 if before[1] == complete[4][1] else 4
        started = time.monotonic()
        process = subprocess.Popen(_batch_command(served_world.data_dir, out, k, who), env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.05, 0.95) * fastest)  # anywhere from start-up to publishing
        process.send_signal(signal.SIGKILL)
        killed = process.wait(timeout=60) == -signal.SIGKILL
        if not killed:  # it finished first: aim earlier from now on
            fastest = min(fastest, time.monotonic() - started)
        after = _published_state(out, store, reports, coaches)
        # each output is one whole run, the old or the new; the database (the commit point, written
        # last) never runs ahead of the table file
        assert after[0] in (before[0], complete[k][0]), f"attempt {attempt}: the table file is partial or mixed"
        assert after[1] in (before[1], complete[k][1]), f"attempt {attempt}: the database run is partial or mixed"
        assert after[1] != complete[k][1] or after[0] == complete[k][0], f"attempt {attempt}: database ahead of the file"
        seen.append(("killed" if killed else "finished", "new" if after == complete[k] else "old"))
        assert killed or after == complete[k]
    done = subprocess.run(_batch_command(served_world.data_dir, out, 3, who), env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr  # the next run succeeds after any kill
    assert _published_state(out, store, reports, coaches) == complete[3]
    print(f"kill outcomes: {seen}; complete runs {[round(d, 1) for d in durations]} s")
