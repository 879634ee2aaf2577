"""The HTTP API as other systems meet it: the real uvicorn server on loopback, called over HTTP,
serving the shared world's champion, with API keys, limits, errors and the access log."""

from __future__ import annotations

import http.client
import json
import logging
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd
import pytest

from ilona_match.config import Settings, load_settings
from ilona_match.contract import frame_to_records, load_data
from ilona_match.matching.calibration import level_of
from ilona_match.serving.api import ACCESS_LOGGER, add_api_key, background_server, create_app, load_api_keys
from ilona_match.serving.nightly import run_nightly
from ilona_match.serving.store import ResultStore

PLANTED = "Selkäkipu ja uniapnea, salainen lause 7731"  # health-related free text that must never be logged


@dataclass(frozen=True)
class Api:
    url: str
    key: str
    settings: Settings
    store: ResultStore
    person: dict[str, Any]  # a participant of the world in JSON form, with a nightly list
    nightly: pd.DataFrame  # the nightly job's table for ``people``
    model_version: str
    people: list[dict[str, Any]]


def call(api: Api, method: str, path: str, body: Any = None, *, key: str | None = "default",
         headers: dict[str, str] | None = None, raw: bytes | None = None) -> tuple[int, Any, Any]:
    """One request on a fresh connection: (status, headers, the JSON body parsed, or the raw bytes)."""
    parts = urlsplit(api.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        sent["X-API-Key"] = api.key if key == "default" else key
    data = raw if raw is not None else None if body is None else json.dumps(body).encode()
    try:
        connection.request(method, path, body=data, headers=sent)
        response = connection.getresponse()
        payload = response.read()
        is_json = response.headers.get("content-type", "").startswith("application/json")
        return response.status, response.headers, json.loads(payload) if is_json else payload
    finally:
        connection.close()


@pytest.fixture(scope="module")
def api(served_world, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    root = tmp_path_factory.mktemp("api")
    settings = load_settings(None, {
        "workdir": served_world.workdir,
        "batch": {"database_url": f"sqlite:///{root / 'results.db'}", "k": 5},
        "api": {"data_dir": served_world.data_dir, "as_of": served_world.as_of, "keys_file": root / "keys.json",
                "max_body_bytes": 8192, "max_k": 20},
    })
    key = add_api_key(settings.api.keys_file, "crm")
    # the nightly job itself, for four people with a history, publishing into the store the API reads;
    # allocation off: the API answers one person at a time and a run-wide allocation cannot apply there
    bundle = load_data(served_world.data_dir)
    people = bundle.participants[bundle.participants["participant_id"].isin(
        bundle.outcomes.loc[bundle.outcomes["event_date"] < pd.Timestamp(served_world.as_of), "participant_id"])].head(4)
    nightly_settings = settings.model_copy(update={"batch": settings.batch.model_copy(update={"allocation": "none"})})
    outputs = run_nightly(nightly_settings, served_world.data_dir, served_world.as_of, root / "nightly.csv",
                          participant_ids=list(people["participant_id"]), k=3, reports=False)
    nightly = pd.read_csv(outputs.table, dtype=str, keep_default_na=False).astype(
        {"rank": int, "score": float, "p_outcome": float})
    store = ResultStore.from_settings(settings)
    person = frame_to_records(people.iloc[[0]])[0]
    app = create_app(settings)
    with background_server(app) as url:
        yield Api(url, key, settings, store, person, nightly, outputs.log.model_version, frame_to_records(people))


def test_health_needs_no_key_and_names_the_model(api: Api) -> None:
    status, _, body = call(api, "GET", "/health", key=None)
    assert status == 200
    assert body["status"] == "ok" and body["model_version"] == api.model_version
    assert body["as_of"] == api.settings.api.as_of.isoformat()


@pytest.mark.parametrize("method, path", [
    ("POST", "/recommendations"), ("GET", "/participants/P1/recommendations"), ("POST", "/feedback"),
    ("POST", "/pathways"), ("GET", "/participants/P1/pathways"),
    ("GET", "/openapi.json"), ("GET", "/no-such-route"),
])
def test_every_other_route_needs_a_valid_key(api: Api, method: str, path: str) -> None:
    for key in (None, "wrong-" + api.key, ""):
        status, headers, body = call(api, method, path, {"participant_id": "P1"}, key=key)
        assert status == 401 and body == {"detail": "missing or invalid API key"}
        assert headers["WWW-Authenticate"].startswith("Bearer")


def test_a_bearer_token_is_accepted_as_well(api: Api) -> None:
    status, _, _ = call(api, "GET", "/openapi.json", key=None, headers={"Authorization": f"Bearer {api.key}"})
    assert status == 200
    status, _, _ = call(api, "GET", "/openapi.json", key=None, headers={"Authorization": f"Basic {api.key}"})
    assert status == 401


def test_a_posted_profile_gets_the_same_list_as_the_nightly_job(api: Api) -> None:
    """The same person, date and settings: the API's list is the nightly job's row for row (the same
    serving path: open vacancies, hard constraints, pairs already acted on left out, reasons)."""
    for person in api.people[:3]:
        status, _, body = call(api, "POST", "/recommendations", {**person, "k": 3})
        assert status == 200
        assert body["participant_id"] == person["participant_id"] and body["model_version"] == api.model_version
        expected = api.nightly[api.nightly["participant_id"] == person["participant_id"]]
        assert len(expected) == 3
        got = body["recommendations"]
        assert [r["vacancy_id"] for r in got] == expected["vacancy_id"].tolist()
        assert [r["rank"] for r in got] == [1, 2, 3]
        assert [r["score"] for r in got] == pytest.approx(expected["score"].tolist(), rel=1e-9)
        assert [r["p_outcome"] for r in got] == pytest.approx(expected["p_outcome"].tolist(), rel=1e-9)
        assert [r["level"] for r in got] == [level_of(p) for p in expected["p_outcome"]]
        assert ["|".join(r["reasons"]) for r in got] == expected["reasons"].tolist()
        assert ["|".join(r["to_check"]) for r in got] == expected["to_check"].tolist()


def test_pathways_posted_for_a_profile_are_the_nightly_routes_and_bad_bodies_are_422(api: Api) -> None:
    """The same planner behind the nightly pathways table and POST /pathways: for a person the nightly
    run planned, the posted profile gets the same routes; bad bodies are refused naming the field."""
    found = 0
    for person in api.people:
        status, _, nightly = call(api, "GET", f"/participants/{person['participant_id']}/pathways")
        if status == 404:
            continue
        assert status == 200 and nightly["run_id"] and nightly["pathways"]
        status, _, posted = call(api, "POST", "/pathways", {**person, "n": len(nightly["pathways"])})
        assert status == 200 and posted["participant_id"] == person["participant_id"]
        assert posted["pathways"] == nightly["pathways"]
        for route in posted["pathways"]:
            assert route["steps"] and 0 < route["p_gain"] < 1 and route["reasons"]
            assert route["target_occupation"].startswith("http://data.europa.eu/esco/occupation/")
        found += 1
    assert found, "no served person got a route"
    person = api.people[0]
    for body, field in (({**person, "n": 0}, "n"), ({**person, "max_hours_per_week": "many"}, "max_hours_per_week"),
                        ({**person, "wishes": "nights off"}, "wishes"),
                        ({k: v for k, v in person.items() if k != "physical_capacity"}, "physical_capacity")):
        status, _, answer = call(api, "POST", "/pathways", body)
        assert status == 422 and field in [part for error in answer["detail"] for part in error["loc"]], answer
    status, _, answer = call(api, "POST", "/pathways", {**person, "max_hours_per_week": 75})
    assert status == 422 and answer["detail"][0]["loc"] == ["body", "max_hours_per_week"]
    assert call(api, "GET", "/participants/no-such-person/pathways")[0] == 404


def test_a_posted_event_leaves_its_pair_out_of_the_next_list(api: Api) -> None:
    person = api.people[3]
    first = call(api, "POST", "/recommendations", {**person, "k": 3})[2]["recommendations"]
    top = first[0]["vacancy_id"]
    event = {"participant_id": person["participant_id"], "vacancy_id": top, "event": "declined",
             "event_date": api.settings.api.as_of.isoformat()}
    assert call(api, "POST", "/feedback", event)[0] == 201
    again = call(api, "POST", "/recommendations", {**person, "k": 3})[2]["recommendations"]
    assert top not in [r["vacancy_id"] for r in again]
    assert [r["vacancy_id"] for r in again][:2] == [r["vacancy_id"] for r in first][1:]  # the rest moves up


def test_a_new_profile_from_text_only_gets_a_ranked_list(api: Api) -> None:
    person = {"participant_id": "NEW-1", "language": "fi", "max_hours_per_week": 25, "physical_capacity": "light",
              "profile_text": "Olen työskennellyt siivoojana ja keittiöapulaisena, haluan osa-aikatyötä."}
    status, _, body = call(api, "POST", "/recommendations", person)
    assert status == 200
    ranks = [r["rank"] for r in body["recommendations"]]
    assert 1 <= len(ranks) <= 5 and ranks == list(range(1, len(ranks) + 1))  # k defaults to batch.k (5)
    assert len({r["vacancy_id"] for r in body["recommendations"]}) == len(ranks)
    scores = [r["score"] for r in body["recommendations"]]
    assert scores == sorted(scores, reverse=True)


def test_the_nightly_list_of_a_known_participant(api: Api) -> None:
    pid = api.person["participant_id"]
    status, _, body = call(api, "GET", f"/participants/{pid}/recommendations")
    assert status == 200
    assert body["run_id"] == api.nightly["run_id"].iloc[0] and body["as_of"] == api.settings.api.as_of.isoformat()
    assert [r["vacancy_id"] for r in body["recommendations"]] == \
        api.nightly.loc[api.nightly["participant_id"] == pid, "vacancy_id"].tolist()
    status, _, body = call(api, "GET", "/participants/UNKNOWN-9/recommendations")
    assert status == 404 and "no published recommendations" in body["detail"]


def test_malformed_json_unknown_fields_and_wrong_types_are_422_naming_the_field(api: Api) -> None:
    status, _, body = call(api, "POST", "/recommendations", raw=b'{"participant_id": "P1", "max_hours')
    assert status == 422 and body["detail"][0]["type"] == "json_invalid"
    status, _, body = call(api, "POST", "/recommendations", {**api.person, "favourite_colour": "red"})
    assert status == 422 and body["detail"] == [
        {"loc": ["body", "favourite_colour"], "msg": "Extra inputs are not permitted", "type": "extra_forbidden"}]
    status, _, body = call(api, "POST", "/recommendations", {**api.person, "physical_capacity": "superhuman"})
    assert status == 422 and body["detail"][0]["loc"] == ["body", "physical_capacity"]
    missing = {k: v for k, v in api.person.items() if k != "max_hours_per_week"}
    status, _, body = call(api, "POST", "/recommendations", missing)
    assert status == 422 and body["detail"][0]["loc"] == ["body", "max_hours_per_week"]


def test_a_contract_fault_is_422_naming_the_field_without_echoing_the_text(api: Api) -> None:
    status, _, body = call(api, "POST", "/recommendations",
                           {**api.person, "max_hours_per_week": 75, "profile_text": PLANTED})
    assert status == 422
    assert body["detail"] == [{"loc": ["body", "max_hours_per_week"], "msg": "75 is above the maximum 60",
                               "type": "contract"}]
    status, _, body = call(api, "POST", "/recommendations", {**api.person, "profile_text": PLANTED, "k": "x"})
    assert status == 422 and PLANTED not in json.dumps(body)


def test_k_is_bounded(api: Api) -> None:
    for k in (21, 0):
        status, _, body = call(api, "POST", "/recommendations", {**api.person, "k": k})
        assert status == 422 and body["detail"][0]["loc"] == ["body", "k"]
    status, _, body = call(api, "POST", "/recommendations", {**api.person, "k": 20})
    assert status == 200 and len(body["recommendations"]) <= 20


def _raw_status(api: Api, head: str, body: bytes) -> int:
    """Send a hand-made request (headers that lie) and return the status of the first response."""
    parts = urlsplit(api.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(f"POST /recommendations HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
                     f"X-API-Key: {api.key}\r\n{head}\r\n".encode() + body)
        answer = b""
        while b"\r\n" not in answer:
            answer += sock.recv(4096)
    return int(answer.split(b" ", 2)[1])


def _chunks(body: bytes, size: int = 1000) -> bytes:
    pieces = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def test_an_oversized_body_is_413_however_its_length_is_declared(api: Api) -> None:
    big = json.dumps({**api.person, "profile_text": "x" * 9000}).encode()
    assert call(api, "POST", "/recommendations", raw=big)[0] == 413  # honest Content-Length: refused unread
    # no Content-Length: the streamed bytes are counted
    assert _raw_status(api, "Transfer-Encoding: chunked\r\n", _chunks(big)) == 413
    # a Content-Length that lies beside chunked framing: the chunks are what is counted
    assert _raw_status(api, "Content-Length: 50\r\nTransfer-Encoding: chunked\r\n", _chunks(big)) == 413
    # a short Content-Length before a long body: only the declared bytes are read as the body
    assert _raw_status(api, "Content-Length: 50\r\n", big) == 422
    small = json.dumps({**api.person, "k": 2}).encode()
    assert _raw_status(api, "Transfer-Encoding: chunked\r\n", _chunks(small, 40)) == 200  # within the limit


def test_feedback_one_event_or_a_list(api: Api) -> None:
    before = len(api.store.feedback())
    one = {"participant_id": "P-F1", "vacancy_id": "V-1", "event": "applied", "event_date": "2026-06-02"}
    status, _, body = call(api, "POST", "/feedback", one)
    assert status == 201 and body == {"stored": 1}
    status, _, body = call(api, "POST", "/feedback", [one, {**one, "event": "interview", "event_date": "2026-06-09"}])
    assert status == 201 and body == {"stored": 2}
    status, _, body = call(api, "POST", "/feedback", [one, {**one, "event": "called"}])
    assert status == 422 and body["detail"][0]["loc"] == ["body", 1, "event"]
    status, _, body = call(api, "POST", "/feedback", {**one, "event_date": "2026-13-40"})
    assert status == 422 and body["detail"][0]["loc"] == ["body", 0, "event_date"]
    status, _, body = call(api, "POST", "/feedback", [])
    assert status == 422
    stored = api.store.feedback().iloc[before:]
    assert stored[["participant_id", "event", "event_date"]].values.tolist() == [
        ["P-F1", "applied", "2026-06-02"], ["P-F1", "applied", "2026-06-02"], ["P-F1", "interview", "2026-06-09"]]


def test_concurrent_feedback_posts_are_all_stored(api: Api) -> None:
    statuses: list[int] = []

    def post(worker: int) -> None:
        for i in range(10):
            event = {"participant_id": f"C{worker}-{i}", "vacancy_id": "V-2", "event": "viewed", "event_date": "2026-06-03"}
            statuses.append(call(api, "POST", "/feedback", event)[0])

    threads = [threading.Thread(target=post, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 80
    stored = set(api.store.feedback()["participant_id"])
    assert {f"C{w}-{i}" for w in range(8) for i in range(10)} <= stored


def test_the_access_log_has_route_templates_and_no_free_text(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    pid = api.person["participant_id"]
    with caplog.at_level(logging.DEBUG):  # every logger, every level
        call(api, "POST", "/recommendations", {**api.person, "profile_text": PLANTED, "k": 2})
        call(api, "POST", "/recommendations", {**api.person, "profile_text": PLANTED, "max_hours_per_week": 99})
        call(api, "GET", f"/participants/{pid}/recommendations")
        call(api, "GET", "/openapi.json", key="wrong")
    assert all(PLANTED not in record.getMessage() and PLANTED not in str(record.args) for record in caplog.records)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == ACCESS_LOGGER]
    assert [(x["method"], x["route"], x["status"], x["key"]) for x in lines] == [
        ("POST", "/recommendations", 200, "crm"), ("POST", "/recommendations", 422, "crm"),
        ("GET", "/participants/{participant_id}/recommendations", 200, "crm"), ("GET", "/openapi.json", 401, None)]
    assert all(set(x) == {"method", "route", "status", "duration_ms", "key"} and x["duration_ms"] >= 0 for x in lines)


def test_openapi_describes_the_routes_and_the_key(api: Api) -> None:
    status, _, schema = call(api, "GET", "/openapi.json")
    assert status == 200
    assert set(schema["paths"]) == {"/health", "/recommendations", "/participants/{participant_id}/recommendations",
                                    "/feedback", "/pathways", "/participants/{participant_id}/pathways"}
    assert "X-API-Key" in json.dumps(schema["components"]["securitySchemes"])
    fields = schema["components"]["schemas"]["RecommendationRequest"]["properties"]
    assert {"participant_id", "profile_text", "max_hours_per_week", "physical_capacity", "k"} <= set(fields)
    assert (fields["k"]["default"], fields["k"]["maximum"]) == (5, 20)
    routes = schema["components"]["schemas"]["PathwayRequest"]["properties"]
    assert {"participant_id", "max_hours_per_week", "n"} <= set(routes) and routes["n"]["default"] == 3


def test_a_key_added_while_serving_works_at_once_and_is_stored_hashed(api: Api) -> None:
    keys_file = Path(api.settings.api.keys_file)
    secret = add_api_key(keys_file, "coach-tool")
    assert secret not in keys_file.read_text() and api.key not in keys_file.read_text()
    assert [k.name for k in load_api_keys(keys_file)] == ["crm", "coach-tool"]
    assert call(api, "GET", "/openapi.json", key=secret)[0] == 200
    with pytest.raises(ValueError, match="exists already"):
        add_api_key(keys_file, "coach-tool")


def test_key_files_and_settings_that_cannot_serve_are_refused(api: Api, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="letters, digits"):
        add_api_key(tmp_path / "keys.json", "coach tool; drop")
    broken = tmp_path / "broken.json"
    broken.write_text('{"keys": [{"name": "x"}]}')
    with pytest.raises(ValueError, match="broken.json: not a valid API key file"):
        load_api_keys(broken)
    no_keys = api.settings.model_copy(update={"api": api.settings.api.model_copy(update={"keys_file": tmp_path / "none.json"})})
    with pytest.raises(ValueError, match="no API keys"):
        create_app(no_keys)
    no_data = api.settings.model_copy(update={"api": api.settings.api.model_copy(update={"data_dir": None})})
    with pytest.raises(ValueError, match="api.data_dir is not set"):
        create_app(no_data)


def test_responses_are_not_held_back_by_nagles_algorithm(api: Api) -> None:
    """A keep-alive client waits ~40 ms per response when the server socket batches small writes
    (Nagle) and the client delays its ACK; the server must send at once (TCP_NODELAY)."""
    parts = urlsplit(api.url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        times = []
        for _ in range(15):
            start = time.perf_counter()
            connection.request("GET", "/health")
            response = connection.getresponse()
            assert response.status == 200 and response.read()
            times.append(time.perf_counter() - start)
    finally:
        connection.close()
    assert statistics.median(times) < 0.025, f"median /health round trip {statistics.median(times) * 1000:.0f} ms"
