"""Pair features: one definition, shared by training, the nightly batch and the API.

Every feature is computed vectorised for all candidate pairs at once from the typed profiles
(no per-pair Python), so a batch of 100,000 people and a single API call run the very same code —
there is no second implementation to drift from this one (no train/serve skew).
Missing inputs stay NaN: LightGBM learns what "unknown" means instead of the engine guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numba
import numpy as np
from scipy import sparse

from ilona_match.contract.constraints import to_check_mask
from ilona_match.matching.history import HISTORY_FEATURES, InteractionHistory
from ilona_match.matching.profiles import ParticipantProfiles, VacancyProfiles

__all__ = ["CATEGORICAL", "FEATURE_NAMES", "MONOTONE", "CandidatePairs", "PairFeatures", "TextVectors", "compute_features",
           "haversine_km"]

FEATURE_NAMES: tuple[str, ...] = (
    "dense_text",  # cosine of the text embeddings
    "dense_concept",  # cosine of the English ESCO-label embeddings (cross-lingual)
    "lexical",  # cosine of stemmed / character n-gram TF-IDF vectors
    "required_coverage",  # share of the vacancy's required skills the person has (listed, text, past jobs)
    "required_missing",  # how many required skills the person lacks
    "optional_coverage",
    "occupation_skill_coverage",  # share of the vacancy occupation's ESCO essential skills
    "own_skill_share",  # share of the person's own skills the vacancy asks for
    "occupation_match",  # the person has done this ESCO occupation
    "isco4_match",
    "isco2_match",
    "hours_margin",  # max_hours_per_week - hours_per_week
    "hours_share",  # hours_per_week / max_hours_per_week
    "physical_margin",  # capacity rank - load rank
    "to_check_count",  # unknown constraint values the coach must confirm
    "distance_km",
    "distance_ratio",  # distance / max_commute_km
    "same_municipality",
    "remote_fit",
    "language_fit",  # share of required languages the person speaks
    "same_text_language",
    "sector_preferred",  # 1 / 0, NaN when the person states no preference
    "supports_overlap",  # instruments the person is eligible for that the employer accepts
    "person_supports",
    "social_enterprise",
    "job_coach_fit",  # needs a job coach and the employer is a social enterprise
    "employer_type",  # contract EMPLOYER_TYPES index, NaN unknown (categorical)
    "quiet_environment",
    "unemployment_months",
    "vacancy_age_days",
    "days_to_close",
    "openings",
    *HISTORY_FEATURES,  # what the person and people like them engaged with (matching.history)
)
CATEGORICAL: tuple[str, ...] = ("employer_type",)
# Directions known from the domain; LightGBM keeps them (1 up, -1 down), others are free.
MONOTONE: dict[str, int] = {
    "required_coverage": 1,
    "occupation_skill_coverage": 1,
    "distance_ratio": -1,
    "sector_preferred": 1,
    "supports_overlap": 1,
    "job_coach_fit": 1,
}
_EARTH_KM = 6371.0


@dataclass(frozen=True)
class CandidatePairs:
    """Rows of (participant position, vacancy position) into the profiles they came from."""

    participant: np.ndarray  # int64
    vacancy: np.ndarray  # int64

    def __post_init__(self) -> None:
        if self.participant.shape != self.vacancy.shape or self.participant.ndim != 1:
            raise ValueError("participant and vacancy positions must be 1-D arrays of equal length")

    def __len__(self) -> int:
        return len(self.participant)


@dataclass(frozen=True)
class PairFeatures:
    """A float32 matrix with one row per pair and one column per FEATURE_NAMES entry."""

    pairs: CandidatePairs
    matrix: np.ndarray
    to_check: np.ndarray  # uint16 bit masks, see constraints.CHECK_ITEMS

    names: tuple[str, ...] = FEATURE_NAMES

    def column(self, name: str) -> np.ndarray:
        return self.matrix[:, self.names.index(name)]


@dataclass(frozen=True)
class TextVectors:
    """The text channels of both sides, row-aligned with the profiles (all L2-normalised)."""

    participant_dense: np.ndarray
    vacancy_dense: np.ndarray
    participant_concept: np.ndarray
    vacancy_concept: np.ndarray
    participant_lexical: sparse.csr_matrix
    vacancy_lexical: sparse.csr_matrix


def _rowwise_dot(a: np.ndarray, b: np.ndarray, ia: np.ndarray, ib: np.ndarray, chunk: int = 65536) -> np.ndarray:
    out = np.empty(len(ia), dtype=np.float32)
    for start in range(0, len(ia), chunk):
        stop = start + chunk
        out[start:stop] = np.einsum("ij,ij->i", a[ia[start:stop]], b[ib[start:stop]])
    return out


def _sparse_rowwise_dot(a: sparse.csr_matrix, b: sparse.csr_matrix, ia: np.ndarray, ib: np.ndarray) -> np.ndarray:
    """``a[ia[i]] . b[ib[i]]`` for each i, without building the gathered rows.

    Gathering and multiplying the rows with scipy copied every pair's rows first (a vacancy's
    lexical row has ~900 character n-grams: 175 M values for one chunk of 2,000 people); the
    compiled kernel walks the two sorted index lists of each pair instead.
    """
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"the two sides have {a.shape[1]} and {b.shape[1]} columns")
    a, b = (m.tocsr() for m in (a, b))
    a, b = (m if m.has_sorted_indices else m.sorted_indices() for m in (a, b))
    # the values go in as they are (float32 here): converting the whole vacancy side on every call
    # copied ~18 M values per chunk at 20,000 vacancies; the kernel widens each product instead
    return _merge_dots(a.indptr, a.indices, a.data, b.indptr, b.indices, b.data,
                       np.asarray(ia, np.int64), np.asarray(ib, np.int64))


def _compiled(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` compiled by numba and cached on disk where numba finds a writable place (next to
    the module or in the user's cache folder); without one (a read-only install and no home
    folder) compiled once per process instead of failing at import. Serial on purpose: numba's
    parallel layers are not all thread-safe, and the API scores from threads (``nogil`` lets
    them run side by side)."""
    try:
        return numba.njit(cache=True, nogil=True)(function)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return numba.njit(nogil=True)(function)


