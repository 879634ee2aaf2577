"""The logging policy: which participant–vacancy pairs get logged, and the outcome rows they produce.

Coaches meet each participant every few weeks and recommend open vacancies chosen by simple
heuristics (sector wishes, past occupations, distance, the written constraints); participants also
browse vacancies on their own. The hidden process (hiring.py) then decides what happens to each pair.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from ilona_match.synthetic.arrays import haversine_km
from ilona_match.synthetic.catalogue import EMPLOYER_TYPES, RESTRICTIONS, SUPPORTS, Catalogue
from ilona_match.synthetic.hiring import EVENTS, HiringWeights, PairFacts, hidden_outcomes
from ilona_match.synthetic.jobs import CONSTRAINTS, Vacancies
from ilona_match.synthetic.people import People

__all__ = [
    "Heuristic", "LoggedPairs", "LoggingPolicy", "PublicationIndex", "VacancyLookup", "hire_claims", "log_pairs",
    "conflicts", "outcome_table", "pair_facts",
]


@dataclass(frozen=True)
class Heuristic:
    """How someone picks among candidate vacancies: a score with noise, and what they rule out.

    A candidate that breaks a written hard constraint, or lies beyond ``far_factor`` times the
    person's commute preference, is ruled out unless overlooked (with the given probabilities).
    """

    own_occupation: float
    preferred_sector: float
    commute: float
    conflict: float
    overlook_conflict: float
    far_factor: float
    overlook_far: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.overlook_conflict <= 1.0 and 0.0 <= self.overlook_far <= 1.0):
            raise ValueError("Heuristic overlook chances must be in [0, 1]")
        if self.far_factor <= 1.0:
            raise ValueError("Heuristic.far_factor must be above 1")


@dataclass(frozen=True)
class LoggingPolicy:
    """How coaches and participants come across vacancies (the policy that produced the log)."""

    session_interval_days: tuple[float, float] = (14.0, 42.0)
    max_sessions: int = 25
    extra_recommendations: tuple[int, float] = (2, 0.35)  # binomial draws on top of one per session
    # candidate draws: (near the person in the chosen sector, near the person in any sector, anywhere in the sector)
    recommendation_candidates: tuple[int, int, int] = (4, 4, 2)
    preferred_sector_share: float = 0.55
    history_sector_share: float = 0.25
    coach: Heuristic = Heuristic(own_occupation=1.5, preferred_sector=1.0, commute=1.0, conflict=3.0,
                                 overlook_conflict=0.1, far_factor=4.0, overlook_far=0.15)
    views_per_month: tuple[float, float] = (0.3, 1.0)  # lognormal median and sigma of a person's browsing rate
    max_views: int = 40
    view_candidates: tuple[int, int, int] = (2, 2, 1)
    view_preferred_sector_share: float = 0.5
    browsing: Heuristic = Heuristic(own_occupation=0.3, preferred_sector=0.3, commute=1.0, conflict=0.5,
                                    overlook_conflict=0.5, far_factor=4.0, overlook_far=0.3)

    def __post_init__(self) -> None:
        if self.session_interval_days[0] <= 0 or self.session_interval_days[1] < self.session_interval_days[0]:
            raise ValueError("LoggingPolicy.session_interval_days must be (low, high) with 0 < low <= high")
        if min(self.recommendation_candidates) < 0 or sum(self.recommendation_candidates) < 1 or \
                min(self.view_candidates) < 0 or sum(self.view_candidates) < 1:
            raise ValueError("LoggingPolicy candidate counts must be >= 0 with at least one draw")
        if self.preferred_sector_share + self.history_sector_share > 1.0:
            raise ValueError("LoggingPolicy sector shares must add up to at most 1")


@dataclass(frozen=True)
class PublicationIndex:
    """Vacancies sorted by (group, publication day): the ones open on a day lie in one key range."""

    order: np.ndarray  # vacancy positions in key order
    keys: np.ndarray  # group * stride + published - first, sorted
    first: int
    stride: int
    lookback: int  # longest open period: a vacancy open on day D was published after D - lookback

    @classmethod
    def build(cls, group: np.ndarray, published: np.ndarray, closes: np.ndarray) -> PublicationIndex:
        """Index vacancies by a group label (a sector, or a sector and town)."""
        first = int(published.min())
        stride = int(published.max()) - first + 1
        keys = group.astype(np.int64) * stride + (published - first)
        order = np.argsort(keys, kind="stable")
        return cls(order, keys[order], first, stride, int((closes - published).max()))

    def sample(self, rng: np.random.Generator, vacancies: Vacancies, group: np.ndarray, day: np.ndarray,
               count: int) -> np.ndarray:
        """``count`` random draws per row among the group's vacancies open on the day (-1 where none is)."""
        base = group.astype(np.int64) * self.stride - self.first
        low = np.searchsorted(self.keys, base + np.maximum(day - self.lookback, self.first), side="left")
        high = np.searchsorted(self.keys, base + np.minimum(day, self.first + self.stride - 1), side="right")
        span = np.where(day < self.first, 0, np.maximum(high - low, 0))
        pick = low[:, None] + (rng.random((day.size, count)) * span[:, None]).astype(np.int64)
        position = self.order[np.minimum(pick, self.order.size - 1)]
        is_open = ((span[:, None] > 0) & (vacancies.published[position] <= day[:, None])
                   & (day[:, None] < vacancies.closes[position]))
        return np.where(is_open, position, -1)


