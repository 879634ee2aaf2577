"""Feedback reaches learning: an event posted to the HTTP API is in the next training set."""

from __future__ import annotations

import http.client
import json
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
from mlflow import MlflowClient

from ilona_match.config import load_settings
from ilona_match.contract import load_data
from ilona_match.contract.events import combine_events
from ilona_match.learning.tracking import tracking_uri
from ilona_match.serving.api import add_api_key, background_server, create_app
from ilona_match.training import outcome_history, train
from tests.conftest import ServedWorld


def _post(url: str, key: str, body: object) -> int:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    connection.request("POST", "/feedback", body=json.dumps(body), headers={"Content-Type": "application/json",
                                                                           "X-API-Key": key})
    return connection.getresponse().status


def test_an_event_posted_to_the_api_is_in_the_next_training_set(served_world: ServedWorld, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    settings = load_settings(None, {
        "workdir": tmp_path / "work", "matching": {"ranker": {"num_threads": 1, "n_estimators": 40}},
        "batch": {"database_url": f"sqlite:///{tmp_path / 'results.db'}"},
        "api": {"data_dir": served_world.data_dir, "as_of": served_world.as_of, "keys_file": tmp_path / "keys.json"},
    })
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "embedding-cache").symlink_to(served_world.workdir / "embedding-cache")
    bundle = load_data(served_world.data_dir)
    split = served_world.as_of - timedelta(days=settings.evaluation.horizon_days)
    before = train(served_world.data_dir, as_of=served_world.as_of, config=settings)

    # a pair nobody logged, met and interviewed in the training period, reported by a coach's system
    logged = set(zip(bundle.outcomes["participant_id"], bundle.outcomes["vacancy_id"]))
    known = bundle.vacancies[bundle.vacancies["published_at"] < pd.Timestamp(split - timedelta(days=40))]
    person = bundle.participants["participant_id"].iloc[7]
    vacancy = next(v for v in known["vacancy_id"] if (person, v) not in logged)
    day = (split - timedelta(days=30)).isoformat()
    events = [{"participant_id": person, "vacancy_id": vacancy, "event": "recommended", "event_date": day},
              {"participant_id": person, "vacancy_id": vacancy, "event": "interview", "event_date": day},
              {"participant_id": "NOT-IN-THE-DATA", "vacancy_id": vacancy, "event": "hired", "event_date": day}]
    api_settings = settings.model_copy(update={"workdir": served_world.workdir})  # serve the shared champion
    key = add_api_key(settings.api.keys_file, "crm")
    with background_server(create_app(api_settings)) as url:
        assert _post(url, key, events) == 201
        assert _post(url, key, events[0]) == 201  # the same event twice counts once

    history = outcome_history(bundle, settings)
    assert history.from_feedback == 2 and history.feedback_set_aside == 1  # the person the data does not hold
    assert len(history.events) == len(bundle.outcomes) + 2
    after = train(served_world.data_dir, as_of=served_world.as_of, config=settings)
    client = MlflowClient(tracking_uri(settings.workdir))
    first, second = (client.get_run(r.run_id).data.metrics for r in (before, after))
    assert second["training.feedback_events"] == 2 and first["training.feedback_events"] == 0
    assert second["training.logged_pairs"] == first["training.logged_pairs"] + 1
    assert second["training.positive_pairs"] == first["training.positive_pairs"] + 1


def test_combining_events_keeps_one_of_each_and_sets_unknown_ids_aside() -> None:
    outcomes = pd.DataFrame({"participant_id": ["P1"], "vacancy_id": ["V1"], "event": ["applied"],
                             "event_date": pd.to_datetime(["2026-05-01"])})
    feedback = pd.DataFrame({"participant_id": ["P1", "P1", "P9"], "vacancy_id": ["V1", "V1", "V1"],
                             "event": ["applied", "interview", "hired"],
                             "event_date": ["2026-05-01", "2026-05-09", "2026-05-10"], "received_at": ["x"] * 3})
    combined = combine_events(outcomes, feedback, pd.Series(["P1"]), pd.Series(["V1"]))
    assert combined.events["event"].tolist() == ["applied", "interview"]
    assert (combined.from_feedback, combined.feedback_set_aside) == (1, 1)
    assert combine_events(outcomes, None, pd.Series(["P1"]), pd.Series(["V1"])).events.equals(outcomes)
