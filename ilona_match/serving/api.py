"""The HTTP API (docs/interfaces.md): recommendations for other systems, over JSON.

Routes: ``GET /health`` (no key), ``POST /recommendations``, ``GET /participants/{id}/recommendations``,
``POST /feedback`` and ``GET /openapi.json``. Every route but ``/health`` needs an API key in
``X-API-Key`` (or ``Authorization: Bearer``); keys are checked before any body is read, against the
SHA-256 hashes in the keys file (``ilona-match api-key add --name NAME`` makes one), in constant time.
Without any key the API does not start: every call would be refused.

Participants are checked with the same contract rules as table rows, so a fault comes back as 422
naming the field. Bodies above ``api.max_body_bytes`` get 413, counted on the bytes actually
streamed. Error bodies never echo what was sent, and the access log (logger ``ilona_match.access``,
one JSON object per request) holds method, route template, status, duration and key name only:
a participant's free text never reaches a log.

The vacancies open on ``api.as_of`` (default: today) in ``api.data_dir`` are prepared once at start.
Lists come from the same function as the nightly table; the folder's outcome events and the stored
feedback leave the pairs already acted on out, and a posted event counts from the next call on. A
``declined`` event may carry a coach's override reason (``OVERRIDE_REASONS``).

Every call that serves lists or takes feedback appends a record to the results database's audit log
(EU AI Act Art. 12): the route's kind, the key's name, the model version, the data folder's
fingerprint and the settings' hash (both computed at start), and the ids served in order - never
text. A refused call (4xx) leaves no record; a call whose record cannot be written fails (500), so
nothing is handed out unrecorded.
"""

# No ``from __future__ import annotations``: FastAPI reads the request models, built per app from
# the settings, from the endpoints' annotations at run time.

import hashlib
import hmac
import json
import logging
import math
import os
import re
import secrets
import socket
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
import uvicorn
from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    create_model,
    field_validator,
)
from starlette.datastructures import Headers
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ilona_match import __version__
from ilona_match.config import Settings
from ilona_match.contract import (
    EVENTS,
    PARTICIPANT_COLUMNS,
    ContractError,
    find_table,
    load_data,
    records_to_frame,
)
from ilona_match.contract.constraints import VacancyDemands, open_on
from ilona_match.contract.spec import ACTOR_NAME
from ilona_match.matching.calibration import level_of
from ilona_match.serving.matcher import Matcher
from ilona_match.serving.store import OVERRIDE_EVENT, AuditEntry, OverrideReason, ResultStore, route_id

__all__ = [
    "ACCESS_LOGGER", "ApiKey", "add_api_key", "background_server", "config_hash", "create_app", "default_keys_file",
    "load_api_keys", "serve",
]

ACCESS_LOGGER = "ilona_match.access"
_ACCESS = logging.getLogger(ACCESS_LOGGER)
_OPEN_PATHS = frozenset({"/health"})
_KEY_NAME = re.compile(ACTOR_NAME)
_KEY_STATE = "api_key_name"  # where the gate leaves the caller's key name for the routes (request.state)
_SERVED_TABLES = ("vacancies", "services", "outcomes")  # the data folder's tables the API reads, when present
_UNAUTHORIZED_HEADERS = [(b"content-type", b"application/json"), (b"www-authenticate", b'Bearer realm="ilona-match"')]


