"""Pathways: routes to work for people who are not one step from an open vacancy.

For each participant the planner
1. finds **target occupations with real local demand**: vacancies open on the as-of date plus hires in
   the last ``demand_days``, counted only where the job breaks none of the person's hard limits and
   lies within their commuting range (or is remote; unknown places count and are flagged);
2. scores how **close** each target is: the share of what the work asks that the person has — ESCO's
   essential (weight 0.6) and optional (0.3) skills of the occupation, and the skills the local ads
   for it ask (their share of those ads) — where a missing skill weighs less the more transferable it
   is (ESCO reuse level: transversal 0.5, cross-sector 0.7, sector-specific 0.85,
   occupation-specific 1), plus past work in the same ISCO-08 group;
   the ``targets`` closest occupations are the person's targets, and so is every occupation with
   demand that a workplace step open to them (work trial, supported employment, apprenticeship)
   leads toward: such a step is a route into work they are not yet close to;
3. lists the **gap**: what the work asks that the person lacks, most important first;
4. finds **steps** the person can take (the same hard constraints as jobs, a seat left, joinable now
   and starting within ``horizon_days``, within the commuting range or remote): one step, or a
   skill step followed by a step at a workplace (work trial, supported employment, apprenticeship)
   toward the target. A step's relevance is the share of the gap it teaches, or 0.8 (workplace
   step) / 0.5 (other) when it leads toward the target occupation itself (half that within its ISCO
   group), or 1 for general coaching and rehabilitation (their prior is their whole effect: they are
   not about particular skills);
5. ranks routes by the **expected gain** in the chance of a good outcome:
   p_gain = Π completion · (1 − Π (1 − gain · relevance)) · (1 − exp(−demand / 3)),
   with completion and gain per provider and kind from ``ServiceEffects`` (learned from service
   outcomes, or the documented prior), the demand factor saying that a route into a thin local
   market is worth less. Each person gets ``per_participant`` routes, to different targets first;
6. **shares the seats** of one run (``share_seats``): each step open to a person is a candidate route,
   and a step that would lead more people's lists than it has seats left is worth its gain times
   the share of seats a taker can count on, so it moves down some lists (``_choose``); a route
   through a step that is the first route of more people than it has free seats says so under what
   to check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse

from ilona_match.contract.constraints import feasible, open_on, to_check_items, to_check_mask
from ilona_match.contract.spec import SUPPORTS
from ilona_match.matching.features import haversine_km
from ilona_match.matching.profiles import ConceptSpace, ParticipantProfiles, VacancyProfiles
from ilona_match.matching.reasons import CHECK_TEXT
from ilona_match.pathways.effects import EffectsConfig, ServiceEffects
from ilona_match.pathways.services import JOB_NEAR_KINDS, ServiceProfiles
from ilona_match.text.taxonomy import Taxonomy

__all__ = ["PATHWAY_FIELDS", "Market", "PathwayConfig", "plan_pathways", "steps_open_to"]

PATHWAY_FIELDS: tuple[str, ...] = ("participant_id", "coach_id", "rank", "target_occupation", "gap_skills", "steps",
                                   "leads_to", "p_gain", "reasons", "to_check")
_REUSE_WEIGHT = {"transversal": 0.5, "cross-sector": 0.7, "sector-specific": 0.85, "occupation-specific": 1.0}
_ESSENTIAL, _OPTIONAL = 0.3, 0.1
_GENERAL_KINDS = ("coaching", "rehabilitation")


class PathwayConfig(BaseModel):
    """The ``pathways`` section of the settings."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    per_participant: int = Field(3, ge=1, description="routes listed per person")
    horizon_days: int = Field(90, ge=0, description="a step must start within this many days of the as-of date")
    demand_days: int = Field(180, gt=0, description="hires this many days before the as-of date show local demand")
    max_steps: int = Field(2, ge=1, le=2, description="1: single steps only; 2: also a skill step, then a workplace step")
    targets: int = Field(5, ge=1, description="closest target occupations with demand considered per person")
    gap_skills: int = Field(5, ge=1, description="gap skills listed per route")
    leads_to: int = Field(5, ge=1, description="open vacancies listed per route")
    share_seats: bool = Field(True, description="a run's routes share each step's free seats: a step that would lead "
                              "more people than it has seats left moves down their lists")
    seat_sweeps: int = Field(3, ge=1, description="share_seats: rounds in which each person's list is chosen again")
    effects: EffectsConfig = EffectsConfig()


