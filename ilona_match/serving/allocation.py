"""Allocation across one nightly run: which of each person's candidates make their list, so that
popular vacancies do not take everyone's places while similar ones go unseen.

Plain top-k sends a popular vacancy to everyone it suits, and an employer with one opening then
meets dozens of applicants. Two objectives (``AllocationConfig.objective``):

**placements** (the default) keeps every list full (min(k, candidates) items) and chooses each
person's items to maximise the run's *expected placements*: each person acts on the item at rank r
with probability 1/log2(r + 1), a vacancy fills at most its openings, so a vacancy's value falls
as more people are sent to it (``learning.metrics.expected_placements``, with the pairs' calibrated
chances). Congestion is handled by order and value, not by deletion, in the spirit of ReCon's and
LinkedIn's congestion-aware objectives: a vacancy many others are sent to moves down a list or makes
way for a candidate nobody else is sent to. How a vacancy fills (``fill``): ``poisson`` (the
default) counts the openings expected to fill when the acted-on hires arrive at random
(``metrics.filled_openings``: one opening and one expected hire fill 0.63, not 1), so each further
person sent adds less well before the vacancy is expected to be full; ``fluid`` counts
min(openings, expected hires), the metric's own terms. The objective adds ``relevance_weight`` times
each person's own expected value (their acted-on chances, competition aside), so a list leaves its
person's own top k only where the run gains enough (the defaults, Poisson and 1.5, kept hidden NDCG@10
within 3 % of plain top-k on eight synthetic worlds, and no smaller weight did; docs/benchmarks.md):

* ``exact`` solves it as a mixed-integer programme with HiGHS (``scipy.optimize.milp``): a binary
  per (candidate, position), each position filled once, each candidate listed at most once, and
  per vacancy a load variable bounded by its openings and by the acted-on chances sent to it (for
  the Poisson fill, by tangents of its curve, with a tangent added where a solve's value fell
  short of the curve and the programme solved again: Kelley's cutting planes).
* ``greedy`` is a local search from plain top-k: in small blocks, each person takes the list that
  adds most to the objective given everyone else's lists, position by position, sweep after sweep
  while the run gains. It never scores below plain top-k; its measured gap to the exact optimum is
  in docs/benchmarks.md.
* ``auto`` is exact up to ``exact_max_rows`` pool rows (for placements 2,000 with the fluid fill,
  100 with the Poisson fill, whose cutting planes took 0.5 s at 100 rows and 7-27 s at 200-743 on
  real pools while the greedy came within 0.002 %) and greedy above; an exact solve that does not
  prove its optimum within ``exact_seconds`` keeps the better of its incumbent and the greedy.

**cap** (the option) recommends a vacancy with ``openings`` n to at most ``max(1, floor(c * n))``
people, each person getting up to k items. Lists can then be short: the places a cap frees are not
refilled. It keeps each person's own order but, where a vacancy is over-subscribed, gives it to the
people who lose least without it. It is a bipartite b-matching (participant degree <= k, vacancy
degree <= its cap, each pool row at most once) that maximises the total utility of the chosen pairs:

* ``exact`` solves it as a linear programme with HiGHS (``scipy.optimize.linprog``, dual simplex).
  The constraint matrix is the incidence matrix of a bipartite graph, which is totally unimodular,
  so the basic optimum the simplex returns is integral: no branch and bound is needed.
* ``greedy`` takes pairs by descending utility and keeps one when both sides have room (the
  classical 1/2-approximation); it is vectorised one rank at a time.
* ``auto`` is exact up to ``exact_max_rows`` pool rows and greedy above.

Deterministic: a person's equal scores keep row order (``CandidatePool.from_chunks`` rows are in
``top_n`` order, so ties fall back to the vacancy id); the greedy gives equal utilities to the
earlier participant; the exact solver sees the pool in one canonical (participant, rank) order and
HiGHS returns the same optimum for the same problem, so the same pool gives the same allocation.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp
from scipy.special import gammaincc, gammainccinv

from ilona_match.learning.metrics import (
    Fill,
    expected_placements,
    filled_openings,
    gini_of_counts,
    placement_loads,
)
from ilona_match.matching.pipeline import Scored, VacancyState

__all__ = ["Allocation", "AllocationConfig", "AllocationStats", "CandidatePool", "PoolChunk", "allocate", "capacities"]

Method = Literal["exact", "greedy"]
Objective = Literal["placements", "cap"]
_EXACT_MAX_ROWS = {("placements", "fluid"): 2_000, ("placements", "poisson"): 100, ("cap", "fluid"): 1_000_000,
                   ("cap", "poisson"): 1_000_000}
_TANGENTS = 32  # lines of a curved fill in the exact solve
_CUT_ROUNDS = 20  # most solves of the exact placements, each with the tangents where the last one fell short


class AllocationConfig(BaseModel):
    """What the allocation maximises, how many items each person gets, and the solver."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(10, gt=0, description="recommendations per participant")
    objective: Objective = Field("placements", description="placements: full lists, most expected placements; "
                                 "cap: at most c*n people per vacancy (lists may be short)")
    exposure_per_opening: float = Field(3.0, gt=0, description="cap: a vacancy with n openings goes to at most c*n people")
    method: Literal["exact", "greedy", "auto"] = "auto"
    exact_max_rows: int | None = Field(None, gt=0, description="auto: exact up to this many pool rows, greedy above "
                                       "(default: placements 2,000 with the fluid fill, 100 with the Poisson fill; cap "
                                       "1,000,000)")
    exact_seconds: float = Field(10.0, gt=0, description="placements: time the exact solver may take")
    sweeps: int = Field(30, gt=0, description="placements, greedy: most rounds of best responses")
    relevance_weight: float = Field(
        1.5, ge=0, description="placements: weight of each person's own expected value (the sum of their "
        "acted-on chances, competition aside) beside the run's expected placements; higher keeps lists closer "
        "to each person's own top k")
    fill: Fill = Field("poisson", description="placements: poisson: a vacancy fills the openings expected when "
                       "the acted-on hires arrive at random (E[min(n, H)], H Poisson); fluid: min(n, expected hires)")


