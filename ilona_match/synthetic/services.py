"""Services in the synthetic worlds: courses, apprenticeships, work trials, supported employment,
rehabilitation and coaching, written as the contract's optional ``services`` table (v1.1), with a
hidden effect on hiring and the outcome rows a coach-like offering policy leaves behind.

Services in the synthetic worlds
================================

Both world families (``coach`` and ``market``) draw their services the same way, from the world's seed
and a random stream of their own (``SeedSequence(seed, spawn_key=(9, ...))``), so adding services
changes no participant or vacancy row and no hidden hire probability of a (participant, vacancy)
pair. ``services`` (default ``max(20, vacancies // 10)``, 0 = none) sets how many there are.

**What is written.** About one provider per three services: training providers (courses,
apprenticeships), social enterprises (work trials, supported employment), public services (coaching,
rehabilitation, courses), NGOs (coaching, rehabilitation) and employers (apprenticeships, work
trials). A service aims at one catalogue occupation, drawn like the vacancies' occupations, except
coaching and rehabilitation, which are general. It lists 2-5 of the occupation's catalogue skills
(mostly as ESCO URIs, sometimes as a Finnish, Swedish or English label) and the occupation (its ESCO
URI, sometimes its ISCO-08 code). Its demands are those of a vacancy but lighter (courses are mostly
sedentary or light), some left unknown; it has 4-20 seats, starts between the world's first day and
120 days after its last, closes for joining 0-3 days before (sometimes no date), and lasts by kind
(course 6-20 weeks, apprenticeship 26-52, work trial 4-12, supported employment 12-40,
rehabilitation 4-16, coaching 4-12).

**The hidden state** (never written): a provider's quality ``q ~ lognormal(0, 0.6)`` clipped to
[0.2, 3] and drop-out base ``d ~ Beta(2, 6)``; a person's responsiveness ``r ~ lognormal(0, 0.5)``
and drop-out propensity (``lognormal(-0.125, 0.5)``), both fixed by the seed and the participant
number.

**The hidden effect.** Let ``h`` be the hidden chance that a person is hired on a vacancy (the
family's own truth; 0 where a true limit is broken). After the person completes a service ``s``,
``h' = h + (0.9 - h) * lift`` where ``0 < h < 0.9`` (``h = 0``, a broken true limit, stays 0), with
``lift = clip(base[kind] * q[provider] * r[person] * rel, 0, 0.9)``; ``base`` = course 0.35,
apprenticeship 0.5, work trial 0.45, supported employment 0.5, rehabilitation 0.2, coaching 0.15.
``rel`` is the share of the vacancy occupation's needed skills (its essential catalogue skills) that
the person truly lacks and ``s`` teaches, ``|taught ∩ (needed - has)| / |needed - has|`` (0.1 when
nothing is lacking); a work trial, supported employment or apprenticeship aimed at the vacancy's
occupation has ``rel >= 0.7``; coaching and rehabilitation have ``rel = 0.25`` for every occupation.
Several completed steps compound: ``lift = 1 - prod(1 - lift_i)``.
A person completes a service with probability 0 when it breaks one of their true hard limits (hours
above their maximum, a physical load above their capacity, night or weekend work, customer contact,
heavy lifting or driving against a restriction; unknown values break nothing), and otherwise
``1 - clip(d[provider] * propensity * (1 + duration_weeks / 52), 0, 0.95)``. A person's hire chance on
a day is ``1 - prod(1 - h)`` over their 5 highest ``h`` among the vacancies open then (truly open:
published and not yet closed in the hidden state; a ``closes_at`` missing from the table does not
keep a vacancy open); ``ServiceTruth.route_gain`` is ``P(complete every step) * (chance with the
compounded lift - chance without)`` on the vacancies open on the day asked.

**The logging policy** offers services as coaches do, blind to their quality. Over each person's time
with a coach a share of people (more of the long-term unemployed and of those with few skills) get an
offer, some a second one a few weeks later (of a service that starts after the first would have
ended), never after their first hire: a service that breaks none of their recorded limits (unknown
values pass), near them (within their commute) or remote, that starts after the offer and can still
be joined, preferring their past occupations and sectors and big providers. An offered person not
hired by the start day starts (``started`` on that day) with probability 0.6 while seats are left
(first offered, first seated), then ``completed`` at the
end or ``dropped_out`` on a day part-way, by the hidden completion probability. After a completion
the person is hired, with probability equal to the hidden gain in their hire chance (on the vacancies
open from the completion day to two weeks after), on one of those vacancies, picked by its gain among
those with openings left that the person has not met before: the pair is logged as ``recommended``,
``applied``, ``interview`` and ``hired`` (``retained_6m`` half a year later for most). A person hired
this way leaves the caseload: none of their other rows dated after the hire is written (neither
service rows nor the vacancy log's). Nothing after the world's last day is written, so a person still
in a course at the end stays ``started``. The vacancy log is otherwise left as the family drew it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ilona_match.contract.spec import SERVICE_EVENTS, SERVICE_KINDS
from ilona_match.synthetic.arrays import categorical, compact_rows, haversine_km, id_strings, sample_rows
from ilona_match.synthetic.catalogue import EMPLOYER_TYPES, LANGUAGES, LOADS, RESTRICTIONS, Catalogue
from ilona_match.synthetic.hiring import EVENTS
from ilona_match.synthetic.jobs import CONSTRAINTS, Vacancies, text_language
from ilona_match.synthetic.people import People

__all__ = [
    "BASE_LIFT", "DURATION_WEEKS", "KINDS", "PROVIDER_TYPES", "Limits", "Offers", "ServiceLog", "ServiceTruth",
    "ServiceWorld", "Services", "breaks_limits", "completion_probability", "compound", "default_service_count",
    "draw_offers", "hire_chance", "lifted", "load_service_truth", "make_services", "person_traits", "recorded_limits",
    "relevance", "run_services", "with_service_rows",
]

STREAM = 9  # first spawn key of every random stream of the services (the families use 0, 1 and 7)
KINDS: tuple[str, ...] = SERVICE_KINDS
PROVIDER_TYPES: tuple[str, ...] = ("training_provider", "social_enterprise", "public_service", "ngo", "employer")
_PROVIDER_WEIGHTS = np.array([0.4, 0.25, 0.15, 0.1, 0.1])
# kinds a provider type runs, with their shares (rows in PROVIDER_TYPES order, columns in KINDS order)
_KINDS_BY_PROVIDER = np.array([
    [0.8, 0.2, 0.0, 0.0, 0.0, 0.0],  # training_provider: course, apprenticeship
    [0.0, 0.0, 0.6, 0.4, 0.0, 0.0],  # social_enterprise: work_trial, supported_employment
    [0.3, 0.0, 0.0, 0.0, 0.3, 0.4],  # public_service: coaching, rehabilitation, course
    [0.0, 0.0, 0.0, 0.0, 0.4, 0.6],  # ngo: coaching, rehabilitation
    [0.0, 0.5, 0.5, 0.0, 0.0, 0.0],  # employer: apprenticeship, work_trial
])
BASE_LIFT: dict[str, float] = {"course": 0.35, "apprenticeship": 0.5, "work_trial": 0.45, "supported_employment": 0.5,
                               "rehabilitation": 0.2, "coaching": 0.15}
DURATION_WEEKS: dict[str, tuple[int, int]] = {"course": (6, 20), "apprenticeship": (26, 52), "work_trial": (4, 12),
                                              "supported_employment": (12, 40), "rehabilitation": (4, 16),
                                              "coaching": (4, 12)}
_SUPPORTS_BY_KIND: dict[str, tuple[str, ...]] = {"work_trial": ("work_trial",),
                                                 "supported_employment": ("supported_employment", "wage_subsidy"),
                                                 "apprenticeship": ("apprenticeship",)}
_HOURS_BY_KIND: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "course": ((15, 20, 25, 30), (0.15, 0.3, 0.3, 0.25)),
    "apprenticeship": ((25, 30, 37.5, 40), (0.15, 0.25, 0.45, 0.15)),
    "work_trial": ((15, 20, 25, 30, 37.5), (0.15, 0.3, 0.25, 0.2, 0.1)),
    "supported_employment": ((15, 20, 25, 30), (0.2, 0.35, 0.3, 0.15)),
    "rehabilitation": ((8, 12, 16, 20), (0.25, 0.35, 0.25, 0.15)),
    "coaching": ((4, 6, 10), (0.4, 0.4, 0.2)),
}
_REMOTE_BY_KIND = np.array([0.2, 0.0, 0.0, 0.0, 0.05, 0.35])
_GENERAL = np.array([kind in ("rehabilitation", "coaching") for kind in KINDS])
_WORK_BASED = np.array([kind in ("apprenticeship", "work_trial", "supported_employment") for kind in KINDS])
_COURSE = KINDS.index("course")
_BASE = np.array([BASE_LIFT[kind] for kind in KINDS])
_MISSING = {"hours": 0.15, "load": 0.15, "flag": 0.2, "closes": 0.2}
_LIFTING_BY_LOAD = np.array([0.0, 0.05, 0.45, 0.9])
MAX_TAUGHT = 5
TARGET = 0.9  # a completed step moves h towards this
LIFT_CAP = 0.9
NOTHING_LACKING = 0.1
AIMED = 0.7
GENERAL_REL = 0.25
DROPOUT_CAP = 0.95
TOP = 5  # a person's hire chance counts their best five vacancies
LOOKAHEAD = 120  # days beyond the world's last day services may start; also how far ahead an offer looks
START_SHARE = 0.6
SECOND_OFFER = 0.35
HIRE_WINDOW = 14  # vacancies open from a completion day to this many days after count for the hire
HIRE_CANDIDATES = 20
TRAIT_BLOCK = 1000
NEVER = np.iinfo(np.int64).max // 4
_EPOCH = date(1970, 1, 1)


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(STREAM, *key)))


def default_service_count(vacancies: int) -> int:
    """The number of services a world of ``vacancies`` vacancies has unless told otherwise."""
    return max(20, vacancies // 10)


# ----------------------------------------------------------------------------------------- the services
@dataclass(frozen=True)
class Services:
    """The services of a world: the contract table (when drawn) and, row for row, the values behind it.

    The written demands are the true ones (unknown = no demand); ``quality`` and ``dropout`` are the
    hidden traits of each service's provider.
    """

    table: pa.Table | None
    ids: pa.Array
    provider: np.ndarray
    provider_type: np.ndarray  # position in PROVIDER_TYPES
    provider_size: np.ndarray  # how many services the provider runs
    kind: np.ndarray  # position in KINDS
    sector: np.ndarray  # -1 for general services
    occupation: np.ndarray  # catalogue occupation position, -1 for general services
    taught: np.ndarray  # (n, MAX_TAUGHT) skill positions, -1 = none
    hours: np.ndarray  # NaN = unknown
    load: np.ndarray  # rank in LOADS, -1 = unknown
    flags: np.ndarray  # (n, 5) int8 in CONSTRAINTS order: 1 yes, 0 no, -1 unknown
    town: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    remote: np.ndarray
    seats: np.ndarray
    starts: np.ndarray  # day numbers (days since 1970-01-01)
    closes: np.ndarray  # last day to join, -1 = not given
    duration_weeks: np.ndarray
    quality: np.ndarray  # hidden
    dropout: np.ndarray  # hidden

    def __len__(self) -> int:
        return int(self.kind.size)

    @property
    def joins_until(self) -> np.ndarray:
        """The last day a person can join (the start day when no closing date is given)."""
        return np.where(self.closes >= 0, self.closes, self.starts)

    @property
    def ends(self) -> np.ndarray:
        """The day a person who started on the first day completes."""
        return self.starts + 7 * self.duration_weeks

    def positions(self, service_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        """Row positions of ``S000123``-style ids (ValueError for an id this world does not have)."""
        position = _numbers(service_ids, "S") - 1
        if position.size and (position.min() < 0 or position.max() >= len(self)):
            raise ValueError("a service id is not one of this world's services")
        return position


def _numbers(ids: Sequence[str] | np.ndarray, prefix: str) -> np.ndarray:
    """The numbers of ids such as P0000042 (ValueError for any other form)."""
    out = np.empty(len(ids), dtype=np.int64)
    for i, value in enumerate(ids):
        text = str(value)
        if not (text.startswith(prefix) and text[1:].isdigit()):
            raise ValueError(f"{text!r} is not an id of the form {prefix}0001")
        out[i] = int(text[1:])
    return out


def _skill_matrix(positions: np.ndarray, n_skills: int) -> np.ndarray:
    """A padded (rows, k) array of skill positions as a (rows, n_skills) bool matrix."""
    matrix = np.zeros((positions.shape[0], n_skills + 1), dtype=bool)
    rows = np.repeat(np.arange(positions.shape[0]), positions.shape[1])
    matrix[rows, np.where(positions >= 0, positions, n_skills).ravel()] = True
    return matrix[:, :n_skills]


def make_services(catalogue: Catalogue, n: int, seed: int, first_day: int, days: int, other_languages: float = 1.0,
                  table: bool = True) -> Services:
    """Draw ``n`` services of a world (see the module docstring); with ``table``, also write their rows.

    The state comes from ``SeedSequence(seed, spawn_key=(9, 0))``, the written texts from ``(9, 1)``,
    so the hidden state is redrawn cheaply and identically without the texts.
    """
    c, rng = catalogue, _rng(seed, 0)
    n_towns = c.municipality_lat.size
    n_providers = max(1, round(n / 3)) if n else 0
    provider_type = rng.choice(len(PROVIDER_TYPES), n_providers, p=_PROVIDER_WEIGHTS)
    town_weight = c.municipality_population**1.1 / (c.municipality_population**1.1).sum()
    provider_town = rng.choice(n_towns, n_providers, p=town_weight)
    # employers and social enterprises work in one sector, weighted by how often such employers hire there
    social = c.sector_employer_types[:, EMPLOYER_TYPES.index("social_enterprise")]
    business = c.sector_employer_types[:, EMPLOYER_TYPES.index("private")] + \
        c.sector_employer_types[:, EMPLOYER_TYPES.index("public")]
    social_sector = rng.choice(len(c.sectors), n_providers, p=_unit(c.sector_vacancy_weight * social))
    business_sector = rng.choice(len(c.sectors), n_providers, p=_unit(c.sector_vacancy_weight * business))
    provider_sector = np.where(provider_type == PROVIDER_TYPES.index("social_enterprise"), social_sector,
                               np.where(provider_type == PROVIDER_TYPES.index("employer"), business_sector, -1))
    quality = np.clip(rng.lognormal(0.0, 0.6, n_providers), 0.2, 3.0)
    dropout = rng.beta(2.0, 6.0, n_providers)
    size = 1.0 / (1.0 + rng.permutation(n_providers)) ** 0.7
    provider = rng.choice(n_providers, n, p=size / size.sum()) if n else np.zeros(0, np.int64)
    provider_size = np.bincount(provider, minlength=n_providers)[provider]

    kind = categorical(rng, _KINDS_BY_PROVIDER[provider_type[provider]]) if n else np.zeros(0, np.int64)
    general = _GENERAL[kind]
    entry_weight = c.sector_vacancy_weight[c.entry_sector] * c.entry_weight  # like the vacancies' occupations
    own_sector = provider_sector[provider]
    weights = np.where((own_sector[:, None] < 0) | (c.entry_sector[None, :] == own_sector[:, None]),
                       entry_weight[None, :], 0.0)
    entry = categorical(rng, weights) if n else np.zeros(0, np.int64)
    occupation = np.where(general, -1, c.entry_occupation[entry]).astype(np.int64)
    sector = np.where(general, -1, c.entry_sector[entry]).astype(np.int64)
    pool = np.concatenate([c.occupation_essential, c.occupation_optional], axis=1)[np.maximum(occupation, 0)]
    taught = compact_rows(sample_rows(rng, pool, rng.integers(2, MAX_TAUGHT + 1, n), rank_decay=0.3))[:, :MAX_TAUGHT]
    taught = np.where(general[:, None], -1, taught)

    town = np.where(rng.random(n) < 0.85, provider_town[provider], rng.choice(n_towns, n, p=town_weight))
    lat = np.round(c.municipality_lat[town] + rng.normal(0, 0.02, n), 4)
    lon = np.round(c.municipality_lon[town] + rng.normal(0, 0.04, n), 4)
    remote = rng.random(n) < _REMOTE_BY_KIND[kind]

    hours = np.zeros(n)
    duration = np.zeros(n, dtype=np.int64)
    for k, name in enumerate(KINDS):
        rows = np.flatnonzero(kind == k)
        values, p = _HOURS_BY_KIND[name]
        hours[rows] = rng.choice(np.array(values, dtype=np.float64), rows.size, p=np.array(p))
        low, high = DURATION_WEEKS[name]
        duration[rows] = rng.integers(low, high + 1, rows.size)
    entry_load = c.entry_load[entry].astype(np.int64)
    work_load = np.clip(entry_load - (rng.random(n) < 0.4), 0, 3)
    course_load = np.where(rng.random(n) < 0.65, 0, np.minimum(1 + (rng.random(n) < 0.3), np.maximum(entry_load, 1)))
    rehab_load = rng.choice(3, n, p=[0.3, 0.5, 0.2])
    load = np.select([_WORK_BASED[kind], kind == _COURSE, kind == KINDS.index("rehabilitation")],
                     [work_load, course_load, rehab_load], 0).astype(np.int8)
    flag_p = c.entry_flags[entry]  # FLAGS order: night, weekend, customer, driving, remote
    u = rng.random((n, 5))
    work = _WORK_BASED[kind]
    night = work & (u[:, 0] < 0.3 * flag_p[:, 0])
    weekend = np.where(work, u[:, 1] < 0.5 * flag_p[:, 1], u[:, 1] < 0.05)
    customer = np.where(work, u[:, 2] < flag_p[:, 2], np.where(general, u[:, 2] < 0.05, u[:, 2] < 0.2 * flag_p[:, 2]))
    lifting = u[:, 3] < _LIFTING_BY_LOAD[load]
    driving = work & (u[:, 4] < 0.5 * flag_p[:, 3])
    flags = np.stack([night, weekend, customer, lifting, driving], axis=1).astype(np.int8)
    flags = np.where(rng.random(flags.shape) < _MISSING["flag"], -1, flags).astype(np.int8)
    hours = np.where(rng.random(n) < _MISSING["hours"], np.nan, hours)
    load = np.where(rng.random(n) < _MISSING["load"], -1, load).astype(np.int8)

    seats = rng.integers(4, 21, n)
    starts = first_day + rng.integers(0, days + LOOKAHEAD, n)
    closes = np.where(rng.random(n) < _MISSING["closes"], -1, starts - rng.integers(0, 4, n))
    language = text_language(rng, c.municipality_swedish[town] * other_languages, english=0.08 * other_languages)
    ids = id_strings("S", np.arange(1, n + 1), 6)
    services = Services(
        table=None, ids=ids, provider=provider, provider_type=provider_type[provider], provider_size=provider_size,
        kind=kind, sector=sector, occupation=occupation, taught=taught, hours=hours, load=load, flags=flags,
        town=town, lat=lat, lon=lon, remote=remote, seats=seats, starts=starts.astype(np.int64),
        closes=closes.astype(np.int64), duration_weeks=duration, quality=quality[provider], dropout=dropout[provider],
    )
    if not table:
        return services
    rows = _service_table(c, services, language, _rng(seed, 1))
    return Services(**{**{name: getattr(services, name) for name in services.__dataclass_fields__}, "table": rows})


def _unit(weights: np.ndarray) -> np.ndarray:
    return weights / weights.sum()


# ------------------------------------------------------------------------------------------ the texts
_TEXT: dict[str, dict[str, dict[str, list[str]] | list[str]]] = {
    "fi": {
        "title": {
            "course": ["Koulutus: {occupation}", "{Occupation} – ammatillinen lyhytkoulutus",
                       "Valmentava koulutus: {occupation}"],
            "apprenticeship": ["Oppisopimus: {occupation}", "Oppisopimuskoulutus, {occupation}"],
            "work_trial": ["Työkokeilu: {occupation}", "Työkokeilupaikka, {occupation}"],
            "supported_employment": ["Tuettu työ: {occupation}", "Tuettu työllistyminen, {occupation}"],
            "rehabilitation": ["Kuntouttava työtoiminta", "Työkykyä tukeva kuntoutus"],
            "coaching": ["Työhönvalmennus", "Työnhakuvalmennus", "Uravalmennus"],
        },
        "intro": {
            "course": ["Koulutus antaa valmiudet tehtävään: {occupation}.",
                       "Koulutuksessa opit työn perusteet (tehtävä: {occupation})."],
            "apprenticeship": ["Oppisopimuksella opit työn työpaikalla (tehtävä: {occupation}).",
                               "Oppisopimuskoulutus johtaa tehtävään: {occupation}."],
            "work_trial": ["Työkokeilussa kokeilet työtä käytännössä (tehtävä: {occupation}).",
                           "Työkokeilu tehtävässä: {occupation}."],
            "supported_employment": ["Työhönvalmentaja tukee sinua työssä (tehtävä: {occupation}).",
                                     "Tuettu työpaikka tehtävässä: {occupation}."],
            "rehabilitation": ["Tavoitteena on vahvistaa työ- ja toimintakykyä.",
                               "Kuntouttava työtoiminta tukee paluuta työelämään."],
            "coaching": ["Valmentaja tukee työnhaussa ja työelämätaidoissa.",
                         "Valmennuksessa laaditaan työnhakusuunnitelma ja harjoitellaan työhaastattelua."],
        },
        "skills": ["Opit muun muassa: {skills}.", "Sisältö: {skills}."],
        "duration": ["Kesto {weeks} viikkoa.", "Kesto noin {weeks} viikkoa."],
        "hours": ["{hours} tuntia viikossa.", "Viikkotunnit: {hours}."],
        "place": ["Paikka: {municipality}.", "Toteutuspaikka: {municipality}."],
        "remote": ["Osallistuminen onnistuu myös etänä.", "Toteutetaan verkossa."],
        "start": ["Alkaa {date}.", "Aloitus {date}."],
        "join": ["Hae mukaan viimeistään {date}."],
    },
    "sv": {
        "title": {
            "course": ["Utbildning: {occupation}", "{Occupation} – kort yrkesutbildning"],
            "apprenticeship": ["Läroavtal: {occupation}"],
            "work_trial": ["Arbetsprövning: {occupation}"],
            "supported_employment": ["Stött arbete: {occupation}"],
            "rehabilitation": ["Rehabiliterande arbetsverksamhet"],
            "coaching": ["Jobbcoachning", "Coachning för arbetssökande"],
        },
        "intro": {
            "course": ["Utbildningen ger grunderna för arbete som {occupation}."],
            "apprenticeship": ["Med läroavtal lär du dig yrket på arbetsplatsen ({occupation})."],
            "work_trial": ["Prova på arbetet i praktiken ({occupation})."],
            "supported_employment": ["En jobbcoach stöder dig i arbetet ({occupation})."],
            "rehabilitation": ["Målet är att stärka arbets- och funktionsförmågan."],
            "coaching": ["Coachen stöder dig i jobbsökandet."],
        },
        "skills": ["Du lär dig bland annat att {skills}."],
        "duration": ["Längd {weeks} veckor."],
        "hours": ["{hours} timmar i veckan."],
        "place": ["Plats: {municipality}."],
        "remote": ["Det går också att delta på distans."],
        "start": ["Start {date}."],
        "join": ["Anmäl dig senast {date}."],
    },
    "en": {
        "title": {
            "course": ["Training: {occupation}", "{Occupation} – short vocational course"],
            "apprenticeship": ["Apprenticeship: {occupation}"],
            "work_trial": ["Work trial: {occupation}"],
            "supported_employment": ["Supported employment: {occupation}"],
            "rehabilitation": ["Rehabilitative work activity"],
            "coaching": ["Job coaching", "Job search coaching"],
        },
        "intro": {
            "course": ["The course prepares you for work as a {occupation}."],
            "apprenticeship": ["Learn the trade at the workplace ({occupation})."],
            "work_trial": ["Try the work in practice ({occupation})."],
            "supported_employment": ["A job coach supports you at work ({occupation})."],
            "rehabilitation": ["The aim is to strengthen your ability to work."],
            "coaching": ["A coach supports your job search and working-life skills."],
        },
        "skills": ["You will learn to {skills}.", "Content: {skills}."],
        "duration": ["Duration {weeks} weeks."],
        "hours": ["{hours} hours a week."],
        "place": ["Location: {municipality}."],
        "remote": ["You can also take part online."],
        "start": ["Starts {date}."],
        "join": ["Apply by {date}."],
    },
}


def _written_day(day: int, language: str) -> str:
    value = _EPOCH + timedelta(days=int(day))
    return value.isoformat() if language == "en" else f"{value.day}.{value.month}.{value.year}"


def _written_hours(hours: float, language: str) -> str:
    text = f"{hours:g}"
    return text if language == "en" else text.replace(".", ",")


def _service_table(c: Catalogue, s: Services, language: np.ndarray, rng: np.random.Generator) -> pa.Table:
    """The services as a provider's catalogue writes them: skills as URIs or names, texts from templates."""
    n = len(s)
    titles, descriptions, skills_taught, toward = [], [], [], []
    u = rng.random((n, 8))
    for i in range(n):
        lang = LANGUAGES[int(language[i])]
        text, kind = _TEXT[lang], KINDS[int(s.kind[i])]
        occupation = int(s.occupation[i])
        label = c.occupation_labels[occupation, int(language[i])] if occupation >= 0 else ""
        fields = {"occupation": label, "Occupation": label[:1].upper() + label[1:],
                  "municipality": c.municipality_names[s.town[i], 1 if lang == "sv" else 0]}

        def pick(options: list[str], i: int = i) -> str:
            return options[int(rng.integers(len(options)))]

        titles.append(pick(text["title"][kind]).format(**fields))
        taught = [int(k) for k in s.taught[i] if k >= 0]
        sentences = [pick(text["intro"][kind]).format(**fields)]
        if taught and u[i, 0] < 0.7:
            names = [c.skill_labels[k, int(language[i])] for k in taught[:3]]
            sentences.append(pick(text["skills"]).format(skills=", ".join(names)))
        if u[i, 1] < 0.7:
            sentences.append(pick(text["duration"]).format(weeks=int(s.duration_weeks[i])))
        if not np.isnan(s.hours[i]) and u[i, 2] < 0.6:
            sentences.append(pick(text["hours"]).format(hours=_written_hours(float(s.hours[i]), lang)))
        sentences.append(pick(text["remote"] if s.remote[i] and u[i, 3] < 0.8 else text["place"]).format(**fields))
        if u[i, 4] < 0.6:
            sentences.append(pick(text["start"]).format(date=_written_day(s.starts[i], lang)))
        if s.closes[i] >= 0 and u[i, 5] < 0.5:
            sentences.append(pick(text["join"]).format(date=_written_day(s.closes[i], lang)))
        descriptions.append("" if u[i, 6] < 0.03 else " ".join(sentences))

        written = []
        for k in taught:  # mostly URIs, sometimes a name (in the service's language, now and then another)
            form = rng.random()
            if form < 0.7:
                written.append(c.skill_uri[k])
            else:
                other = int(language[i]) if rng.random() < 0.8 else int(rng.integers(3))
                written.append(c.skill_labels[k, other])
        skills_taught.append(written or None)
        if occupation < 0:
            toward.append(None)
        else:
            toward.append([c.occupation_isco[occupation] if u[i, 7] < 0.2 else c.occupation_uri[occupation]])

    def flag(column: int) -> pa.Array:
        values = s.flags[:, column]
        return pa.array(values == 1, mask=values < 0)

    supports = [list(_SUPPORTS_BY_KIND.get(KINDS[int(k)], ())) or None for k in s.kind]
    return pa.table({
        "service_id": s.ids,
        "provider_id": id_strings("O", s.provider + 1, 5),
        "provider_type": pa.array(np.array(PROVIDER_TYPES, dtype=object)[s.provider_type].tolist(), pa.string()),
        "kind": pa.array(np.array(KINDS, dtype=object)[s.kind].tolist(), pa.string()),
        "title": pa.array(titles, pa.string()),
        "description": pa.array(descriptions, pa.string()),
        "language": pa.array(np.array(LANGUAGES, dtype=object)[language].tolist(), pa.string()),
        "skills_taught": pa.array(skills_taught, pa.list_(pa.string())),
        "occupations_toward": pa.array(toward, pa.list_(pa.string())),
        "hours_per_week": pa.array(s.hours, from_pandas=True),
        "physical_load": pa.array(np.array(LOADS, dtype=object)[np.maximum(s.load, 0)].tolist(), pa.string(),
                                  mask=s.load < 0),
        "night_shifts": flag(0),
        "weekend_work": flag(1),
        "customer_contact": flag(2),
        "heavy_lifting": flag(3),
        "driving": flag(4),
        "municipality": pa.array(c.municipality_names[s.town, 0].tolist(), pa.string()),
        "lat": pa.array(s.lat),
        "lon": pa.array(s.lon),
        "remote": pa.array(s.remote),
        "seats": pa.array(s.seats, pa.int64()),
        "starts_at": pa.array(s.starts.astype(np.int32), pa.date32()),
        "closes_at": pa.array(np.maximum(s.closes, 0).astype(np.int32), pa.date32(), mask=s.closes < 0),
        "duration_weeks": pa.array(s.duration_weeks.astype(np.float64)),
        "supports_accepted": pa.array(supports, pa.list_(pa.string())),
    })


