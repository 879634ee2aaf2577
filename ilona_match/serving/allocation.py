"""Allocation across one nightly run: which of each person's candidates make their list, so that
popular vacancies do not take everyone's places while similar ones go unseen.

Plain top-k sends a popular vacancy to everyone it suits, and an employer with one opening then
meets dozens of applicants. Two objectives (``AllocationConfig.objective``):

**placements** (the default) keeps every list full (min(k, candidates) items) and chooses each
person's items to maximise the run's *expected placements*: each person acts on the item at rank r
with probability 1/log2(r + 1), a vacancy fills at most its openings, so a vacancy's value falls
as more people are sent to it (``learning.metrics.expected_placements``, with the pairs' calibrated
chances). Congestion is handled by value, not by deletion, in the spirit of ReCon's and LinkedIn's
congestion-aware objectives. Each list stays in the person's own order (rank 1 = their best chance),
so only which items make the list changes:

* ``exact`` solves it as a mixed-integer programme with HiGHS (``scipy.optimize.milp``): a binary
  per (candidate, position), each position filled once, positions in the person's own order (the
  candidate index strictly increases with the position), and per vacancy a load variable bounded
  by its openings and by the acted-on chances sent to it. A tiny second term prefers, among equal
  optima, the lists with the higher personal value.
* ``greedy`` is a local search from plain top-k: in small blocks, each person takes the full list
  that adds most to the run's expected placements given everyone else's lists (a dynamic programme
  over their candidates and list positions), sweep after sweep while the run gains. It never
  scores below plain top-k; its measured gap to the exact optimum is in docs/benchmarks.md.
* ``auto`` is exact up to ``exact_max_rows`` pool rows (200 for placements) and greedy above; an
  exact solve that does not prove its optimum within ``exact_seconds`` keeps the better of its
  incumbent and the greedy.

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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from ilona_match.learning.metrics import expected_placements, gini_of_counts
from ilona_match.matching.pipeline import Scored, VacancyState

__all__ = ["Allocation", "AllocationConfig", "AllocationStats", "CandidatePool", "PoolChunk", "allocate", "capacities"]

Method = Literal["exact", "greedy"]
Objective = Literal["placements", "cap"]
_EXACT_MAX_ROWS = {"placements": 200, "cap": 1_000_000}


class AllocationConfig(BaseModel):
    """What the allocation maximises, how many items each person gets, and the solver."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(10, gt=0, description="recommendations per participant")
    objective: Objective = Field("placements", description="placements: full lists, most expected placements; "
                                 "cap: at most c*n people per vacancy (lists may be short)")
    exposure_per_opening: float = Field(3.0, gt=0, description="cap: a vacancy with n openings goes to at most c*n people")
    method: Literal["exact", "greedy", "auto"] = "auto"
    exact_max_rows: int | None = Field(None, gt=0, description="auto: exact up to this many pool rows, greedy above "
                                       "(default 200 for placements, 1,000,000 for cap)")
    exact_seconds: float = Field(10.0, gt=0, description="placements: time the exact solver may take")
    sweeps: int = Field(30, gt=0, description="placements, greedy: most rounds of best responses")


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

    def chosen_rows(self, sizes: Sequence[int]) -> list[np.ndarray]:
        """The chosen row positions within each chunk the pool was built from (``from_chunks``), given
        the chunks' numbers of rows."""
        bounds = np.cumsum([0, *sizes])
        if bounds[-1] != len(self.chosen):
            raise ValueError(f"the chunks hold {bounds[-1]} rows, the allocation {len(self.chosen)}")
        return [np.flatnonzero(self.chosen[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]

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
    limit = config.exact_max_rows or _EXACT_MAX_ROWS[config.objective]
    method: Method = config.method if config.method != "auto" else ("exact" if len(pool) <= limit else "greedy")
    if config.objective == "placements":
        if pool.chance is None:
            raise ValueError("the placements objective needs each pool row's calibrated chance (CandidatePool.chance)")
        chosen, method = _placements(pool, rank, config, method)
    elif method == "exact":
        # one canonical row order (participant, rank): the solver sees the same problem for the same pool
        order = np.lexsort((rank, pool.participant))
        chosen = np.zeros(len(pool), dtype=bool)
        chosen[order] = _exact(pool.participant[order], pool.vacancy[order], utility[order], config.k, capacity)
    else:
        chosen = _greedy(pool.participant, pool.vacancy, rank, config.k, capacity)
    top_k = rank <= config.k
    return Allocation(
        chosen=chosen,
        rank=_new_rank(pool.participant, rank, chosen),
        method=method,
        capacity=capacity,
        before=_stats(pool, top_k, rank, utility, capacity, config.k),
        after=_stats(pool, chosen, rank, utility, capacity, config.k),
        objective=config.objective,
    )


def _placements_value(pool: CandidatePool, rank: np.ndarray, chosen: np.ndarray) -> float:
    """Expected placements of the chosen rows, each list in the person's own order."""
    assert pool.chance is not None
    new = _new_rank(pool.participant, rank, chosen)
    return expected_placements(pool.vacancy[chosen], new[chosen], pool.chance[chosen], pool.openings)


def _placements(pool: CandidatePool, rank: np.ndarray, config: AllocationConfig, method: Method) -> tuple[np.ndarray, Method]:
    """Full lists with the most expected placements: exact (MIP) or greedy (pricing), never below top-k."""
    greedy = _placements_greedy(pool, rank, config.k, config.sweeps)
    if method == "greedy":
        return greedy, "greedy"
    exact, proven = _placements_exact(pool, rank, config.k, config.exact_seconds)
    if proven:
        return exact, "exact"
    # not proven within the time limit: the better of the incumbent and the greedy
    if exact is not None and _placements_value(pool, rank, exact) > _placements_value(pool, rank, greedy):
        return exact, "exact"
    return greedy, "greedy"


def _placements_greedy(pool: CandidatePool, rank: np.ndarray, k: int, sweeps: int) -> np.ndarray:
    """Best responses from plain top-k (``_best_responses``): never below top-k."""
    chosen = rank <= k
    return _best_responses(pool, rank, k, chosen, _placements_value(pool, rank, chosen), sweeps)


def _loads(pool: CandidatePool, rank: np.ndarray, chosen: np.ndarray) -> np.ndarray:
    assert pool.chance is not None
    new = _new_rank(pool.participant, rank, chosen)
    return np.bincount(pool.vacancy[chosen], weights=pool.chance[chosen] / np.log2(1.0 + new[chosen]),
                       minlength=len(pool.openings))


def _best_responses(pool: CandidatePool, rank: np.ndarray, k: int, chosen: np.ndarray, value: float,
                    sweeps: int, block_share: float = 0.02) -> np.ndarray:
    """Local search: people in small blocks each take the full own-order list that adds most to the
    run's expected placements given everyone else's lists (a dynamic programme over their candidates
    and list positions); the best lists seen are kept.

    Expected placements is a potential of this game (a person's gain is the run's gain), so one
    person at a time it only climbs; a block moves together, which is faster and may overshoot, so a
    sweep that loses is not kept.
    """
    assert pool.chance is not None
    if len(pool) == 0:
        return chosen
    order = np.lexsort((rank, pool.participant))
    person = pool.participant[order]
    starts = np.flatnonzero(np.r_[True, person[1:] != person[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    width = int(sizes.max())
    # (people, width) tables of each person's candidates in their own order (-1: no candidate)
    table = np.full((len(starts), width), -1, dtype=np.int64)
    table[np.repeat(np.arange(len(starts)), sizes), np.arange(len(order)) - np.repeat(starts, sizes)] = order
    lengths = np.minimum(k, sizes)
    weight = 1.0 / np.log2(2.0 + np.arange(k))  # acted-on share at positions 1..k
    block = max(1, int(np.ceil(block_share * len(starts))))
    best, best_value = chosen.copy(), value
    for _ in range(sweeps):
        load = _loads(pool, rank, chosen)
        for first in range(0, len(starts), block):
            rows = table[first:first + block]
            mine = chosen[np.maximum(rows, 0)] & (rows >= 0)
            _add_load(load, rows, mine, pool, -1.0)
            picked = _own_order_dp(rows, pool.vacancy, pool.chance, pool.openings, load, weight, lengths[first:first + block])
            chosen[rows[mine]] = False
            chosen[rows[picked]] = True
            _add_load(load, rows, picked, pool, 1.0)
        value = _placements_value(pool, rank, chosen)
        if value <= best_value + 1e-9:
            break
        best, best_value = chosen.copy(), value
    return best


def _add_load(load: np.ndarray, rows: np.ndarray, listed: np.ndarray, pool: CandidatePool, sign: float) -> None:
    """Add (sign 1) or take back (-1) the acted-on chances of the listed rows of a (people, width) table
    in own order: a listed row's rank is the number of listed rows up to it."""
    assert pool.chance is not None
    position = np.cumsum(listed, axis=1)[listed]
    taken = rows[listed]
    np.add.at(load, pool.vacancy[taken], sign * pool.chance[taken] / np.log2(1.0 + position))


def _own_order_dp(rows: np.ndarray, vacancy: np.ndarray, chance: np.ndarray, openings: np.ndarray,
                  load: np.ndarray, weight: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """For each person (a row of ``rows``), the own-order list of ``lengths`` items that adds most to
    the placements given the others' ``load``; a mask over ``rows``.

    best[c] is the most a list of c items among the candidates seen so far can add; a candidate taken
    as the c-th item adds ``min(n, load + w_c p) - min(n, load)``, plus a millionth of ``w_c p`` so
    that among equal gains the person's own better chances win.
    """
    people, width = rows.shape
    k = len(weight)
    valid = rows >= 0
    at = np.maximum(rows, 0)
    v, p = vacancy[at], chance[at]
    base = np.minimum(openings[v], load[v])  # (people, width)
    acted = p[:, :, None] * weight[None, None, :]  # (people, width, k)
    gain = np.minimum(openings[v][:, :, None], load[v][:, :, None] + acted) - base[:, :, None] + 1e-6 * acted
    best = np.full((people, k + 1), -np.inf)
    best[:, 0] = 0.0
    took = np.zeros((people, width, k), dtype=bool)
    for j in range(width):
        candidate = best[:, :-1] + gain[:, j, :]
        better = (candidate >= best[:, 1:]) & valid[:, j:j + 1] & np.isfinite(candidate)
        took[:, j, :] = better
        best[:, 1:] = np.where(better, candidate, best[:, 1:])
    picked = np.zeros((people, width), dtype=bool)
    count = lengths.copy()
    for j in range(width - 1, -1, -1):
        here = count > 0
        take = here & took[np.arange(people), j, np.maximum(count - 1, 0)]
        picked[take, j] = True
        count = count - take
    return picked


def _placements_exact(pool: CandidatePool, rank: np.ndarray, k: int, seconds: float) -> tuple[np.ndarray | None, bool]:
    """The MIP optimum of full, own-order lists (module docstring); (chosen, proven optimal)."""
    assert pool.chance is not None
    n = len(pool)
    if n == 0:
        return np.zeros(0, dtype=bool), True
    order = np.lexsort((rank, pool.participant))  # each person's rows in their own order
    person = pool.participant[order]
    index = np.arange(n) - np.searchsorted(person, person)  # j: place in the person's own order
    size = np.bincount(person)[person]  # m: the person's candidates
    length = np.minimum(k, size)  # k_i: their list's length
    # variable (row, position r) exists when r <= j and enough rows follow: m - 1 - j >= k_i - 1 - r
    rows, positions = [], []
    for r in range(min(k, int(size.max()))):
        ok = (r < length) & (r <= index) & (size - 1 - index >= length - 1 - r)
        rows.append(np.flatnonzero(ok))
        positions.append(np.full(int(ok.sum()), r))
    var_row = np.concatenate(rows)  # positions in `order`
    var_pos = np.concatenate(positions)
    n_x = len(var_row)
    jobs, job_of = np.unique(pool.vacancy, return_inverse=True)
    acted = pool.chance[order][var_row] / np.log2(2.0 + var_pos)
    people = np.unique(person)
    slot = np.searchsorted(people, person[var_row]) * k + var_pos  # one equality per (person, position)
    slots, slot_row = np.unique(slot, return_inverse=True)
    x = np.arange(n_x)
    fill = sparse.csr_array((np.ones(n_x), (slot_row, x)), shape=(len(slots), n_x + len(jobs)))
    # own order: the candidate index at position r + 1 exceeds the one at position r (slots are sorted,
    # so the slot before (person, r) is (person, r - 1) whenever r > 0)
    j = index[var_row].astype(np.float64)
    has_next = var_pos + 1 < length[var_row]
    slot_has_next = np.zeros(len(slots), dtype=bool)
    slot_has_next[slot_row[has_next]] = True
    constraint_of = np.cumsum(slot_has_next) - 1
    later = var_pos > 0
    ordering = sparse.csr_array(
        (np.concatenate([j[has_next], -j[later]]),
         (np.concatenate([constraint_of[slot_row[has_next]], constraint_of[slot_row[later] - 1]]),
          np.concatenate([x[has_next], x[later]]))),
        shape=(int(slot_has_next.sum()), n_x + len(jobs)),
    )
    load = sparse.csr_array(
        (np.concatenate([-acted, np.ones(len(jobs))]),
         (np.concatenate([job_of[order][var_row], np.arange(len(jobs))]), np.concatenate([x, n_x + np.arange(len(jobs))]))),
        shape=(len(jobs), n_x + len(jobs)),
    )
    constraints = [LinearConstraint(fill, 1, 1), LinearConstraint(ordering, -np.inf, -1), LinearConstraint(load, -np.inf, 0)]
    cost = -np.concatenate([1e-4 * acted, np.ones(len(jobs))])
    upper = np.concatenate([np.ones(n_x), pool.openings[jobs].astype(np.float64)])
    integrality = np.concatenate([np.ones(n_x), np.zeros(len(jobs))])
    result = milp(cost, constraints=constraints, integrality=integrality, bounds=Bounds(0, upper),
                  options={"time_limit": seconds})
    if result.x is None:
        return None, False
    chosen = np.zeros(n, dtype=bool)
    chosen[order[var_row[result.x[:n_x] > 0.5]]] = True
    return chosen, result.status == 0


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


def _stats(pool: CandidatePool, chosen: np.ndarray, rank: np.ndarray, utility: np.ndarray, capacity: np.ndarray,
           k: int) -> AllocationStats:
    exposure = np.bincount(pool.vacancy[chosen], minlength=len(pool.openings))
    in_pool = np.bincount(pool.vacancy, minlength=len(pool.openings)) > 0
    people = np.bincount(pool.participant) > 0 if len(pool) else np.zeros(0, dtype=bool)
    per_person = np.bincount(pool.participant[chosen], minlength=len(people))
    placements = None
    if pool.chance is not None:
        new = _new_rank(pool.participant, rank, chosen)
        placements = expected_placements(pool.vacancy[chosen], new[chosen], pool.chance[chosen], pool.openings)
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