def capacities(openings: np.ndarray, exposure_per_opening: float) -> np.ndarray:
    """People each vacancy may be recommended to: ``max(1, floor(c * openings))``."""
    # the small epsilon keeps e.g. 0.3 * 10 from flooring to 2 through rounding error
    return np.maximum(1, np.floor(exposure_per_opening * np.asarray(openings, np.float64) + 1e-9)).astype(np.int64)


@dataclass(frozen=True)
class PoolChunk:
    """One participant chunk's pool rows, compact (16 bytes a row): all the allocation needs, so a
    large run need not keep each candidate's features until the allocation is done.

    Rows must be in ``pipeline.ranked_rows`` order (equal scores then fall back to the vacancy id,
    as in ``top_n``); ``participant`` is the position within the chunk, ``vacancy`` in ``state.jobs``.
    """

    people: int  # participants in the chunk (some may have no row)
    participant: np.ndarray  # int32
    vacancy: np.ndarray  # int32
    score: np.ndarray  # float64
    chance: np.ndarray | None = None  # float64, the calibrated chance of each row (placements)

    @classmethod
    def from_scored(cls, scored: Scored, chance: np.ndarray | None = None) -> PoolChunk:
        """The pool rows of a chunk already cut to its pool (``ranked_rows`` + ``Scored.take``)."""
        pairs = scored.features.pairs
        return cls(len(scored.people), pairs.participant.astype(np.int32), pairs.vacancy.astype(np.int32),
                   np.asarray(scored.scores, np.float64), None if chance is None else np.asarray(chance, np.float64))

    def __len__(self) -> int:
        return len(self.score)


