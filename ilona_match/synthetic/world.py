"""generate_world: write a synthetic world (participants, vacancies, services, outcomes) in the data contract.

Vacancies are drawn once and held in memory; participants are drawn in blocks of ``BLOCK`` people,
each block from its own random streams (``SeedSequence(seed, spawn_key=(1, block, k))``: k = 0 the
people's true state, 1 what the coach wrote down, 2 the log and the hidden process, 3 their group
attributes, ``groups.py``, so drawing those changes no other table), and written
together with their outcomes chunk by chunk. So the written rows do not depend on ``chunk_size``
(CSV files are byte-identical; Parquet files hold the same table, split into row groups per chunk).

Employers hire no more people than their openings. That needs every block's hires, so the blocks
are drawn twice: a first pass collects the hires without writing anything (no texts), each
vacancy keeps the ones with the highest priority, and the second pass writes the rest as rejected.

The services (``services.py``) are drawn once; the first pass also collects each block's service offers,
and what comes of them (seats, completions, hires after a completion) is decided for the whole world
between the passes, so the second pass writes each block's service rows beside its outcomes.

A planted bias (``WorldConfig.hire_bias``, rules of ``groups.py``) multiplies the hidden hire step's
chance for people of the named groups, in the logged hiring, the hires after services and ``world_truth``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ilona_match.synthetic.catalogue import Catalogue, load_catalogue
from ilona_match.synthetic.groups import BiasRule, check_bias, draw_groups
from ilona_match.synthetic.hiring import EVENTS, HiringWeights, hire_probability
from ilona_match.synthetic.history import (
    LoggedPairs,
    LoggingPolicy,
    VacancyLookup,
    hire_claims,
    log_pairs,
    outcome_table,
    pair_facts,
)
from ilona_match.synthetic.jobs import Vacancies, make_vacancies
from ilona_match.synthetic.output import FORMATS, TableWriter
from ilona_match.synthetic.people import People, make_people
from ilona_match.synthetic.services import (
    NEVER,
    Offers,
    ServiceLog,
    Services,
    ServiceWorld,
    default_service_count,
    draw_offers,
    run_services,
    with_service_rows,
)
from ilona_match.synthetic.text import load_templates
from ilona_match.synthetic.truth import start_world_folder

__all__ = ["BLOCK", "PARTICIPANTS_PER_COACH", "WorldConfig", "WorldSummary", "generate_world", "world_truth"]

BLOCK = 1000
PARTICIPANTS_PER_COACH = 40
_EPOCH = date(1970, 1, 1)


def _whole(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class WorldConfig:
    """What world to make: its size, its random seed, its time span and how to write it.

    ``chunk_size`` only sets how many participants are written at once (rounded up to whole blocks
    of ``BLOCK``); it never changes the world. ``groups`` draws the people's group attributes and
    writes ``participant_groups`` (no other table changes); ``hire_bias`` plants a bias in the hidden
    hiring: rules ``(column, value, factor)`` of ``groups.py``, e.g. ``(("age_band", "55+", 0.5),)``.
    """

    participants: int = 2000
    vacancies: int = 800
    seed: int = 0
    start: date = date(2025, 9, 1)
    days: int = 365
    fmt: str = "csv"
    chunk_size: int = 20_000
    other_languages: float = 1.0  # scales the Swedish and English text shares; 0.1 = almost all Finnish
    hiring: HiringWeights = HiringWeights()
    policy: LoggingPolicy = LoggingPolicy()
    services: int | None = None  # None = max(20, vacancies // 10); 0 = no services table
    hire_bias: tuple[BiasRule, ...] = ()  # no bias
    groups: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "hire_bias", check_bias(self.hire_bias))
        if not isinstance(self.groups, bool):
            raise ValueError(f"groups must be True or False, got {self.groups!r}")
        if self.hire_bias and not self.groups:
            raise ValueError("hire_bias needs the group attributes (groups=True)")
        _whole("participants", self.participants, 1)
        _whole("vacancies", self.vacancies, 1)
        if self.services is None:
            object.__setattr__(self, "services", default_service_count(self.vacancies))
        _whole("services", self.services, 0)
        _whole("seed", self.seed, 0)
        _whole("days", self.days, 28)
        _whole("chunk_size", self.chunk_size, 1)
        if not isinstance(self.start, date) or hasattr(self.start, "hour"):
            raise ValueError(f"start must be a datetime.date, got {self.start!r}")
        if not 0.0 <= self.other_languages <= 1.0:
            raise ValueError(f"other_languages must be within [0, 1], got {self.other_languages}")
        if self.fmt not in FORMATS:
            raise ValueError(f"unknown format {self.fmt!r}: use one of {', '.join(FORMATS)}")
        if not isinstance(self.hiring, HiringWeights) or not isinstance(self.policy, LoggingPolicy):
            raise ValueError("hiring must be a HiringWeights and policy a LoggingPolicy")

    @property
    def first_day(self) -> int:
        """The start as days since 1970-01-01 (Arrow's date32)."""
        return (self.start - _EPOCH).days


@dataclass(frozen=True)
class WorldSummary:
    """What was written, and the outcome figures a reader checks first."""

    config: WorldConfig
    participants_path: Path
    vacancies_path: Path
    outcomes_path: Path
    participants: int
    vacancies: int
    outcomes: int
    pairs: int  # participant–vacancy pairs with at least one outcome event
    event_counts: tuple[tuple[str, int], ...]  # events about vacancies
    services_path: Path | None = None  # None when the world has no services
    services: int = 0
    service_event_counts: tuple[tuple[str, int], ...] = ()
    service_hires: int = 0  # hires that followed a completed service
    groups_path: Path | None = None  # participant_groups; None when not written

    @property
    def hires(self) -> int:
        """Pairs that ended in a hire (each pair is hired at most once)."""
        return dict(self.event_counts)["hired"]

    @property
    def hire_rate(self) -> float:
        """Share of logged pairs that ended in a hire."""
        return self.hires / self.pairs if self.pairs else 0.0

    def describe(self) -> str:
        """A few lines for people: where the world is and what it holds."""
        events = ", ".join(f"{name} {count}" for name, count in self.event_counts)
        lines = [
            f"synthetic world (seed {self.config.seed}, {self.config.fmt}) in {self.participants_path.parent}",
            f"  {self.participants} participants, {self.vacancies} vacancies, {self.outcomes} outcome events "
            f"over {self.pairs} pairs ({self.outcomes / self.participants:.1f} events per participant)",
            f"  hire rate {self.hire_rate:.1%} of pairs; events: {events}",
        ]
        if self.services:
            taken = ", ".join(f"{name} {count}" for name, count in self.service_event_counts)
            lines.append(f"  {self.services} services; {taken}; {self.service_hires} hires after a completion")
        if self.config.hire_bias:
            rules = ", ".join(f"{column}={value} x{factor:g}" for column, value, factor in self.config.hire_bias)
            lines.append(f"  planted hiring bias: {rules}")
        return "\n".join(lines)


def _coach_plan(catalogue: Catalogue, participants: int) -> tuple[np.ndarray, np.ndarray]:
    """Coaches per municipality (by population, at least one each) and where each town's numbering starts."""
    total = max(1, round(participants / PARTICIPANTS_PER_COACH))
    share = catalogue.municipality_population / catalogue.municipality_population.sum()
    count = np.maximum(1, np.round(total * share)).astype(np.int64)
    return np.concatenate([[0], np.cumsum(count)[:-1]]), count


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _outbid_hires(claims: list[tuple[np.ndarray, np.ndarray, np.ndarray]], openings: np.ndarray) -> np.ndarray:
    """Sorted pair keys of hires beyond their vacancy's openings (the lowest priorities lose)."""
    keys = np.concatenate([k for k, _, _ in claims])
    vacancy = np.concatenate([v for _, v, _ in claims])
    priority = np.concatenate([p for _, _, p in claims])
    order = np.lexsort((keys, -priority, vacancy))
    vacancy, keys = vacancy[order], keys[order]
    group_start = np.searchsorted(vacancy, vacancy, side="left")
    rank = np.arange(vacancy.size) - group_start
    return np.sort(keys[rank >= openings[vacancy]])


@dataclass(frozen=True)
class _State:
    """A world's vacancies and the means to draw any block of its people (the same for every pass)."""

    config: WorldConfig
    catalogue: Catalogue
    templates: dict
    jobs: Vacancies
    lookup: VacancyLookup
    coach_offset: np.ndarray
    coach_count: np.ndarray

    @classmethod
    def draw(cls, config: WorldConfig) -> _State:
        catalogue, templates = load_catalogue(), load_templates()
        jobs = make_vacancies(catalogue, templates["vacancy"], config.vacancies, _stream(config.seed, 0),
                              config.first_day, config.days, other_languages=config.other_languages)
        return cls(config, catalogue, templates, jobs, VacancyLookup.build(jobs, catalogue),
                   *_coach_plan(catalogue, config.participants))

    @property
    def blocks(self) -> int:
        return -(-self.config.participants // BLOCK)

    def people(self, number: int, record: bool) -> People:
        """Block ``number`` of participants (with their group attributes when the world has them); with
        ``record``, also the rows their coaches wrote."""
        c, first = self.config, number * BLOCK
        people = make_people(self.catalogue, self.templates["participant"], _stream(c.seed, 1, number, 0), first + 1,
                             min(BLOCK, c.participants - first), c.first_day, c.days, self.coach_offset,
                             self.coach_count, _stream(c.seed, 1, number, 1) if record else None,
                             other_languages=c.other_languages)
        if not c.groups:
            return people
        return dataclasses.replace(people, groups=draw_groups(_stream(c.seed, 1, number, 3), self.catalogue, people))

    def hire_factor(self, people: People) -> np.ndarray | None:
        """The planted bias per person of a block (None when the world has none)."""
        if not self.config.hire_bias or people.groups is None:
            return None
        return people.groups.hire_factor(self.config.hire_bias)


def _hire(state: _State, people: People, rows: np.ndarray, vacancies: np.ndarray) -> np.ndarray:
    """The hidden chance that recommending vacancy positions to rows of a block of people ends in a hire."""
    facts = pair_facts(people, state.lookup, rows, vacancies, np.zeros(len(rows), np.int64), np.ones(len(rows), bool),
                       state.hire_factor(people))
    return hire_probability(facts, state.config.hiring)


def _service_world(state: _State, people: Callable[[int], People]) -> ServiceWorld:
    """The coach world as the services see it (``people(block)`` gives a block's true state)."""
    c = state.config
    return ServiceWorld(state.catalogue, state.jobs, c.participants, BLOCK, people,
                        lambda people_, rows, vacancies: _hire(state, people_, rows, vacancies),
                        c.seed, c.first_day, c.days, int(c.services or 0), c.other_languages)


class _CoachWorldTruth:
    """Hidden hire probabilities of a world drawn by ``generate_world`` (``truth.Truth``)."""

    def __init__(self, config: WorldConfig) -> None:
        self._state = _State.draw(config)
        self._people: dict[int, People] = {}

    def _block(self, block: int) -> People:
        if block not in self._people:
            self._people[block] = self._state.people(block, record=False)
        return self._people[block]

    def hire_probability(self, participant_ids: np.ndarray, vacancy_ids: np.ndarray) -> np.ndarray:
        state = self._state
        number = np.array([int(str(pid)[1:]) for pid in participant_ids], dtype=np.int64) - 1
        vacancy = np.array([int(str(vid)[1:]) for vid in vacancy_ids], dtype=np.int64) - 1
        if len(number) and (number.min() < 0 or number.max() >= state.config.participants
                            or vacancy.min() < 0 or vacancy.max() >= len(state.jobs)):
            raise ValueError("an id is not one of this world's participants or vacancies")
        result = np.zeros(len(number))
        for block in np.unique(number // BLOCK):
            rows = np.flatnonzero(number // BLOCK == block)
            result[rows] = _hire(state, self._block(int(block)), number[rows] - block * BLOCK, vacancy[rows])
        return result

    def service_world(self) -> ServiceWorld:
        """The world as its services see it (for ``services.ServiceTruth``)."""
        return _service_world(self._state, self._block)


def world_truth(config: WorldConfig) -> _CoachWorldTruth:
    """The hidden truth of the world ``config`` draws (redrawn from its seed, nothing read from disk)."""
    return _CoachWorldTruth(config)


def _written_hires(claims: list[tuple[np.ndarray, np.ndarray, np.ndarray]], days: list[np.ndarray], lost: np.ndarray,
                   participants: int, vacancies: int) -> tuple[np.ndarray, np.ndarray]:
    """From the first pass' hire claims: each participant number's first written hire day (``NEVER`` when
    none) and the written hires per vacancy (a claim outbid, or after the person's first hire, is not written)."""
    keys = np.concatenate([k for k, _, _ in claims])
    vacancy = np.concatenate([v for _, v, _ in claims])
    day = np.concatenate(days)
    kept = np.ones(keys.size, dtype=bool)
    if lost.size:
        kept = lost[np.minimum(np.searchsorted(lost, keys), lost.size - 1)] != keys
    number = keys // vacancies
    first = np.full(participants + 1, NEVER, dtype=np.int64)
    np.minimum.at(first, number[kept], day[kept])
    written = kept & (day == first[number])
    return first, np.bincount(vacancy[written], minlength=vacancies)


def _pairs_in(outcomes: pa.Table) -> int:
    """Participant–vacancy pairs with at least one row in an outcomes table."""
    joined = pc.binary_join_element_wise(outcomes.column("participant_id"), outcomes.column("vacancy_id"), "|")
    return int(pc.count_distinct(joined).as_py())


def generate_world(
    out_dir: str | Path,
    *,
    participants: int = 2000,
    vacancies: int = 800,
    seed: int = 0,
    start: date = date(2025, 9, 1),
    days: int = 365,
    fmt: str = "csv",
    chunk_size: int = 20_000,
    progress: Callable[[int], None] | None = None,
    other_languages: float = 1.0,
    hiring: HiringWeights | None = None,
    policy: LoggingPolicy | None = None,
    services: int | None = None,
    hire_bias: tuple[BiasRule, ...] = (),
    groups: bool = True,
) -> WorldSummary:
    """Write participants, vacancies, services, outcomes and participant_groups of a synthetic world to ``out_dir``.

    The same arguments give byte-identical CSV files. ``progress`` is called with the number of
    participants written after each chunk (tqdm's ``update`` fits). Tables of the other format with
    the same names are removed, so the folder holds exactly one world. ``services`` defaults to
    ``max(20, vacancies // 10)``; 0 writes no services table. ``groups=False`` writes no
    participant_groups (the other tables are the same either way); ``hire_bias`` plants a bias in
    the hidden hiring (``WorldConfig``).
    """
    config = WorldConfig(participants=participants, vacancies=vacancies, seed=seed, start=start, days=days,
                         fmt=fmt, chunk_size=chunk_size, other_languages=other_languages, hiring=hiring or HiringWeights(),
                         policy=policy or LoggingPolicy(), services=services, hire_bias=hire_bias, groups=groups)
    directory = start_world_folder(out_dir, "coach", config)

    state = _State.draw(config)
    catalogue, jobs, lookup = state.catalogue, state.jobs, state.lookup
    last_day = config.first_day + config.days - 1
    with TableWriter(directory, "vacancies", fmt) as writer:
        writer.write(jobs.table)
    n_blocks = state.blocks
    view = _service_world(state, lambda number: state.people(number, record=False))
    offered: Services | None = view.draw_services(table=True) if config.services else None
    if offered is not None:
        with TableWriter(directory, "services", fmt) as writer:
            writer.write(offered.table)

    def block(number: int, record: bool) -> tuple[People, LoggedPairs]:
        people = state.people(number, record)
        pairs = log_pairs(_stream(seed, 1, number, 2), people, lookup, catalogue, config.policy, config.hiring,
                          state.hire_factor(people))
        return people, pairs

    claims, hire_days, offers, met = [], [], [], []
    hired_event = EVENTS.index("hired")
    for number in range(n_blocks):
        people, pairs = block(number, record=False)
        claims.append(hire_claims(pairs, last_day))
        if offered is not None:
            day = pairs.days[:, hired_event]
            hire_days.append(day[(day >= 0) & (day <= last_day)])
            offers.append(draw_offers(offered, people, seed))
            met.append(pairs.keys[np.isin(pairs.person, offers[-1].number - people.first_number)])
    lost = _outbid_hires(claims, jobs.openings)
    log: ServiceLog | None = None
    if offered is not None:
        first_hire, taken = _written_hires(claims, hire_days, lost, config.participants, len(jobs))
        log = run_services(view, offered, Offers.concat(offers), first_hire, taken, np.sort(np.concatenate(met)))

    blocks_per_chunk = max(1, -(-config.chunk_size // BLOCK))
    pairs_logged = 0
    counts = np.zeros(len(EVENTS), dtype=np.int64)
    groups_path = directory / f"participant_groups.{fmt}" if config.groups else None
    with TableWriter(directory, "participants", fmt) as people_out, TableWriter(directory, "outcomes", fmt) as events_out, \
            (TableWriter(directory, "participant_groups", fmt) if config.groups else nullcontext()) as groups_out:
        for chunk_start in range(0, n_blocks, blocks_per_chunk):
            people_tables, outcome_tables, group_tables = [], [], []
            for number in range(chunk_start, min(chunk_start + blocks_per_chunk, n_blocks)):
                people, pairs = block(number, record=True)
                if people.groups is not None:
                    group_tables.append(people.groups.table(people.ids))
                outcomes, logged = outcome_table(pairs, people, lookup, lost, last_day)
                outcomes = with_service_rows(outcomes, log, people.first_number, people.first_number + len(people),
                                             jobs.ids, offered.ids if offered is not None else None)
                people_tables.append(people.table)
                outcome_tables.append(outcomes)
                pairs_logged += logged if log is None else _pairs_in(outcomes)
                event = pc.index_in(outcomes.column("event"), value_set=pa.array(list(EVENTS)))
                counts += np.bincount(pc.drop_null(event).to_numpy(), minlength=len(EVENTS))
            people_out.write(pa.concat_tables(people_tables))
            events_out.write(pa.concat_tables(outcome_tables))
            if groups_out is not None:
                groups_out.write(pa.concat_tables(group_tables))
            if progress is not None:
                progress(sum(table.num_rows for table in people_tables))
        written = people_out.rows, events_out.rows

    return WorldSummary(
        config=config,
        participants_path=directory / f"participants.{fmt}",
        vacancies_path=directory / f"vacancies.{fmt}",
        outcomes_path=directory / f"outcomes.{fmt}",
        participants=written[0], vacancies=len(jobs), outcomes=written[1], pairs=pairs_logged,
        event_counts=tuple((name, int(count)) for name, count in zip(EVENTS, counts, strict=True)),
        services_path=directory / f"services.{fmt}" if offered is not None else None,
        services=len(offered) if offered is not None else 0,
        service_event_counts=log.event_counts() if log is not None else (),
        service_hires=log.service_hires if log is not None else 0,
        groups_path=groups_path,
    )
