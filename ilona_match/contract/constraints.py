"""Hard work-capacity constraints of the data contract, checked vectorised over candidate pairs.

A vacancy is never recommended to a participant when its physical load is above the person's
capacity, its hours are above their maximum, it has night shifts / weekend work / customer contact /
heavy lifting / driving that the person's restrictions rule out, or it is not open on the as-of
date. Unknown vacancy values never exclude: they become "to check" items for the coach, and only
those that matter for this person (an unknown night-shift value matters only to someone with
``no_night_shifts``; an unknown physical load matters to everyone below ``heavy``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd

from ilona_match.contract import HARD_RESTRICTIONS, PHYSICAL_LEVELS

__all__ = [
    "CHECK_ITEMS",
    "ParticipantLimits",
    "VacancyDemands",
    "feasible",
    "open_on",
    "to_check_items",
    "to_check_mask",
]

FLAG_COLUMNS: tuple[str, ...] = tuple(HARD_RESTRICTIONS.values())
RESTRICTION_OF_FLAG: dict[str, str] = {flag: restriction for restriction, flag in HARD_RESTRICTIONS.items()}
# Bit positions of the to-check mask: the vacancy fields the coach may have to confirm, then
# "listed_names": skills or occupations listed in the person's profile that the engine could not read
# (no label and no confident link); set by the pipeline from the profile, not by ``to_check_mask``.
CHECK_ITEMS: tuple[str, ...] = ("hours_per_week", "physical_load", *FLAG_COLUMNS, "listed_names")
_PHYSICAL_RANK = {level: rank for rank, level in enumerate(PHYSICAL_LEVELS)}
_HEAVIEST = len(PHYSICAL_LEVELS) - 1


def _bits(flags: np.ndarray) -> np.ndarray:
    """Each row of a (n, len(FLAG_COLUMNS)) bool array as one uint8: a pair breaks a restriction when
    the vacancy's set flags and the person's ruled-out flags share a bit (one AND, no (pairs x 5) array)."""
    return (flags.astype(np.uint8) << np.arange(flags.shape[1], dtype=np.uint8)).sum(axis=1, dtype=np.uint8)


def _ranks(values: pd.Series) -> np.ndarray:
    """Physical levels as 0..3, unknown as -1."""
    return values.map(_PHYSICAL_RANK).fillna(-1).to_numpy(dtype=np.int8)


@dataclass(frozen=True)
class ParticipantLimits:
    """Per-participant limits as arrays (row i = participant i of the frame it came from)."""

    max_hours: np.ndarray  # float64
    physical: np.ndarray  # int8 rank 0..3
    forbids: np.ndarray  # bool (n, len(FLAG_COLUMNS)): restriction rules out the flag

    @classmethod
    def from_frame(cls, participants: pd.DataFrame) -> ParticipantLimits:
        """Read limits from a contract-checked participants frame (required fields are present)."""
        physical = _ranks(participants["physical_capacity"])
        if (physical < 0).any() or participants["max_hours_per_week"].isna().any():
            raise ValueError("participants need max_hours_per_week and physical_capacity (the contract requires them)")
        restrictions = participants["restrictions"] if "restrictions" in participants else pd.Series([()] * len(participants))
        forbids = np.zeros((len(participants), len(FLAG_COLUMNS)), dtype=bool)
        for row, items in enumerate(restrictions):
            if isinstance(items, (tuple, list)):
                for item in items:
                    flag = HARD_RESTRICTIONS.get(item)
                    if flag is not None:
                        forbids[row, FLAG_COLUMNS.index(flag)] = True
        return cls(participants["max_hours_per_week"].to_numpy(dtype=np.float64), physical, forbids)

    @cached_property
    def forbid_bits(self) -> np.ndarray:
        """``forbids`` as one uint8 per person (bit j = FLAG_COLUMNS[j] ruled out)."""
        return _bits(self.forbids)

    def __len__(self) -> int:
        return len(self.max_hours)


@dataclass(frozen=True)
class VacancyDemands:
    """Per-vacancy demands as arrays; NaN / -1 mean unknown."""

    hours: np.ndarray  # float64, NaN unknown
    physical: np.ndarray  # int8 rank, -1 unknown
    flags: np.ndarray  # int8 (m, len(FLAG_COLUMNS)): 1 true, 0 false, -1 unknown
    published: np.ndarray  # datetime64[D]
    closes: np.ndarray  # datetime64[D], NaT = open until closed

    @classmethod
    def from_frame(cls, vacancies: pd.DataFrame) -> VacancyDemands:
        flags = np.full((len(vacancies), len(FLAG_COLUMNS)), -1, dtype=np.int8)
        for j, column in enumerate(FLAG_COLUMNS):
            if column in vacancies:
                values = vacancies[column].astype("boolean")
                flags[:, j] = np.where(values.isna(), -1, values.fillna(False).astype(bool)).astype(np.int8)
        closes = (
            vacancies["closes_at"].to_numpy(dtype="datetime64[D]")
            if "closes_at" in vacancies
            else np.full(len(vacancies), np.datetime64("NaT"), dtype="datetime64[D]")
        )
        physical = _ranks(vacancies["physical_load"]) if "physical_load" in vacancies else np.full(len(vacancies), -1, np.int8)
        hours = vacancies["hours_per_week"].to_numpy(dtype=np.float64) if "hours_per_week" in vacancies else np.full(len(vacancies), np.nan)
        return cls(hours, physical, flags, vacancies["published_at"].to_numpy(dtype="datetime64[D]"), closes)

    @cached_property
    def flag_bits(self) -> np.ndarray:
        """The flags known to be set, as one uint8 per vacancy (bit j = FLAG_COLUMNS[j])."""
        return _bits(self.flags == 1)

    def __len__(self) -> int:
        return len(self.hours)


def open_on(demands: VacancyDemands, as_of: date | np.datetime64) -> np.ndarray:
    """Vacancies open on ``as_of``: published_at <= as_of < closes_at (missing closes_at = open)."""
    day = np.datetime64(as_of, "D")
    return (demands.published <= day) & (np.isnat(demands.closes) | (day < demands.closes))


def feasible(
    limits: ParticipantLimits,
    demands: VacancyDemands,
    participant_idx: np.ndarray,
    vacancy_idx: np.ndarray,
    as_of: date | np.datetime64 | None = None,
) -> np.ndarray:
    """True for each pair (participant_idx[i], vacancy_idx[i]) that breaks no hard constraint.

    With ``as_of`` the vacancy must also be open on that date. The index arrays broadcast like
    NumPy's: ``people[:, None]`` and ``vacancies[None, :]`` check a whole grid without gathering
    every pair's values.
    """
    hours = demands.hours[vacancy_idx]
    ok = ~(hours > limits.max_hours[participant_idx])  # NaN (unknown) never excludes
    physical = demands.physical[vacancy_idx]
    ok &= ~((physical >= 0) & (physical > limits.physical[participant_idx]))
    ok &= (demands.flag_bits[vacancy_idx] & limits.forbid_bits[participant_idx]) == 0
    if as_of is not None:
        ok &= open_on(demands, as_of)[vacancy_idx]
    return ok


def to_check_mask(
    limits: ParticipantLimits,
    demands: VacancyDemands,
    participant_idx: np.ndarray,
    vacancy_idx: np.ndarray,
) -> np.ndarray:
    """Bit mask (bit i = CHECK_ITEMS[i]) of unknown vacancy values that matter for each pair."""
    mask = np.isnan(demands.hours[vacancy_idx]).astype(np.uint16)
    unknown_physical = (demands.physical[vacancy_idx] < 0) & (limits.physical[participant_idx] < _HEAVIEST)
    mask |= unknown_physical.astype(np.uint16) << 1
    unknown_flags = (demands.flags[vacancy_idx] < 0) & limits.forbids[participant_idx]
    for j in range(len(FLAG_COLUMNS)):
        mask |= unknown_flags[:, j].astype(np.uint16) << (2 + j)
    return mask


def to_check_items(mask: int) -> tuple[str, ...]:
    """The CHECK_ITEMS named by one pair's bit mask, in a fixed order."""
    return tuple(item for bit, item in enumerate(CHECK_ITEMS) if mask >> bit & 1)