# ----------------------------------------------------------------------------------- API keys
class ApiKey(BaseModel):
    """One stored key: its name (shown in the access log), the SHA-256 of the key, when it was made."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(pattern=_KEY_NAME.pattern)]
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    created_at: str


class _KeyFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keys: list[ApiKey]


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def default_keys_file(settings: Settings) -> Path:
    """``api.keys_file``, else api-keys.json in the work folder."""
    return Path(settings.api.keys_file or Path(settings.workdir) / "api-keys.json")


def load_api_keys(keys_file: str | Path) -> list[ApiKey]:
    """The stored keys; none when the file does not exist. ValueError naming the file when it is broken."""
    path = Path(keys_file)
    try:
        return _KeyFile.model_validate_json(path.read_bytes()).keys
    except FileNotFoundError:
        return []
    except (OSError, ValidationError) as exc:
        reason = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else type(exc).__name__
        raise ValueError(f"{path}: not a valid API key file ({reason})") from None


def add_api_key(keys_file: str | Path, name: str) -> str:
    """Make a new random key named ``name``, store only its hash, and return the key (shown once)."""
    if not _KEY_NAME.match(name):
        raise ValueError(f"API key name {name[:70]!r} must be 1-64 letters, digits or _.-")
    path = Path(keys_file)
    keys = load_api_keys(path)
    if any(key.name == name for key in keys):
        raise ValueError(f"{path}: an API key named {name!r} exists already")
    secret = secrets.token_urlsafe(32)
    keys.append(ApiKey(name=name, sha256=_digest(secret), created_at=datetime.now(timezone.utc).isoformat()))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(_KeyFile(keys=keys).model_dump_json(indent=2))
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)  # readers see the old file or the new one, never half of it
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return secret


class _KeyRing:
    """The keys file, re-read when it changes (a new or removed key applies without a restart)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._keys: tuple[ApiKey, ...] = ()
        self._lock = threading.Lock()

    def keys(self) -> tuple[ApiKey, ...]:
        try:
            stat = self.path.stat()
            stamp: tuple[int, int] | None = (stat.st_mtime_ns, stat.st_size)
        except FileNotFoundError:
            stamp = None
        with self._lock:
            if stamp != self._stamp:
                self._keys = tuple(load_api_keys(self.path)) if stamp else ()
                self._stamp = stamp
            return self._keys

    def identify(self, presented: str | None) -> str | None:
        """The name of the key presented, compared with every stored hash (no early exit)."""
        if not presented:
            return None
        digest, name = _digest(presented), None
        for key in self.keys():
            if hmac.compare_digest(key.sha256, digest):
                name = key.name
        return name


def _presented_key(headers: Headers) -> str | None:
    if key := headers.get("x-api-key"):
        return key
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return (token.strip() or None) if scheme.lower() == "bearer" else None


# --------------------------------------------------------------------------------- middleware
class _Gate:
    """Authenticates every request but /health before its body is read, and writes the access log."""

    def __init__(self, app: ASGIApp, keyring: _KeyRing, routes: Any) -> None:
        self.app = app
        self.keyring = keyring
        self.routes = routes

    def _route(self, scope: Scope) -> str | None:
        """The matched route's template (``/participants/{participant_id}/...``), never the raw path."""
        partial = None
        for route in self.routes:
            match, _ = route.matches(scope)
            if match is Match.FULL:
                return route.path
            if match is Match.PARTIAL and partial is None:
                partial = route.path
        return partial

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        key_name = None
        logged = False

        def log() -> None:
            nonlocal logged
            if not logged:
                logged = True
                _ACCESS.info(json.dumps({
                    "method": scope["method"], "route": self._route(scope), "status": status,
                    "duration_ms": round((time.perf_counter() - start) * 1000, 2), "key": key_name,
                }))

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                log()  # before the last bytes go out: a client holding the response finds its line logged
            await send(message)

        try:
            if scope["path"] in _OPEN_PATHS:
                await self.app(scope, receive, send_and_note)
                return
            key_name = self.keyring.identify(_presented_key(Headers(scope=scope)))
            scope.setdefault("state", {})[_KEY_STATE] = key_name  # the audit log's caller
            if key_name is None:
                await send_and_note({"type": "http.response.start", "status": 401, "headers": _UNAUTHORIZED_HEADERS})
                await send_and_note({"type": "http.response.body", "body": b'{"detail":"missing or invalid API key"}'})
                return
            await self.app(scope, receive, send_and_note)
        finally:
            log()  # a request that ended without a whole response is logged too


# ------------------------------------------------------------------------------------ models
_KIND_TYPES: dict[str, Any] = {
    "string": str, "text": str, "number": float, "integer": int, "bool": bool, "date": date, "list": list[str],
}