@dataclass(frozen=True)
class CandidatePool:
    """Each participant's ranked candidates (rows) and every vacancy's openings.

    ``participant`` and ``vacancy`` are positions (``vacancy`` indexes ``openings``); ``score`` is
    the ranker's score, comparable only within one participant. Equal scores of one participant
    keep row order. ``chance`` (the placements objective needs it) is each pair's calibrated chance
    of a good outcome, comparable across people.
    """

    participant: np.ndarray  # int64 >= 0
    vacancy: np.ndarray  # int64 in [0, len(openings))
    score: np.ndarray  # float64, finite
    openings: np.ndarray  # int64 >= 1, one per vacancy position
    chance: np.ndarray | None = None  # float64 in [0, 1], one per row

    def __post_init__(self) -> None:
        if self.chance is not None:
            chance = np.asarray(self.chance, np.float64)
            if chance.shape != np.shape(self.participant):
                raise ValueError(f"CandidatePool.chance must have one value per row, got shape {chance.shape}")
            bad = ~(np.isfinite(chance) & (chance >= 0) & (chance <= 1))
            if bad.any():
                row = _first(bad)
                raise ValueError(f"CandidatePool.chance row {row}: {chance[row]} is not a probability in [0, 1]")
            object.__setattr__(self, "chance", chance)
        for name, dtype in (("participant", np.int64), ("vacancy", np.int64), ("score", np.float64), ("openings", np.int64)):
            value = np.asarray(getattr(self, name))
            if value.ndim != 1:
                raise ValueError(f"CandidatePool.{name} must be a 1-D array, got shape {value.shape}")
            if name != "score" and value.dtype.kind == "f" and len(value) and not np.array_equal(value, np.round(value)):
                raise ValueError(f"CandidatePool.{name} must hold whole numbers (row {_first(value != np.round(value))})")
            object.__setattr__(self, name, value.astype(dtype))
        n = len(self.participant)
        if len(self.vacancy) != n or len(self.score) != n:
            raise ValueError(f"CandidatePool.participant, vacancy and score must have equal lengths, "
                             f"got {n}, {len(self.vacancy)}, {len(self.score)}")
        checks = (
            ("participant", self.participant < 0, "is negative"),
            ("vacancy", (self.vacancy < 0) | (self.vacancy >= len(self.openings)),
             f"is not a vacancy position (openings has {len(self.openings)})"),
            ("score", ~np.isfinite(self.score), "is not finite"),
            ("openings", self.openings < 1, "must be at least 1"),
        )
        for name, bad, what in checks:
            if bad.any():
                row = _first(bad)
                raise ValueError(f"CandidatePool.{name} row {row}: {getattr(self, name)[row]} {what}")
        key = self.participant * len(self.openings) + self.vacancy
        key.sort()  # a sort, not a hash table: a national run's pool has tens of millions of rows
        if len(key) > 1 and (key[1:] == key[:-1]).any():
            row = _first(pd.Series(self.participant * len(self.openings) + self.vacancy).duplicated().to_numpy())
            raise ValueError(f"CandidatePool row {row} repeats the pair (participant {self.participant[row]}, "
                             f"vacancy {self.vacancy[row]})")

    @classmethod
    def from_chunks(cls, chunks: Sequence[PoolChunk], state: VacancyState) -> CandidatePool:
        """One pool of a run's chunks, in order; participant positions run on from chunk to chunk,
        vacancy positions index ``state.jobs``."""
        offsets = np.cumsum([0] + [chunk.people for chunk in chunks])
        with_chance = bool(chunks) and all(chunk.chance is not None for chunk in chunks)
        return cls(
            np.concatenate([np.zeros(0, np.int64), *(chunk.participant + offset for chunk, offset in zip(chunks, offsets))]),
            np.concatenate([np.zeros(0, np.int64), *(chunk.vacancy for chunk in chunks)]),
            np.concatenate([np.zeros(0), *(chunk.score for chunk in chunks)]),
            np.rint(state.jobs.openings),
            np.concatenate([chunk.chance for chunk in chunks]) if with_chance else None,
        )

    def __len__(self) -> int:
        return len(self.participant)

    def rank(self) -> np.ndarray:
        """1-based rank of each row in its participant's own list (score descending, then row order)."""
        order = np.lexsort((-self.score, self.participant))  # stable: equal scores keep row order
        grouped = self.participant[order]
        rank = np.empty(len(self), dtype=np.int64)
        rank[order] = np.arange(len(self)) - np.searchsorted(grouped, grouped) + 1
        return rank

    def utility(self) -> np.ndarray:
        """Value of each row: the DCG discount ``1 / log2(1 + rank)`` of its rank in the person's list.

        Ranker scores cannot be compared across people (and may be negative), so the value comes
        from each person's own order only: everyone's first choice is worth 1, their tenth 0.29.
        It is positive, so the optimum uses every free place and prefers filling a short list,
        and it falls with rank, so denying someone their first choice (their next candidate moves
        up: a loss of u(r) - u(k+1)) costs more than denying their tenth. The loss against plain
        top-k is the DCG each person gives up, the ranker's order taken as the truth.
        """
        return 1.0 / np.log2(1.0 + self.rank())


