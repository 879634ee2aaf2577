"""The market world: a second family of synthetic worlds whose hidden process was not written around
the engine's features.

The people and vacancies are drawn as in the coach world (``make_people`` / ``make_vacancies``:
towns, sectors, occupations, true limits), but what happens to them is different:

- **Hiring is a market with thresholds.** Each employer screens the applicants it has when it
  decides (at closing, or four weeks after publication), interviews the best few and hires at most
  its openings among those who clear its bar and accept. What counts: years in the same occupation
  (a step at one year), whether enough of the required skills are really there (a threshold, not a
  share), a Finnish level against the job's need (a near veto, and the written ``languages_spoken``
  says nothing of the level), reliability (never written), long unemployment at private employers
  only, wage subsidy only for the long-term unemployed, and whether the team can support someone
  who needs a job coach (an employer trait the feed never states). Employers differ in how much
  they value experience over attitude and in how picky they are.
- **People want things the record does not say:** a taste per sector (the written wishes reflect it
  loosely), the hours they really want (often fewer than their maximum), a car or not, bus access
  to the workplace, weekends they avoid without a written restriction.
- **Another logging policy:** a job board shows each user four vacancies a week by title keywords
  and freshness, blind to work capacity (clicks are logged as ``viewed``); coaches meet people every
  four to six weeks and recommend one or two vacancies by sector and distance; people also apply on
  their own. Coaches log in three styles: thorough, sparse (no interviews, rejections, declines or
  work trials) and forgetful (a third of events lost), and log late.
- **Records written as people write them** (``records.py``): everyday job titles and task phrases
  instead of ESCO labels, skills and occupations mostly not listed, constraint columns often empty.

``market_truth`` gives the hidden hire probability of any pair (competition left out); the engine
never imports this package. People's group attributes (``groups.py``) come from a stream of their own
(``_stream(seed, 5)``) and are written to ``participant_groups``; a planted bias
(``MarketConfig.hire_bias``) makes an employer turn down an applicant of a named group it would
hire with chance ``1 - factor`` (draws from another stream of their own, ``_stream(seed, 6)``), and
multiplies the hidden hire probability by ``factor``. Services, their offers and what comes of them are drawn as in the coach
world (``synthetic/services.py``), on top of the history above.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.special import ndtr

from ilona_match.synthetic.arrays import haversine_km, sigmoid
from ilona_match.synthetic.catalogue import EMPLOYER_TYPES, RESTRICTIONS, SUPPORTS, Catalogue, load_catalogue
from ilona_match.synthetic.groups import BiasRule, check_bias, draw_groups
from ilona_match.synthetic.hiring import EVENTS
from ilona_match.synthetic.history import conflicts
from ilona_match.synthetic.jobs import Vacancies, make_vacancies
from ilona_match.synthetic.market.records import market_tables
from ilona_match.synthetic.output import FORMATS, TableWriter
from ilona_match.synthetic.people import People, make_people
from ilona_match.synthetic.services import (
    NEVER,
    ServiceLog,
    ServiceWorld,
    default_service_count,
    draw_offers,
    recorded_limits,
    run_services,
    with_service_rows,
)
from ilona_match.synthetic.text import load_templates
from ilona_match.synthetic.truth import start_world_folder

__all__ = ["MarketConfig", "MarketSummary", "generate_market_world", "market_truth"]

_EPOCH = date(1970, 1, 1)
HIRE_BAR = 1.3  # employer score an interviewed applicant must clear
SCREEN_MARGIN = 0.6  # applicants within this of the bar are interviewed
SCREEN_NOISE, INTERVIEW_NOISE, APPEAL_NOISE, ACCEPT_NOISE = 0.8, 0.5, 1.0, 0.5
COACH_APPLY, BOARD_CLICK, BOARD_APPLY, SELF_APPLY, ACCEPT_BAR = 0.0, 0.2, 0.7, 0.8, -0.3
_FI_NEED = {"social_health": 0.65, "elderly_care": 0.65, "circular_economy": 0.3, "cleaning": 0.2,
            "food_service": 0.35, "logistics": 0.3, "retail": 0.6, "office": 0.75, "property_maintenance": 0.35}
_COACH_STYLES = ("thorough", "sparse", "forgetful")
_SPARSE_DROPS = frozenset({"declined", "interview", "work_trial", "rejected"})
_COACH_LOGGED = frozenset(EVENTS) - {"viewed"}
_GH_NODES, _GH_WEIGHTS = np.polynomial.hermite.hermgauss(24)
_Z, _ZW = np.sqrt(2.0) * _GH_NODES, _GH_WEIGHTS / np.sqrt(np.pi)


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(7, *key)))


@dataclass(frozen=True)
class MarketConfig:
    """What market world to make."""

    participants: int = 1500
    vacancies: int = 1500
    seed: int = 0
    start: date = date(2025, 9, 1)
    days: int = 365
    other_languages: float = 1.0  # scales the Swedish and English text shares; 0.1 = almost all Finnish
    fmt: str = "csv"
    services: int | None = None  # None = max(20, vacancies // 10); 0 = no services table
    hire_bias: tuple[BiasRule, ...] = ()  # a planted bias: rules (column, value, factor) of groups.py
    groups: bool = True  # draw group attributes and write participant_groups (no other table changes)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hire_bias", check_bias(self.hire_bias))
        if not isinstance(self.groups, bool):
            raise ValueError(f"groups must be True or False, got {self.groups!r}")
        if self.hire_bias and not self.groups:
            raise ValueError("hire_bias needs the group attributes (groups=True)")
        if self.services is None and isinstance(self.vacancies, int) and not isinstance(self.vacancies, bool):
            object.__setattr__(self, "services", default_service_count(self.vacancies))
        for name, minimum in (("participants", 1), ("vacancies", 1), ("seed", 0), ("days", 56), ("services", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
        if not 0.0 <= self.other_languages <= 1.0:
            raise ValueError(f"other_languages must be within [0, 1], got {self.other_languages}")
        if self.fmt not in FORMATS:
            raise ValueError(f"unknown format {self.fmt!r}: use one of {', '.join(FORMATS)}")

    @property
    def first_day(self) -> int:
        return (self.start - _EPOCH).days

    @classmethod
    def from_json(cls, raw: dict) -> MarketConfig:
        """The config written to ``world.json`` (a world written before services had none, one written
        before group attributes had no bias)."""
        return cls(**{"services": 0, **raw, "start": date.fromisoformat(raw["start"])})


@dataclass(frozen=True)
class MarketSummary:
    """What was written."""

    config: MarketConfig
    directory: Path
    participants: int
    vacancies: int
    outcomes: int
    event_counts: tuple[tuple[str, int], ...]  # events about vacancies
    services: int = 0
    service_event_counts: tuple[tuple[str, int], ...] = ()
    service_hires: int = 0  # hires that followed a completed service

    def describe(self) -> str:
        events = ", ".join(f"{name} {count}" for name, count in self.event_counts)
        text = (f"market world (seed {self.config.seed}, {self.config.fmt}) in {self.directory}\n"
                f"  {self.participants} participants, {self.vacancies} vacancies, {self.outcomes} outcome events\n"
                f"  events: {events}")
        if self.services:
            taken = ", ".join(f"{name} {count}" for name, count in self.service_event_counts)
            text += f"\n  {self.services} services; {taken}; {self.service_hires} hires after a completion"
        if self.config.hire_bias:
            rules = ", ".join(f"{column}={value} x{factor:g}" for column, value, factor in self.config.hire_bias)
            text += f"\n  planted hiring bias: {rules}"
        return text


@dataclass(frozen=True)
class Market:
    """The world's true state: the shared draws plus the market's own hidden traits."""

    config: MarketConfig
    catalogue: Catalogue
    jobs: Vacancies
    people: People
    coach: np.ndarray  # coach number per person
    coach_style: np.ndarray  # per coach, index in _COACH_STYLES
    # people
    experience: np.ndarray  # (n, 3) years in each history occupation
    fi_level: np.ndarray
    reliability: np.ndarray
    car: np.ndarray
    wanted_hours: np.ndarray
    taste: np.ndarray  # (n, sectors)
    avoids_weekends: np.ndarray
    board_user: np.ndarray
    meeting_every: np.ndarray  # weeks between coach meetings
    # vacancies
    values_experience: np.ndarray
    pickiness: np.ndarray
    team_support: np.ndarray
    fi_need: np.ndarray
    transit: np.ndarray
    skill_bar: np.ndarray  # required skills an applicant must really have
    decision_day: np.ndarray
    minor_group: np.ndarray  # ISCO-08 minor group per catalogue occupation
    hire_factor: np.ndarray | None = None  # a planted bias per person (groups.py); None = no bias

    @classmethod
    def draw(cls, config: MarketConfig) -> Market:
        from ilona_match.synthetic.world import _coach_plan

        c, templates = load_catalogue(), load_templates()
        jobs = make_vacancies(c, templates["vacancy"], config.vacancies, _stream(config.seed, 0), config.first_day,
                              config.days, other_languages=config.other_languages)
        offset, count = _coach_plan(c, config.participants)
        people = make_people(c, templates["participant"], _stream(config.seed, 1), 1, config.participants,
                             config.first_day, config.days, offset, count, None, other_languages=config.other_languages)
        if config.groups:
            people = dataclasses.replace(people, groups=draw_groups(_stream(config.seed, 5), c, people))
        hire_factor = people.groups.hire_factor(config.hire_bias) if config.hire_bias and people.groups is not None else None
        rng = _stream(config.seed, 2)
        n, m = len(people), len(jobs)
        coach = offset[people.town] + np.minimum((rng.random(n) * count[people.town]).astype(np.int64),
                                                 count[people.town] - 1)
        coach_style = rng.choice(len(_COACH_STYLES), int(offset[-1] + count[-1]), p=[0.5, 0.3, 0.2])
        experience = np.where(people.history >= 0, np.clip(rng.lognormal(np.log(2.0), 0.9, people.history.shape),
                                                            0.2, 15.0), 0.0)
        speaks_fi = people.languages[:, 0]
        fi_level = np.where(people.language == 0, rng.beta(12, 1, n),
                            np.where(speaks_fi, rng.beta(5, 2.5, n), rng.beta(1.3, 6, n)))
        reliability = 0.6 * people.latent + 0.8 * rng.normal(size=n) - 0.15 * np.log1p(people.unemployment_months / 12)
        car = rng.random(n) < 0.55
        options = np.array([15.0, 20.0, 25.0, 30.0, 37.5, 40.0])
        wanted = np.minimum(people.max_hours, rng.choice(options, n, p=[0.1, 0.25, 0.2, 0.15, 0.25, 0.05]))
        taste = rng.normal(size=(n, len(c.sectors))) + 1.2 * people.prefers
        meeting = rng.integers(4, 7, n)

        town_size = np.log(c.municipality_population[jobs.town])
        size = (town_size - town_size.min()) / max(float(np.ptp(town_size)), 1e-9)
        transit = np.clip(0.2 + 0.6 * size + rng.normal(0, 0.2, m), 0.0, 1.0)
        fi_need = np.array([_FI_NEED.get(c.sectors[s], 0.4) for s in jobs.sector])
        fi_need = np.clip(fi_need + 0.15 * jobs.constraints[:, 2] + rng.normal(0, 0.1, m), 0.05, 0.95)
        etype = jobs.employer_type
        team = rng.normal(size=m) + 1.0 * (etype == EMPLOYER_TYPES.index("social_enterprise")) \
            + 0.5 * (etype == EMPLOYER_TYPES.index("third_sector"))
        required = (jobs.required >= 0).sum(axis=1)
        skill_bar = np.ceil(required * rng.uniform(0.3, 0.6, m)).astype(np.int64)
        open_days = jobs.closes - jobs.published
        decision = np.where(open_days <= 42, jobs.closes - 1, jobs.published + 28).astype(np.int64)
        minor = np.array([int(code[:3]) for code in c.occupation_isco])
        return cls(config, c, jobs, people, coach, coach_style, experience, fi_level, reliability, car, wanted, taste,
                   rng.random(n) < 0.3, rng.random(n) < 0.7, meeting, rng.beta(2, 2, m),
                   0.6 * jobs.latent + 0.8 * rng.normal(size=m), team, fi_need, transit, skill_bar, decision, minor,
                   hire_factor)

    # ------------------------------------------------------------------------------ pair facts
    def distance(self, p: np.ndarray, v: np.ndarray) -> np.ndarray:
        people, jobs = self.people, self.jobs
        km = haversine_km(people.lat[p], people.lon[p], jobs.lat[v], jobs.lon[v])
        return np.where(jobs.remote[v] & people.remote_ok[p], 0.0, km)

    def conflict(self, p: np.ndarray, v: np.ndarray, written: bool = False) -> np.ndarray:
        """True where the vacancy breaks one of the person's limits (on the true or the written values)."""
        return conflicts(self.people, self.jobs, p, v, written)

    def employer_score(self, p: np.ndarray, v: np.ndarray) -> np.ndarray:
        """What the employer sees in an applicant, before its noise (see the module docstring)."""
        people, jobs = self.people, self.jobs
        history, years = people.history[p], self.experience[p]
        occupation = jobs.occupation[v]
        same = np.where(history == occupation[:, None], years, 0.0).max(axis=1)
        minor = np.where(history >= 0, self.minor_group[np.maximum(history, 0)], -1)
        related = (minor == self.minor_group[occupation][:, None]).any(axis=1) & (same == 0)
        in_sector = np.zeros(len(p), bool)
        for slot in range(history.shape[1]):
            held = history[:, slot] >= 0
            in_sector |= held & (self._occupation_sector[np.maximum(history[:, slot], 0)] == jobs.sector[v])
        experience = 2.2 * (same >= 1.0) + 1.0 * ((same > 0) & (same < 1.0)) + 1.0 * related + 0.4 * (in_sector & (same == 0))
        experience = experience * (0.5 + self.values_experience[v])

        skills = people.skills[p]
        required, optional = jobs.required[v], jobs.optional[v]
        has_required = ((skills[:, :, None] == required[:, None, :]) & (skills[:, :, None] >= 0)).any(axis=1).sum(axis=1)
        has_optional = ((skills[:, :, None] == optional[:, None, :]) & (skills[:, :, None] >= 0)).any(axis=1).sum(axis=1)
        skill = 1.0 * (has_required >= self.skill_bar[v]) + 0.4 * (has_optional >= 1)

        attitude = 1.1 * self.reliability[p] * (1.5 - self.values_experience[v])
        gap = self.fi_need[v] - self.fi_level[p]
        language = -3.0 * (gap > 0.1) - 1.0 * ((gap > 0.0) & (gap <= 0.1))
        months = people.unemployment_months[p]
        etype = jobs.employer_type[v]
        unemployment = np.where(etype == EMPLOYER_TYPES.index("private"), -1.3 * (months > 24),
                                np.where(etype == EMPLOYER_TYPES.index("public"), -0.5 * (months > 36), 0.0))
        needs_coach = people.restrictions[p, RESTRICTIONS.index("needs_job_coach")]
        team = self.team_support[v]
        coaching = needs_coach * (0.9 * (team > 0.5) - 1.4 * (team < 0.0))
        subsidy_index = SUPPORTS.index("wage_subsidy")
        subsidy = 0.8 * (people.supports[p, subsidy_index] & jobs.supports[v, subsidy_index] & (months >= 12))
        return experience + skill + attitude + language + unemployment + coaching + subsidy - 0.6 * self.pickiness[v]

    def appeal(self, p: np.ndarray, v: np.ndarray) -> np.ndarray:
        """How much the person wants the job, before its noise (see the module docstring)."""
        people, jobs = self.people, self.jobs
        taste = self.taste[p, jobs.sector[v]]
        hours, wanted = jobs.hours[v], self.wanted_hours[p]
        fit = -1.5 * (hours > wanted + 7) + 0.4 * (np.abs(hours - wanted) <= 5)
        km = self.distance(p, v)
        by_car = -0.04 * np.maximum(km - 10.0, 0.0)
        by_bus = np.where(self.transit[v] >= 0.5, -0.03 * np.maximum(km - 5.0, 0.0),
                          -2.0 * (km > 8.0) - 0.04 * np.maximum(km - 8.0, 0.0))
        commute = np.where(self.car[p], by_car, by_bus)
        own = (people.history[p] == jobs.occupation[v][:, None]).any(axis=1)
        weekends = -1.0 * (self.avoids_weekends[p] & jobs.constraints[v, 1])
        return 0.9 * taste + fit + commute + 0.3 * own + weekends - 0.2

    @property
    def _occupation_sector(self) -> np.ndarray:
        c = self.catalogue
        sector = np.full(c.occupation_uri.size, -1, dtype=np.int64)
        sector[c.entry_occupation[::-1]] = c.entry_sector[::-1]  # an occupation's first sector in the catalogue
        return sector

    def hire_probability(self, p: np.ndarray, v: np.ndarray) -> np.ndarray:
        """P(applies when a coach recommends it and accepts an offer) * P(screened, interviewed and over
        the bar), each integrated over its noise, times the planted bias; 0 where a true limit is broken."""
        u = self.appeal(p, v)[:, None] + APPEAL_NOISE * _Z[None, :]
        takes = ((u > COACH_APPLY) * ndtr((u - ACCEPT_BAR) / ACCEPT_NOISE)) @ _ZW
        s = self.employer_score(p, v)[:, None] + SCREEN_NOISE * _Z[None, :]
        hired = ((s > HIRE_BAR - SCREEN_MARGIN) * ndtr((s - HIRE_BAR) / INTERVIEW_NOISE)) @ _ZW
        chance = takes * hired * ~self.conflict(p, v)
        return chance if self.hire_factor is None else chance * self.hire_factor[p]