@dataclass(frozen=True)
class VacancyLookup:
    """Vacancies arranged for the policy and the hidden process: searchable by place and time, skills as matrices."""

    vacancies: Vacancies
    by_sector: PublicationIndex
    by_place: PublicationIndex  # groups are sector * towns + town
    by_town: PublicationIndex
    towns: int
    nearby: np.ndarray  # (towns, towns) cumulative chances of searching town b from town a
    required: np.ndarray  # (vacancies, skills + 1) bool; the last column is the padding's
    optional: np.ndarray
    required_count: np.ndarray
    optional_count: np.ndarray
    minor_group: np.ndarray  # ISCO-08 three-digit group per occupation

    @classmethod
    def build(cls, vacancies: Vacancies, catalogue: Catalogue) -> VacancyLookup:
        """Index the vacancies once per world."""
        v, c = vacancies, catalogue
        towns = c.municipality_lat.size

        def dense(skills: np.ndarray) -> np.ndarray:
            matrix = np.zeros((len(v), c.n_skills + 1), dtype=bool)
            rows = np.repeat(np.arange(len(v)), skills.shape[1])
            matrix[rows, np.where(skills >= 0, skills, c.n_skills).ravel()] = True
            matrix[:, -1] = False
            return matrix

        distance = haversine_km(c.municipality_lat[:, None], c.municipality_lon[:, None],
                                c.municipality_lat[None, :], c.municipality_lon[None, :])
        weight = np.exp(-distance / 30.0) * np.sqrt(c.municipality_population)[None, :]
        return cls(
            vacancies=v,
            by_sector=PublicationIndex.build(v.sector, v.published, v.closes),
            by_place=PublicationIndex.build(v.sector.astype(np.int64) * towns + v.town, v.published, v.closes),
            by_town=PublicationIndex.build(v.town, v.published, v.closes),
            towns=towns,
            nearby=np.cumsum(weight / weight.sum(axis=1, keepdims=True), axis=1),
            required=dense(v.required), optional=dense(v.optional),
            required_count=(v.required >= 0).sum(axis=1), optional_count=(v.optional >= 0).sum(axis=1),
            minor_group=np.array([int(code[:3]) for code in c.occupation_isco]),
        )

    def open_candidates(self, rng: np.random.Generator, town: np.ndarray, sector: np.ndarray, day: np.ndarray,
                        counts: tuple[int, int, int]) -> np.ndarray:
        """Vacancies open on the day: draws in the sector near the person, in any sector near them, and in
        the sector anywhere (``counts`` of each; -1 where a draw found nothing)."""
        search = np.minimum((self.nearby[town] < rng.random(town.size)[:, None]).sum(axis=1), self.towns - 1)
        return np.concatenate([
            self.by_place.sample(rng, self.vacancies, sector.astype(np.int64) * self.towns + search, day, counts[0]),
            self.by_town.sample(rng, self.vacancies, search, day, counts[1]),
            self.by_sector.sample(rng, self.vacancies, sector, day, counts[2]),
        ], axis=1)


