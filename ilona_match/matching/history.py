"""What people did says what they want: the interaction history as retrieval channels and features.

A person's events (viewed, recommended, applied, interview, work trial, hired, ...) before a day
``d`` form a second profile: the vectors and ESCO concept vectors of the vacancies they engaged
with, weighted by the event's strength (``HistoryConfig.event_weights``) and halved every
``half_life_days`` before ``d``. From it come:

- the **history channel**: open vacancies close to that profile (the dense FAISS index);
- the **collaborative channel**: vacancies that people with overlapping histories engaged with
  (item-item cosine of the people x vacancies matrix, ``neighbours`` kept per vacancy, computed
  with ``sparse_dot_topn`` like the lexical channel). Job vacancies live a few weeks, so a vacancy
  reaches it through its ``content_neighbours``: the engaged-with vacancies closest to its text
  (itself first, when people engaged with it already);
- **pair features** (``HISTORY_FEATURES``): similarity to the own history, the share of the own
  history in the vacancy's sector and at its employer, the co-interaction score, and the vacancy's
  recent engagement overall and among people of the person's municipality.

Every answer is "as of" a day and reads only events dated before it: the person's own events, the
engagement counts, and the co-interaction model (refitted on a grid of ``snapshot_days``, from the
events before the grid day). So a training row computed as of the day its pair entered the log sees
exactly what a nightly run on that day would have seen, and nothing of its own outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numba
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import sparse
from sparse_dot_topn import sp_matmul_topn

from ilona_match.contract.spec import EVENTS

__all__ = ["DEFAULT_EVENT_WEIGHTS", "HISTORY_FEATURES", "HistoryConfig", "HistoryItems", "InteractionHistory",
           "check_event_values"]

# How much an event says about what a person wants. Declining says "not this": it weighs nothing.
# A rejection follows an application: the person wanted the job.
DEFAULT_EVENT_WEIGHTS: dict[str, float] = {
    "viewed": 1.0, "recommended": 0.5, "declined": 0.0, "applied": 2.0, "rejected": 2.0, "interview": 3.0,
    "work_trial": 3.0, "hired": 4.0, "retained_6m": 4.0,
}
HISTORY_FEATURES: tuple[str, ...] = (
    "history_similarity",  # cosine of the vacancy's text vector and the person's history profile
    "history_concept_similarity",  # the same on ESCO concept vectors
    "history_sector_share",  # share of the person's (weighted) history in the vacancy's sector
    "history_employer_share",  # share of the person's history at the vacancy's employer
    "co_interaction",  # item-item collaborative score, through the vacancy's content neighbours
    "history_events",  # log(1 + events the person has before the day)
    "recent_engagement",  # log(1 + events on the vacancy in the last window_days)
    "local_engagement",  # log(1 + those events by people of the person's municipality)
)
_EPOCH_DAY = np.datetime64("1970-01-01", "D")
_DAY_SPAN = np.int64(1 << 20)  # day numbers below this (year ~4840) fit in a sort key beside a code


class HistoryConfig(BaseModel):
    """How interactions become a profile, channels and features (the ``matching.history`` settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(True, description="use the interaction history (off: its features are missing, its "
                          "channels propose nothing)")
    event_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_EVENT_WEIGHTS),
                                            description="strength of each event in a person's history profile")
    half_life_days: float = Field(90.0, gt=0, description="an event's weight halves every so many days")
    max_events: int = Field(50, gt=0, description="the most recent events per person that form the profile")
    neighbours: int = Field(50, gt=0, description="co-interaction neighbours kept per vacancy")
    content_neighbours: int = Field(5, gt=0, description="engaged-with vacancies a vacancy reaches the "
                                    "collaborative channel through (by text)")
    popular_candidates: int = Field(200, gt=0, description="vacancies the popular channel proposes per person (the "
                                    "ones people nearby engaged with lately; cheap to score, and often the next one)")
    window_days: int = Field(28, gt=0, description="days of the recent and local engagement counts")
    snapshot_days: int = Field(7, gt=0, description="the co-interaction model is refitted on a grid of so many "
                               "days, from the events before the grid day")

    @field_validator("event_weights")
    @classmethod
    def _known_events(cls, weights: dict[str, float]) -> dict[str, float]:
        check_event_values(weights, "event_weights", 0.0, float("inf"))
        return {**DEFAULT_EVENT_WEIGHTS, **weights}


