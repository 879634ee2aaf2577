"""Services (contract v1.1) as arrays: what each step teaches, what it leads toward, what it asks of a
person, and when and where it can be joined.

A service step is held to the same hard constraints as a job (``contract.constraints``): its hours,
physical load and night / weekend / customer-contact / lifting / driving demands are checked
against the person's limits, and unknown values become "to check" items, never exclusions.
It can be joined on day D when it has seats left, D is on or before ``closes_at`` (the last day to
join; open when missing), it starts within the planning horizon, and it has not already ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
from scipy import sparse

from ilona_match.contract.constraints import VacancyDemands
from ilona_match.contract.spec import SUPPORTS
from ilona_match.matching.profiles import ConceptSpace, link_names, resolve_listed
from ilona_match.text.linking import LinksNames
from ilona_match.text.taxonomy import Taxonomy

__all__ = ["JOB_NEAR_KINDS", "ServiceProfiles", "build_services", "seats_taken"]

# Steps taken at a workplace: they lead toward the occupation they name, not only teach skills.
JOB_NEAR_KINDS: tuple[str, ...] = ("work_trial", "supported_employment", "apprenticeship")


def _items(cell: object) -> tuple[str, ...]:
    if isinstance(cell, (tuple, list, np.ndarray)):
        return tuple(str(item) for item in cell if isinstance(item, str) and item)
    return ()


def _column(frame: pd.DataFrame, name: str, default: object) -> pd.Series:
    return frame[name] if name in frame else pd.Series([default] * len(frame), index=frame.index)


@dataclass(frozen=True)
class ServiceProfiles:
    """Services as arrays; row j is service ``ids[j]``."""

    ids: np.ndarray
    provider_ids: np.ndarray
    provider_type: np.ndarray
    kind: np.ndarray
    language: np.ndarray
    taught: sparse.csr_matrix  # ESCO skills the step teaches (ConceptSpace columns)
    toward: sparse.csr_matrix  # ESCO occupations it leads toward
    toward_isco4: list[tuple[str, ...]]  # 4-digit ISCO-08 groups it leads toward (from URIs and codes)
    demands: VacancyDemands  # what the step asks of a person; ``published`` = starts_at
    last_join: np.ndarray  # datetime64[D], NaT = open until closed
    ends: np.ndarray  # datetime64[D] start + duration, NaT when the duration is unknown
    duration_weeks: np.ndarray  # float, NaN unknown
    lat: np.ndarray
    lon: np.ndarray
    remote: np.ndarray
    seats: np.ndarray  # int
    supports_accepted: np.ndarray  # bit mask over contract SUPPORTS
    unresolved_items: int

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def starts(self) -> np.ndarray:
        return self.demands.published

    def joinable(self, as_of: date, horizon_days: int, seats_left: np.ndarray) -> np.ndarray:
        """Steps a person can sign up for on ``as_of``: a seat left, not closed to joining, starting
        within ``horizon_days`` and not already over."""
        day = np.datetime64(as_of, "D")
        ok = seats_left > 0
        ok &= np.isnat(self.last_join) | (day <= self.last_join)
        ok &= self.starts <= day + np.timedelta64(horizon_days, "D")
        ok &= np.isnat(self.ends) | (day < self.ends)
        return ok


def build_services(services: pd.DataFrame, taxonomy: Taxonomy, linker: LinksNames | None = None) -> ServiceProfiles:
    """Resolve a contract-checked services frame: skills and occupations to ESCO (URIs, ISCO codes
    or names in fi/sv/en, like vacancies; names through ``linker`` when given), demands and dates to arrays."""
    space = ConceptSpace.of(taxonomy)
    taught, toward, isco, unresolved = [], [], [], 0
    skill_cells = _column(services, "skills_taught", ()).tolist()
    occupation_cells = _column(services, "occupations_toward", ()).tolist()
    languages = _column(services, "language", "fi").fillna("fi").tolist()
    link_names(linker, taxonomy, skill_cells, "skill", languages)
    link_names(linker, taxonomy, occupation_cells, "occupation", languages)
    for skill_cell, occupation_cell, lang in zip(skill_cells, occupation_cells, languages, strict=True):
        skills, row_occupations, row_isco, missed = resolve_listed(taxonomy, skill_cell, occupation_cell, linker, lang)
        unresolved += missed
        taught.append(tuple(sorted(skills)))
        toward.append(tuple(sorted(row_occupations)))
        isco.append(tuple(sorted(row_isco)))
    starts = services["starts_at"].to_numpy(dtype="datetime64[D]")
    duration = _column(services, "duration_weeks", np.nan).to_numpy(dtype=np.float64, na_value=np.nan)
    days = np.ceil(np.nan_to_num(duration) * 7).astype(np.int64).astype("timedelta64[D]")
    ends = np.where(np.isnan(duration), np.datetime64("NaT", "D"), starts + days)
    last_join = _column(services, "closes_at", pd.NaT).to_numpy(dtype="datetime64[D]")
    demand_frame = services.assign(published_at=services["starts_at"]).drop(columns=["closes_at"], errors="ignore")
    supports = np.zeros(len(services), dtype=np.int64)
    for row, cell in enumerate(_column(services, "supports_accepted", ())):
        for item in _items(cell):
            if item in SUPPORTS:
                supports[row] |= 1 << SUPPORTS.index(item)
    return ServiceProfiles(
        ids=services["service_id"].to_numpy(dtype=object),
        provider_ids=services["provider_id"].to_numpy(dtype=object),
        provider_type=services["provider_type"].to_numpy(dtype=object),
        kind=services["kind"].to_numpy(dtype=object),
        language=_column(services, "language", "fi").fillna("fi").to_numpy(dtype=object),
        taught=space.skill_matrix(taught),
        toward=space.occupation_matrix(toward),
        toward_isco4=isco,
        demands=VacancyDemands.from_frame(demand_frame),
        last_join=last_join,
        ends=ends,
        duration_weeks=duration,
        lat=_column(services, "lat", np.nan).to_numpy(dtype=np.float64, na_value=np.nan),
        lon=_column(services, "lon", np.nan).to_numpy(dtype=np.float64, na_value=np.nan),
        remote=_column(services, "remote", False).fillna(False).to_numpy(dtype=bool),
        seats=_column(services, "seats", 1).fillna(1).to_numpy(dtype=np.int64),
        supports_accepted=supports,
        unresolved_items=unresolved,
    )


def seats_taken(services: ServiceProfiles, service_outcomes: pd.DataFrame, as_of: date) -> np.ndarray:
    """People who started each service before ``as_of`` (one per person), by service row."""
    if service_outcomes is None or service_outcomes.empty:
        return np.zeros(len(services), dtype=np.int64)
    before = service_outcomes[(service_outcomes["event"] == "started")
                              & (service_outcomes["event_date"] < pd.Timestamp(as_of))]
    counts = before.drop_duplicates(["participant_id", "service_id"])["service_id"].value_counts()
    return counts.reindex(pd.Index(services.ids)).fillna(0).to_numpy(dtype=np.int64)