def conflicts(people: People, vacancies: Vacancies, p: np.ndarray, v: np.ndarray, written: bool) -> np.ndarray:
    """True where the vacancy breaks one of the person's hard constraints (unknown values never do)."""
    if written:
        load, hours, flags = vacancies.seen_load[v], vacancies.seen_hours[v], vacancies.seen_constraints[v] == 1
    else:
        load, hours, flags = vacancies.load[v], vacancies.hours[v], vacancies.constraints[v]
    conflict = (load > people.capacity[p]) | (hours > people.max_hours[p])
    for column, (_, restriction) in enumerate(CONSTRAINTS):
        conflict |= flags[:, column] & people.restrictions[p, RESTRICTIONS.index(restriction)]
    return conflict


def _commute_excess(people: People, vacancies: Vacancies, p: np.ndarray, v: np.ndarray) -> np.ndarray:
    distance = haversine_km(people.lat[p], people.lon[p], vacancies.lat[v], vacancies.lon[v])
    distance = np.where(vacancies.remote[v] & people.remote_ok[p], 0.0, distance)
    return np.log1p(np.maximum(distance - people.commute_km[p], 0.0) / people.commute_km[p])


def _pick_sector(rng: np.random.Generator, people: People, p: np.ndarray, catalogue: Catalogue,
                 preferred_share: float, history_share: float) -> np.ndarray:
    """A sector to look in: one of the person's wishes, their main field, or any sector."""
    wish = np.argmax(np.where(people.prefers[p], rng.random((p.size, people.prefers.shape[1])), -1.0), axis=1)
    anywhere = rng.choice(len(catalogue.sectors), p.size, p=catalogue.sector_vacancy_weight)
    u = rng.random(p.size)
    return np.select([u < preferred_share, u < preferred_share + history_share], [wish, people.sector[p]], anywhere)


def _choose(rng: np.random.Generator, people: People, lookup: VacancyLookup, p: np.ndarray, candidates: np.ndarray,
            heuristic: Heuristic) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best-scoring acceptable candidate per row; returns the rows that found one, person and vacancy."""
    h, vacancies = heuristic, lookup.vacancies
    rows, width = candidates.shape
    pp = np.repeat(p, width)
    vv = np.maximum(candidates.ravel(), 0)
    excess = _commute_excess(people, vacancies, pp, vv)
    conflict = conflicts(people, vacancies, pp, vv, written=True)
    score = (h.own_occupation * (people.history[pp] == vacancies.occupation[vv][:, None]).any(axis=1)
             + h.preferred_sector * people.prefers[pp, vacancies.sector[vv]]
             - h.commute * excess - h.conflict * conflict + rng.gumbel(size=pp.size))
    u = np.repeat(rng.random((rows, 2)), width, axis=0)  # careless or not, per choice
    acceptable = ((candidates.ravel() >= 0)
                  & (~conflict | (u[:, 0] < h.overlook_conflict))
                  & ((excess <= np.log(h.far_factor)) | (u[:, 1] < h.overlook_far)))
    score = np.where(acceptable, score, -np.inf).reshape(rows, width)
    best = np.argmax(score, axis=1)
    found = np.isfinite(score[np.arange(rows), best])
    return found, p[found], candidates[np.arange(rows), best][found]


def _pairs(rng: np.random.Generator, people: People, lookup: VacancyLookup, catalogue: Catalogue,
           policy: LoggingPolicy) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Logged pairs of the block: person, vacancy, first day and whether a coach recommended it."""
    n = len(people)
    active = (people.active_until - people.active_from + 1).astype(np.float64)
    interval = rng.uniform(*policy.session_interval_days, n)
    sessions = np.minimum(rng.poisson(active / interval), policy.max_sessions)
    session_person = np.repeat(np.arange(n), sessions)
    session_day = people.active_from[session_person] + (rng.random(session_person.size) * active[session_person]).astype(np.int64)
    extra, share = policy.extra_recommendations
    per_session = 1 + rng.binomial(extra, share, session_person.size)
    slot_person = np.repeat(session_person, per_session)
    slot_day = np.repeat(session_day, per_session)
    sector = _pick_sector(rng, people, slot_person, catalogue, policy.preferred_sector_share, policy.history_sector_share)
    candidates = lookup.open_candidates(rng, people.town[slot_person], sector, slot_day,
                                        policy.recommendation_candidates)
    found, recommended_p, recommended_v = _choose(rng, people, lookup, slot_person, candidates, policy.coach)
    recommended_day = slot_day[found]

    median, sigma = policy.views_per_month
    rate = rng.lognormal(np.log(median), sigma, n)
    views = np.minimum(rng.poisson(rate * active / 30.0), policy.max_views)
    view_person = np.repeat(np.arange(n), views)
    view_day = people.active_from[view_person] + (rng.random(view_person.size) * active[view_person]).astype(np.int64)
    sector = _pick_sector(rng, people, view_person, catalogue, policy.view_preferred_sector_share, 0.0)
    candidates = lookup.open_candidates(rng, people.town[view_person], sector, view_day, policy.view_candidates)
    found, viewed_p, viewed_v = _choose(rng, people, lookup, view_person, candidates, policy.browsing)
    viewed_day = view_day[found]

    p = np.concatenate([recommended_p, viewed_p])
    v = np.concatenate([recommended_v, viewed_v])
    day = np.concatenate([recommended_day, viewed_day])
    recommended = np.concatenate([np.ones(recommended_p.size, bool), np.zeros(viewed_p.size, bool)])
    order = np.lexsort((~recommended, day, v, p))  # per pair keep the first meeting
    p, v, day, recommended = p[order], v[order], day[order], recommended[order]
    first = np.ones(p.size, dtype=bool)
    first[1:] = (p[1:] != p[:-1]) | (v[1:] != v[:-1])
    return p[first], v[first], day[first], recommended[first]