@dataclass(frozen=True)
class Market:
    """The vacancies that show demand: those open on the as-of date and those with recent hires."""

    jobs: VacancyProfiles
    open: np.ndarray  # bool per row: open on the as-of date
    hires: np.ndarray  # hires per row in the demand window


# ------------------------------------------------------------------------------- reasons
_TEXT: dict[str, dict[str, str]] = {
    "open": {"fi": "Avoimia työpaikkoja lähelläsi ammatissa {occupation}: {n}",
             "sv": "Lediga jobb nära dig som {occupation}: {n}",
             "en": "{n} open jobs near you as {occupation}"},
    "hired": {"fi": "Ammattiin {occupation} on palkattu lähelläsi viime kuukausina: {n}",
              "sv": "Anställda som {occupation} nära dig de senaste månaderna: {n}",
              "en": "{n} people hired as {occupation} near you in recent months"},
    "hired_one": {"fi": "Ammattiin {occupation} on palkattu lähelläsi viime kuukausina: 1",
                  "sv": "Anställda som {occupation} nära dig de senaste månaderna: 1",
                  "en": "1 person hired as {occupation} near you in recent months"},
    "general": {"fi": "{step} tukee työhön pääsyä alasta riippumatta",
                "sv": "{step} stöder vägen till arbete inom alla områden",
                "en": "{step} supports the way to work in any field"},
    "far": {"fi": "Ammatissa {occupation} on kysyntää, mutta ei matka-alueellasi",
            "sv": "Det finns efterfrågan på {occupation}, men inte inom ditt pendlingsavstånd",
            "en": "There is demand for {occupation}, but not within your travel range"},
    "builds": {"fi": "Pohjana osaamisesi: {skills}", "sv": "Bygger på det du kan: {skills}",
               "en": "Builds on what you can do: {skills}"},
    "teaches": {"fi": "{step} opettaa työssä tarvittavia taitoja: {skills}",
                "sv": "{step} lär ut färdigheter som arbetet kräver: {skills}",
                "en": "{step} teaches skills the work asks for: {skills}"},
    "toward": {"fi": "{step} vie kohti tätä työtä", "sv": "{step} leder mot det här arbetet",
               "en": "{step} leads toward this work"},
    "social": {"fi": "Järjestäjä on yhteiskunnallinen yritys", "sv": "Anordnaren är ett socialt företag",
               "en": "Run by a social enterprise"},
    "record": {"fi": "Aiemmista osallistujista {c}/{n} suoritti loppuun", "sv": "{c} av {n} tidigare deltagare slutförde",
               "en": "{c} of {n} past participants completed it"},
    "starts": {"fi": "Alkaa {date}, kesto {weeks} viikkoa", "sv": "Börjar {date}, {weeks} veckor",
               "en": "Starts {date}, {weeks} weeks"},
    "remote": {"fi": "Voi osallistua etänä", "sv": "Kan tas på distans", "en": "Can be taken remotely"},
}
_KIND_TEXT: dict[str, dict[str, str]] = {
    "course": {"fi": "Koulutus", "sv": "Utbildningen", "en": "The course"},
    "apprenticeship": {"fi": "Oppisopimus", "sv": "Läroavtalet", "en": "The apprenticeship"},
    "work_trial": {"fi": "Työkokeilu", "sv": "Arbetsprövningen", "en": "The work trial"},
    "supported_employment": {"fi": "Tuettu työ", "sv": "Det stödda arbetet", "en": "Supported employment"},
    "rehabilitation": {"fi": "Kuntoutus", "sv": "Rehabiliteringen", "en": "Rehabilitation"},
    "coaching": {"fi": "Valmennus", "sv": "Coachningen", "en": "Coaching"},
}
_CHECK: dict[str, dict[str, str]] = {
    "support": {"fi": "oikeus tukeen ({supports})", "sv": "rätt till stöd ({supports})",
                "en": "eligibility for {supports}"},
    "place": {"fi": "sijainti ei tiedossa", "sv": "platsen är okänd", "en": "location not stated"},
    "seats": {"fi": "paikkoja vapaana {free}, ensimmäinen ehdotus {n} henkilölle",
              "sv": "{free} lediga platser, första förslaget för {n} personer",
              "en": "{free} seats left, the first route of {n} people"},
    "far": {"fi": "kohdetyöt matka-alueen ulkopuolella", "sv": "målarbetena ligger utanför pendlingsavståndet",
            "en": "target jobs beyond travel range"},
}


