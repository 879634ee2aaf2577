"""The taste world: a family where what people do reveals what they want.

People, vacancies and their records are drawn as in the market world (``market.Market``,
``market_tables``: everyday titles, constraint columns often empty). What happens to them follows a
hidden process of its own, written without looking at the engine's features:

- **Each person has a hidden taste**: a vector over six latent dimensions. Each vacancy has a hidden
  character from its occupation (a random code per catalogue occupation, unrelated to the sector
  and to the person's history), its employer type, its hours and a workplace trait nobody writes
  down. Taste is the inner product; it drives what a person looks at, applies to and accepts.
- **A job board every week**: an active person browses with chance 0.7, is shown 40 of the region's
  open vacancies at random, and views, among those near them (or remote), the one to three with the
  highest appeal (taste, a pull toward their past field, distance, noise) when it clears a bar
  (``board_appeal`` is the appeal before the noise). The board is blind to work capacity. Views are
  logged as ``viewed``.
- **Applications and hiring**: a view becomes an application with a chance that grows with taste
  and with how many of the required skills the person really has (much lower when the job breaks a
  true limit); the employer interviews and hires on skills, taste (motivation shows) and the true
  limits, never hiring someone whose limits the job breaks. A hired person leaves the caseload.
- ``views_only``: the outcomes table keeps only the ``viewed`` events, as a job board's click log.

``taste_truth`` redraws the hidden taste and character; the engine never imports this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from ilona_match.synthetic.arrays import haversine_km, sigmoid
from ilona_match.synthetic.hiring import EVENTS
from ilona_match.synthetic.history import conflicts
from ilona_match.synthetic.market.records import market_tables
from ilona_match.synthetic.market.world import Market, MarketConfig
from ilona_match.synthetic.output import FORMATS, TableWriter
from ilona_match.synthetic.truth import start_world_folder

__all__ = ["TasteConfig", "TasteOracle", "TasteSummary", "TasteTruth", "board_appeal", "generate_taste_world",
           "taste_truth"]

DIMENSIONS = 6
SHOWN, BROWSE, VIEW_BAR = 40, 0.7, 0.0
_EPOCH = date(1970, 1, 1)


def _stream(seed: int, *key: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(11, *key)))


@dataclass(frozen=True)
class TasteConfig:
    """What taste world to make."""

    participants: int = 1500
    vacancies: int = 1500
    seed: int = 0
    start: date = date(2025, 9, 1)
    days: int = 365
    taste: float = 1.5  # how strongly taste drives what people look at (0: not at all)
    views_only: bool = False
    fmt: str = "csv"

    def __post_init__(self) -> None:
        for name, minimum in (("participants", 1), ("vacancies", 1), ("seed", 0), ("days", 56)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
        if not 0.0 <= self.taste <= 5.0:
            raise ValueError(f"taste must be within [0, 5], got {self.taste}")
        if self.fmt not in FORMATS:
            raise ValueError(f"unknown format {self.fmt!r}: use one of {', '.join(FORMATS)}")

    def market(self) -> MarketConfig:
        return MarketConfig(self.participants, self.vacancies, self.seed, self.start, self.days, fmt=self.fmt,
                            services=0, groups=False)


@dataclass(frozen=True)
class TasteTruth:
    """The hidden taste of each person and character of each vacancy (``appeal = taste @ character``)."""

    taste: np.ndarray  # (people, DIMENSIONS)
    character: np.ndarray  # (vacancies, DIMENSIONS), unit rows

    def appeal(self, p: np.ndarray, v: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self.taste[p], self.character[v])


def _truth(config: TasteConfig, market: Market) -> TasteTruth:
    rng = _stream(config.seed, 0)
    jobs = market.jobs
    occupation_code = rng.normal(size=(int(jobs.occupation.max()) + 1, DIMENSIONS))
    employer_code = rng.normal(size=(int(jobs.employer_type.max()) + 2, DIMENSIONS))
    hours_code = rng.normal(size=(4, DIMENSIONS))
    hours_bucket = np.digitize(np.nan_to_num(jobs.hours, nan=30.0), [20.0, 30.0, 37.0])
    trait = rng.normal(size=(len(jobs), DIMENSIONS))
    character = (occupation_code[jobs.occupation] + 0.6 * employer_code[jobs.employer_type + 1]
                 + 0.6 * hours_code[hours_bucket] + 0.7 * trait)
    character /= np.linalg.norm(character, axis=1, keepdims=True)
    taste = config.taste * rng.normal(size=(len(market.people), DIMENSIONS)) / np.sqrt(DIMENSIONS) * 2.0
    return TasteTruth(taste, character)


def taste_truth(config: TasteConfig) -> TasteTruth:
    """The hidden taste and character of the taste world ``config`` draws (redrawn from its seed)."""
    return _truth(config, Market.draw(config.market()))


def _skill_share(market: Market, p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Share of the vacancy's required skills the person really has (1 when it requires none)."""
    required = market.jobs.required[v]
    held = (required[:, :, None] == market.people.skills[p][:, None, :]).any(axis=2) & (required >= 0)
    count = (required >= 0).sum(axis=1)
    return np.where(count > 0, held.sum(axis=1) / np.maximum(count, 1), 1.0)