def pair_facts(people: People, lookup: VacancyLookup, p: np.ndarray, v: np.ndarray, day: np.ndarray,
           recommended: np.ndarray, hire_factor: np.ndarray | None = None) -> PairFacts:
    """What the hidden process reads about pairs of block positions ``p`` and vacancies ``v``;
    ``hire_factor`` (per person of the block) is a planted bias, None for none."""
    vac = lookup.vacancies
    skills = np.where(people.skills[p] >= 0, people.skills[p], lookup.required.shape[1] - 1)
    essential = lookup.required[v[:, None], skills].sum(axis=1) / np.maximum(lookup.required_count[v], 1)
    optional = lookup.optional[v[:, None], skills].sum(axis=1) / np.maximum(lookup.optional_count[v], 1)
    history = people.history[p]
    occupation = vac.occupation[v]
    minor = np.where(history >= 0, lookup.minor_group[np.maximum(history, 0)], -1)
    support = people.supports[p] & vac.supports[v]
    needs_coach = people.restrictions[p, RESTRICTIONS.index("needs_job_coach")]
    employer = vac.employer_type[v]
    return PairFacts(
        recommended=recommended, start=day, last_open=vac.closes[v] - 1,
        preferred_sector=people.prefers[p, vac.sector[v]],
        own_occupation=(history == occupation[:, None]).any(axis=1),
        related_occupation=(minor == lookup.minor_group[occupation][:, None]).any(axis=1),
        commute_excess=_commute_excess(people, vac, p, v),
        visible_conflict=conflicts(people, vac, p, v, written=True),
        hidden_conflict=conflicts(people, vac, p, v, written=False),
        essential_coverage=essential, optional_coverage=optional,
        missing_language=(vac.languages[v] & ~people.languages[p]).any(axis=1),
        unemployment=np.log1p(people.unemployment_months[p] / 12.0),
        wage_subsidy=support[:, SUPPORTS.index("wage_subsidy")],
        work_trial=support[:, SUPPORTS.index("work_trial")],
        supported_employment=support[:, SUPPORTS.index("supported_employment")],
        job_coach_social_enterprise=needs_coach & (employer == EMPLOYER_TYPES.index("social_enterprise")),
        job_coach_private=needs_coach & (employer == EMPLOYER_TYPES.index("private")),
        quiet_customer_work=people.restrictions[p, RESTRICTIONS.index("quiet_environment")] & vac.constraints[v, 2],
        hours_margin=(people.max_hours[p] - vac.hours[v]) / people.max_hours[p],
        physical_margin=(people.capacity[p] - vac.load[v]).astype(np.float64),
        person=people.latent[p], vacancy=vac.latent[v],
        hire_factor=None if hire_factor is None else hire_factor[p],
    )


