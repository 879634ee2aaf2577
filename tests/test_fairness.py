"""Fairness and accountability end to end: no group attribute reaches the model, the audit of a
training run and of a world with a planted hiring bias, the model card of a registered version and
`ilona-match audit / model-card / explain` as a user runs them."""

from __future__ import annotations

import re
import shutil
from datetime import timedelta
from pathlib import Path

import mlflow
import pandas as pd
import pytest

from ilona_match.cli import main
from ilona_match.config import load_settings
from ilona_match.contract import load_data
from ilona_match.contract.spec import ALL_TABLES
from ilona_match.learning.model_card import card_path
from ilona_match.learning.tracking import configure_tracking, load_champion
from ilona_match.serving.batch import run_batch
from ilona_match.serving.nightly import run_nightly
from ilona_match.synthetic import generate_world
from ilona_match.training import audit_lists, default_as_of, placements_on, train
from tests.conftest import ServedWorld

SMALL = {"matching": {"ranker": {"num_threads": 1, "n_estimators": 60}}, "audit": {"bootstrap_rounds": 50}}


def _config(tmp_path: Path, workdir: Path) -> Path:
    path = tmp_path / f"{workdir.name}.yaml"
    path.write_text(f"workdir: {workdir}\n", encoding="utf-8")
    return path


def test_no_group_attribute_reaches_the_model(served_world: ServedWorld, tmp_path: Path) -> None:
    """The same data with a different participant_groups table trains the same model: the lists are
    identical, score for score, while the audit (which does read the table) changes."""
    data = shutil.copytree(served_world.data_dir, tmp_path / "data")
    groups = pd.read_csv(data / "participant_groups.csv", dtype=str)
    groups["age_band"] = groups["age_band"].map({"<25": "55+", "55+": "<25"}).fillna("35-44")
    groups["gender"] = "other"
    groups["capacity_category"] = groups["capacity_category"].iloc[::-1].to_numpy()
    groups.to_csv(data / "participant_groups.csv", index=False)
    settings = served_world.settings.model_copy(update={"workdir": tmp_path / "work"})
    result = train(data, as_of=served_world.as_of, config=settings)

    bundle = load_data(served_world.data_dir)
    lists = []
    for workdir in (served_world.workdir, tmp_path / "work"):
        pipeline, version = load_champion(workdir)
        lists.append(run_batch(pipeline, bundle.participants, bundle.vacancies, served_world.as_of, k=10,
                               model_version="same").frame)
    pd.testing.assert_frame_equal(lists[0], lists[1])
    assert result.audit is not None and "gender" not in result.audit.summary["attributes"]  # one value left


def test_training_audits_the_split_date_lists_and_logs_them(served_world: ServedWorld) -> None:
    client = configure_tracking(served_world.workdir)
    version = client.get_model_version("ilona-match", served_world.model_version)
    run = client.get_run(version.tags["run_id"])
    assert "audit.violations" in run.data.metrics
    assert any(name.startswith("audit.age_band.") for name in run.data.metrics)
    text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/audit.json")
    assert '"attributes"' in text and "profile_text" not in text


