"""The command line as a user runs it: exit codes, one-line reasons, no tracebacks."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ilona_match.cli import main

EXAMPLE = Path(__file__).parent / "data" / "example"


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script, in a separate process, as a user would call it."""
    exe = shutil.which("ilona-match")
    command = [exe] if exe else [sys.executable, "-m", "ilona_match.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=600)


def test_validate_example_is_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--data", str(EXAMPLE)]) == 0
    assert "valid" in capsys.readouterr().out


def test_validate_reports_every_fault_with_file_column_row(tmp_path: Path) -> None:
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    people = (data / "participants.csv").read_text(encoding="utf-8").splitlines()
    people[1] = people[1].replace(",25,light,", ",75,light,")  # P001: hours out of range
    people.append(people[2])  # P002 twice
    (data / "participants.csv").write_text("\n".join(people) + "\n", encoding="utf-8")
    result = run_cli("validate", "--data", str(data))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stdout.splitlines()
    assert any(line.startswith("participants.csv row 1, column max_hours_per_week:") for line in lines)
    assert sum("duplicate" in line and "participants.csv row" in line for line in lines) == 2
    assert "faults" in result.stderr


def test_validate_writes_rejects_and_names_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    shutil.copytree(EXAMPLE, data)
    with (data / "outcomes.csv").open("a", encoding="utf-8") as handle:
        handle.write("P999,V101,applied,2026-08-23\n")
    rejects = tmp_path / "rejects.csv"
    assert main(["validate", "--data", str(data), "--rejects", str(rejects)]) == 1
    text = rejects.read_text(encoding="utf-8")
    assert "P999" in text and "outcomes.csv" in text
    assert main(["validate", "--data", str(tmp_path / "nowhere")]) == 1
    assert "participants" in capsys.readouterr().out


def test_bad_config_is_one_line_without_traceback(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("contract:\n  nope: 1\n")
    result = run_cli("validate", "--data", str(EXAMPLE), "--config", str(config))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "contract.nope" in result.stderr and "Traceback" not in result.stderr


def test_unknown_option_is_refused() -> None:
    result = run_cli("validate", "--data", str(EXAMPLE), "--bogus")
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr


def test_generate_then_validate(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = run_cli("generate", "--out", str(out), "--participants", "120", "--vacancies", "60",
                     "--seed", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "120 participants" in result.stdout
    assert run_cli("validate", "--data", str(out)).returncode == 0
    bad = run_cli("generate", "--out", str(out), "--participants", "0")
    assert bad.returncode == 2 and "must be at least 1" in bad.stderr


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    result = run_cli("demo", "--workdir", str(tmp_path / "work"), "--participants", "150",
                     "--vacancies", "80", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "valid against the data contract" in result.stdout
    assert (tmp_path / "work" / "data" / "participants.csv").exists()
    full = re.search(r"recommendations for 150 participants; (\d+) got a full list of 10, (\d+) none", result.stdout)
    assert full, result.stdout
    assert re.search(r"expected placements \(calibrated chances.*\): [\d.]+ with the allocation", result.stdout) or \
        "allocation: none" in result.stdout


def test_the_demo_world_leaves_most_people_ten_fitting_open_vacancies(tmp_path: Path) -> None:
    """The default demo world (its generator arguments as `run_demo` passes them): on its as-of date
    at least 80 % of the participants have 10 or more open vacancies that break none of their limits."""
    import inspect

    import numpy as np

    from ilona_match.contract import load_data
    from ilona_match.contract.constraints import ParticipantLimits, VacancyDemands, feasible, open_on
    from ilona_match.demo import run_demo
    from ilona_match.synthetic import generate_world
    from ilona_match.training import default_as_of

    defaults = {name: p.default for name, p in inspect.signature(run_demo).parameters.items()
                if name in ("participants", "vacancies", "seed")}
    generate_world(tmp_path, **defaults)
    bundle = load_data(tmp_path)
    demands, limits = VacancyDemands.from_frame(bundle.vacancies), ParticipantLimits.from_frame(bundle.participants)
    open_rows = np.flatnonzero(open_on(demands, default_as_of(bundle)))
    p = np.repeat(np.arange(len(bundle.participants)), len(open_rows))
    v = np.tile(open_rows, len(bundle.participants))
    fitting = np.bincount(p[feasible(limits, demands, p, v)], minlength=len(bundle.participants))
    assert (fitting >= 10).mean() >= 0.8


@pytest.mark.slow
def test_train_and_batch_from_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, work = tmp_path / "data", tmp_path / "work"
    assert run_cli("generate", "--out", str(data), "--participants", "250", "--vacancies", "120",
                   "--seed", "5", "--quiet").returncode == 0
    env_args = ("--quiet",)
    # no model yet: a one-line reason, no traceback
    out = tmp_path / "recs.csv"
    monkeypatch.setenv("ILONA_MATCH_WORKDIR", str(work))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    # a small model: the CLI is under test here
    monkeypatch.setenv("ILONA_MATCH_MATCHING__RANKER__N_ESTIMATORS", "60")
    missing = run_cli("batch", "--data", str(data), "--as-of", "2026-08-01", "--out", str(out), *env_args)
    assert missing.returncode == 1 and "no champion model yet" in missing.stderr
    assert "Traceback" not in missing.stderr
    trained = run_cli("train", "--data", str(data), *env_args)
    assert trained.returncode == 0, trained.stderr
    assert "model version: 1 (promoted to champion: no champion yet)" in trained.stdout
    assert "full pipeline" in trained.stdout and "shipped model" in trained.stdout
    assert "held-out window" in trained.stdout and "ranker: " in trained.stdout
    subset = tmp_path / "who.csv"
    subset.write_text("participant_id\nP0000003\nP0000004\n", encoding="utf-8")
    batch = run_cli("batch", "--data", str(data), "--as-of", "2026-08-01", "--out", str(out),
                    "--participants", str(subset), "--k", "3", *env_args)
    assert batch.returncode == 0, batch.stderr
    import pandas as pd

    recs = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert list(recs.columns) == ["run_id", "as_of", "participant_id", "coach_id", "rank", "vacancy_id",
                                  "score", "reasons", "to_check", "model_version", "p_outcome"]
    assert set(recs["participant_id"]) <= {"P0000003", "P0000004"} and set(recs["model_version"]) == {"1"}
    # an uncalibrated model serves plain top k, and the batch says so
    assert re.search(r"^\d+ participants got no recommendation; allocation: none:placements_needs_a_calibrated_model$",
                     batch.stdout, re.MULTILINE), batch.stdout
    assert recs.groupby("participant_id").size().max() <= 3
    subset.write_text("participant_id\nNOPE\n", encoding="utf-8")
    unknown = run_cli("batch", "--data", str(data), "--as-of", "2026-08-01", "--out", str(out),
                      "--participants", str(subset), *env_args)
    assert unknown.returncode == 1 and "unknown participant_id" in unknown.stderr
    # the chance and the run's expected placements, in words (`evaluate` prints them too: test_placements.py)
    output = trained.stdout
    assert re.search(r"^calibration: (platt on the score and to_check_count [+-]\d\.\d\d, distance_ratio [+-]\d\.\d\d "
                     r"\(weights per standard deviation, the score's [+-]\d\.\d\d\) on \d+ pairs|no chance of success)",
                     output, re.MULTILINE), output
    if "calibration: platt" in output:  # and the reliability table behind its error
        assert re.search(r"^reliability \(bins of predicted chance, out of fold\):\n\s*pairs\s+predicted\s+observed",
                         output, re.MULTILINE)
    assert re.search(r"^(expected placements of the run on \d{4}-\d\d-\d\d: [\d.]+ with the allocation|"
                     r"no expected placements: they need a calibrated chance)", output, re.MULTILINE)


def test_serve_and_api_key_from_the_command_line(served_world, tmp_path: Path) -> None:  # noqa: ANN001
    """`ilona-match api-key add` then `ilona-match serve`, called over real HTTP on loopback."""
    import json
    import os
    import socket
    import time
    import urllib.error
    import urllib.request

    env = {**os.environ, "ILONA_MATCH_WORKDIR": str(served_world.workdir),
           "ILONA_MATCH_API__KEYS_FILE": str(tmp_path / "keys.json")}
    env.pop("MLFLOW_TRACKING_URI", None)
    exe = shutil.which("ilona-match") or "ilona-match"
    added = subprocess.run([exe, "api-key", "add", "--name", "crm"], env=env, capture_output=True, text=True, timeout=120)
    assert added.returncode == 0, added.stderr
    key = added.stdout.strip().splitlines()[-1]
    assert key not in (tmp_path / "keys.json").read_text()  # stored hashed only
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([exe, "serve", "--port", str(port), "--data", str(served_world.data_dir),
                               "--as-of", served_world.as_of.isoformat()], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=5) as reply:
                    health = json.load(reply)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read() if server.stderr else "server exited"
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(1)
        assert str(served_world.model_version) in json.dumps(health)
        body = json.dumps({"participant_id": "NEW1", "coach_id": "C1", "profile_text": "siivous",
                           "max_hours_per_week": 30, "physical_capacity": "medium", "k": 3}).encode()
        request = urllib.request.Request(f"{base}/recommendations", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with pytest.raises(urllib.error.HTTPError, match="401"):
            urllib.request.urlopen(request, timeout=60)
        request.add_header("X-API-Key", key)
        with urllib.request.urlopen(request, timeout=60) as reply:
            assert reply.status == 200
    finally:
        server.terminate()
        server.wait(timeout=30)


def test_serve_without_keys_says_why_it_stops_and_its_hint_works(served_world, tmp_path: Path,  # noqa: ANN001
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """One true message: the API would refuse every call, so it does not start, and the command it
    names is the command that adds a key."""
    keys = tmp_path / "keys.json"
    monkeypatch.setenv("ILONA_MATCH_WORKDIR", str(served_world.workdir))
    monkeypatch.setenv("ILONA_MATCH_API__KEYS_FILE", str(keys))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    stopped = run_cli("serve", "--data", str(served_world.data_dir), "--as-of", served_world.as_of.isoformat())
    assert stopped.returncode == 1 and "Traceback" not in stopped.stderr
    assert stopped.stderr.strip() == (
        f"ilona-match serve: no API keys in {keys}: every call but /health would get 401, so the API does not "
        "start; add one with `ilona-match api-key add --name NAME`")
    hint = stopped.stderr.split("`")[1].replace("NAME", "crm").split()
    added = run_cli(*hint[1:])
    assert added.returncode == 0 and keys.is_file(), added.stderr