def _participant_fields() -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for spec in PARTICIPANT_COLUMNS:
        kind = Literal[spec.allowed] if spec.kind == "enum" else _KIND_TYPES[spec.kind]
        required = spec.required and spec.default is None and spec.name != "coach_id"  # coach_id: "api"
        fields[spec.name] = (kind, ...) if required else (kind | None, None)
    return fields


def _request_model(max_k: int, default_k: int) -> type[BaseModel]:
    """A participant in the contract's fields plus ``k``; unknown fields are refused.

    Only types are checked here; the contract's value rules run in ``records_to_frame``.
    """
    fields = _participant_fields()
    fields["k"] = (int, Field(min(default_k, max_k), ge=1, le=max_k, description="vacancies to return"))
    return create_model("RecommendationRequest", __config__=ConfigDict(extra="forbid"), **fields)


def _pathway_request_model(default_n: int) -> type[BaseModel]:
    """A participant in the contract's fields plus ``n`` (routes to return); unknown fields are refused."""
    fields = _participant_fields()
    fields["n"] = (int, Field(default_n, ge=1, le=20, description="routes to return"))
    return create_model("PathwayRequest", __config__=ConfigDict(extra="forbid"), **fields)


class Recommendation(BaseModel):
    rank: int
    vacancy_id: str
    score: float = Field(description="the model's score: it orders one person's list, nothing more")
    p_outcome: float | None = Field(None, description="the calibrated chance of an interview, work trial or hire")
    level: Literal["good", "possible", "long_shot"] | None = Field(
        None, description="p_outcome in words: good (about 1 in 4 or better), possible (1 in 10 to 1 in 4), long_shot")
    reasons: list[str]
    to_check: list[str]


class RecommendationList(BaseModel):
    participant_id: str
    model_version: str
    as_of: date
    run_id: str | None = Field(None, description="the nightly run (GET /participants/{id}/recommendations)")
    recommendations: list[Recommendation]


class Pathway(BaseModel):
    rank: int
    target_occupation: str = Field(description="ESCO occupation URI")
    gap_skills: list[str] = Field(description="ESCO skill URIs the work asks that the person lacks, most important first")
    steps: list[str] = Field(description="service ids, in order")
    leads_to: list[str] = Field(description="open vacancy ids the route leads to")
    p_gain: float = Field(description="the estimated gain in the chance of a good outcome from following the route")
    reasons: list[str]
    to_check: list[str]


class PathwayList(BaseModel):
    participant_id: str
    as_of: date
    run_id: str | None = Field(None, description="the nightly run (GET /participants/{id}/pathways)")
    pathways: list[Pathway]


class Health(BaseModel):
    status: Literal["ok"]
    model_version: str
    as_of: date
    version: str


class FeedbackEvent(BaseModel):
    """One outcome event, in the contract's outcomes form."""

    model_config = ConfigDict(extra="forbid")

    participant_id: str
    vacancy_id: str
    event: Literal[EVENTS]
    event_date: date
    reason: OverrideReason | None = Field(
        None, description=f"why a coach or the participant set the recommendation aside: only with event "
                          f"{OVERRIDE_EVENT!r} (the pair then leaves later lists)")

    @field_validator("reason")
    @classmethod
    def _declined_only(cls, value: str | None, info: ValidationInfo) -> str | None:
        """A reason explains an override, so it goes with ``declined`` only."""
        if value is not None and info.data.get("event", OVERRIDE_EVENT) != OVERRIDE_EVENT:
            raise ValueError(f"a reason goes with the event {OVERRIDE_EVENT!r} only")
        return value


FeedbackBody = Annotated[
    list[FeedbackEvent],
    BeforeValidator(lambda value: [value] if isinstance(value, Mapping) else value),
    Field(min_length=1, description="one outcome event, or a list of them"),
]


class FeedbackStored(BaseModel):
    stored: int