def _service_world(market: Market) -> ServiceWorld:
    """The market world as the services see it: one block of all its people."""
    c = market.config
    return ServiceWorld(market.catalogue, market.jobs, len(market.people), len(market.people), lambda block: market.people,
                        lambda people, rows, vacancies: market.hire_probability(rows, vacancies),
                        c.seed, c.first_day, c.days, int(c.services or 0), c.other_languages)


class _MarketTruth:
    def __init__(self, market: Market) -> None:
        self._market = market

    def service_world(self) -> ServiceWorld:
        """The world as its services see it (for ``services.ServiceTruth``)."""
        return _service_world(self._market)

    def hire_probability(self, participant_ids: np.ndarray, vacancy_ids: np.ndarray) -> np.ndarray:
        m = self._market
        p = np.array([int(str(pid)[1:]) for pid in participant_ids], dtype=np.int64) - 1
        v = np.array([int(str(vid)[1:]) for vid in vacancy_ids], dtype=np.int64) - 1
        if len(p) and (p.min() < 0 or p.max() >= len(m.people) or v.min() < 0 or v.max() >= len(m.jobs)):
            raise ValueError("an id is not one of this world's participants or vacancies")
        out = np.empty(len(p))
        for start in range(0, len(p), 200_000):
            out[start:start + 200_000] = m.hire_probability(p[start:start + 200_000], v[start:start + 200_000])
        return out


