"""Capacity-aware allocation: across one nightly run, a vacancy with ``openings`` n is recommended
to at most ``max(1, floor(c * n))`` participants, each participant still getting up to k items.

Plain top-k sends a popular vacancy to everyone it suits, and an employer with one opening then
meets dozens of applicants while similar vacancies go unseen. The allocation keeps each person's
own order but, where a vacancy is over-subscribed, gives it to the people who lose least without
it. It is a bipartite b-matching (participant degree <= k, vacancy degree <= its cap, each pool
row at most once) that maximises the total utility of the chosen pairs:

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
from scipy.optimize import linprog

from ilona_match.learning.metrics import gini_of_counts
from ilona_match.matching.pipeline import Scored, VacancyState

__all__ = ["Allocation", "AllocationConfig", "AllocationStats", "CandidatePool", "PoolChunk", "allocate", "capacities"]

Method = Literal["exact", "greedy"]


class AllocationConfig(BaseModel):
    """How many items each person gets, how many people one opening may be shown to, and the solver."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    k: int = Field(10, gt=0, description="recommendations per participant")
    exposure_per_opening: float = Field(3.0, gt=0, description="c: a vacancy with n openings goes to at most c*n people")
    method: Literal["exact", "greedy", "auto"] = "auto"
    exact_max_rows: int = Field(1_000_000, gt=0, description="auto: exact up to this many pool rows, greedy above")


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

    @classmethod
    def from_scored(cls, scored: Scored) -> PoolChunk:
        """The pool rows of a chunk already cut to its pool (``ranked_rows`` + ``Scored.take``)."""
        pairs = scored.features.pairs
        return cls(len(scored.people), pairs.participant.astype(np.int32), pairs.vacancy.astype(np.int32),
                   np.asarray(scored.scores, np.float64))

    def __len__(self) -> int:
        return len(self.score)


@dataclass(frozen=True)
class CandidatePool:
    """Each participant's ranked candidates (rows) and every vacancy's openings.

    ``participant`` and ``vacancy`` are positions (``vacancy`` indexes ``openings``); ``score`` is
    the ranker's score, comparable only within one participant. Equal scores of one participant
    keep row order.
    """

    participant: np.ndarray  # int64 >= 0
    vacancy: np.ndarray  # int64 in [0, len(openings))
    score: np.ndarray  # float64, finite
    openings: np.ndarray  # int64 >= 1, one per vacancy position

    def __post_init__(self) -> None:
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
        return cls(
            np.concatenate([np.zeros(0, np.int64), *(chunk.participant + offset for chunk, offset in zip(chunks, offsets))]),
            np.concatenate([np.zeros(0, np.int64), *(chunk.vacancy for chunk in chunks)]),
            np.concatenate([np.zeros(0), *(chunk.score for chunk in chunks)]),
            np.rint(state.jobs.openings),
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


@dataclass(frozen=True)
class Allocation:
    """The chosen rows of a pool, their rank in each person's new list, and stats before and after."""

    chosen: np.ndarray  # bool, one per pool row
    rank: np.ndarray  # 1..k among the person's chosen rows (their own order), 0 where not chosen
    method: Method
    capacity: np.ndarray  # per vacancy position
    before: AllocationStats  # plain top-k
    after: AllocationStats

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
    """Choose at most k rows per participant and at most its cap per vacancy, maximising utility."""
    capacity = capacities(pool.openings, config.exposure_per_opening)
    rank = pool.rank()
    utility = 1.0 / np.log2(1.0 + rank)
    method: Method = config.method if config.method != "auto" else (
        "exact" if len(pool) <= config.exact_max_rows else "greedy")
    if method == "exact":
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
    )


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
    return AllocationStats(
        max_per_opening=float((exposure / pool.openings).max()) if len(exposure) else 0.0,
        over_capacity=int((exposure > capacity).sum()),
        gini=gini_of_counts(exposure[in_pool]) if chosen.any() else float("nan"),
        utility=float(utility[chosen].sum()),
        short=int((per_person[people] < k).sum()),
        recommendations=int(chosen.sum()),
    )


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])