def check_event_values(values: dict[str, float] | dict[str, int], field: str, low: float, high: float) -> None:
    """Raise unless every key of ``values`` is an outcome event and every value lies in [low, high]."""
    unknown = sorted(set(values) - set(EVENTS))
    if unknown:
        raise ValueError(f"unknown events {unknown} in {field} (expected some of {', '.join(EVENTS)})")
    if any(not low <= value <= high for value in values.values()):
        raise ValueError(f"{field} must lie in {low:g}..{high:g}")


@dataclass(frozen=True)
class HistoryItems:
    """Every vacancy the history may name or be asked about: ids, sector and employer, and the
    L2-normalised text and concept vectors of those people engaged with (zero rows elsewhere)."""

    ids: np.ndarray
    sector: np.ndarray
    employer: np.ndarray
    dense: np.ndarray
    concept: np.ndarray


def _codes(values: np.ndarray) -> np.ndarray:
    return pd.factorize(pd.Series(values, dtype=object).fillna(""))[0].astype(np.int64)


def _normalised(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0).astype(np.float32)


def _days(values: date | np.ndarray, n: int) -> np.ndarray:
    if isinstance(values, np.ndarray):
        return values.astype("datetime64[D]")
    return np.full(n, np.datetime64(values, "D"))


class InteractionHistory:
    """Fit on outcome events and the vacancies they name, then answer "as of day d" questions."""

    def __init__(self, config: HistoryConfig | None = None) -> None:
        self.config = config or HistoryConfig()
        self._snapshots: dict[np.datetime64, tuple[sparse.csr_matrix, np.ndarray]] = {}

    def fit(self, events: pd.DataFrame, items: HistoryItems, municipality: pd.Series | None = None) -> InteractionHistory:
        """``events``: contract outcome rows (vacancy events; others are ignored), all before the run's
        cut-off; ``items``: the vacancies; ``municipality``: each participant's municipality by id."""
        events = events[events["vacancy_id"].notna() & events["event"].isin(EVENTS)] if "vacancy_id" in events else events
        self.items_ = items
        self.item_index_ = pd.Index(items.ids)
        item = self.item_index_.get_indexer(events["vacancy_id"])
        weight = events["event"].map(self.config.event_weights).to_numpy(np.float64)
        keep = (item >= 0) & (weight > 0)
        events = events[keep]
        people = pd.Index(pd.unique(events["participant_id"].astype(str)))
        person = people.get_indexer(events["participant_id"].astype(str)).astype(np.int64)
        day = (events["event_date"].to_numpy(dtype="datetime64[D]") - _EPOCH_DAY).astype(np.int64)
        towns = (municipality.reindex(people).fillna("").astype(str).to_numpy()
                 if municipality is not None else np.full(len(people), "", object))
        return self._index(people.to_numpy(object), person, item[keep].astype(np.int64), day, weight[keep], towns)

    def _index(self, people: np.ndarray, person: np.ndarray, item: np.ndarray, day: np.ndarray, weight: np.ndarray,
               towns: np.ndarray) -> InteractionHistory:
        """Sort the events and build the lookup keys (from ``fit`` or ``load``)."""
        self.person_index_ = pd.Index(people)
        order = np.lexsort((day, person))
        self.person_, self.item_, self.day_, self.weight_ = person[order], item[order], day[order], weight[order]
        self.towns_ = np.asarray(towns, dtype=object)
        self.person_key_ = self.person_ * _DAY_SPAN + self.day_
        by_item = np.lexsort((self.day_, self.item_))
        self.item_key_ = self.item_[by_item] * _DAY_SPAN + self.day_[by_item]
        towns = np.char.lower(self.towns_.astype(str))  # as the profiles hold them (casefolded)
        self.town_index_ = pd.Index(pd.unique(towns[towns != ""]))
        event_town = self.town_index_.get_indexer(towns)[self.person_]
        local = event_town >= 0
        by_local = np.lexsort((self.day_[local], event_town[local], self.item_[local]))
        self.local_key_ = ((self.item_[local][by_local] * (len(self.town_index_) + 1) + event_town[local][by_local])
                           * _DAY_SPAN + self.day_[local][by_local])
        self.sector_codes_ = _codes(self.items_.sector)
        self.employer_codes_ = _codes(self.items_.employer)
        self._snapshots = {}
        return self

    def save(self, directory: Path) -> None:
        """Write the fitted history into ``directory`` (arrays and settings, no pickles)."""
        directory.mkdir(parents=True, exist_ok=True)
        items = self.items_
        np.savez(directory / "history.npz", ids=items.ids.astype(str), sector=items.sector.astype(str),
                 employer=items.employer.astype(str), dense=items.dense, concept=items.concept,
                 people=self.person_index_.to_numpy().astype(str), person=self.person_, item=self.item_, day=self.day_,
                 weight=self.weight_, towns=self.towns_.astype(str))
        (directory / "history.json").write_text(self.config.model_dump_json(), encoding="utf-8")

    @classmethod
    def load(cls, directory: Path) -> InteractionHistory:
        """A history written by ``save``."""
        history = cls(HistoryConfig.model_validate_json((directory / "history.json").read_text(encoding="utf-8")))
        with np.load(directory / "history.npz", allow_pickle=False) as a:
            history.items_ = HistoryItems(a["ids"].astype(object), a["sector"].astype(object),
                                          a["employer"].astype(object), a["dense"], a["concept"])
            history.item_index_ = pd.Index(history.items_.ids)
            return history._index(a["people"].astype(object), a["person"], a["item"], a["day"], a["weight"],
                                  a["towns"].astype(object))

    def __len__(self) -> int:
        return len(self.person_)

    # ----------------------------------------------------------------------------- the person side
    def _weights(self, person_ids: np.ndarray, days: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray]:
        """Rows of (query x item) weights from each query person's events before its day (the last
        ``max_events``, recency-weighted), and the number of events before the day per query."""
        person = self.person_index_.get_indexer(np.asarray(person_ids).astype(str)).astype(np.int64)
        day = (days - _EPOCH_DAY).astype(np.int64)
        known = person >= 0
        end = np.where(known, np.searchsorted(self.person_key_, person * _DAY_SPAN + day), 0)
        first = np.where(known, np.searchsorted(self.person_key_, person * _DAY_SPAN), 0)
        start = np.maximum(first, end - self.config.max_events)
        lengths = end - start
        rows = np.repeat(np.arange(len(person)), lengths)
        offsets = np.repeat(start - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths)
        events = np.arange(len(rows)) + offsets
        age = day[rows] - self.day_[events]
        weight = self.weight_[events] * np.exp2(-age / self.config.half_life_days)
        matrix = sparse.csr_matrix((weight, (rows, self.item_[events])), shape=(len(person), len(self.items_.ids)))
        return matrix, (end - first)

    def profiles(self, person_ids: np.ndarray, days: date | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each query's history profile as of its day: L2-normalised text and concept vectors (zero
        rows for people with no event before the day)."""
        weights, _ = self._weights(person_ids, _days(days, len(person_ids)))
        return _normalised(weights @ self.items_.dense), _normalised(weights @ self.items_.concept)

    # ------------------------------------------------------------------------- co-interaction model
    def _snapshot_day(self, day: np.ndarray) -> np.ndarray:
        number = (day - _EPOCH_DAY).astype(np.int64)
        return _EPOCH_DAY + (number - number % self.config.snapshot_days)

    def _co_interaction(self, snapshot: np.datetime64) -> tuple[sparse.csr_matrix, np.ndarray]:
        """The item-item cosine model from the events before ``snapshot`` (zero diagonal, the best
        ``neighbours`` per item) and the items it knows (engaged with before that day)."""
        if snapshot not in self._snapshots:
            before = self.day_ < (snapshot - _EPOCH_DAY).astype(np.int64)
            n_items = len(self.items_.ids)
            users = sparse.csr_matrix((np.log1p(self.weight_[before]), (self.person_[before], self.item_[before])),
                                      shape=(len(self.person_index_), n_items))
            norms = np.sqrt(np.asarray(users.multiply(users).sum(axis=0))).ravel()
            scaled = (users @ sparse.diags(np.divide(1.0, norms, out=np.zeros(n_items), where=norms > 0))).tocsr()
            if scaled.nnz:
                similar = sp_matmul_topn(scaled.T.tocsr(), scaled, top_n=self.config.neighbours + 1, threshold=0.0)
                similar = similar.tocoo()
                off = similar.row != similar.col
                similar = sparse.csr_matrix((similar.data[off], (similar.row[off], similar.col[off])),
                                            shape=(n_items, n_items))
            else:
                similar = sparse.csr_matrix((n_items, n_items))
            self._snapshots = {snapshot: (similar, np.flatnonzero(norms > 0))}  # one kept: days come in order
        return self._snapshots[snapshot]

    def _content_neighbours(self, vectors: np.ndarray, known: np.ndarray) -> sparse.csr_matrix:
        """(rows of ``vectors`` x items): each row's ``content_neighbours`` closest known items by
        cosine, positive similarities only (a vacancy people engaged with finds itself first)."""
        m = min(self.config.content_neighbours, len(known))
        if m == 0 or len(vectors) == 0:
            return sparse.csr_matrix((len(vectors), len(self.items_.ids)))
        rows, cols, vals = [], [], []
        known_vectors = self.items_.dense[known]
        for start in range(0, len(vectors), 4096):
            block = vectors[start:start + 4096] @ known_vectors.T
            top = np.argpartition(-block, m - 1, axis=1)[:, :m] if m < block.shape[1] else np.tile(np.arange(m), (len(block), 1))
            score = np.take_along_axis(block, top, axis=1)
            rows.append(np.repeat(np.arange(start, start + len(block)), m))
            cols.append(known[top].ravel())
            vals.append(score.ravel())
        row, col, val = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
        positive = val > 0
        return sparse.csr_matrix((val[positive], (row[positive], col[positive])), shape=(len(vectors), len(self.items_.ids)))

    def collaborative(self, person_ids: np.ndarray, day: date, vacancy_dense: np.ndarray,
                      k: int) -> tuple[np.ndarray, np.ndarray]:
        """The collaborative channel: per person, the ``k`` rows of ``vacancy_dense`` (the open
        vacancies' vectors) with the best co-interaction score as of ``day``; flat (person, row) arrays."""
        days = _days(day, len(person_ids))
        weights, _ = self._weights(person_ids, days)
        if weights.nnz == 0 or len(vacancy_dense) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        similar, known = self._co_interaction(self._snapshot_day(days[:1])[0])
        affinity = (_row_share(weights) @ similar).tocsr()
        reach = _row_share(self._content_neighbours(vacancy_dense, known))
        found = sp_matmul_topn(affinity, reach.T.tocsr(), top_n=min(k, len(vacancy_dense)), threshold=0.0)
        return np.repeat(np.arange(found.shape[0]), np.diff(found.indptr)), found.indices.astype(np.int64)

    def popular(self, person_towns: np.ndarray, day: date, vacancy_ids: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The local-popularity channel: per person, the ``k`` vacancies of ``vacancy_ids`` (the open
        ones) with the most events in the ``window_days`` before ``day`` by people of the person's
        municipality, then by everyone; vacancies no one engaged with are not proposed."""
        number = np.int64((np.datetime64(day, "D") - _EPOCH_DAY).astype(np.int64))
        item = self.item_index_.get_indexer(np.asarray(vacancy_ids).astype(str))
        known = np.flatnonzero(item >= 0)
        start = number - self.config.window_days
        key = item[known] * _DAY_SPAN
        overall = np.searchsorted(self.item_key_, key + number) - np.searchsorted(self.item_key_, key + start)
        town = self.town_index_.get_indexer(np.char.lower(np.asarray(person_towns, dtype=object).astype(str)))
        rows, cols = [], []
        for code in np.unique(town):
            people = np.flatnonzero(town == code)
            score = overall.astype(np.float64)
            if code >= 0:
                local_key = (item[known] * (len(self.town_index_) + 1) + code) * _DAY_SPAN
                local = (np.searchsorted(self.local_key_, local_key + number)
                         - np.searchsorted(self.local_key_, local_key + start))
                score = local + score / (1.0 + score.max(initial=0.0))
            chosen = known[np.argsort(-score, kind="stable")[:k]]
            chosen = chosen[score[np.searchsorted(known, chosen)] > 0]
            rows.append(np.repeat(people, len(chosen)))
            cols.append(np.tile(chosen, len(people)))
        if not rows:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(rows).astype(np.int64), np.concatenate(cols).astype(np.int64)

    # ------------------------------------------------------------------------------------- features
    def features(self, person_ids: np.ndarray, person_town: np.ndarray, vacancy_ids: np.ndarray,
                 vacancy_dense: np.ndarray, vacancy_concept: np.ndarray, p: np.ndarray, v: np.ndarray,
                 days: date | np.ndarray) -> dict[str, np.ndarray]:
        """``HISTORY_FEATURES`` of pairs (p into ``person_ids``, v into the vacancy arrays), each as of
        its day. Person-side values are NaN for a person with no event before the day."""
        n = len(p)
        day = _days(days, n)
        query_key = pd.MultiIndex.from_arrays([p, day]) if n else pd.MultiIndex.from_arrays([[], []])
        query_codes, queries = pd.factorize(query_key)
        q_person = np.asarray(queries.get_level_values(0), np.int64) if n else np.empty(0, np.int64)
        q_day = np.asarray(queries.get_level_values(1), "datetime64[D]") if n else np.empty(0, "datetime64[D]")
        weights, counts = self._weights(np.asarray(person_ids)[q_person], q_day)
        has = (counts > 0)[query_codes]
        profile = _normalised(weights @ self.items_.dense)
        concept_profile = _normalised(weights @ self.items_.concept)
        out: dict[str, np.ndarray] = {}
        nan = np.float32(np.nan)
        out["history_similarity"] = np.where(has, np.einsum("ij,ij->i", profile[query_codes], vacancy_dense[v]), nan)
        has_concept = has & (np.abs(vacancy_concept[v]).sum(axis=1) > 0)
        out["history_concept_similarity"] = np.where(
            has_concept, np.einsum("ij,ij->i", concept_profile[query_codes], vacancy_concept[v]), nan)
        item = self.item_index_.get_indexer(np.asarray(vacancy_ids)[v])
        share = _row_share(weights)
        for name, codes in (("history_sector_share", self.sector_codes_), ("history_employer_share", self.employer_codes_)):
            by_code = (share @ sparse.csr_matrix((np.ones(len(codes)), (np.arange(len(codes)), codes)),
                                                 shape=(len(codes), codes.max(initial=0) + 1))).tocsr()
            by_code.sort_indices()
            value = _lookup(by_code.indptr, by_code.indices, by_code.data, query_codes.astype(np.int64),
                            np.where(item >= 0, codes[np.maximum(item, 0)], -1).astype(np.int64))
            out[name] = np.where(has, value, nan)
        out["co_interaction"] = self._co_interaction_feature(share, query_codes, q_day, vacancy_dense, v, has)
        out["history_events"] = np.log1p(counts[query_codes]).astype(np.float32)
        number = (day - _EPOCH_DAY).astype(np.int64)
        window = self.config.window_days
        key = np.where(item >= 0, item, 0) * _DAY_SPAN
        recent = np.searchsorted(self.item_key_, key + number) - np.searchsorted(self.item_key_, key + number - window)
        out["recent_engagement"] = np.log1p(np.where(item >= 0, recent, 0)).astype(np.float32)
        town = self.town_index_.get_indexer(np.char.lower(np.asarray(person_town, dtype=object)[p].astype(str)))
        local_key = (np.where(item >= 0, item, 0) * (len(self.town_index_) + 1) + np.maximum(town, 0)) * _DAY_SPAN
        local = (np.searchsorted(self.local_key_, local_key + number)
                 - np.searchsorted(self.local_key_, local_key + number - window))
        local = np.log1p(np.where((item >= 0) & (town >= 0), local, 0)).astype(np.float32)
        out["local_engagement"] = local if len(self.town_index_) else np.full(n, np.nan, np.float32)  # towns unknown
        return {name: np.asarray(out[name], np.float32) for name in HISTORY_FEATURES}

    def _co_interaction_feature(self, share: sparse.csr_matrix, query_codes: np.ndarray, q_day: np.ndarray,
                                vacancy_dense: np.ndarray, v: np.ndarray, has: np.ndarray) -> np.ndarray:
        value = np.full(len(v), np.nan, np.float32)
        snapshots = self._snapshot_day(q_day)
        pair_snapshot = snapshots[query_codes] if len(query_codes) else snapshots[:0]
        for snapshot in np.unique(pair_snapshot):
            rows = np.flatnonzero((pair_snapshot == snapshot) & has)
            if len(rows) == 0:
                continue
            similar, known = self._co_interaction(snapshot)
            queries, q_rows = np.unique(query_codes[rows], return_inverse=True)
            vacancies, v_rows = np.unique(v[rows], return_inverse=True)
            affinity = (share[queries] @ similar).tocsr()
            reach = _row_share(self._content_neighbours(vacancy_dense[vacancies], known))
            affinity.sort_indices()
            value[rows] = _lookup_dots(affinity.indptr, affinity.indices, affinity.data, reach.indptr, reach.indices,
                                       reach.data, q_rows.astype(np.int64), v_rows.astype(np.int64))
        return value


def _row_share(matrix: sparse.csr_matrix) -> sparse.csr_matrix:
    """Rows scaled to sum to 1 (empty rows stay empty)."""
    total = np.asarray(matrix.sum(axis=1)).ravel()
    return (sparse.diags(np.divide(1.0, total, out=np.zeros(len(total)), where=total > 0)) @ matrix).tocsr()


@numba.njit(cache=True, nogil=True)
def _find(indices, start, end, column):  # type: ignore[no-untyped-def]  # pragma: no cover
    """Position of ``column`` among the sorted ``indices[start:end]``, or -1."""
    lo, hi = start, end
    while lo < hi:
        mid = (lo + hi) // 2
        if indices[mid] < column:
            lo = mid + 1
        else:
            hi = mid
    return lo if lo < end and indices[lo] == column else -1


@numba.njit(cache=True, nogil=True)
def _lookup(ptr, idx, val, rows, cols):  # type: ignore[no-untyped-def]  # pragma: no cover
    """``a[rows[i], cols[i]]`` of a CSR matrix with sorted indices (0 where absent or col < 0)."""
    out = np.zeros(len(rows), np.float32)
    for n in range(len(rows)):
        if cols[n] >= 0:
            at = _find(idx, ptr[rows[n]], ptr[rows[n] + 1], cols[n])
            if at >= 0:
                out[n] = val[at]
    return out


@numba.njit(cache=True, nogil=True)
def _lookup_dots(a_ptr, a_idx, a_val, b_ptr, b_idx, b_val, ia, ib):  # type: ignore[no-untyped-def]  # pragma: no cover
    """``a[ia[i]] . b[ib[i]]`` where b's rows are short (a few content neighbours) and a's sorted rows
    long (a person's co-interaction affinities): each of b's entries is looked up in a's row."""
    out = np.zeros(len(ia), np.float32)
    for n in range(len(ia)):
        total = 0.0
        for j in range(b_ptr[ib[n]], b_ptr[ib[n] + 1]):
            at = _find(a_idx, a_ptr[ia[n]], a_ptr[ia[n] + 1], b_idx[j])
            if at >= 0:
                total += a_val[at] * b_val[j]
        out[n] = total
    return out