def _language(value: object) -> str:
    return value if value in ("fi", "sv", "en") else "fi"


# ------------------------------------------------------------------------------- geometry
def _reach(people: ParticipantProfiles, rows: np.ndarray, lat: np.ndarray, lon: np.ndarray,
           remote: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(within reach, place unknown) for people ``rows`` x places: within the commute or remote;
    an unknown place on either side is within reach and flagged."""
    distance = haversine_km(people.lat[rows, None], people.lon[rows, None], lat[None, :], lon[None, :])
    unknown = np.isnan(distance) & ~remote[None, :]
    return (distance <= people.max_commute_km[rows, None]) | remote[None, :] | unknown, unknown


# ------------------------------------------------------------------------------- what work asks
@dataclass(frozen=True)
class _Targets:
    """The occupations the market shows demand for, and what each asks (rows of ``weights``)."""

    uris: np.ndarray
    columns: np.ndarray  # the targets' ConceptSpace occupation columns
    of_job: sparse.csr_matrix  # jobs x targets indicator
    weights: sparse.csr_matrix  # targets x skills: how much the work asks each skill, softened by transferability
    isco4: np.ndarray  # int per target


def _targets(market: Market, taxonomy: Taxonomy, space: ConceptSpace) -> _Targets:
    jobs = market.jobs
    relevant = market.open | (market.hires > 0)
    columns = np.flatnonzero(np.asarray(jobs.occupations[relevant].sum(axis=0)).ravel() > 0)
    occupation_uris = np.array(taxonomy.occupation_uris, dtype=object)
    uris = occupation_uris[columns]
    of_job = jobs.occupations[:, columns].multiply(relevant[:, None]).tocsr()
    skill_uris = taxonomy.skill_uris
    reuse = np.array([_REUSE_WEIGHT.get(taxonomy.reuse_level(uri), 0.85) for uri in skill_uris], dtype=np.float64)
    rows, cols, vals = [], [], []
    for t, uri in enumerate(uris):
        for weight, skills in ((_ESSENTIAL, taxonomy.essential_skills(uri)), (_OPTIONAL, taxonomy.optional_skills(uri))):
            for skill in skills:
                rows.append(t)
                cols.append(space.skill_column[skill])
                vals.append(weight)
    esco = sparse.csr_matrix((vals, (rows, cols)), shape=(len(uris), len(skill_uris)))
    esco.sum_duplicates()
    counts = np.asarray(of_job.sum(axis=0)).ravel()
    asked = (of_job.T @ jobs.required_skills.sign()).multiply(1.0 / np.maximum(counts, 1)[:, None]).tocsr()
    weights = esco.maximum(asked).multiply(reuse[None, :]).tocsr()
    isco4 = np.array([int(taxonomy.isco_group(uri)) for uri in uris], dtype=np.int64)
    return _Targets(uris, columns, of_job, weights, isco4)


# ------------------------------------------------------------------------------- the planner
@dataclass(frozen=True)
class _Context:
    config: PathwayConfig
    taxonomy: Taxonomy
    people: ParticipantProfiles
    market: Market
    services: ServiceProfiles
    targets: _Targets
    completion: np.ndarray
    gain: np.ndarray
    completed_n: np.ndarray
    ended_n: np.ndarray
    joinable: np.ndarray
    as_of: date
    skill_cols: np.ndarray  # the skills any target asks or any step teaches (the only ones a route can use)
    local_col: np.ndarray  # skill column -> position in skill_cols, -1 when not there
    asked: np.ndarray  # targets x skill_cols, dense
    teaches: np.ndarray  # services x skill_cols, dense
    jobs_of_target: np.ndarray  # jobs x targets, bool
    leads_toward: np.ndarray  # services x targets, bool: the step names the target occupation
    leads_to_group: np.ndarray  # services x targets, bool: the step names the target's ISCO-08 group
    job_near: np.ndarray  # services, bool: a step at a workplace
    general: np.ndarray  # services, bool: coaching or rehabilitation about no skill or occupation in particular


def plan_pathways(people: ParticipantProfiles, market: Market, services: ServiceProfiles, effects: ServiceEffects,
                  taxonomy: Taxonomy, as_of: date, config: PathwayConfig | None = None,
                  seats_taken: np.ndarray | None = None, chunk_size: int = 500) -> pd.DataFrame:
    """Each person's best routes (``PATHWAY_FIELDS``; lists as tuples), ranked by p_gain."""
    config = config or PathwayConfig()
    empty = pd.DataFrame({name: pd.Series(dtype="float64" if name == "p_gain" else "int64" if name == "rank" else object)
                          for name in PATHWAY_FIELDS})
    if len(people) == 0 or len(services) == 0:
        return empty
    taken = np.zeros(len(services), np.int64) if seats_taken is None else np.asarray(seats_taken)
    completion, gain = effects.predict(services)
    completed_n, ended_n = effects.evidence(services)
    targets = _targets(market, taxonomy, ConceptSpace.of(taxonomy))
    skill_cols = np.union1d(targets.weights.indices, services.taught.indices).astype(np.int64)
    local_col = np.full(targets.weights.shape[1], -1, dtype=np.int64)
    local_col[skill_cols] = np.arange(len(skill_cols))
    context = _Context(config, taxonomy, people, market, services, targets, completion, gain, completed_n, ended_n,
                       services.joinable(as_of, config.horizon_days, services.seats - taken), as_of, skill_cols,
                       local_col, targets.weights[:, skill_cols].toarray(), services.taught[:, skill_cols].toarray(),
                       targets.of_job.toarray() > 0, *_step_kinds(services, targets))
    chunks = [np.arange(start, min(start + chunk_size, len(people))) for start in range(0, len(people), chunk_size)]
    candidates: dict[int, list[_Route]] = {}
    for chunk in chunks:
        view = _view(context, chunk)
        for i, person in enumerate(chunk.tolist()):
            routes = _candidates(context, i, person, view)
            if routes:
                candidates[person] = routes
    free = np.maximum(services.seats - taken, 0).astype(np.float64)
    picked, leading = _choose(candidates, free, config)
    rows: list[dict] = []
    for chunk in chunks:  # a chunk's view again, rather than keeping every person's view through the choice
        if not any(person in picked for person in chunk.tolist()):
            continue
        view = _view(context, chunk)
        for i, person in enumerate(chunk.tolist()):
            if person in picked:
                rows.extend(_rows(context, person, picked[person], view, i, free, leading))
    return pd.DataFrame(rows, columns=list(PATHWAY_FIELDS)) if rows else empty


def _step_kinds(services: ServiceProfiles, targets: _Targets) -> tuple[np.ndarray, ...]:
    """What each step is, once per run: (leads toward each target, toward its ISCO group, at a
    workplace, general)."""
    toward = services.toward[:, targets.columns].toarray() > 0
    groups = [{int(g) for g in row if g.isdigit()} for row in services.toward_isco4]
    in_group = np.array([[code in row for code in targets.isco4.tolist()] for row in groups], dtype=bool)
    in_group = in_group.reshape(len(services), len(targets.uris))
    general = (np.isin(services.kind, _GENERAL_KINDS) & (np.diff(services.toward.indptr) == 0)
               & (np.diff(services.taught.indptr) == 0))
    return toward, in_group, np.isin(services.kind, JOB_NEAR_KINDS), general


@dataclass(frozen=True)
class _View:
    """What one chunk of people sees of the market and the steps (row i is ``chunk[i]``)."""

    chunk: np.ndarray
    demand_near: np.ndarray  # people x targets: open jobs and recent hires that fit and lie within reach
    demand_any: np.ndarray  # people x targets: the same anywhere
    has: sparse.csr_matrix  # people x skills
    closeness: np.ndarray  # people x targets
    step_ok: np.ndarray  # people x services
    step_unknown: np.ndarray  # people x services: the step's place is unknown
    job_ok: np.ndarray  # people x jobs: fits and within reach
    open_now: np.ndarray  # jobs

    def far(self, i: int) -> bool:
        """No demand within reach of person ``chunk[i]``: their targets come from demand anywhere."""
        return not (self.demand_near[i] > 0).any()


def _view(c: _Context, chunk: np.ndarray) -> _View:
    people, jobs, targets, services = c.people, c.market.jobs, c.targets, c.services
    # demand: jobs that break no hard limit, within reach
    p_grid, v_grid = chunk[:, None], np.arange(len(jobs))[None, :]
    fits = feasible(people.limits, jobs.demands, p_grid, v_grid)
    near, _ = _reach(people, chunk, jobs.lat, jobs.lon, jobs.remote)
    open_now = c.market.open & open_on(jobs.demands, c.as_of)
    weight_near = (fits & near) * (open_now + c.market.hires)[None, :]
    weight_any = fits * (open_now + c.market.hires)[None, :]
    demand_near = np.asarray((sparse.csr_matrix(weight_near) @ targets.of_job).todense())
    demand_any = np.asarray((sparse.csr_matrix(weight_any) @ targets.of_job).todense())
    # closeness: what the work asks that the person has, and past work in the same ISCO group
    has = (people.skills[chunk] + people.implied_skills[chunk]).sign().tocsr()
    asked_total = np.asarray(targets.weights.sum(axis=1)).ravel()
    covered = np.asarray((has @ targets.weights.T).todense()) / np.maximum(asked_total, 1e-9)[None, :]
    same_group = np.asarray(people.isco4[chunk][:, targets.isco4].todense()) > 0
    step_ok, step_unknown = steps_open_to(people, chunk, services, c.joinable)
    return _View(chunk, demand_near, demand_any, has, 0.7 * covered + 0.3 * same_group, step_ok, step_unknown,
                 fits & near, open_now)


def _candidates(c: _Context, i: int, person: int, view: _View) -> list[_Route]:
    """Person ``chunk[i]``'s candidate routes, best expected gain first (empty: no step or no demand)."""
    if not view.step_ok[i].any():
        return []
    demand = view.demand_any[i] if view.far(i) else view.demand_near[i]
    candidates = np.flatnonzero(demand > 0)
    if not len(candidates):
        return []
    targets = c.targets
    order = np.lexsort((targets.uris[candidates], -demand[candidates], -view.closeness[i, candidates]))
    chosen = candidates[order[:c.config.targets]]
    open_steps = np.flatnonzero(view.step_ok[i])
    workplace = open_steps[c.job_near[open_steps]]  # the occupations these lead toward are targets too
    reached = candidates[c.leads_toward[np.ix_(workplace, candidates)].any(axis=0)]
    chosen = np.concatenate([chosen, np.setdiff1d(reached, chosen)])
    return _routes(c, chosen, view.has[i], open_steps, demand)


def steps_open_to(people: ParticipantProfiles, rows: np.ndarray, services: ServiceProfiles,
                  joinable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(can take, place unknown) for people ``rows`` x services: no hard limit broken, joinable now
    (``ServiceProfiles.joinable``), within the commuting range or remote."""
    ok = feasible(people.limits, services.demands, rows[:, None], np.arange(len(services))[None, :]) & joinable[None, :]
    near, unknown = _reach(people, rows, services.lat, services.lon, services.remote)
    return ok & near, unknown


@dataclass(frozen=True)
class _Route:
    target: int
    steps: tuple[int, ...]
    p_gain: float
    gap: tuple[int, ...]  # skill columns (ConceptSpace), most important first
    taught: tuple[int, ...]  # gap skills the steps teach, most important first


def _routes(c: _Context, chosen: np.ndarray, has: sparse.csr_matrix, steps: np.ndarray,
            demand: np.ndarray) -> list[_Route]:
    """Up to two routes per target (its best single steps and two-step routes), and every other open step
    toward the target it helps most, best expected gain first."""
    services = c.services
    weights = c.asked[chosen]  # a copy (fancy indexing)
    had = c.local_col[has.indices]
    weights[:, had[had >= 0]] = 0.0  # the gap: asked, not had
    gap_total = weights.sum(axis=1)
    taught = c.teaches[steps]
    closure = (weights @ taught.T) / np.maximum(gap_total, 1e-9)[:, None]
    leads = c.leads_toward[np.ix_(steps, chosen)].T  # targets x steps
    isco = c.leads_to_group[np.ix_(steps, chosen)].T
    job_near = c.job_near[steps]
    general = c.general[steps]
    lead_value = np.where(job_near, 0.8, 0.5)[None, :]
    relevance = np.maximum.reduce([
        closure,
        np.where(leads, lead_value, np.where(isco, lead_value / 2, 0.0)),
        np.broadcast_to(np.where(general, 1.0, 0.0)[None, :], closure.shape),
        np.full(closure.shape, 0.02),  # any step does a little: a person with no better route still gets one
    ])
    lift = np.clip(c.gain[steps][None, :] * relevance, 0.0, 0.95)
    done = c.completion[steps]
    market = 1.0 - np.exp(-demand[chosen] / 3.0)
    single = done[None, :] * lift * market[:, None]  # targets x steps
    found: list[tuple[int, float, tuple[int, ...]]] = []
    for t_row in range(len(chosen)):
        best = [(float(single[t_row, j]), (j,)) for j in np.argsort(-single[t_row], kind="stable")[:3].tolist()]
        if c.config.max_steps >= 2:
            first = np.flatnonzero(~job_near)
            second = np.flatnonzero(job_near & (leads[t_row] | isco[t_row]))
            starts = services.starts[steps]
            for a in first[np.argsort(-single[t_row, first], kind="stable")[:5]].tolist():
                later = second[starts[second] >= starts[a]]
                if not len(later):
                    continue
                value = done[a] * done[later] * (1 - (1 - lift[t_row, a]) * (1 - lift[t_row, later])) * market[t_row]
                b = int(later[np.argmax(value)])
                best.append((float(value.max()), (a, b)))
        best.sort(key=lambda item: (-item[0], item[1]))
        found.extend((t_row, value, route) for value, route in best[:2])
    # every step open to the person is a candidate, toward the target it helps most: when a step
    # fills up, the run can offer the person another (``_choose``)
    listed = {route[0] for _, _, route in found if len(route) == 1}
    for j in np.setdiff1d(np.arange(len(steps)), list(listed)).tolist():
        t_row = int(np.argmax(single[:, j]))
        found.append((t_row, float(single[t_row, j]), (j,)))
    routes: list[_Route] = []
    for t_row, value, route in found:
        gap_cols = np.flatnonzero(weights[t_row] > 0)
        gap_cols = gap_cols[np.argsort(-weights[t_row, gap_cols], kind="stable")]
        taught_cols = np.flatnonzero((taught[list(route)].sum(axis=0) > 0) & (weights[t_row] > 0))
        taught_cols = taught_cols[np.argsort(-weights[t_row, taught_cols], kind="stable")]
        routes.append(_Route(int(chosen[t_row]), tuple(int(steps[j]) for j in route), value,
                             tuple(c.skill_cols[gap_cols].tolist()), tuple(c.skill_cols[taught_cols].tolist())))
    routes.sort(key=lambda r: (-r.p_gain, r.target, r.steps))
    return routes


def _pick(routes: Sequence[_Route], value: np.ndarray, n: int) -> list[_Route]:
    """``n`` routes by ``value`` (one per route), to different targets and through different steps
    first, then the next best through steps not yet listed; best value first."""
    order = sorted(range(len(routes)), key=lambda j: (-value[j], routes[j].target, routes[j].steps))
    picked: list[int] = []
    seen: set[int] = set()
    taken: set[tuple[int, ...]] = set()
    for j in order:
        route = routes[j]
        if route.target not in seen and route.steps not in taken and len(picked) < n:
            picked.append(j)
            seen.add(route.target)
            taken.add(route.steps)
    for j in order:
        if len(picked) >= n:
            break
        if j not in picked and routes[j].steps not in taken:
            picked.append(j)
            taken.add(routes[j].steps)
    picked.sort(key=lambda j: (-value[j], routes[j].target, routes[j].steps))
    return [routes[j] for j in picked]


def _choose(candidates: dict[int, list[_Route]], free: np.ndarray,
            config: PathwayConfig) -> tuple[dict[int, list[_Route]], np.ndarray]:
    """Each person's listed routes, and how many people's first route each step is in.

    Without ``share_seats`` each person's best routes by expected gain. With it, the run's routes share
    the steps' free seats: a step's load is the number of people whose list it leads, and a route is
    worth its expected gain times the share of its steps' seats a taker can count on,
    min(1, free / load). Starting from everyone's own best lists, each person in turn chooses again
    given everyone else's (best responses, ``seat_sweeps`` rounds): a step that leads more lists than
    it has seats moves down some of them, or makes way for one with room, and nobody's list gets
    shorter."""
    per = config.per_participant
    gains = {person: np.array([r.p_gain for r in routes]) for person, routes in candidates.items()}
    picked = {person: _pick(routes, gains[person], per) for person, routes in candidates.items()}
    if config.share_seats and picked:
        load = np.zeros(len(free))
        for routes in picked.values():
            load[list(routes[0].steps)] += 1.0
        for _ in range(config.seat_sweeps):
            changed = False
            for person, routes in candidates.items():
                load[list(picked[person][0].steps)] -= 1.0
                room = np.minimum(1.0, free / (load + 1.0))
                value = gains[person] * np.array([room[list(r.steps)].min() for r in routes])
                again = _pick(routes, value, per)
                changed |= again != picked[person]
                picked[person] = again
                load[list(again[0].steps)] += 1.0
            if not changed:
                break
    leading = np.zeros(len(free), dtype=np.int64)
    for routes in picked.values():
        leading[list(routes[0].steps)] += 1
    return picked, leading


def _rows(c: _Context, person: int, routes: Sequence[_Route], view: _View, i: int, free: np.ndarray,
          leading: np.ndarray) -> list[dict]:
    people, services, jobs, targets, taxonomy = c.people, c.services, c.market.jobs, c.targets, c.taxonomy
    has, demand_near, step_unknown, job_ok = view.has[i], view.demand_near[i], view.step_unknown[i], view.job_ok[i]
    open_now, far = view.open_now, view.far(i)
    lang = _language(people.language[person])
    skill_uris = taxonomy.skill_uris
    rows = []
    for rank, route in enumerate(routes, start=1):
        occupation = str(targets.uris[route.target])
        name = taxonomy.label(occupation, lang)
        in_target = c.jobs_of_target[:, route.target]
        leads = np.flatnonzero(in_target & job_ok & open_now)
        if len(leads):
            distance = haversine_km(people.lat[person], people.lon[person], jobs.lat[leads], jobs.lon[leads])
            leads = leads[np.lexsort((jobs.ids[leads].astype(str), np.nan_to_num(distance, nan=np.inf)))]
        reasons: list[str] = []
        open_count = int(len(leads))
        if far:
            reasons.append(_TEXT["far"][lang].format(occupation=name))
        elif open_count:
            reasons.append(_TEXT["open"][lang].format(occupation=name, n=open_count))
        else:
            hired = int(round(demand_near[route.target]))
            reasons.append(_TEXT["hired_one" if hired == 1 else "hired"][lang].format(occupation=name, n=hired))
        asked = c.asked[route.target]
        have = [col for col in has.indices.tolist() if c.local_col[col] >= 0 and asked[c.local_col[col]] > 0]
        if have:
            have.sort(key=lambda col: (-asked[c.local_col[col]], col))
            reasons.append(_TEXT["builds"][lang].format(skills=", ".join(taxonomy.label(skill_uris[s], lang) for s in have[:3])))
        checks: list[str] = []
        for position, step in enumerate(route.steps):
            kind = str(services.kind[step])
            step_name = _KIND_TEXT[kind][lang]
            teaches = [s for s in route.taught if c.teaches[step, c.local_col[s]] > 0]
            if teaches:
                reasons.append(_TEXT["teaches"][lang].format(
                    step=step_name, skills=", ".join(taxonomy.label(skill_uris[s], lang) for s in teaches[:3])))
            elif kind in _GENERAL_KINDS and not services.toward[step].nnz:
                reasons.append(_TEXT["general"][lang].format(step=step_name))
            elif kind in JOB_NEAR_KINDS or position:
                reasons.append(_TEXT["toward"][lang].format(step=step_name))
            if services.provider_type[step] == "social_enterprise":
                reasons.append(_TEXT["social"][lang])
            if c.ended_n[step] >= 5:
                reasons.append(_TEXT["record"][lang].format(c=int(c.completed_n[step]), n=int(c.ended_n[step])))
            weeks = services.duration_weeks[step]
            reasons.append(_TEXT["starts"][lang].format(date=str(services.starts[step]),
                                                        weeks="?" if np.isnan(weeks) else f"{weeks:g}"))
            if services.remote[step]:
                reasons.append(_TEXT["remote"][lang])
            mask = int(to_check_mask(people.limits, services.demands, np.array([person]), np.array([step]))[0])
            checks.extend(CHECK_TEXT[item][lang] for item in to_check_items(mask))
            accepted = int(services.supports_accepted[step])
            if accepted and not accepted & int(people.supports[person]):
                names = ", ".join(s for b, s in enumerate(SUPPORTS) if accepted >> b & 1)
                checks.append(_CHECK["support"][lang].format(supports=names))
            if step_unknown[step]:
                checks.append(_CHECK["place"][lang])
            if leading[step] > free[step]:
                checks.append(_CHECK["seats"][lang].format(free=int(free[step]), n=int(leading[step])))
        if far:
            checks.append(_CHECK["far"][lang])
        rows.append({
            "participant_id": str(people.ids[person]), "coach_id": str(people.coach_ids[person]), "rank": rank,
            "target_occupation": occupation,
            "gap_skills": tuple(skill_uris[s] for s in route.gap[:c.config.gap_skills]),
            "steps": tuple(str(services.ids[s]) for s in route.steps),
            "leads_to": tuple(str(v) for v in jobs.ids[leads[:c.config.leads_to]]),
            "p_gain": round(route.p_gain, 4),
            "reasons": tuple(dict.fromkeys(reasons)), "to_check": tuple(dict.fromkeys(checks)),
        })
    return rows