def test_every_registered_version_has_a_model_card(served_world: ServedWorld, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    card = card_path(served_world.workdir, "ilona-match", served_world.model_version).read_text(encoding="utf-8")
    for heading in ("## Intended use", "## Must not be used for", "## Data", "## Metrics overall",
                    "## Calibration and expected placements", "## By group (fairness audit)", "## Known limits"):
        assert heading in card
    assert "ranking or screening people for employers" in card and "data fingerprint" in card
    assert "| age_band |" in card  # the by-group table of the run's audit
    # what moves the chance across people, as learned on the window
    assert re.search(r"compares across people \(weights per standard deviation, learned on the window\): "
                     r"distance_ratio [+-]\d\.\d\d, score [+-]\d\.\d\d, to_check_count [+-]\d\.\d\d\.", card), card
    # the calibration error beside what sampling alone gives on the window's pairs
    assert re.search(r"calibration error 0\.\d{4} out of fold \(base rate 0\.\d{3}\); from sampling alone a perfectly "
                     r"calibrated chance would show 0\.\d{4} on these pairs, 95 % of draws below 0\.\d{4}\. Each figure is "
                     r"the mean over 20 assignments of people to folds \(ECE 0\.\d{4}–0\.\d{4}\)\.", card), card
    out = tmp_path / "card.md"
    config = _config(tmp_path, served_world.workdir)
    assert main(["model-card", "--config", str(config), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").startswith(f"# Model card — ilona-match, version {served_world.model_version}")
    assert main(["model-card", "--config", str(config), "--version", "999"]) == 1
    assert "has no version 999" in capsys.readouterr().err


def test_audit_command_prints_the_training_and_the_nightly_report(served_world: ServedWorld, tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    workdir = tmp_path / "work"  # a copy: this test publishes a nightly run of its own
    shutil.copytree(served_world.workdir, workdir, ignore=shutil.ignore_patterns("results.db*"))  # no nightly run yet
    config = str(_config(tmp_path, workdir))
    assert main(["audit", "--config", config]) == 0  # before any nightly run: the champion's training run
    out = capsys.readouterr().out
    assert out.startswith("training run ") and "fairness audit of training" in out and "age_band" in out
    settings = served_world.settings.model_copy(update={"workdir": workdir})
    outputs = run_nightly(settings, served_world.data_dir, served_world.as_of, tmp_path / "recs.csv", reports=False)
    assert "audit_violations" in outputs.log.details
    assert main(["audit", "--config", config]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"nightly run {outputs.log.run_id}") and "hiring history beside the lists" in out
    assert main(["audit", "--config", str(_config(tmp_path, served_world.workdir)), "--run", "nonsense"]) == 1
    assert "no MLflow run 'nonsense'" in capsys.readouterr().err


def test_explain_prints_reasons_and_feature_contributions(served_world: ServedWorld, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    bundle = load_data(served_world.data_dir)
    pipeline, _ = load_champion(served_world.workdir)
    frame = run_batch(pipeline, bundle.participants.head(5), bundle.vacancies, served_world.as_of, k=1,
                      model_version="x").frame
    person, vacancy = frame["participant_id"].iloc[0], frame["vacancy_id"].iloc[0]
    config = str(_config(tmp_path, served_world.workdir))
    args = ["explain", "--config", config, "--data", str(served_world.data_dir), "--as-of",
            served_world.as_of.isoformat(), "--participant", person]
    assert main([*args, "--vacancy", vacancy]) == 0
    out = capsys.readouterr().out
    assert f"participant {person}, vacancy {vacancy}" in out and "reasons: " in out
    assert "feature contributions" in out and "dense_text_similarity" in out or "contribution" in out
    assert main([*args, "--vacancy", "no-such-vacancy"]) == 1
    assert "--vacancy 'no-such-vacancy': no such vacancy_id" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("bias", [(("age_band", "55+", 0.2),), ()], ids=["planted-bias", "no-bias"])
def test_audit_reports_a_planted_hire_gap_and_no_gap_without_one(served_world: ServedWorld, tmp_path: Path,
                                                                  bias: tuple) -> None:
    """A world whose employers hire people of 55 and over a fifth as often, and the same world without:
    the audit of the lists the served model gives on the split date finds the gap in the history beyond
    its interval, and no gap where none was planted (bench/fairness.py does it with training, at scale)."""
    data = tmp_path / "data"
    generate_world(data, participants=800, vacancies=300, seed=4, hire_bias=bias)
    bundle = load_data(data, tables=ALL_TABLES)
    settings = load_settings(None, {"workdir": tmp_path / "work", **SMALL})
    events = bundle.outcomes
    day = default_as_of(events) - timedelta(days=settings.evaluation.horizon_days)
    pipeline, _ = load_champion(served_world.workdir)
    _, lists = placements_on(pipeline, bundle, events, day, settings)
    audit = audit_lists(bundle, lists, events, day, settings)
    row = audit.history.query("attribute == 'age_band' and group == '55+'").iloc[0]
    if bias:
        assert row["hire_high"] < 1.0, row  # the gap in the history, beyond its interval
        assert row["verdict"] == "narrows the gap in the history", row  # the engine reads no age
    else:
        assert row["hire_low"] <= 1.0 <= row["hire_high"], row
        assert row["verdict"] == "no gap in the history, none in the lists", row