def board_appeal(market: Market, truth: TasteTruth, p: np.ndarray, v: np.ndarray) -> np.ndarray:
    """What draws person ``p`` to vacancy ``v`` on the board, before the noise: taste, a pull toward
    their past field, distance; -inf where the vacancy is neither near nor remote for them."""
    people, jobs = market.people, market.jobs
    distance = haversine_km(people.lat[p], people.lon[p], jobs.lat[v], jobs.lon[v])
    near = (distance <= 1.5 * people.commute_km[p]) | (jobs.remote[v] & people.remote_ok[p])
    appeal = truth.appeal(p, v) + 0.8 * (jobs.sector[v] == people.sector[p]) - 0.5 * distance / people.commute_km[p]
    return np.where(near, appeal, -np.inf)


class TasteOracle:
    """The hidden appeal of pairs of a written taste world, by id: a ceiling for any system that ranks
    what a person views next (``learning.leave_last_out`` scorer; higher is likelier)."""

    def __init__(self, config: TasteConfig) -> None:
        self.config = config
        self._market = Market.draw(config.market())
        self._truth = _truth(config, self._market)
        self._people = pd.Index(np.asarray(self._market.people.ids.to_pylist(), dtype=object))
        self._jobs = pd.Index(np.asarray(self._market.jobs.ids.to_pylist(), dtype=object))

    @classmethod
    def from_folder(cls, data_dir: str | Path) -> TasteOracle:
        """The oracle of the taste world written to ``data_dir`` (its ``world.json``)."""
        path = Path(data_dir) / "world.json"
        spec = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        if spec.get("family") != "taste":
            raise ValueError(f"{path}: not a taste world's file (family {spec.get('family')!r})")
        raw = spec["config"]
        return cls(TasteConfig(**{**raw, "start": date.fromisoformat(raw["start"])}))

    def __call__(self, participant_ids: np.ndarray, vacancy_ids: np.ndarray, day: date | None = None) -> np.ndarray:
        p, v = self._people.get_indexer(participant_ids), self._jobs.get_indexer(vacancy_ids)
        if (p < 0).any() or (v < 0).any():
            raise KeyError("ids not in this taste world: " + ", ".join(
                map(str, [*np.asarray(participant_ids)[p < 0][:3], *np.asarray(vacancy_ids)[v < 0][:3]])))
        return board_appeal(self._market, self._truth, p, v)