@dataclass(frozen=True)
class AllocationStats:
    """Exposure and value of one set of chosen rows."""

    max_per_opening: float  # largest number of people one vacancy goes to, per opening
    over_capacity: int  # vacancies recommended to more people than their cap
    gini: float  # Gini of recommendations per vacancy over the vacancies in the pool (metrics.gini_exposure)
    utility: float  # summed utility of the chosen rows
    short: int  # participants with fewer than k recommendations
    recommendations: int
    expected_placements: float | None = None  # learning.metrics.expected_placements (None without chances)


@dataclass(frozen=True)
class Allocation:
    """The chosen rows of a pool, their rank in each person's new list, and stats before and after."""

    chosen: np.ndarray  # bool, one per pool row
    rank: np.ndarray  # 1..k among the person's chosen rows (their own order), 0 where not chosen
    method: Method
    capacity: np.ndarray  # per vacancy position
    before: AllocationStats  # plain top-k
    after: AllocationStats
    objective: Objective = "cap"

    def chosen_rows(self, sizes: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per chunk the pool was built from (``from_chunks``, given the chunks' numbers of rows): the
        chosen row positions within the chunk and their ranks in the new lists."""
        bounds = np.cumsum([0, *sizes])
        if bounds[-1] != len(self.chosen):
            raise ValueError(f"the chunks hold {bounds[-1]} rows, the allocation {len(self.chosen)}")
        rows = [np.flatnonzero(self.chosen[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]
        return [(chunk, self.rank[a + chunk]) for chunk, a in zip(rows, bounds[:-1])]

    @property
    def utility_lost(self) -> float:
        """Utility given up against plain top-k (never negative: top-k is the optimum without caps)."""
        return self.before.utility - self.after.utility


def allocate(pool: CandidatePool, config: AllocationConfig) -> Allocation:
    """Choose each person's list: full lists with the most expected placements (``placements``), or at
    most k rows per participant and at most its cap per vacancy, maximising utility (``cap``)."""
    capacity = capacities(pool.openings, config.exposure_per_opening)
    rank = pool.rank()
    utility = 1.0 / np.log2(1.0 + rank)
    limit = config.exact_max_rows or _EXACT_MAX_ROWS[config.objective, config.fill]
    method: Method = config.method if config.method != "auto" else ("exact" if len(pool) <= limit else "greedy")
    if config.objective == "placements":
        if pool.chance is None:
            raise ValueError("the placements objective needs each pool row's calibrated chance (CandidatePool.chance)")
        position, method = _placements(pool, rank, config, method)
    else:
        if method == "exact":
            # one canonical row order (participant, rank): the solver sees the same problem for the same pool
            order = np.lexsort((rank, pool.participant))
            chosen = np.zeros(len(pool), dtype=bool)
            chosen[order] = _exact(pool.participant[order], pool.vacancy[order], utility[order], config.k, capacity)
        else:
            chosen = _greedy(pool.participant, pool.vacancy, rank, config.k, capacity)
        position = _new_rank(pool.participant, rank, chosen)
    top_k = np.where(rank <= config.k, rank, 0)
    return Allocation(
        chosen=position > 0,
        rank=position,
        method=method,
        capacity=capacity,
        before=_stats(pool, top_k, utility, capacity, config.k),
        after=_stats(pool, position, utility, capacity, config.k),
        objective=config.objective,
    )


def _loads(pool: CandidatePool, position: np.ndarray) -> np.ndarray:
    """Acted-on chances sent to each vacancy by lists given as positions (0: not listed)."""
    assert pool.chance is not None
    listed = position > 0
    return placement_loads(pool.vacancy[listed], position[listed], pool.chance[listed], len(pool.openings))


def _placements_value(pool: CandidatePool, position: np.ndarray, relevance_weight: float, fill: Fill) -> float:
    """The objective of lists given as positions (0: not listed): the openings expected to fill
    (``metrics.filled_openings``) plus ``relevance_weight`` times the acted-on chances competition aside."""
    load = _loads(pool, position)
    return float(filled_openings(pool.openings, load, fill).sum() + relevance_weight * load.sum())


def _placements(pool: CandidatePool, rank: np.ndarray, config: AllocationConfig, method: Method) -> tuple[np.ndarray, Method]:
    """Full lists with the most expected placements as positions: exact (MIP) or greedy (best
    responses), never below plain top-k."""
    weight, fill = config.relevance_weight, config.fill
    greedy = _best_responses(pool, rank, config.k, config.sweeps, weight, fill)
    if method == "greedy":
        return greedy, "greedy"
    exact, proven = _placements_exact(pool, rank, config.k, config.exact_seconds, weight, fill)
    if proven:
        return exact, "exact"
    # not proven within the time limit: the better of the incumbent and the greedy
    if exact is not None and _placements_value(pool, exact, weight, fill) > _placements_value(pool, greedy, weight, fill):
        return exact, "exact"
    return greedy, "greedy"


def _best_responses(pool: CandidatePool, rank: np.ndarray, k: int, sweeps: int, relevance_weight: float,
                    fill: Fill = "poisson", block_share: float = 0.02) -> np.ndarray:
    """Local search from plain top-k: people in small blocks each take the list that adds most to the
    objective given everyone else's lists, position by position (each position takes the candidate
    with the largest gain there); the best lists seen are kept, so never below top-k.

    Expected placements is a potential of this game (a person's gain is the run's gain), so one
    person at a time it climbs; a block moves together, which is faster and may overshoot, so a
    sweep that loses is not kept and ends the search.
    """
    assert pool.chance is not None
    position = np.where(rank <= k, rank, 0)
    if len(pool) == 0:
        return position
    best, best_value = position.copy(), _placements_value(pool, position, relevance_weight, fill)
    order = np.lexsort((rank, pool.participant))
    person = pool.participant[order]
    starts = np.flatnonzero(np.r_[True, person[1:] != person[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    # (people, width) table of each person's candidates in their own order (-1: no candidate)
    table = np.full((len(starts), int(sizes.max())), -1, dtype=np.int64)
    table[np.repeat(np.arange(len(starts)), sizes), np.arange(len(order)) - np.repeat(starts, sizes)] = order
    weight = 1.0 / np.log2(2.0 + np.arange(k))  # acted-on share at positions 1..k
    openings = pool.openings.astype(np.float64)
    block = max(1, int(np.ceil(block_share * len(starts))))
    for _ in range(sweeps):
        load = _loads(pool, position)
        for first in range(0, len(starts), block):
            rows = table[first:first + block]
            valid = rows >= 0
            at = np.maximum(rows, 0)
            listed = rows[valid & (position[at] > 0)]
            np.subtract.at(load, pool.vacancy[listed], pool.chance[listed] / np.log2(1.0 + position[listed]))
            position[listed] = 0
            vacancy, chance, room = pool.vacancy[at], pool.chance[at], openings[pool.vacancy[at]]
            free = valid.copy()
            people = np.arange(len(rows))
            for r in range(k):  # each position takes the free candidate with the largest gain there
                acted = weight[r] * chance
                gain = filled_openings(room, load[vacancy] + acted, fill) - filled_openings(room, load[vacancy], fill) \
                    + (relevance_weight + 1e-6) * acted
                gain[~free] = -np.inf
                pick = np.argmax(gain, axis=1)
                has = free[people, pick]
                who, col = people[has], pick[has]
                taken = rows[who, col]
                position[taken] = r + 1
                free[who, col] = False
                np.add.at(load, pool.vacancy[taken], pool.chance[taken] * weight[r])
        value = _placements_value(pool, position, relevance_weight, fill)
        if value <= best_value + 1e-9:
            break
        best, best_value = position.copy(), value
    return best


def _fill_tangents(openings: np.ndarray, fill: Fill) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lines (vacancy position, slope, intercept) whose minimum bounds each vacancy's filled openings
    from above: ``placements <= load`` for the fluid fill. The Poisson fill is concave in the load
    (its slope, P(H <= n - 1), falls from 1 to 0), so its tangents where that slope takes
    ``_TANGENTS`` even steps bound it, at most 0.02 above it up to 10 openings."""
    jobs = np.arange(len(openings))
    if fill == "fluid":
        return jobs, np.ones(len(jobs)), np.zeros(len(jobs))
    n = np.repeat(openings.astype(np.float64)[:, None], _TANGENTS, axis=1)
    slope = np.broadcast_to(np.linspace(0.999, 0.001, _TANGENTS), n.shape)
    points = gammainccinv(n, slope)  # the load where the fill's slope is ``slope``
    return np.repeat(jobs, _TANGENTS), slope.ravel(), (filled_openings(n, points, fill) - slope * points).ravel()


def _placements_exact(pool: CandidatePool, rank: np.ndarray, k: int, seconds: float,
                      relevance_weight: float, fill: Fill = "poisson") -> tuple[np.ndarray | None, bool]:
    """The MIP optimum of full lists (module docstring) as positions; (positions, proven optimal). A
    curved fill enters through its tangents (``_fill_tangents``), so the optimum is that of the lines."""
    assert pool.chance is not None
    n = len(pool)
    if n == 0:
        return np.zeros(0, dtype=np.int64), True
    people, person = np.unique(pool.participant, return_inverse=True)
    length = np.minimum(k, np.bincount(person))[person]  # each row's person's list length
    var_row = np.concatenate([np.flatnonzero(r < length) for r in range(k)])  # a binary per (row, position r)
    var_pos = np.concatenate([np.full(int((r < length).sum()), r) for r in range(k)])
    n_x, x = len(var_row), np.arange(len(var_row))
    jobs, job_of = np.unique(pool.vacancy, return_inverse=True)
    acted = pool.chance[var_row] / np.log2(2.0 + var_pos)
    slots, slot_row = np.unique(person[var_row] * k + var_pos, return_inverse=True)
    width = n_x + len(jobs)
    fill_once = sparse.csr_array((np.ones(n_x), (slot_row, x)), shape=(len(slots), width))  # each position once
    once = sparse.csr_array((np.ones(n_x), (var_row, x)), shape=(n, width))  # each candidate at most once
    # a vacancy's placements <= each line of its fill at the acted-on chances sent to it (and <= openings)
    line_job, slope, intercept = _fill_tangents(pool.openings[jobs], fill)
    by_job = np.argsort(job_of[var_row], kind="stable")
    bounds = np.searchsorted(job_of[var_row][by_job], np.arange(len(jobs) + 1))
    cost = -np.concatenate([(relevance_weight + 1e-4) * acted, np.ones(len(jobs))])
    upper = np.concatenate([np.ones(n_x), pool.openings[jobs].astype(np.float64)])
    integrality = np.concatenate([np.ones(n_x), np.zeros(len(jobs))])
    openings = pool.openings[jobs].astype(np.float64)
    started = time.perf_counter()
    for _ in range(_CUT_ROUNDS):
        counts = bounds[line_job + 1] - bounds[line_job]  # rows of each line's vacancy
        cols = np.concatenate([by_job[bounds[j]:bounds[j + 1]] for j in line_job]) if len(line_job) else x[:0]
        load = sparse.csr_array(
            (np.concatenate([-np.repeat(slope, counts) * acted[cols], np.ones(len(line_job))]),
             (np.concatenate([np.repeat(np.arange(len(line_job)), counts), np.arange(len(line_job))]),
              np.concatenate([cols, n_x + line_job]))),
            shape=(len(line_job), width),
        )
        constraints = [LinearConstraint(fill_once, 1, 1), LinearConstraint(once, 0, 1),
                       LinearConstraint(load, -np.inf, intercept)]
        left = seconds - (time.perf_counter() - started)
        result = milp(cost, constraints=constraints, integrality=integrality, bounds=Bounds(0, upper),
                      options={"time_limit": max(left, 0.1)})
        if result.x is None:
            return None, False
        on = result.x[:n_x] > 0.5
        loads = np.bincount(job_of[var_row[on]], weights=acted[on], minlength=len(jobs))
        # the lines bound the fill from above; where they are still above it at the solution, a tangent
        # there makes them touch (Kelley's cutting planes), until the solution's value is its own
        short = result.x[n_x:] - filled_openings(openings, loads, fill) > 1e-7
        if fill == "fluid" or not short.any() or result.status != 0 or left <= 0:
            break
        at = np.flatnonzero(short)
        touching = gammaincc(openings[at], loads[at])  # the fill's slope at those loads
        line_job = np.r_[line_job, at]
        slope = np.r_[slope, touching]
        intercept = np.r_[intercept, filled_openings(openings[at], loads[at], fill) - touching * loads[at]]
    position = np.zeros(n, dtype=np.int64)
    position[var_row[on]] = var_pos[on] + 1
    return position, result.status == 0 and not (fill != "fluid" and short.any())


def _exact(participant: np.ndarray, vacancy: np.ndarray, utility: np.ndarray, k: int,
           capacity: np.ndarray) -> np.ndarray:
    """The LP optimum of the b-matching (integral: the incidence matrix is totally unimodular)."""
    n = len(participant)
    if n == 0:
        return np.zeros(0, dtype=bool)
    people, p_row = np.unique(participant, return_inverse=True)
    jobs, v_row = np.unique(vacancy, return_inverse=True)
    columns = np.arange(n)
    matrix = sparse.csr_array(
        (np.ones(2 * n), (np.concatenate([p_row, len(people) + v_row]), np.concatenate([columns, columns]))),
        shape=(len(people) + len(jobs), n),
    )
    bound = np.concatenate([np.full(len(people), k, dtype=np.float64), capacity[jobs].astype(np.float64)])
    result = linprog(-utility, A_ub=matrix, b_ub=bound, bounds=(0, 1), method="highs-ds")
    if result.status != 0 or np.abs(result.x - np.rint(result.x)).max() > 1e-6:
        raise RuntimeError(f"the allocation LP did not reach an integral optimum: {result.message}")
    return result.x > 0.5


def _greedy(participant: np.ndarray, vacancy: np.ndarray, rank: np.ndarray, k: int,
            capacity: np.ndarray) -> np.ndarray:
    """Rows by descending utility (= ascending rank; equal ranks by participant position), kept while
    both sides have room.

    Utility falls with rank alone, so all rows of one rank are decided together: a row whose person
    still has room takes a place if fewer rows earlier in order asked for the same vacancy than it has left.
    Works on the pool's arrays in place (no reordered copies): pools of a national run are large.
    """
    chosen = np.zeros(len(participant), dtype=bool)
    if len(participant) == 0:
        return chosen
    taken = np.zeros(participant.max() + 1, dtype=np.int32)
    room = capacity.copy()
    by_rank = np.lexsort((participant, rank))
    bounds = np.searchsorted(rank[by_rank], np.arange(1, rank.max() + 2))
    for start, stop in zip(bounds[:-1], bounds[1:]):
        rows = by_rank[start:stop]
        rows = rows[taken[participant[rows]] < k]
        rows = rows[np.argsort(vacancy[rows], kind="stable")]
        wanted = vacancy[rows]
        place = np.arange(len(rows)) - np.searchsorted(wanted, wanted)
        rows = rows[place < room[wanted]]
        chosen[rows] = True
        np.subtract.at(room, vacancy[rows], 1)
        taken[participant[rows]] += 1
    return chosen


def _new_rank(participant: np.ndarray, rank: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    rows = np.flatnonzero(chosen)
    rows = rows[np.lexsort((rank[rows], participant[rows]))]
    grouped = participant[rows]
    new = np.zeros(len(participant), dtype=np.int64)
    new[rows] = np.arange(len(rows)) - np.searchsorted(grouped, grouped) + 1
    return new


def _stats(pool: CandidatePool, position: np.ndarray, utility: np.ndarray, capacity: np.ndarray, k: int) -> AllocationStats:
    chosen = position > 0
    exposure = np.bincount(pool.vacancy[chosen], minlength=len(pool.openings))
    in_pool = np.bincount(pool.vacancy, minlength=len(pool.openings)) > 0
    people = np.bincount(pool.participant) > 0 if len(pool) else np.zeros(0, dtype=bool)
    per_person = np.bincount(pool.participant[chosen], minlength=len(people))
    placements = None
    if pool.chance is not None:
        placements = expected_placements(pool.vacancy[chosen], position[chosen], pool.chance[chosen], pool.openings)
    return AllocationStats(
        max_per_opening=float((exposure / pool.openings).max()) if len(exposure) else 0.0,
        over_capacity=int((exposure > capacity).sum()),
        gini=gini_of_counts(exposure[in_pool]) if chosen.any() else float("nan"),
        utility=float(utility[chosen].sum()),
        short=int((per_person[people] < k).sum()),
        recommendations=int(chosen.sum()),
        expected_placements=placements,
    )


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])