# ------------------------------------------------------------------------------------ the hidden effect
def person_traits(seed: int, numbers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each participant's hidden responsiveness to services and drop-out propensity, fixed by the seed
    and the participant number (drawn per thousand numbers, so any subset is cheap to redraw)."""
    numbers = np.asarray(numbers, dtype=np.int64)
    responsiveness, propensity = np.empty(numbers.size), np.empty(numbers.size)
    block = (numbers - 1) // TRAIT_BLOCK
    for b in np.unique(block):
        draws = _rng(seed, 4, int(b)).lognormal([[0.0], [-0.125]], 0.5, (2, TRAIT_BLOCK))
        rows = np.flatnonzero(block == b)
        index = (numbers[rows] - 1) % TRAIT_BLOCK
        responsiveness[rows], propensity[rows] = draws[0, index], draws[1, index]
    return responsiveness, propensity


def relevance(taught: np.ndarray, has: np.ndarray, need: np.ndarray) -> np.ndarray:
    """(steps, occupations): the share of each occupation's needed skills a person lacks that a step
    teaches, ``|taught & need & ~has| / |need & ~has|``, and ``NOTHING_LACKING`` (0.1) when nothing is
    lacking. ``taught`` and ``has`` are (steps, skills) bool, ``need`` (occupations, skills) bool."""
    lacking = ~np.asarray(has, dtype=bool)
    need = np.asarray(need, dtype=np.float64).T
    missing = lacking.astype(np.float64) @ need
    covered = (np.asarray(taught, dtype=bool) & lacking).astype(np.float64) @ need
    return np.where(missing > 0, covered / np.maximum(missing, 1.0), NOTHING_LACKING)


def compound(lifts: np.ndarray, axis: int = 0) -> np.ndarray:
    """The lift of several completed steps together: ``1 - prod(1 - lift_i)``."""
    return 1.0 - np.prod(1.0 - np.asarray(lifts, dtype=np.float64), axis=axis)


def lifted(h: np.ndarray, lift: np.ndarray) -> np.ndarray:
    """Hire probabilities after a lift: ``h + (0.9 - h) * lift`` where ``h > 0`` (never lower than h);
    0 stays 0 (a true limit broken is not mended by a course)."""
    h = np.asarray(h, dtype=np.float64)
    return np.where(h > 0, h + np.maximum(TARGET - h, 0.0) * lift, 0.0)


def hire_chance(h: np.ndarray) -> np.ndarray:
    """A person's chance of a hire from hire probabilities over vacancies (last axis): ``1 - prod(1 - h)``
    over the ``TOP`` (5) highest."""
    h = np.asarray(h, dtype=np.float64)
    m = h.shape[-1]
    if m > TOP:
        h = np.partition(h, m - TOP, axis=-1)[..., m - TOP:]
    return 1.0 - np.prod(1.0 - h, axis=-1)


@dataclass(frozen=True)
class Limits:
    """A person's hard limits: hours, physical capacity (rank in LOADS), restrictions (n, 7) in RESTRICTIONS order."""

    max_hours: np.ndarray
    capacity: np.ndarray
    restrictions: np.ndarray

    @classmethod
    def of(cls, people: People, rows: np.ndarray | slice = slice(None)) -> Limits:
        """The true limits of ``people`` (rows of the block)."""
        return cls(people.max_hours[rows], people.capacity[rows], people.restrictions[rows])

    def take(self, rows: np.ndarray) -> Limits:
        """The limits of some rows."""
        return Limits(self.max_hours[rows], self.capacity[rows], self.restrictions[rows])


def recorded_limits(participants: pa.Table) -> Limits:
    """The limits written in a participants table (what a coach sees)."""
    capacity = pc.index_in(participants.column("physical_capacity"), value_set=pa.array(list(LOADS)))
    restrictions = np.zeros((participants.num_rows, len(RESTRICTIONS)), dtype=bool)
    lists = participants.column("restrictions").combine_chunks()
    rows = pc.list_parent_indices(lists).to_numpy()
    items = pc.index_in(pc.list_flatten(lists), value_set=pa.array(list(RESTRICTIONS))).to_numpy(zero_copy_only=False)
    restrictions[rows, items] = True
    return Limits(participants.column("max_hours_per_week").to_numpy().astype(np.float64),
                  capacity.to_numpy(zero_copy_only=False).astype(np.int64), restrictions)


def breaks_limits(services: Services, s: np.ndarray, limits: Limits) -> np.ndarray:
    """True where service ``s[i]`` breaks a hard limit of person i (unknown values never do)."""
    hours, load, flags = services.hours[s], services.load[s], services.flags[s]
    broken = (hours > limits.max_hours) | ((load >= 0) & (load > limits.capacity))
    for column, (_, restriction) in enumerate(CONSTRAINTS):
        broken |= (flags[:, column] == 1) & limits.restrictions[:, RESTRICTIONS.index(restriction)]
    return broken


def completion_probability(services: Services, s: np.ndarray, propensity: np.ndarray, broken: np.ndarray) -> np.ndarray:
    """The hidden chance that a person who starts service ``s[i]`` completes it (0 where it breaks a true limit)."""
    drop = np.clip(services.dropout[s] * propensity * (1.0 + services.duration_weeks[s] / 52.0), 0.0, DROPOUT_CAP)
    return np.where(broken, 0.0, 1.0 - drop)


def _step_lifts(services: Services, s: np.ndarray, has: np.ndarray, need: np.ndarray, teach: np.ndarray,
                responsiveness: np.ndarray) -> np.ndarray:
    """(steps, occupations): the lift of completing service ``s[i]`` for a person with skills ``has[i]``."""
    rel = relevance(teach[s], has, need)
    kind, occupation = services.kind[s], services.occupation[s]
    aimed = np.flatnonzero(_WORK_BASED[kind] & (occupation >= 0))
    rel[aimed, occupation[aimed]] = np.maximum(rel[aimed, occupation[aimed]], AIMED)
    rel[_GENERAL[kind]] = GENERAL_REL
    scale = _BASE[kind] * services.quality[s] * responsiveness
    return np.clip(scale[:, None] * rel, 0.0, LIFT_CAP)


def _need(catalogue: Catalogue) -> np.ndarray:
    return _skill_matrix(catalogue.occupation_essential, catalogue.n_skills)


# ---------------------------------------------------------------------------------------- the world view
@dataclass(frozen=True)
class ServiceWorld:
    """What the services read from a world family: its vacancies' true state, its people block by block
    (``people(block)`` holds participant numbers ``block * block_size + 1`` on), and the hidden hire
    probability of rows of such a block on vacancy positions."""

    catalogue: Catalogue
    vacancies: Vacancies
    participants: int
    block_size: int
    people: Callable[[int], People]
    hire: Callable[[People, np.ndarray, np.ndarray], np.ndarray]
    seed: int
    first_day: int
    days: int
    services: int
    other_languages: float

    @property
    def last_day(self) -> int:
        """The world's last day (day number)."""
        return self.first_day + self.days - 1

    def draw_services(self, table: bool = False) -> Services:
        """This world's services (with their table when asked)."""
        return make_services(self.catalogue, self.services, self.seed, self.first_day, self.days,
                             self.other_languages, table=table)

    def open_between(self, first: int, last: int) -> np.ndarray:
        """Vacancy positions open on some day from ``first`` to ``last`` (their true window)."""
        v = self.vacancies
        return np.flatnonzero((v.published <= last) & (v.closes > first))


# ------------------------------------------------------------------------------------------- the offers
@dataclass(frozen=True)
class Offers:
    """Offers a coach made, with the hidden draws that decide what comes of them."""

    number: np.ndarray  # participant number
    service: np.ndarray
    day: np.ndarray
    order: np.ndarray  # 1 = the person's first offer, 2 = a second
    p_complete: np.ndarray  # hidden
    draws: np.ndarray  # (offers, 3) uniforms: starts, completes, drop-out day

    @classmethod
    def concat(cls, parts: Sequence[Offers]) -> Offers:
        """One set of offers from several blocks'."""
        fields = ("number", "service", "day", "order", "p_complete")
        if not parts:
            return cls(*(np.zeros(0, np.int64) for _ in fields[:4]), np.zeros(0), np.zeros((0, 3)))
        return cls(*(np.concatenate([getattr(part, name) for part in parts]) for name in fields),
                   np.concatenate([part.draws for part in parts]))


def _choose(rng: np.random.Generator, services: Services, by_start: np.ndarray, people: People, limits: Limits,
            rows: np.ndarray, day: np.ndarray, after: np.ndarray, exclude: np.ndarray, candidates: int = 24
            ) -> np.ndarray:
    """Per row the service a coach offers on ``day`` (-1 when none fits): among ``candidates`` random
    services starting after ``after`` (and the day) within ``LOOKAHEAD`` days of the day, those that
    can still be joined, break no recorded limit and are near or remote, the best by past
    occupations, sector wishes, provider size and chance."""
    if rows.size == 0 or len(services) == 0:
        return np.full(rows.size, -1, dtype=np.int64)
    starts = services.starts[by_start]
    low = np.searchsorted(starts, np.maximum(day, after), side="right")
    high = np.maximum(np.searchsorted(starts, day + LOOKAHEAD, side="right"), low)
    span = high - low
    pick = low[:, None] + (rng.random((rows.size, candidates)) * span[:, None]).astype(np.int64)
    s = by_start[np.minimum(pick, by_start.size - 1)].ravel()
    p = np.repeat(rows, candidates)
    d = np.repeat(day, candidates)
    km = haversine_km(people.lat[p], people.lon[p], services.lat[s], services.lon[s])
    ok = (np.repeat(span > 0, candidates) & (services.joins_until[s] >= d) & (services.starts[s] > d)
          & (services.remote[s] | (km <= people.commute_km[p]))
          & ~breaks_limits(services, s, limits.take(p))
          & (s != np.repeat(exclude, candidates)))
    occupation, sector = services.occupation[s], services.sector[s]
    own = (people.history[p] == occupation[:, None]).any(axis=1) & (occupation >= 0)
    wished = (sector >= 0) & (people.prefers[p, np.maximum(sector, 0)] | (people.sector[p] == sector))
    general = _GENERAL[services.kind[s]]
    long_term = people.unemployment_months[p] >= 24
    score = (1.5 * own + 1.0 * wished + general * (0.6 + 0.5 * long_term)
             + 0.4 * np.log(services.provider_size[s]) + rng.gumbel(size=s.size))
    score = np.where(ok, score, -np.inf).reshape(rows.size, candidates)
    best = np.argmax(score, axis=1)
    found = np.isfinite(score[np.arange(rows.size), best])
    return np.where(found, s.reshape(rows.size, candidates)[np.arange(rows.size), best], -1)


def draw_offers(services: Services, people: People, seed: int, recorded: Limits | None = None) -> Offers:
    """The offers a block of people gets over their time with a coach (see the module docstring).

    ``recorded`` are the limits the coach wrote down (the true ones when not given). Drawn from
    ``SeedSequence(seed, spawn_key=(9, 2, first participant number))``; the completion chances are
    the hidden ones. Offers after a person's first hire are dropped later (``run_services``).
    """
    n = len(people)
    rng = _rng(seed, 2, int(people.first_number))
    limits = recorded if recorded is not None else Limits.of(people)
    known = (people.skills >= 0).sum(axis=1)
    months = people.unemployment_months
    share = np.clip(0.2 + 0.15 * (months >= 12) + 0.1 * (months >= 24) + 0.05 * np.maximum(0, 4 - known), 0.0, 0.8)
    offered = np.flatnonzero(rng.random(n) < share)
    active = (people.active_until[offered] - people.active_from[offered] + 1).astype(np.int64)
    day = people.active_from[offered] + (rng.random(offered.size) * active).astype(np.int64)
    by_start = np.argsort(services.starts, kind="stable")
    first = _choose(rng, services, by_start, people, limits, offered, day, day, np.full(offered.size, -1))
    # a second offer a few weeks later, of a service that starts after the first would have ended
    again = (first >= 0) & (rng.random(offered.size) < SECOND_OFFER)
    later = day + rng.integers(14, 61, offered.size)
    again &= later <= people.active_until[offered]
    second = _choose(rng, services, by_start, people, limits, offered[again], later[again],
                     services.ends[first[again]], first[again])
    rows = np.concatenate([offered[first >= 0], offered[again][second >= 0]])
    service = np.concatenate([first[first >= 0], second[second >= 0]])
    days = np.concatenate([day[first >= 0], later[again][second >= 0]])
    order = np.concatenate([np.ones((first >= 0).sum(), np.int64), np.full((second >= 0).sum(), 2, np.int64)])
    number = people.first_number + rows
    _, propensity = person_traits(seed, number)
    broken = breaks_limits(services, service, Limits.of(people, rows))
    arrange = np.lexsort((order, number))
    return Offers(number[arrange].astype(np.int64), service[arrange].astype(np.int64), days[arrange].astype(np.int64),
                  order[arrange], completion_probability(services, service, propensity, broken)[arrange],
                  rng.random((rows.size, 3))[arrange])


# ---------------------------------------------------------------------------------------- the simulation
@dataclass(frozen=True)
class ServiceLog:
    """The written results of the services: service rows and the vacancy rows of hires after a completion,
    both sorted by participant number, and per participant number the day after which nothing of
    theirs is written (``NEVER`` for most)."""

    number: np.ndarray
    service: np.ndarray
    event: np.ndarray  # position in SERVICE_EVENTS
    day: np.ndarray
    hire_number: np.ndarray
    hire_vacancy: np.ndarray
    hire_event: np.ndarray  # position in EVENTS
    hire_day: np.ndarray
    cut: np.ndarray  # (participants + 1,) day numbers
    service_hires: int  # hires written after a completion

    def event_counts(self) -> tuple[tuple[str, int], ...]:
        """Written service events by name."""
        counts = np.bincount(self.event, minlength=len(SERVICE_EVENTS))
        return tuple((name, int(count)) for name, count in zip(SERVICE_EVENTS, counts, strict=True))


def run_services(world: ServiceWorld, services: Services, offers: Offers, first_hire: np.ndarray, taken: np.ndarray,
                 met: np.ndarray) -> ServiceLog:
    """What comes of the offers (see the module docstring): seats, starts, completions, drop-outs and
    hires after a completion.

    ``first_hire`` is each participant number's first hire day in the vacancy log (``NEVER`` when
    none; index = number), ``taken`` the hires each vacancy has in it, ``met`` the sorted keys
    ``number * vacancies + vacancy`` of the pairs it logged for the offered people.
    """
    last_day = world.last_day
    valid = offers.day < first_hire[offers.number]
    o = Offers(*(getattr(offers, name)[valid] for name in ("number", "service", "day", "order", "p_complete",
                                                          "draws")))
    start = services.starts[o.service]
    willing = (o.draws[:, 0] < START_SHARE) & (first_hire[o.number] > start)
    queue = np.flatnonzero(willing)
    queue = queue[np.lexsort((o.order[queue], o.number[queue], o.day[queue], o.service[queue]))]
    group_start = np.searchsorted(o.service[queue], o.service[queue], side="left")
    seated = np.zeros(len(o.number), dtype=bool)
    seated[queue] = (np.arange(queue.size) - group_start) < services.seats[o.service[queue]]
    completed = seated & (o.draws[:, 1] < o.p_complete)
    length = 7 * services.duration_weeks[o.service]
    end = np.where(completed, start + length, start + 1 + (o.draws[:, 2] * np.maximum(length - 1, 1)).astype(np.int64))

    hires = _hires_after_completion(world, services, o, completed, end, first_hire, taken.copy(), met)
    cut = np.full(world.participants + 1, NEVER, dtype=np.int64)
    hired = hires[3] == EVENTS.index("hired")
    cut[hires[0][hired]] = hires[2][hired]

    number = np.concatenate([o.number, o.number[seated], o.number[seated]])
    service = np.concatenate([o.service, o.service[seated], o.service[seated]])
    day = np.concatenate([o.day, start[seated], end[seated]])
    ending = np.where(completed[seated], SERVICE_EVENTS.index("completed"), SERVICE_EVENTS.index("dropped_out"))
    event = np.concatenate([np.full(len(o.number), SERVICE_EVENTS.index("offered")),
                            np.full(seated.sum(), SERVICE_EVENTS.index("started")), ending])
    keep = (day <= last_day) & (day <= cut[number])
    number, service, event, day = number[keep], service[keep], event[keep], day[keep]
    order = np.lexsort((event, service, day, number))
    h_number, h_vacancy, h_day, h_event = hires
    h_keep = h_day <= last_day
    h_order = np.lexsort((h_event[h_keep], h_day[h_keep], h_number[h_keep]))
    written = (h_event[h_keep] == EVENTS.index("hired")).sum()
    return ServiceLog(number[order], service[order], event[order].astype(np.int64), day[order],
                      h_number[h_keep][h_order], h_vacancy[h_keep][h_order], h_event[h_keep][h_order],
                      h_day[h_keep][h_order], cut, int(written))


def _hires_after_completion(world: ServiceWorld, services: Services, o: Offers, completed: np.ndarray,
                            end: np.ndarray, first_hire: np.ndarray, taken: np.ndarray, met: np.ndarray
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hires that follow completions: (participant number, vacancy, day, event) of every row to write."""
    c, vacancies = world.catalogue, world.vacancies
    done = np.flatnonzero(completed & (end <= world.last_day) & (first_hire[o.number] > end))
    empty = tuple(np.zeros(0, np.int64) for _ in range(4))
    if done.size == 0:
        return empty  # type: ignore[return-value]
    need, teach = _need(c), _skill_matrix(services.taught, c.n_skills)
    responsiveness, _ = person_traits(world.seed, o.number[done])
    gains = np.zeros(done.size)
    candidates: list[tuple[np.ndarray, np.ndarray]] = []
    block = (o.number[done] - 1) // world.block_size
    for b in np.unique(block):
        at = np.flatnonzero(block == b)
        people = world.people(int(b))
        windows = [world.open_between(int(end[done[j]]), int(end[done[j]]) + HIRE_WINDOW) for j in at]
        rows = o.number[done[at]] - people.first_number
        h_all = world.hire(people, np.repeat(rows, [w.size for w in windows]),
                           np.concatenate(windows) if windows else np.zeros(0, np.int64))
        split = np.cumsum([w.size for w in windows])[:-1]
        for j, row, window, h in zip(at, rows, windows, np.split(h_all, split), strict=True):
            k = done[j]
            low, high = np.searchsorted(o.number, [o.number[k], o.number[k] + 1])
            mine = low + np.flatnonzero(completed[low:high] & (end[low:high] <= end[k]))
            mine = mine[np.argsort(end[mine], kind="stable")]
            steps = np.concatenate([mine[mine != k], [k]])
            has = np.repeat(_skill_matrix(people.skills[[row]], c.n_skills), steps.size, axis=0)
            lifts = _step_lifts(services, o.service[steps], has, need, teach,
                                np.full(steps.size, responsiveness[j]))
            occupation = vacancies.occupation[window]
            before = lifted(h, compound(lifts[:-1])[occupation])
            after = lifted(h, compound(lifts)[occupation])
            gains[j] = float(hire_chance(after) - hire_chance(before)) if window.size else 0.0
            weight = after - before
            keys = o.number[k] * len(vacancies) + window
            if met.size:  # pairs the person already met are not met again
                weight[met[np.minimum(np.searchsorted(met, keys), met.size - 1)] == keys] = 0.0
            best = np.argsort(-weight, kind="stable")[:HIRE_CANDIDATES]
            best = best[weight[best] > 0]
            candidates.append((window[best], weight[best]))
    rng = _rng(world.seed, 3)
    chronology = np.lexsort((o.order[done], o.number[done], end[done]))
    u = rng.random((done.size, 7))
    hired_people: set[int] = set()
    out: list[tuple[int, int, int, int]] = []
    recommended, applied, interview, hired, retained = (EVENTS.index(name) for name in
                                                        ("recommended", "applied", "interview", "hired", "retained_6m"))
    for rank, j in enumerate(chronology.tolist()):
        k, number = done[j], int(o.number[done[j]])
        if number in hired_people or u[rank, 0] >= gains[j]:
            continue
        window, weight = candidates[j]
        free = taken[window] < vacancies.openings[window]
        if not free.any():
            continue
        weight = np.where(free, weight, 0.0)
        v = int(window[min(int(np.searchsorted(np.cumsum(weight), u[rank, 1] * weight.sum(), side="right")),
                           window.size - 1)])
        day = int(end[k]) + 1 + int(u[rank, 2] * 7)
        day = min(max(day, int(vacancies.published[v])), int(vacancies.closes[v]) - 1)
        applied_day = day + int(u[rank, 3] * 4)
        interview_day = applied_day + 3 + int(u[rank, 4] * 8)
        hire_day = interview_day + 3 + int(u[rank, 5] * 12)
        if first_hire[number] <= hire_day:
            continue  # hired from the vacancy log first
        taken[v] += 1
        hired_people.add(number)
        out += [(number, v, day, recommended), (number, v, applied_day, applied), (number, v, interview_day, interview),
                (number, v, hire_day, hired)]
        if u[rank, 6] < 0.7:
            out.append((number, v, hire_day + 183, retained))
    if not out:
        return empty  # type: ignore[return-value]
    table = np.array(out, dtype=np.int64)
    return table[:, 0], table[:, 1], table[:, 2], table[:, 3]


def with_service_rows(vacancy_rows: pa.Table, log: ServiceLog | None, first: int, stop: int, vacancy_ids: pa.Array,
                      service_ids: pa.Array | None) -> pa.Table:
    """A block's outcome rows with the services' rows (participant numbers ``first`` to ``stop - 1``):
    the vacancy log's rows dated after a person's hire through a service left out, the service rows
    and the rows of hires after a completion added, all with a ``service_id`` column (null for rows
    about a vacancy), sorted by participant and otherwise kept in order."""
    null_services = pa.nulls(vacancy_rows.num_rows, pa.string())
    rows = vacancy_rows.append_column("service_id", null_services)
    if log is None:
        return rows
    numbers = pc.cast(pc.utf8_slice_codeunits(rows.column("participant_id"), 1), pa.int64()).to_numpy()
    days = rows.column("event_date").cast(pa.int32()).to_numpy().astype(np.int64)
    keep = days <= log.cut[numbers]
    rows = rows.filter(pa.array(keep))
    numbers = numbers[keep]
    lo, hi = np.searchsorted(log.hire_number, [first, stop])
    hires = pa.table({
        "participant_id": id_strings("P", log.hire_number[lo:hi], 7),
        "vacancy_id": vacancy_ids.take(pa.array(log.hire_vacancy[lo:hi])),
        "event": pa.array(list(EVENTS)).take(pa.array(log.hire_event[lo:hi])),
        "event_date": pa.array(log.hire_day[lo:hi].astype(np.int32), pa.date32()),
        "service_id": pa.nulls(hi - lo, pa.string()),
    })
    a, b = np.searchsorted(log.number, [first, stop])
    services = pa.table({
        "participant_id": id_strings("P", log.number[a:b], 7),
        "vacancy_id": pa.nulls(b - a, pa.string()),
        "event": pa.array(list(SERVICE_EVENTS)).take(pa.array(log.event[a:b])),
        "event_date": pa.array(log.day[a:b].astype(np.int32), pa.date32()),
        "service_id": (service_ids if service_ids is not None else pa.array([], pa.string())).take(
            pa.array(log.service[a:b], pa.int64())),
    })
    combined = pa.concat_tables([rows, hires.cast(rows.schema), services.cast(rows.schema)])
    order = np.argsort(np.concatenate([numbers, log.hire_number[lo:hi], log.number[a:b]]), kind="stable")
    return combined.take(pa.array(order))


# ---------------------------------------------------------------------------------------------- the truth
class ServiceTruth:
    """The hidden effect of a world's services, for benchmarks: what completing a route of services
    would do for a person (see the module docstring). ``load_service_truth(DATA)`` gives it."""

    def __init__(self, world: ServiceWorld, services: Services | None = None) -> None:
        self.world = world
        self.services = services if services is not None else world.draw_services(table=False)
        self._need = _need(world.catalogue)
        self._teach = _skill_matrix(self.services.taught, world.catalogue.n_skills)
        self._people: dict[int, People] = {}
        self._open: dict[int, tuple[np.ndarray, dict[int, np.ndarray]]] = {}

    # people ------------------------------------------------------------------------------------------
    def _block(self, block: int) -> People:
        if block not in self._people:
            self._people[block] = self.world.people(block)
        return self._people[block]

    def _numbers(self, participant_ids: Sequence[str] | np.ndarray) -> np.ndarray:
        numbers = _numbers(participant_ids, "P")
        if numbers.size and (numbers.min() < 1 or numbers.max() > self.world.participants):
            raise ValueError("a participant id is not one of this world's participants")
        return numbers

    def _state(self, numbers: np.ndarray) -> tuple[Limits, np.ndarray]:
        """True limits and skills (bool matrix) of participant numbers."""
        size, n_skills = self.world.block_size, self.world.catalogue.n_skills
        max_hours, capacity = np.zeros(numbers.size), np.zeros(numbers.size, np.int64)
        restrictions = np.zeros((numbers.size, len(RESTRICTIONS)), bool)
        has = np.zeros((numbers.size, n_skills), bool)
        block = (numbers - 1) // size
        for b in np.unique(block):
            at = np.flatnonzero(block == b)
            people = self._block(int(b))
            rows = numbers[at] - people.first_number
            max_hours[at], capacity[at], restrictions[at] = (people.max_hours[rows], people.capacity[rows],
                                                             people.restrictions[rows])
            has[at] = _skill_matrix(people.skills[rows], n_skills)
        return Limits(max_hours, capacity, restrictions), has

    def _hire_on(self, numbers: np.ndarray, as_of: date) -> tuple[np.ndarray, list[np.ndarray]]:
        """The vacancies open on ``as_of`` and each number's hidden hire probability on them (cached per day)."""
        day = (as_of - _EPOCH).days
        if day not in self._open:
            self._open[day] = (self.world.open_between(day, day), {})
        window, cache = self._open[day]
        missing = np.unique(numbers[[int(n) not in cache for n in numbers]]) if numbers.size else numbers
        block = (missing - 1) // self.world.block_size
        for b in np.unique(block):
            todo = missing[block == b]
            people = self._block(int(b))
            rows = np.repeat(todo - people.first_number, window.size)
            h = self.world.hire(people, rows, np.tile(window, todo.size)).reshape(todo.size, window.size)
            for number, values in zip(todo.tolist(), h, strict=True):
                cache[number] = values
        return window, [cache[int(n)] for n in numbers]

    # the public truth --------------------------------------------------------------------------------
    def breaks_true_limit(self, participant_ids: Sequence[str], service_ids: Sequence[str]) -> np.ndarray:
        """Per (participant, service) pair: does the service break one of the person's true hard limits."""
        numbers, s = self._pairs(participant_ids, service_ids)
        limits, _ = self._state(numbers)
        return breaks_limits(self.services, s, limits)

    def completion_probability(self, participant_ids: Sequence[str], service_ids: Sequence[str]) -> np.ndarray:
        """Per (participant, service) pair: the hidden chance that the person completes the service once started."""
        numbers, s = self._pairs(participant_ids, service_ids)
        limits, _ = self._state(numbers)
        _, propensity = person_traits(self.world.seed, numbers)
        return completion_probability(self.services, s, propensity, breaks_limits(self.services, s, limits))

    def step_lifts(self, participant_id: str, route: Sequence[str], as_of: date) -> tuple[np.ndarray, np.ndarray]:
        """For one person: the hidden hire probabilities on the vacancies open on ``as_of`` and the lift each
        step of ``route`` would give on each of them, (vacancies,) and (steps, vacancies)."""
        numbers = self._numbers([participant_id])
        window, (h,) = self._hire_on(numbers, as_of)
        s = self.services.positions(route)
        _, has = self._state(np.repeat(numbers, s.size))
        responsiveness, _ = person_traits(self.world.seed, np.repeat(numbers, s.size))
        lifts = _step_lifts(self.services, s, has, self._need, self._teach, responsiveness)
        return h, lifts[:, self.world.vacancies.occupation[window]]

    def route_gain(self, participant_ids: Sequence[str], routes: Sequence[Sequence[str]], as_of: date) -> np.ndarray:
        """Per (participant, route): ``P(complete every step) * (hire chance with the route's compounded lift
        - hire chance without)`` on the vacancies open on ``as_of`` (0 for an empty route)."""
        if len(participant_ids) != len(routes):
            raise ValueError("give one route per participant id")
        numbers = self._numbers(participant_ids)
        gain = np.zeros(numbers.size)
        lengths = np.array([len(route) for route in routes], dtype=np.int64)
        if lengths.sum() == 0:
            return gain
        window, h_rows = self._hire_on(numbers, as_of)
        step_route = np.repeat(np.arange(numbers.size), lengths)
        step_number = numbers[step_route]
        s = self.services.positions([sid for route in routes for sid in route])
        limits, has = self._state(step_number)
        responsiveness, propensity = person_traits(self.world.seed, step_number)
        complete = completion_probability(self.services, s, propensity, breaks_limits(self.services, s, limits))
        lifts = _step_lifts(self.services, s, has, self._need, self._teach, responsiveness)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        taken = np.flatnonzero(lengths > 0)
        keep_all = np.multiply.reduceat(complete, starts[taken])
        together = 1.0 - np.multiply.reduceat(1.0 - lifts, starts[taken], axis=0)  # (routes with steps, occupations)
        occupation = self.world.vacancies.occupation[window]
        for first in range(0, taken.size, 2000):
            rows = taken[first:first + 2000]
            h = np.stack([h_rows[i] for i in rows]) if window.size else np.zeros((rows.size, 0))
            after = lifted(h, together[first:first + 2000][:, occupation])
            gain[rows] = keep_all[first:first + 2000] * (hire_chance(after) - hire_chance(h))
        return gain

    def _pairs(self, participant_ids: Sequence[str], service_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if len(participant_ids) != len(service_ids):
            raise ValueError("give one service id per participant id")
        return self._numbers(participant_ids), self.services.positions(service_ids)


def load_service_truth(data_dir: str | Path) -> ServiceTruth:
    """The hidden truth of the services of the world in ``data_dir`` (redrawn from its ``world.json``)."""
    from ilona_match.synthetic.truth import load_truth

    truth = load_truth(data_dir)
    view = getattr(truth, "service_world", None)
    if view is None:
        raise ValueError(f"{data_dir}: this world family has no services")
    return ServiceTruth(view())