def simulate(config: TasteConfig, market: Market, truth: TasteTruth) -> tuple[np.ndarray, ...]:
    """The logged history: person, vacancy, event (index in EVENTS) and day arrays."""
    rng = _stream(config.seed, 1)
    people, jobs = market.people, market.jobs
    n = len(people)
    first = (config.start - _EPOCH).days
    hired_until = np.full(n, np.iinfo(np.int64).max)
    log: list[tuple[np.ndarray, np.ndarray, int, np.ndarray]] = []
    for week_start in range(first, first + config.days - 7, 7):
        open_now = np.flatnonzero((jobs.published <= week_start) & (week_start < jobs.closes))
        active = np.flatnonzero((people.active_from <= week_start) & (week_start < people.active_until)
                                & (week_start < hired_until) & (rng.random(n) < BROWSE))
        if len(open_now) == 0 or len(active) == 0:
            continue
        shown = open_now[rng.integers(0, len(open_now), (len(active), SHOWN))]
        p = np.repeat(active, SHOWN)
        v = shown.ravel()
        appeal = (board_appeal(market, truth, p, v) + rng.gumbel(size=len(p)) * 0.7).reshape(len(active), SHOWN)
        wanted = np.minimum(1 + rng.poisson(0.8, len(active)), 3)
        order = np.argsort(-appeal, axis=1)
        rank = np.empty_like(order)
        np.put_along_axis(rank, order, np.arange(SHOWN)[None, :].repeat(len(active), 0), axis=1)
        viewed = (rank < wanted[:, None]) & (appeal > VIEW_BAR)
        row, column = np.nonzero(viewed)
        vp, vv = active[row], shown[row, column]
        vp, first_seen = np.unique(vp * len(jobs) + vv, return_index=True)
        vp, vv = active[row[first_seen]], shown[row[first_seen], column[first_seen]]
        day = week_start + np.minimum(rng.integers(0, 7, len(vp)), jobs.closes[vv] - 1 - week_start)  # while open
        log.append((vp, vv, EVENTS.index("viewed"), day))
        taste, fit = truth.appeal(vp, vv), _skill_share(market, vp, vv)
        breaks = conflicts(people, jobs, vp, vv, written=False)
        apply = rng.random(len(vp)) < sigmoid(1.2 * taste + 2.0 * fit - 2.0) * np.where(breaks, 0.3, 1.0)
        ap, av, aday = vp[apply], vv[apply], day[apply] + rng.integers(0, 3, apply.sum())
        log.append((ap, av, EVENTS.index("applied"), aday))
        ok = ~breaks[apply]
        interview = ok & (rng.random(len(ap)) < sigmoid(2.5 * fit[apply] + 0.6 * taste[apply] - 1.5))
        log.append((ap[~interview], av[~interview], EVENTS.index("rejected"), aday[~interview] + rng.integers(5, 15, (~interview).sum())))
        ip, iv, iday = ap[interview], av[interview], aday[interview] + rng.integers(4, 12, interview.sum())
        log.append((ip, iv, EVENTS.index("interview"), iday))
        hire = rng.random(len(ip)) < sigmoid(0.8 * taste[apply][interview] - 0.3)
        hp, hv, hday = ip[hire], iv[hire], iday[hire] + rng.integers(3, 10, hire.sum())
        hp, once = np.unique(hp, return_index=True)
        hv, hday = hv[once], hday[once]
        log.append((hp, hv, EVENTS.index("hired"), hday))
        hired_until[hp] = np.minimum(hired_until[hp], hday)
    if not log:
        return tuple(np.empty(0, np.int64) for _ in range(4))
    p = np.concatenate([part[0] for part in log]).astype(np.int64)
    v = np.concatenate([part[1] for part in log]).astype(np.int64)
    e = np.concatenate([np.full(len(part[0]), part[2]) for part in log]).astype(np.int64)
    d = np.concatenate([part[3] for part in log]).astype(np.int64)
    last = first + config.days - 1
    keep = d <= last
    if config.views_only:
        keep &= e == EVENTS.index("viewed")
    order = np.lexsort((e[keep], p[keep], d[keep]))
    return p[keep][order], v[keep][order], e[keep][order], d[keep][order]


@dataclass(frozen=True)
class TasteSummary:
    config: TasteConfig
    directory: Path
    participants: int
    vacancies: int
    events: int
    event_counts: tuple[tuple[str, int], ...]

    def describe(self) -> str:
        counts = ", ".join(f"{name} {count}" for name, count in self.event_counts)
        return (f"wrote a taste world to {self.directory}\n  {self.participants} participants, {self.vacancies} "
                f"vacancies, {self.events} outcome events ({counts})")


def generate_taste_world(out_dir: str | Path, **settings: object) -> TasteSummary:
    """Write a taste world's participants, vacancies and outcomes (and ``world.json``) to ``out_dir``."""
    config = TasteConfig(**settings)  # type: ignore[arg-type]
    directory = start_world_folder(out_dir, "taste", config)
    market = Market.draw(config.market())
    tables = market_tables(market, _stream(config.seed, 2))
    truth = _truth(config, market)
    p, v, e, d = simulate(config, market, truth)
    outcomes = pa.table({
        "participant_id": market.people.ids.take(pa.array(p)),
        "vacancy_id": market.jobs.ids.take(pa.array(v)),
        "event": pa.array(list(EVENTS)).take(pa.array(e)),
        "event_date": pa.array(d.astype(np.int32), pa.date32()),
        "service_id": pa.nulls(len(p), pa.string()),
    })
    for name, table in (("participants", tables.participants), ("vacancies", tables.vacancies), ("outcomes", outcomes)):
        with TableWriter(directory, name, config.fmt) as writer:
            writer.write(table)
    counts = np.bincount(e, minlength=len(EVENTS))
    return TasteSummary(config, directory, len(market.people), len(market.jobs), len(p),
                        tuple((name, int(c)) for name, c in zip(EVENTS, counts, strict=True) if c))