def market_truth(config: MarketConfig) -> _MarketTruth:
    """The hidden truth of the market world ``config`` draws (redrawn from its seed)."""
    return _MarketTruth(Market.draw(config))


# ---------------------------------------------------------------------------------- the history
@dataclass
class _Log:
    person: list = dataclasses.field(default_factory=list)
    vacancy: list = dataclasses.field(default_factory=list)
    event: list = dataclasses.field(default_factory=list)
    day: list = dataclasses.field(default_factory=list)

    def add(self, p: np.ndarray, v: np.ndarray, event: str, day: np.ndarray) -> None:
        p = np.atleast_1d(p)
        self.person.append(p.astype(np.int64))
        self.vacancy.append(np.broadcast_to(np.atleast_1d(v), p.shape).astype(np.int64))
        self.event.append(np.full(p.shape, EVENTS.index(event), np.int64))
        self.day.append(np.broadcast_to(np.atleast_1d(day), p.shape).astype(np.int64))

    def arrays(self) -> tuple[np.ndarray, ...]:
        if not self.person:
            return tuple(np.empty(0, np.int64) for _ in range(4))
        return tuple(np.concatenate(part) for part in (self.person, self.vacancy, self.event, self.day))


def _words(names: list[str]) -> list[set[str]]:
    return [{w for w in name.lower().replace(",", " ").replace("(", " ").replace(")", " ").split() if len(w) > 2}
            for name in names]