@_compiled
def _merge_dots(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, ia, ib):  # type: ignore[no-untyped-def]  # pragma: no cover
    out = np.empty(len(ia), dtype=np.float32)
    for n in range(len(ia)):
        i, i_end = a_ptr[ia[n]], a_ptr[ia[n] + 1]
        j, j_end = b_ptr[ib[n]], b_ptr[ib[n] + 1]
        total = 0.0
        while i < i_end and j < j_end:
            if a_idx[i] == b_idx[j]:
                total += np.float64(a_val[i]) * np.float64(b_val[j])
                i += 1
                j += 1
            elif a_idx[i] < b_idx[j]:
                i += 1
            else:
                j += 1
        out[n] = total
    return out


def _row_sizes(m: sparse.csr_matrix) -> np.ndarray:
    return np.diff(m.indptr).astype(np.float32)


def _share(part: np.ndarray, whole: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(whole > 0, part / whole, np.nan).astype(np.float32)


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in km (NaN where a coordinate is unknown); arrays broadcast."""
    lat1, lon1, lat2, lon2 = (np.radians(x) for x in (lat1, lon1, lat2, lon2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_KM * np.arcsin(np.sqrt(np.clip(h, 0.0, 1.0)))


def _has_vector(vectors: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Whether each of ``rows`` has a non-zero vector (no text gives a zero vector), looking only at
    those rows: the vacancy side has every open vacancy, the pairs only a few of them."""
    unique, inverse = np.unique(rows, return_inverse=True)
    return (np.abs(vectors[unique]).sum(1) > 0)[inverse]


def compute_features(
    people: ParticipantProfiles,
    jobs: VacancyProfiles,
    pairs: CandidatePairs,
    vectors: TextVectors,
    as_of: date | np.ndarray,
    history: InteractionHistory | None = None,
) -> PairFeatures:
    """All FEATURE_NAMES for every pair, as of ``as_of`` (vacancy age, days to close): one date,
    or one datetime64 per pair when training pairs were seen on different days. The history
    features read only ``history``'s events before each pair's day (all missing without a history)."""
    p, v = pairs.participant, pairs.vacancy
    columns: dict[str, np.ndarray] = {}
    columns["dense_text"] = _rowwise_dot(vectors.participant_dense, vectors.vacancy_dense, p, v)
    concept = _rowwise_dot(vectors.participant_concept, vectors.vacancy_concept, p, v)
    has_concepts = _has_vector(vectors.participant_concept, p) & _has_vector(vectors.vacancy_concept, v)
    columns["dense_concept"] = np.where(has_concepts, concept, np.nan).astype(np.float32)
    columns["lexical"] = _sparse_rowwise_dot(vectors.participant_lexical, vectors.vacancy_lexical, p, v)

    own = (people.skills + people.implied_skills).sign().tocsr()
    required_sizes = _row_sizes(jobs.required_skills)[v]
    covered = _sparse_rowwise_dot(own, jobs.required_skills, p, v)
    columns["required_coverage"] = _share(covered, required_sizes)
    columns["required_missing"] = (required_sizes - covered).astype(np.float32)
    columns["optional_coverage"] = _share(_sparse_rowwise_dot(own, jobs.optional_skills, p, v), _row_sizes(jobs.optional_skills)[v])
    columns["occupation_skill_coverage"] = _share(
        _sparse_rowwise_dot(own, jobs.occupation_skills, p, v), _row_sizes(jobs.occupation_skills)[v]
    )
    columns["own_skill_share"] = _share(_sparse_rowwise_dot(people.skills, jobs.wanted_skills, p, v), _row_sizes(people.skills)[p])
    columns["occupation_match"] = (_sparse_rowwise_dot(people.occupations, jobs.occupations, p, v) > 0).astype(np.float32)
    columns["isco4_match"] = (_sparse_rowwise_dot(people.isco4, jobs.isco4, p, v) > 0).astype(np.float32)
    columns["isco2_match"] = (_sparse_rowwise_dot(people.isco2, jobs.isco2, p, v) > 0).astype(np.float32)

    hours = jobs.demands.hours[v]
    max_hours = people.limits.max_hours[p]
    columns["hours_margin"] = (max_hours - hours).astype(np.float32)
    columns["hours_share"] = _share(hours, max_hours)
    load = jobs.demands.physical[v].astype(np.float32)
    columns["physical_margin"] = np.where(load >= 0, people.limits.physical[p] - load, np.nan).astype(np.float32)
    to_check = to_check_mask(people.limits, jobs.demands, p, v)
    columns["to_check_count"] = np.array([bin(m).count("1") for m in range(1 << 7)], dtype=np.float32)[to_check]

    distance = haversine_km(people.lat[p], people.lon[p], jobs.lat[v], jobs.lon[v]).astype(np.float32)
    same_town = (people.municipality[p] == jobs.municipality[v]) & (people.municipality[p] != "")
    columns["distance_km"] = distance
    columns["distance_ratio"] = np.where(
        np.isnan(distance), np.where(same_town, 0.0, np.nan), distance / people.max_commute_km[p]
    ).astype(np.float32)
    columns["same_municipality"] = same_town.astype(np.float32)
    columns["remote_fit"] = (jobs.remote[v] & people.remote_ok[p]).astype(np.float32)

    columns["language_fit"] = _share(
        _sparse_rowwise_dot(people.languages_spoken, jobs.languages_required, p, v), _row_sizes(jobs.languages_required)[v]
    )
    columns["same_text_language"] = (people.language[p] == jobs.language[v]).astype(np.float32)
    preferred = _sparse_rowwise_dot(people.preferred_sectors, jobs.sectors, p, v) > 0
    columns["sector_preferred"] = np.where(
        _row_sizes(people.preferred_sectors)[p] > 0, preferred.astype(np.float32), np.nan
    ).astype(np.float32)
    overlap = people.supports[p] & jobs.supports_accepted[v]
    columns["supports_overlap"] = np.array([bin(m).count("1") for m in range(16)], dtype=np.float32)[overlap]
    columns["person_supports"] = (people.supports[p] > 0).astype(np.float32)
    employer = jobs.employer_type[v]
    columns["social_enterprise"] = (employer == 0).astype(np.float32)
    columns["job_coach_fit"] = (people.needs_job_coach[p] & (employer == 0)).astype(np.float32)
    columns["employer_type"] = np.where(employer >= 0, employer, np.nan).astype(np.float32)
    columns["quiet_environment"] = people.quiet_environment[p].astype(np.float32)
    columns["unemployment_months"] = people.unemployment_months[p].astype(np.float32)

    day = as_of.astype("datetime64[D]") if isinstance(as_of, np.ndarray) else np.datetime64(as_of, "D")
    columns["vacancy_age_days"] = (day - jobs.published_at[v]).astype(np.float32)
    closes = jobs.demands.closes[v]
    columns["days_to_close"] = np.where(np.isnat(closes), np.nan, (closes - day).astype(np.float32)).astype(np.float32)
    columns["openings"] = jobs.openings[v].astype(np.float32)
    if history is None:
        columns.update({name: np.full(len(p), np.nan, np.float32) for name in HISTORY_FEATURES})
    else:
        columns.update(history.features(people.ids, people.municipality, jobs.ids, vectors.vacancy_dense,
                                        vectors.vacancy_concept, p, v, as_of))

    matrix = np.column_stack([columns[name] for name in FEATURE_NAMES]).astype(np.float32)
    return PairFeatures(pairs=pairs, matrix=matrix, to_check=to_check)