@dataclass(frozen=True)
class LoggedPairs:
    """A block's logged pairs with the hidden process' event days (before openings are enforced)."""

    person: np.ndarray  # position in the block
    vacancy: np.ndarray
    day: np.ndarray  # first meeting
    days: np.ndarray  # (pairs, len(EVENTS)) event days, -1 = none
    priority: np.ndarray  # how clearly a hire won (higher first when openings run out)
    keys: np.ndarray  # participant number * vacancies + vacancy: a pair's identity across passes


def log_pairs(rng: np.random.Generator, people: People, lookup: VacancyLookup, catalogue: Catalogue,
              policy: LoggingPolicy, weights: HiringWeights, hire_factor: np.ndarray | None = None) -> LoggedPairs:
    """Who met which vacancy (the logging policy) and what the hidden process made of it (with a planted
    bias when ``hire_factor``, per person of the block, is given)."""
    p, v, day, recommended = _pairs(rng, people, lookup, catalogue, policy)
    days, priority = hidden_outcomes(pair_facts(people, lookup, p, v, day, recommended, hire_factor), weights, rng)
    keys = (people.first_number + p).astype(np.int64) * len(lookup.vacancies) + v
    return LoggedPairs(person=p, vacancy=v, day=day, days=days, priority=priority, keys=keys)


def hire_claims(pairs: LoggedPairs, last_day: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The block's hires that fall inside the world: pair keys, vacancies and priorities."""
    hired = (pairs.days[:, EVENTS.index("hired")] >= 0) & (pairs.days[:, EVENTS.index("hired")] <= last_day)
    return pairs.keys[hired], pairs.vacancy[hired], pairs.priority[hired]


def outcome_table(pairs: LoggedPairs, people: People, lookup: VacancyLookup, lost: np.ndarray,
                  last_day: int) -> tuple[pa.Table, int]:
    """The block's outcome rows (sorted by participant, pair and date) and its number of logged pairs.

    Hires in ``lost`` (sorted pair keys) went to someone else: the employer rejects instead.
    Events after ``last_day`` are not yet known; after a participant's first hire, other pairs log
    nothing more (the person has left the caseload).
    """
    p, v, day, days = pairs.person, pairs.vacancy, pairs.day, pairs.days.copy()
    hired, retained, rejected = EVENTS.index("hired"), EVENTS.index("retained_6m"), EVENTS.index("rejected")
    if lost.size:
        position = np.minimum(np.searchsorted(lost, pairs.keys), lost.size - 1)
        outbid = (days[:, hired] >= 0) & (lost[position] == pairs.keys)
    else:
        outbid = np.zeros(len(pairs.keys), dtype=bool)
    days[outbid, rejected] = days[outbid, hired]
    days[outbid, hired] = -1
    days[outbid, retained] = -1
    days[days > last_day] = -1

    never = np.iinfo(np.int64).max
    first_hire = np.full(len(people), never)
    np.minimum.at(first_hire, p, np.where(days[:, hired] >= 0, days[:, hired], never))
    this_hire = (days[:, hired] >= 0) & (days[:, hired] == first_hire[p])
    days[~this_hire[:, None] & (days > first_hire[p][:, None])] = -1
    logged = (days >= 0).any(axis=1)

    pair, event = np.nonzero(days >= 0)
    date = days[pair, event]
    order = np.lexsort((event, date, v[pair], day[pair], p[pair]))
    pair, event, date = pair[order], event[order], date[order]
    table = pa.table({
        "participant_id": people.ids.take(pa.array(p[pair])),
        "vacancy_id": lookup.vacancies.ids.take(pa.array(v[pair])),
        "event": pa.array(list(EVENTS)).take(pa.array(event)),
        "event_date": pa.array(date.astype(np.int32), pa.date32()),
    })
    return table, int(logged.sum())