def _chance(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _split(cell: str) -> list[str]:
    return cell.split("|") if cell else []


# ----------------------------------------------------------------------------------- the app
def _load_matcher(settings: Settings, as_of: date, store: ResultStore) -> Matcher:
    """The champion over the vacancies of ``api.data_dir`` open on ``as_of``, knowing the folder's
    outcome events (when it has them) and the stored feedback: pairs already acted on are left out."""
    if settings.api.data_dir is None:
        raise ValueError("api.data_dir is not set: give the data folder whose vacancies the API serves "
                         "(ILONA_MATCH_API__DATA_DIR or api.data_dir in --config)")
    tables = _served_tables(settings.api.data_dir)
    bundle = load_data(settings.api.data_dir, tables=tables, max_text_chars=settings.contract.max_text_chars)
    vacancies = bundle.vacancies
    open_now = vacancies[open_on(VacancyDemands.from_frame(vacancies), as_of)].reset_index(drop=True)
    if open_now.empty:
        raise ValueError(f"{settings.api.data_dir}: no vacancy is open on {as_of.isoformat()}")
    feedback = store.feedback()
    events = bundle.outcomes
    if not feedback.empty:
        events = pd.concat([events, records_to_frame("outcomes", feedback.drop(columns="received_at").to_dict("records"))],
                           ignore_index=True)
    matcher = Matcher.load(workdir=settings.workdir, vacancies=open_now, as_of=as_of, outcomes=events,
                           exclusion=settings.exclusion, pathways=settings.pathways, history_vacancies=vacancies)
    if "services" in tables:
        matcher.use_services(bundle.services, bundle.service_outcomes, vacancies=vacancies)
    return matcher


def _participant(body: BaseModel, option: str, max_text_chars: int) -> pd.DataFrame:
    """The participant of a request body (its contract fields, ``option`` left out) as a checked one-row
    frame; ContractError when a value breaks the contract."""
    record = body.model_dump(mode="json", exclude={option}, exclude_none=True)
    record.setdefault("coach_id", "api")
    return records_to_frame("participants", [record], max_text_chars=max_text_chars)


def _served_tables(directory: Path) -> tuple[str, ...]:
    """The tables of ``directory`` the API reads: vacancies, and services and outcomes when present."""
    return tuple(name for name in _SERVED_TABLES if name == "vacancies" or _has_table(directory, name))


def _data_fingerprint(settings: Settings) -> str:
    """SHA-256 of the data folder's table files the API reads (``fingerprint_files``); "" without a folder."""
    from ilona_match.learning.tracking import fingerprint_files

    if settings.api.data_dir is None:
        return ""
    return fingerprint_files(find_table(settings.api.data_dir, name) for name in _served_tables(settings.api.data_dir))


def config_hash(settings: Settings) -> str:
    """SHA-256 of the settings as JSON: the same settings give the same value."""
    return hashlib.sha256(settings.model_dump_json().encode("utf-8")).hexdigest()


def _by_participant(events: pd.DataFrame) -> list[tuple[str, list[str]]]:
    """Vacancy ids per participant in the order posted (participants in order of first appearance)."""
    served: dict[str, list[str]] = {}
    for participant_id, vacancy_id in zip(events["participant_id"], events["vacancy_id"]):
        served.setdefault(str(participant_id), []).append(str(vacancy_id))
    return list(served.items())


def _has_table(directory: Path, table: str) -> bool:
    try:
        find_table(directory, table)
    except ContractError:
        return False
    return True


def _fault_detail(exc: ContractError, many: bool) -> list[dict[str, Any]]:
    return [{"loc": ["body", *([fault.row] if many and fault.row is not None else []), *([fault.column] if fault.column else [])],
             "msg": fault.reason, "type": "contract"} for fault in exc.faults]


def create_app(settings: Settings, *, matcher: Matcher | None = None, store: ResultStore | None = None) -> FastAPI:
    """The API app. Loads the keys, the champion and its vacancies now, so a bad setup fails at start.

    A given ``matcher`` must hold the vacancies open on ``api.as_of`` (default: today).
    """
    as_of = settings.api.as_of or date.today()
    keyring = _KeyRing(default_keys_file(settings))
    if not keyring.keys():
        raise ValueError(f"no API keys in {keyring.path}: every call but /health would get 401, so the API does not "
                         "start; add one with `ilona-match api-key add --name NAME`")
    store = store or ResultStore.from_settings(settings)
    matcher = matcher or _load_matcher(settings, as_of, store)
    fingerprint, settings_hash = _data_fingerprint(settings), config_hash(settings)
    scoring = threading.Lock()  # one recommendation computes at a time; the model uses both cores already
    Request_ = _request_model(settings.api.max_k, settings.batch.k)
    PathwayRequest_ = _pathway_request_model(settings.pathways.per_participant)
    secured = [Security(APIKeyHeader(name="X-API-Key", auto_error=False)), Security(HTTPBearer(auto_error=False))]

    app = FastAPI(
        title="ilona-match", version=__version__, docs_url=None, redoc_url=None,
        max_body_size=settings.api.max_body_bytes,
        description="Job recommendations for people with partial work capacity. Every route but /health "
                    "needs an API key (X-API-Key header or Authorization: Bearer).",
    )
    app.add_middleware(_Gate, keyring=keyring, routes=app.routes)

    def audit(request: Request, kind: str, served: list[tuple[str, list[str]]], model_version: str,
              run_id: str | None = None) -> None:
        """Append the record of a served call (one small insert)."""
        store.append_audit(audit_entry(request, kind, served, model_version, run_id))

    def audit_entry(request: Request, kind: str, served: list[tuple[str, list[str]]], model_version: str,
                    run_id: str | None = None) -> AuditEntry:
        return AuditEntry(kind=kind, caller=getattr(request.state, _KEY_STATE), model_version=model_version,
                          served=served, data_fingerprint=fingerprint, config_hash=settings_hash, run_id=run_id)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming the fields; the values sent are never echoed."""
        detail = [{"loc": list(error["loc"]), "msg": error["msg"], "type": error["type"]} for error in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    @app.get("/health", response_model=Health)
    def health() -> Health:
        """Liveness and the model version in use (no API key needed)."""
        return Health(status="ok", model_version=matcher.model_version, as_of=as_of, version=__version__)

    @app.post("/recommendations", response_model=RecommendationList, dependencies=secured,
              responses={422: {"description": "a field that is unknown, of the wrong type or breaks the contract"}})
    def recommend(body: Request_, request: Request) -> RecommendationList:  # type: ignore[valid-type]
        """Ranked open vacancies with reasons for one participant given in the contract's fields."""
        try:
            participant = _participant(body, "k", settings.contract.max_text_chars)
        except ContractError as exc:
            return JSONResponse({"detail": _fault_detail(exc, many=False)}, status_code=422)
        with scoring:
            ranked = matcher.recommend(participant, k=body.k)
        audit(request, "api.recommendations", [(body.participant_id, [r["vacancy_id"] for r in ranked])],
              matcher.model_version)
        return RecommendationList(participant_id=body.participant_id, model_version=matcher.model_version,
                                  as_of=as_of, recommendations=ranked)

    @app.get("/participants/{participant_id}/recommendations", response_model=RecommendationList,
             dependencies=secured, responses={404: {"description": "no nightly list for this participant"}})
    def nightly(participant_id: str, request: Request) -> RecommendationList:
        """The latest published nightly list of a known participant."""
        rows = store.recommendations_for(participant_id)
        if rows.empty:
            raise HTTPException(404, "no published recommendations for this participant")
        first = rows.iloc[0]
        audit(request, "api.participant_recommendations", [(participant_id, rows["vacancy_id"].tolist())],
              str(first.model_version), str(first.run_id))
        return RecommendationList(
            participant_id=participant_id, model_version=first.model_version, as_of=first.as_of, run_id=first.run_id,
            recommendations=[Recommendation(rank=r.rank, vacancy_id=r.vacancy_id, score=r.score, p_outcome=_chance(r.p_outcome),
                                            level=level_of(r.p_outcome), reasons=_split(r.reasons),
                                            to_check=_split(r.to_check)) for r in rows.itertuples()],
        )

    @app.get("/participants/{participant_id}/pathways", response_model=PathwayList,
             dependencies=secured, responses={404: {"description": "no nightly pathways for this participant"}})
    def nightly_pathways(participant_id: str, request: Request) -> PathwayList:
        """The latest published routes to work of a known participant (contract v1.1 pathways)."""
        rows = store.pathways_for(participant_id)
        if rows.empty:
            raise HTTPException(404, "no published pathways for this participant")
        first = rows.iloc[0]
        run = next((r for r in store.runs() if r.run_id == first.run_id), None)
        audit(request, "api.participant_pathways", [(participant_id, [route_id(steps) for steps in rows["steps"]])],
              run.model_version if run is not None else matcher.model_version, str(first.run_id))
        return PathwayList(participant_id=participant_id, as_of=first.as_of, run_id=first.run_id, pathways=[
            Pathway(rank=r.rank, target_occupation=r.target_occupation, gap_skills=list(r.gap_skills),
                    steps=list(r.steps), leads_to=list(r.leads_to), p_gain=r.p_gain, reasons=list(r.reasons),
                    to_check=list(r.to_check)) for r in rows.itertuples()])

    @app.post("/pathways", response_model=PathwayList, dependencies=secured,
              responses={422: {"description": "a field that is unknown, of the wrong type or breaks the contract"},
                         503: {"description": "the data folder has no services table"}})
    def pathways(body: PathwayRequest_, request: Request) -> PathwayList:  # type: ignore[valid-type]
        """Routes to work (training, work trials, social enterprises, then the job) for one participant
        given in the contract's fields."""
        try:
            participant = _participant(body, "n", settings.contract.max_text_chars)
        except ContractError as exc:
            return JSONResponse({"detail": _fault_detail(exc, many=False)}, status_code=422)
        if not matcher.has_services:
            raise HTTPException(503, "no services table in the served data folder")
        with scoring:
            routes = matcher.pathways(participant, n=body.n)
        audit(request, "api.pathways", [(body.participant_id, [route_id(route["steps"]) for route in routes])],
              matcher.model_version)
        return PathwayList(participant_id=body.participant_id, as_of=as_of, pathways=routes)

    @app.post("/feedback", response_model=FeedbackStored, status_code=201, dependencies=secured)
    def feedback(body: FeedbackBody, request: Request) -> FeedbackStored:
        """Store outcome events (one, or a list) reported by a coach or a participant's system; a
        ``declined`` event may say why (``reason``: a coach's override)."""
        try:
            events = records_to_frame("outcomes", [event.model_dump(mode="json", exclude={"reason"}) for event in body])
        except ContractError as exc:
            return JSONResponse({"detail": _fault_detail(exc, many=True)}, status_code=422)
        stored = store.append_feedback(  # the events and their audit record commit together
            events.assign(reason=[event.reason for event in body]),
            audit=audit_entry(request, "api.feedback", _by_participant(events), matcher.model_version))
        with scoring:
            matcher.add_events(events)  # the next list already leaves these pairs out
        return FeedbackStored(stored=stored)

    return app


# --------------------------------------------------------------------------------- serving
def _server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    """Uvicorn without its own access log (it would write raw paths); ours is ``ilona_match.access``."""
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, access_log=False, log_level="info",
                                         server_header=False))


def serve(settings: Settings, host: str | None = None, port: int | None = None) -> None:
    """Run the API until interrupted (``ilona-match serve``); access log lines go to stderr as JSON."""
    app = create_app(settings)
    if not _ACCESS.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        _ACCESS.addHandler(handler)
        _ACCESS.setLevel(logging.INFO)
        _ACCESS.propagate = False
    _server(app, host or settings.api.host, port or settings.api.port).run()


@contextmanager
def background_server(app: FastAPI, host: str = "127.0.0.1") -> Iterator[str]:
    """The real server on a free port in a background thread, for tests and benchmarks; yields its URL."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((host, 0))
    server = _server(app, host, listener.getsockname()[1])
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the API server stopped during start-up")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()