def simulate(market: Market, titles: list[str], search_words: list[str]) -> tuple[np.ndarray, ...]:
    """The logged history: person, vacancy, event (index in EVENTS) and day arrays, sorted."""
    from scipy import sparse

    config, people, jobs = market.config, market.people, market.jobs
    rng = _stream(config.seed, 3)
    bias_rng = _stream(config.seed, 6) if market.hire_factor is not None else None  # the planted bias' own draws
    n, m = len(people), len(jobs)
    first, last = config.first_day, config.first_day + config.days - 1
    log = _Log()
    hired_until = np.full(n, np.iinfo(np.int64).max)  # a hired person leaves the caseload
    next_meeting = people.active_from + rng.integers(0, 28, n)
    applications: list[list[tuple[int, int, float]]] = [[] for _ in range(m)]  # per vacancy: (person, day, appeal)
    decided = np.zeros(m, bool)

    vocabulary: dict[str, int] = {}
    def matrix(texts: list[str]) -> sparse.csr_matrix:
        rows, cols = [], []
        for i, words in enumerate(_words(texts)):
            for word in words:
                rows.append(i)
                cols.append(vocabulary.setdefault(word, len(vocabulary)))
        data = np.ones(len(rows))
        return sparse.csr_matrix((data, (rows, cols)), shape=(len(texts), 10_000))
    title_words, person_words = matrix(titles), matrix(search_words)
    keyword = (person_words @ title_words.T).toarray()
    keyword /= np.sqrt(np.maximum(np.asarray(title_words.sum(axis=1)).ravel(), 1.0))[None, :]

    def apply(p: np.ndarray, v: np.ndarray, day: np.ndarray, u: np.ndarray) -> None:
        for person, vacancy, d, appeal in zip(p.tolist(), v.tolist(), day.tolist(), u.tolist()):
            applications[vacancy].append((person, d, appeal))

    for week_start in range(first, last + 1, 7):
        week_end = min(week_start + 6, last)
        active = np.flatnonzero((people.active_from <= week_end) & (people.active_until >= week_start)
                                & (hired_until > week_start))
        open_v = np.flatnonzero((jobs.published <= week_start) & (week_start < jobs.closes) & ~decided)
        if len(active) == 0 or len(open_v) == 0:
            continue

        # the job board: four vacancies by title keywords and freshness, blind to work capacity
        users = active[market.board_user[active]]
        if len(users):
            fresh = np.exp(-(week_start - jobs.published[open_v]) / 21.0)
            score = keyword[np.ix_(users, open_v)] + 0.3 * fresh[None, :] + 0.5 * rng.gumbel(size=(len(users), len(open_v)))
            top = np.argsort(-score, axis=1)[:, :4]
            p = np.repeat(users, top.shape[1])
            v = open_v[top.ravel()]
            u = market.appeal(p, v) + APPEAL_NOISE * rng.normal(size=len(p))
            day = np.repeat(week_start + rng.integers(0, 7, len(users)), top.shape[1])
            clicked = u > BOARD_CLICK
            log.add(p[clicked], v[clicked], "viewed", day[clicked])
            applied = u > BOARD_APPLY
            log.add(p[applied], v[applied], "applied", day[applied] + 1)
            apply(p[applied], v[applied], day[applied] + 1, u[applied])

        # coaches: a meeting every few weeks, one or two vacancies by sector wish and distance
        meets = active[(next_meeting[active] >= week_start) & (next_meeting[active] <= week_end)]
        next_meeting[meets] += 7 * market.meeting_every[meets]
        if len(meets):
            p = np.repeat(meets, 6)
            cand = open_v[rng.integers(0, len(open_v), len(p))]
            wished = people.prefers[p, jobs.sector[cand]] | (people.sector[p] == jobs.sector[cand])
            km = market.distance(p, cand)
            careless = rng.random(len(p)) < 0.2
            score = (1.5 * wished - 0.05 * km - 3.0 * (market.conflict(p, cand, written=True) & ~careless)
                     + rng.gumbel(size=len(p))).reshape(-1, 6)
            order = np.argsort(-score, axis=1)
            picks = 1 + (rng.random(len(meets)) < 0.4)
            rows = np.repeat(np.arange(len(meets)), picks)
            slot = np.concatenate([np.arange(k) for k in picks])
            p = meets[rows]
            v = cand.reshape(-1, 6)[rows, order[rows, slot]]
            p, v = _distinct(p, v)
            day = next_meeting[p] - 7 * market.meeting_every[p]
            log.add(p, v, "recommended", day)
            u = market.appeal(p, v) + APPEAL_NOISE * rng.normal(size=len(p))
            yes = u > COACH_APPLY
            log.add(p[yes], v[yes], "applied", day[yes] + rng.integers(0, 6, yes.sum()))
            apply(p[yes], v[yes], day[yes] + 2, u[yes])
            no = ~yes & (rng.random(len(p)) < 0.6)
            log.add(p[no], v[no], "declined", day[no] + rng.integers(0, 4, no.sum()))

        # people apply on their own to a vacancy of a sector they like, near them
        seekers = active[rng.random(len(active)) < 0.12]
        if len(seekers):
            p = np.repeat(seekers, 5)
            cand = open_v[rng.integers(0, len(open_v), len(p))]
            want = market.taste[p, jobs.sector[cand]] - 0.03 * market.distance(p, cand) + rng.gumbel(size=len(p))
            best = np.argmax(want.reshape(-1, 5), axis=1)
            v = cand.reshape(-1, 5)[np.arange(len(seekers)), best]
            u = market.appeal(seekers, v) + APPEAL_NOISE * rng.normal(size=len(seekers))
            go = u > SELF_APPLY
            day = week_start + rng.integers(0, 7, go.sum())
            log.add(seekers[go], v[go], "applied", day)
            apply(seekers[go], v[go], day, u[go])

        # employers decide
        for vacancy in np.flatnonzero(~decided & (market.decision_day <= week_end)).tolist():
            decided[vacancy] = True
            _decide(market, rng, vacancy, applications[vacancy], hired_until, log, bias_rng)

    p, v, e, d = log.arrays()
    return _as_logged(market, rng, p, v, e, d, last)


