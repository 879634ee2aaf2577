"""Robust to real feeds: training, the nightly batch and the HTTP API work when a vacancy names no ESCO
concept, has an empty description or only a title, is written in a language the engine does not
analyse, and when a participant has no outcome history. One world with such rows, trained, run and
served once; one test per kind of row."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest

from ilona_match.config import Settings, load_settings
from ilona_match.contract import load_data
from ilona_match.contract.constraints import VacancyDemands, open_on
from ilona_match.learning.tracking import load_champion
from ilona_match.serving.api import add_api_key, background_server, create_app
from ilona_match.serving.matcher import Matcher
from ilona_match.serving.nightly import run_nightly
from ilona_match.synthetic import generate_world
from ilona_match.text.lexical import stemmed_text
from ilona_match.training import train

AS_OF = date(2026, 6, 1)
PUBLISHED = (AS_OF - timedelta(days=90)).isoformat()  # known to training (before the held-out window)
ODD = {  # vacancy id -> (what the row is like, the cells that make it so)
    "V-NOCONCEPT": ("no ESCO concept", {"title": "Zorblaxer", "description": "Flimflam quuxing wibble.",
                                        "occupation": "", "required_skills": "", "optional_skills": ""}),
    "V-NODESC": ("empty description", {"title": "Lähihoitaja Qwerila", "description": "", "occupation": "5321"}),
    "V-TITLE": ("only a title", {"title": "Siivooja Qwertola", "description": "", "occupation": "", "required_skills": "",
                                 "optional_skills": ""}),
    "V-GERMAN": ("a language the engine does not analyse", {
        "title": "Reinigungskraft Qwelmbach", "description": "Wir suchen eine Reinigungskraft für unser Büro in Espoo.",
        "language": "en", "occupation": "", "required_skills": "", "optional_skills": ""}),
    "V-NOLANG": ("no language given, English text", {
        "title": "Warehouse helper Qwendale", "description": "Packing parcels and unloading deliveries, part time.",
        "language": "", "occupation": "", "required_skills": ""}),
}
NEWCOMER = "P-NEW"  # a participant with no outcome history, whose profile is in Arabic script
OPEN_TO_ALL = {"max_hours_per_week": "60", "physical_capacity": "heavy", "restrictions": "", "remote_ok": "true",
               "max_commute_km": "1000"}


@dataclass(frozen=True)
class Served:
    data: Path
    settings: Settings
    nightly: pd.DataFrame
    url: str
    key: str
    person: dict[str, Any]  # an existing participant with a history, open to every vacancy


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("feeds")
    data = root / "data"
    generate_world(data, participants=400, vacancies=200, seed=8)
    jobs = pd.read_csv(data / "vacancies.csv", dtype=str, keep_default_na=False)
    template = jobs.iloc[0].to_dict()
    rows = []
    for vacancy_id, (_, cells) in ODD.items():
        row = {**template, "vacancy_id": vacancy_id, "published_at": PUBLISHED, "closes_at": "", "hours_per_week": "20",
               "physical_load": "light", "night_shifts": "false", "weekend_work": "false", "customer_contact": "false",
               "heavy_lifting": "false", "driving": "false", "languages_required": "", **cells}
        rows.append(row)
    pd.concat([jobs, pd.DataFrame(rows)], ignore_index=True).to_csv(data / "vacancies.csv", index=False)

    people = pd.read_csv(data / "participants.csv", dtype=str, keep_default_na=False)
    people.loc[0, list(OPEN_TO_ALL)] = list(OPEN_TO_ALL.values())
    newcomer = {**people.iloc[1].to_dict(), **OPEN_TO_ALL, "participant_id": NEWCOMER, "language": "en",
                "profile_text": "أعمل في التنظيف منذ خمس سنوات", "skills": "", "occupations": ""}
    pd.concat([people, pd.DataFrame([newcomer])], ignore_index=True).to_csv(data / "participants.csv", index=False)

    events = pd.read_csv(data / "outcomes.csv", dtype=str, keep_default_na=False)
    day = (AS_OF - timedelta(days=80)).isoformat()  # each odd vacancy met by people before the window
    logged = [{"participant_id": people.loc[i, "participant_id"], "vacancy_id": vacancy_id, "event": event,
               "event_date": day} for n, vacancy_id in enumerate(ODD) for i, event in
              ((2 + n, "recommended"), (2 + n, "interview"), (20 + n, "recommended"), (20 + n, "declined"))]
    pd.concat([events, pd.DataFrame(logged)], ignore_index=True).to_csv(data / "outcomes.csv", index=False)

    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        settings = load_settings(None, {
            "workdir": root / "work", "matching": {"ranker": {"num_threads": 1, "n_estimators": 60}},
            "batch": {"allocation": False, "k": 50},
            "api": {"data_dir": data, "as_of": AS_OF, "keys_file": root / "keys.json", "max_k": 100},
        })
        train(data, as_of=AS_OF, config=settings)
        outputs = run_nightly(settings, data, AS_OF, root / "recs.csv", reports=False)
        nightly = pd.read_csv(outputs.table, dtype=str, keep_default_na=False)
        key = add_api_key(settings.api.keys_file, "crm")
        person = {k: v for k, v in people.iloc[0].to_dict().items() if v != ""}
        with background_server(create_app(settings)) as url:
            yield Served(data, settings, nightly, url, key, person)


def _post(served: Served, person: dict[str, Any]) -> list[str]:
    """POST /recommendations with the person's table cells (lists split), k=100: the listed vacancy ids."""
    body: dict[str, Any] = {"k": 100}
    for name, value in person.items():
        if name in ("skills", "occupations", "languages_spoken", "restrictions", "preferred_sectors", "supports"):
            body[name] = value.split("|")
        elif name in ("max_hours_per_week", "lat", "lon", "max_commute_km"):
            body[name] = float(value)
        elif name == "unemployment_months":
            body[name] = int(value)
        elif name == "remote_ok":
            body[name] = value == "true"
        else:
            body[name] = value
    parts = urlsplit(served.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    connection.request("POST", "/recommendations", body=json.dumps(body),
                       headers={"Content-Type": "application/json", "X-API-Key": served.key})
    response = connection.getresponse()
    payload = json.loads(response.read())
    assert response.status == 200, payload
    return [r["vacancy_id"] for r in payload["recommendations"]]


def _trained_on(served: Served, vacancy_id: str) -> bool:
    """The registered model's TF-IDF vocabulary holds the vacancy's own title word (each odd title has a
    word no other row has): training read the row."""
    pipeline, _ = load_champion(served.settings.workdir)
    cells = ODD[vacancy_id][1]
    words = stemmed_text(cells["title"], cells.get("language") or "fi").split()
    return bool(words) and all(word in pipeline.lexical_.words_.vocabulary_ for word in words)


@pytest.mark.parametrize("vacancy_id", list(ODD))
def test_an_odd_vacancy_trains_and_is_served_by_the_batch_and_the_api(served: Served, vacancy_id: str) -> None:
    kind = ODD[vacancy_id][0]
    assert _trained_on(served, vacancy_id), kind
    person_id = served.person["participant_id"]
    listed = served.nightly.loc[served.nightly["participant_id"] == person_id, "vacancy_id"].tolist()
    assert vacancy_id in listed, f"{kind}: not in the nightly list of a person open to every vacancy"
    assert vacancy_id in _post(served, served.person), kind
    vacancies = load_data(served.data, tables=("vacancies",)).vacancies
    matcher = Matcher.load(workdir=served.settings.workdir, vacancies=vacancies, as_of=AS_OF)
    assert matcher.explain(served.person, vacancy_id).reasons, kind


def test_a_participant_with_no_history_and_an_unanalysed_language_gets_lists(served: Served) -> None:
    listed = served.nightly.loc[served.nightly["participant_id"] == NEWCOMER]
    vacancies = load_data(served.data, tables=("vacancies",)).vacancies
    open_now = int(open_on(VacancyDemands.from_frame(vacancies), AS_OF).sum())
    assert len(listed) == min(50, open_now) and listed["reasons"].str.len().min() > 0
    people = pd.read_csv(served.data / "participants.csv", dtype=str, keep_default_na=False)
    newcomer = {k: v for k, v in people[people["participant_id"] == NEWCOMER].iloc[0].to_dict().items() if v != ""}
    assert len(_post(served, newcomer)) == min(100, open_now)