def _distinct(p: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = np.unique(p.astype(np.int64) * 1_000_000_007 + v)
    return keys // 1_000_000_007, keys % 1_000_000_007


def _decide(market: Market, rng: np.random.Generator, vacancy: int, applicants: list[tuple[int, int, float]],
            hired_until: np.ndarray, log: _Log, bias_rng: np.random.Generator | None = None) -> None:
    """Screen the vacancy's applicants, interview the best, hire at most its openings (and log it).
    With a planted bias (``bias_rng`` given), the employer turns down an applicant it would hire with
    chance ``1 - market.hire_factor``."""
    jobs, people = market.jobs, market.people
    decision = int(market.decision_day[vacancy])
    seen: dict[int, tuple[int, float]] = {}
    for person, day, appeal in applicants:
        if day <= decision and hired_until[person] > decision and person not in seen:
            seen[person] = (day, appeal)
    if not seen:
        return
    p = np.fromiter(seen, np.int64)
    appeal = np.array([seen[x][1] for x in p.tolist()])
    v = np.full(len(p), vacancy)
    screened = market.employer_score(p, v) + SCREEN_NOISE * rng.normal(size=len(p))
    order = np.argsort(-screened)
    slots = max(3, 2 * int(jobs.openings[vacancy]))
    interviewed = order[(screened[order] > HIRE_BAR - SCREEN_MARGIN)][:slots]
    rejected_early = np.setdiff1d(np.arange(len(p)), interviewed)
    told = rejected_early[rng.random(len(rejected_early)) < 0.5]
    log.add(p[told], vacancy, "rejected", decision + rng.integers(1, 15, len(told)))
    if len(interviewed) == 0:
        return
    interview_day = decision + rng.integers(2, 11, len(interviewed))
    log.add(p[interviewed], vacancy, "interview", interview_day)
    final = screened[interviewed] + INTERVIEW_NOISE * rng.normal(size=len(interviewed))
    accepts = appeal[interviewed] + ACCEPT_NOISE * rng.normal(size=len(interviewed)) > ACCEPT_BAR
    fit = ~market.conflict(p[interviewed], v[interviewed])
    ok = (final > HIRE_BAR) & accepts & fit
    if bias_rng is not None and market.hire_factor is not None:
        ok &= bias_rng.random(len(interviewed)) < market.hire_factor[p[interviewed]]
    ranking = np.argsort(-np.where(ok, final, -np.inf))
    chosen = ranking[: int(jobs.openings[vacancy])]
    chosen = chosen[ok[chosen]]
    trial_index = SUPPORTS.index("work_trial")
    trial = (people.supports[p[interviewed[chosen]], trial_index] & jobs.supports[vacancy, trial_index]
             & (rng.random(len(chosen)) < 0.5))
    trial_day = interview_day[chosen] + rng.integers(5, 15, len(chosen))
    hire_day = np.where(trial, trial_day + rng.integers(14, 36, len(chosen)), interview_day[chosen] + rng.integers(5, 21, len(chosen)))
    hired = p[interviewed[chosen]]
    log.add(hired[trial], vacancy, "work_trial", trial_day[trial])
    log.add(hired, vacancy, "hired", hire_day)
    hired_until[hired] = np.minimum(hired_until[hired], hire_day)
    wanted, hours = market.wanted_hours[hired], jobs.hours[vacancy]
    needs_coach = people.restrictions[hired, RESTRICTIONS.index("needs_job_coach")]
    stay = sigmoid(0.5 + 1.0 * (np.abs(hours - wanted) <= 5) + 0.8 * needs_coach * (market.team_support[vacancy] > 0)
                   - 0.8 * (~market.car[hired] & (market.distance(hired, np.full(len(hired), vacancy)) > 20)))
    kept = rng.random(len(hired)) < stay
    log.add(hired[kept], vacancy, "retained_6m", hire_day[kept] + 183)
    lost = np.setdiff1d(np.arange(len(interviewed)), chosen)
    told = lost[rng.random(len(lost)) < 0.7]
    log.add(p[interviewed[told]], vacancy, "rejected", interview_day[told] + rng.integers(3, 15, len(told)))


def _as_logged(market: Market, rng: np.random.Generator, p: np.ndarray, v: np.ndarray, e: np.ndarray, d: np.ndarray,
               last: int) -> tuple[np.ndarray, ...]:
    """What reaches the outcomes table: coaches' styles drop events and log late; nothing after the world ends."""
    style = market.coach_style[market.coach[p]]
    by_coach = np.isin(e, [EVENTS.index(x) for x in _COACH_LOGGED])
    sparse_drop = np.isin(e, [EVENTS.index(x) for x in _SPARSE_DROPS])
    keep = ~(by_coach & (style == _COACH_STYLES.index("sparse")) & sparse_drop)
    keep &= ~(by_coach & (style == _COACH_STYLES.index("forgetful")) & (rng.random(len(p)) < 0.35))
    late = np.where(by_coach & (e != EVENTS.index("retained_6m")), rng.integers(0, 9, len(p)), 0)
    d = d + late
    keep &= d <= last
    p, v, e, d = p[keep], v[keep], e[keep], d[keep]
    order = np.lexsort((e, d, v, p))
    p, v, e, d = p[order], v[order], e[order], d[order]
    duplicate = np.zeros(len(p), bool)
    duplicate[1:] = (p[1:] == p[:-1]) & (v[1:] == v[:-1]) & (e[1:] == e[:-1])
    return p[~duplicate], v[~duplicate], e[~duplicate], d[~duplicate]


def generate_market_world(out_dir: str | Path, *, participants: int = 1500, vacancies: int = 1500, seed: int = 0,
                          start: date = date(2025, 9, 1), days: int = 365, other_languages: float = 1.0,
                          fmt: str = "csv", services: int | None = None, hire_bias: tuple[BiasRule, ...] = (),
                          groups: bool = True) -> MarketSummary:
    """Write a market world's participants, vacancies, services, outcomes and participant_groups (and
    ``world.json``) to ``out_dir``. ``services`` defaults to ``max(20, vacancies // 10)``; 0 writes no
    services table. ``groups=False`` writes no participant_groups (the other tables are the same either
    way); ``hire_bias`` plants a bias in the hidden hiring (``MarketConfig``)."""
    config = MarketConfig(participants, vacancies, seed, start, days, other_languages, fmt, services, hire_bias, groups)
    directory = start_world_folder(out_dir, "market", config)
    market = Market.draw(config)
    tables = market_tables(market, _stream(seed, 4))
    p, v, e, d = simulate(market, tables.titles, tables.search_words)
    log: ServiceLog | None = None
    offered = None
    if config.services:
        view = _service_world(market)
        offered = view.draw_services(table=True)
        offers = draw_offers(offered, market.people, seed, recorded_limits(tables.participants))
        hired = e == EVENTS.index("hired")
        first_hire = np.full(len(market.people) + 1, NEVER, dtype=np.int64)
        np.minimum.at(first_hire, p[hired] + 1, d[hired])
        met = np.unique((p + 1) * len(market.jobs) + v)
        log = run_services(view, offered, offers, first_hire, np.bincount(v[hired], minlength=len(market.jobs)), met)
    outcomes = pa.table({
        "participant_id": market.people.ids.take(pa.array(p)),
        "vacancy_id": market.jobs.ids.take(pa.array(v)),
        "event": pa.array(list(EVENTS)).take(pa.array(e)),
        "event_date": pa.array(d.astype(np.int32), pa.date32()),
    })
    outcomes = with_service_rows(outcomes, log, 1, len(market.people) + 1, market.jobs.ids,
                                 offered.ids if offered is not None else None)
    written = [("participants", tables.participants), ("vacancies", tables.vacancies), ("outcomes", outcomes)]
    if offered is not None:
        written.insert(2, ("services", offered.table))
    if market.people.groups is not None:
        written.append(("participant_groups", market.people.groups.table(market.people.ids)))
    for name, table in written:
        with TableWriter(directory, name, fmt) as writer:
            writer.write(table)
    event = pc.drop_null(pc.index_in(outcomes.column("event"), value_set=pa.array(list(EVENTS)))).to_numpy()
    counts = np.bincount(event, minlength=len(EVENTS))
    return MarketSummary(config, directory, len(market.people), len(market.jobs), outcomes.num_rows,
                         tuple((name, int(count)) for name, count in zip(EVENTS, counts, strict=True)),
                         len(offered) if offered is not None else 0,
                         log.event_counts() if log is not None else (),
                         log.service_hires if log is not None else 0)
