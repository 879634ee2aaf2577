"""Candidate retrieval: every text channel proposes vacancies, the hard filter removes what a person
cannot take, and an exhaustive fill guarantees ``min_feasible`` candidates whenever that many
feasible vacancies are open.

Channels: ``dense_text`` and ``dense_concept`` (FAISS inner product on normalised embeddings),
``lexical`` (stemmed / n-gram TF-IDF), ``concepts`` (shared ESCO skills and occupations), and from
the interaction history (``matching.history``, when the run has one) ``history`` (the dense index
searched with the person's history profile) and ``collaborative`` (what people with overlapping
histories engaged with) and ``popular`` (what people of the same municipality engaged with lately).
Each fetches ``per_channel`` vacancies among those open on the as-of date; the union is filtered.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from sklearn.exceptions import NotFittedError
from sparse_dot_topn import sp_matmul_topn

from ilona_match.contract.constraints import feasible, open_on
from ilona_match.matching.features import CandidatePairs, TextVectors
from ilona_match.matching.history import InteractionHistory
from ilona_match.matching.index import IndexConfig, VectorIndex
from ilona_match.matching.profiles import ParticipantProfiles, VacancyProfiles

__all__ = ["CHANNELS", "CandidateRetriever", "RetrievalConfig", "Retrieved"]

Channel = Literal["dense_text", "dense_concept", "lexical", "concepts", "history", "collaborative", "popular"]
CHANNELS: tuple[Channel, ...] = ("dense_text", "dense_concept", "lexical", "concepts", "history", "collaborative",
                                 "popular")


class RetrievalConfig(BaseModel):
    """How many candidates each channel proposes, and which channels run."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    channels: tuple[Channel, ...] = CHANNELS
    per_channel: int = Field(100, gt=0, description="vacancies each channel proposes per participant")
    min_feasible: int = Field(50, ge=0, description="feasible candidates guaranteed when that many exist")
    chunk_size: int = Field(2048, gt=0, description="participants scored together in sparse channels")
    threads: int = Field(0, ge=0, description="threads of the sparse channels' product; 0 = every core")
    lexical_max_df: float = Field(
        0.1, gt=0, le=1,
        description="the lexical channel searches only terms found in at most this share of the open vacancies"
                    " (1.0: every term); the lexical feature always uses every term",
    )


_FILL_PAIRS = 2_000_000  # pairs one exhaustive-fill block scans: bounds its memory at any feed size


@dataclass(frozen=True)
class Retrieved:
    """Feasible candidate pairs and, per channel, whether the channel proposed the pair."""

    pairs: CandidatePairs
    proposed_by: dict[str, np.ndarray]  # channel -> bool per pair
    filled: np.ndarray  # bool per pair: added by the exhaustive fill
    proposed_total: int  # pairs proposed before the hard filter


def _top_sparse(queries: sparse.csr_matrix, items_t: sparse.csr_matrix, k: int, chunk: int,
                threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Row-wise top-k columns of queries @ items_t (only positive scores), as flat pair arrays.

    ``items_t`` is the items' matrix transposed once, in CSR: one row of item weights per term, an
    inverted index, so the product walks only the posting lists of each query's terms.
    ``sparse_dot_topn`` keeps only each row's k best while it multiplies: character n-grams make
    almost every query-vacancy product non-zero, and scipy's product would first build those
    millions of scores as a sparse matrix, then a dense block, then partially sort it. Rows are
    independent, so ``threads`` > 1 splits them over threads with the same result.
    """
    k = min(k, items_t.shape[1])
    if items_t.dtype != queries.dtype:
        items_t = items_t.astype(queries.dtype)
    rows, cols = [], []
    for start in range(0, queries.shape[0], chunk):
        block, postings = _used_postings(queries[start:start + chunk], items_t)
        parallel = threads > 1 and block.shape[0] >= _THREADED_ROWS
        top = sp_matmul_topn(block, postings, top_n=k, threshold=0.0, n_threads=threads if parallel else None)
        rows.append(np.repeat(np.arange(start, start + top.shape[0]), np.diff(top.indptr)))
        cols.append(top.indices.astype(np.int64))
    return (np.concatenate(rows) if rows else np.empty(0, np.int64)), (np.concatenate(cols) if cols else np.empty(0, np.int64))


_THREADED_ROWS = 32  # fewer query rows are multiplied on one thread: a thread team costs more than they do


def _used_postings(block: sparse.csr_matrix, items_t: sparse.csr_matrix) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """The block and the inverted index cut to the terms the block uses, when that is under half of them.

    ``sp_matmul_topn`` copies the whole index's arrays on every call (~9 M entries at 10,000 vacancies);
    one API request uses a few hundred of ~30,000 terms. Terms keep their order, so every score is
    summed in the same order and the top-k is identical."""
    in_use = np.zeros(items_t.shape[0], bool)
    in_use[block.indices] = True  # O(entries), unlike sorting a batch chunk's ~2 M term ids
    used = np.flatnonzero(in_use)
    if 2 * len(used) >= items_t.shape[0]:
        return block, items_t
    narrowed = sparse.csr_matrix((block.data, np.searchsorted(used, block.indices).astype(block.indices.dtype),
                                  block.indptr), shape=(block.shape[0], len(used)))
    return narrowed, items_t[used]


def _without_common_terms(items_t: sparse.csr_matrix, max_df: float) -> sparse.csr_matrix:
    """The inverted index with the posting lists of terms in more than ``max_df`` of the items emptied.

    Character n-grams such as "ing" or "ist" are in most texts: their postings are most of the walk
    (~90 % of it at 50,000 vacancies for the terms in over a tenth of them) while their low weights
    rarely decide the top-k. Term ids stay as they are, so queries need no change; the pair's lexical
    feature is still computed from the whole vectors. In a feed of under 1 / ``max_df`` items every
    term is common and the channel proposes nothing; the dense channels then propose the whole feed.
    (Keeping the terms in at most ``per_channel`` items was measured on two 3,000 x 1,200 worlds and
    ranked worse: NDCG@10 -2.7 % and -0.6 % against this rule, see docs/benchmarks.md.)"""
    if max_df >= 1.0 or items_t.shape[1] == 0:
        return items_t
    postings = np.diff(items_t.indptr)
    common = postings > max_df * items_t.shape[1]
    if not common.any():
        return items_t
    kept = np.repeat(~common, postings)
    indptr = np.concatenate([[0], np.cumsum(np.where(common, 0, postings))]).astype(items_t.indptr.dtype)
    return sparse.csr_matrix((items_t.data[kept], items_t.indices[kept], indptr), shape=items_t.shape)


def _index_with_vectors(vectors: np.ndarray, config: IndexConfig) -> tuple[VectorIndex | None, np.ndarray]:
    """A FAISS index over the rows that have a vector, and those rows' positions.

    A vacancy with no text, or whose text names no ESCO concept, has a zero vector: it carries no
    evidence for that channel, cannot be normalised, and the other channels (and the fill) still
    reach it. With no such row at all the channel has no index (None)."""
    rows = np.flatnonzero(np.abs(vectors).sum(axis=1) > 0)
    if len(rows) == 0:
        return None, rows
    return VectorIndex(config).fit(np.ascontiguousarray(vectors[rows])), rows


def _concept_rows(jobs: VacancyProfiles) -> sparse.csr_matrix:
    """The concept channel's vacancy rows: wanted skills, and occupations weighted 3."""
    return sparse.hstack([jobs.wanted_skills, jobs.occupations * 3.0], format="csr")


@dataclass(frozen=True)
class _OpenVacancies:
    """The sparse channels of one set of open vacancies as inverted indexes (terms x open vacancies)."""

    positions: np.ndarray
    lexical_t: sparse.csr_matrix
    concepts_t: sparse.csr_matrix


class CandidateRetriever:
    """Fit on the vacancy side once per run, then retrieve for any participants."""

    def __init__(self, config: RetrievalConfig | None = None, index_config: IndexConfig | None = None) -> None:
        self.config = config or RetrievalConfig()
        self.index_config = index_config or IndexConfig()

    def fit(self, jobs: VacancyProfiles, vectors: TextVectors) -> CandidateRetriever:
        """Index the vacancies' dense vectors; keep their sparse channels."""
        if len(jobs) == 0:
            raise ValueError("cannot retrieve from 0 vacancies")
        self.dense_index_, self.dense_rows_ = _index_with_vectors(vectors.vacancy_dense, self.index_config)
        self.concept_index_, self.concept_rows_ = _index_with_vectors(vectors.vacancy_concept, self.index_config)
        self.lexical_ = vectors.vacancy_lexical
        self.concepts_ = _concept_rows(jobs)
        self.n_vacancies_ = len(jobs)
        self._open: _OpenVacancies | None = None
        return self

    def save(self, directory: Path) -> None:
        """Write the fitted FAISS indexes (``VectorIndex.save``: FAISS's own format) and the rows they
        cover into ``directory``; the sparse channels are the vacancies' own rows, saved with them."""
        if not hasattr(self, "dense_index_"):
            raise NotFittedError("CandidateRetriever is not fitted: call fit(jobs, vectors) first")
        directory.mkdir(parents=True, exist_ok=True)
        for name, index, rows in (("dense", self.dense_index_, self.dense_rows_),
                                  ("concept", self.concept_index_, self.concept_rows_)):
            np.save(directory / f"{name}_rows.npy", rows, allow_pickle=False)
            if index is not None:
                index.save(directory / name)

    @classmethod
    def load(cls, directory: Path, config: RetrievalConfig, index_config: IndexConfig, jobs: VacancyProfiles,
             lexical: sparse.csr_matrix) -> CandidateRetriever:
        """A retriever written by ``save``, over the same vacancies (``jobs``) and lexical rows: the
        indexes are read back, never rebuilt (an HNSW graph built again may differ)."""
        retriever = cls(config, index_config)
        for name in ("dense", "concept"):
            rows = np.load(directory / f"{name}_rows.npy", allow_pickle=False)
            index = VectorIndex.load(directory / name) if (directory / name).is_dir() else None
            if index is not None and index.n_ != len(rows):
                raise ValueError(f"{directory / name} holds {index.n_} vectors, {name}_rows.npy {len(rows)}")
            setattr(retriever, f"{name}_index_", index)
            setattr(retriever, f"{name}_rows_", rows)
        retriever.lexical_ = lexical
        retriever.concepts_ = _concept_rows(jobs)
        retriever.n_vacancies_ = len(jobs)
        retriever._open = None
        return retriever

    def retrieve(
        self, people: ParticipantProfiles, jobs: VacancyProfiles, vectors: TextVectors, as_of: date,
        excluded: np.ndarray | None = None, history: InteractionHistory | None = None,
    ) -> Retrieved:
        """Feasible candidates for every participant among the vacancies open on ``as_of``.

        ``excluded``: sorted keys ``participant position * len(jobs) + vacancy position`` of pairs
        never to propose (``exclusion.ExcludedPairs.keys``); the fill looks further for them.
        ``history``: the run's interaction history (the history channels propose nothing without one)."""
        if not hasattr(self, "dense_index_"):
            raise NotFittedError("CandidateRetriever is not fitted: call fit(jobs, vectors) first")
        if len(jobs) != self.n_vacancies_:
            raise ValueError(f"retriever was fitted on {self.n_vacancies_} vacancies, got {len(jobs)}")
        open_positions = np.flatnonzero(open_on(jobs.demands, as_of))
        k = self.config.per_channel
        proposals: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        n = len(people)
        if len(open_positions) and n:
            for channel in self.config.channels:
                if channel == "popular":
                    if history is not None and history.config.enabled:
                        rows, local = history.popular(people.municipality, as_of, jobs.ids[open_positions],
                                                      history.config.popular_candidates)
                        proposals[channel] = (rows, open_positions[local])
                    continue
                if channel == "collaborative":
                    if history is not None and history.config.enabled:
                        rows, local = history.collaborative(people.ids, as_of, vectors.vacancy_dense[open_positions], k)
                        proposals[channel] = (rows, open_positions[local])
                    continue
                if channel in ("dense_text", "dense_concept", "history"):
                    text = channel != "dense_concept"
                    index, indexed = (self.dense_index_, self.dense_rows_) if text else (self.concept_index_, self.concept_rows_)
                    if channel == "history":
                        if history is None or not history.config.enabled:
                            continue
                        queries = history.profiles(people.ids, as_of)[0]
                    else:
                        queries = vectors.participant_dense if text else vectors.participant_concept
                    usable = np.abs(queries).sum(axis=1) > 0
                    # the index holds only the vacancies with a vector (a text, or a concept); search the open ones
                    allowed = np.searchsorted(indexed, open_positions)
                    allowed = allowed[(allowed < len(indexed)) & (indexed[np.minimum(allowed, len(indexed) - 1)] == open_positions)]
                    if index is None or not usable.any() or len(allowed) == 0:
                        continue
                    _, found = index.search_subset(queries[usable], k, allowed)
                    rows = np.repeat(np.flatnonzero(usable), found.shape[1]).reshape(found.shape)
                    keep = found >= 0
                    proposals[channel] = (rows[keep], indexed[found[keep]])
                else:
                    query = vectors.participant_lexical if channel == "lexical" else sparse.hstack(
                        [(people.skills + people.implied_skills).sign(), people.occupations], format="csr"
                    )
                    opened = self._open_vacancies(open_positions)
                    items_t = opened.lexical_t if channel == "lexical" else opened.concepts_t
                    rows, local = _top_sparse(query.tocsr(), items_t, k, self.config.chunk_size,
                                               self.config.threads or os.cpu_count() or 1)
                    proposals[channel] = (rows, open_positions[local])
        participant, vacancy, proposed_by = self._union(proposals, n)
        proposed_total = len(participant)
        ok = feasible(people.limits, jobs.demands, participant, vacancy, as_of)
        excluded = np.empty(0, np.int64) if excluded is None else np.asarray(excluded, np.int64)
        if len(excluded):
            ok &= ~np.isin(participant * np.int64(self.n_vacancies_) + vacancy, excluded)
        participant, vacancy = participant[ok], vacancy[ok]
        proposed_by = {c: flags[ok] for c, flags in proposed_by.items()}
        fill_p, fill_v = self._fill(people, jobs, vectors, (participant, vacancy), open_positions, as_of, excluded)
        filled = np.concatenate([np.zeros(len(participant), bool), np.ones(len(fill_p), bool)])
        participant = np.concatenate([participant, fill_p])
        vacancy = np.concatenate([vacancy, fill_v])
        proposed_by = {c: np.concatenate([f, np.zeros(len(fill_p), bool)]) for c, f in proposed_by.items()}
        order = np.lexsort((vacancy, participant))
        return Retrieved(
            pairs=CandidatePairs(participant[order], vacancy[order]),
            proposed_by={c: f[order] for c, f in proposed_by.items()},
            filled=filled[order],
            proposed_total=proposed_total,
        )

    def _open_vacancies(self, open_positions: np.ndarray) -> _OpenVacancies:
        """Inverted indexes of the open vacancies, built once per open set: every batch chunk and API
        request of a run asks for the same vacancies, and slicing and transposing them each time
        cost more than the search (~0.5 s per request at 50,000 vacancies)."""
        cached = self._open
        if cached is not None and np.array_equal(cached.positions, open_positions):
            return cached
        every = len(open_positions) == self.n_vacancies_
        lexical, concepts = (self.lexical_, self.concepts_) if every else (self.lexical_[open_positions], self.concepts_[open_positions])
        self._open = _OpenVacancies(open_positions, _without_common_terms(lexical.T.tocsr(), self.config.lexical_max_df),
                                    concepts.T.tocsr())
        return self._open

    def _union(
        self, proposals: dict[str, tuple[np.ndarray, np.ndarray]], n: int
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Distinct proposed pairs, sorted, and per channel whether it proposed each (one sort of all keys)."""
        width = np.int64(self.n_vacancies_)
        keys = [rows.astype(np.int64) * width + cols.astype(np.int64) for rows, cols in proposals.values()]
        if not keys:
            return np.empty(0, np.int64), np.empty(0, np.int64), {}
        every = np.concatenate(keys)
        channel = np.repeat(np.arange(len(keys)), [len(key) for key in keys])
        order = np.argsort(every, kind="stable")
        every, channel = every[order], channel[order]
        starts = np.ones(len(every), bool)
        starts[1:] = every[1:] != every[:-1]
        unique = every[starts]
        group = np.cumsum(starts) - 1
        proposed_by = {}
        for c, name in enumerate(proposals):
            flags = np.zeros(len(unique), bool)
            flags[group[channel == c]] = True
            proposed_by[name] = flags
        return unique // width, unique % width, proposed_by

    def _fill(
        self, people: ParticipantProfiles, jobs: VacancyProfiles, vectors: TextVectors,
        have: tuple[np.ndarray, np.ndarray], open_positions: np.ndarray, as_of: date, excluded: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exhaustive scan for people whose channels left fewer than ``min_feasible`` candidates:
        their feasible open vacancies not yet proposed nor excluded, best dense-text score first, up to the gap."""
        need = self.config.min_feasible
        participant, vacancy = have
        counts = np.bincount(participant, minlength=len(people))
        short = np.flatnonzero(counts < need)
        if need == 0 or len(short) == 0 or len(open_positions) == 0:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        local = np.full(len(people), -1)
        fill_p, fill_v = [], []
        # a block's scan holds (people x open vacancies) pairs in a dozen arrays: ~2 M pairs at most
        rows = max(1, min(256, _FILL_PAIRS // len(open_positions)))
        for start in range(0, len(short), rows):
            block = short[start:start + rows]
            local[block] = np.arange(len(block))
            in_block = local[participant] >= 0
            proposed = np.zeros((len(block), self.n_vacancies_), bool)  # the block's pairs already proposed
            proposed[local[participant[in_block]], vacancy[in_block]] = True
            if len(excluded):  # excluded pairs count as proposed: the fill never adds them
                ex_p, ex_v = excluded // self.n_vacancies_, excluded % self.n_vacancies_
                mine = local[ex_p] >= 0
                proposed[local[ex_p[mine]], ex_v[mine]] = True
            local[block] = -1
            # the block's (person x open vacancy) grid, checked by broadcasting rather than per gathered pair
            ok = feasible(people.limits, jobs.demands, block[:, None], open_positions[None, :], as_of)
            ok &= ~proposed[:, open_positions]
            row, column = np.nonzero(ok)  # person by person, vacancies in open order
            # score only the vacancies feasible for someone in the block (few, for the strict
            # profiles that need a fill), not every open one
            used = ok.any(axis=0)
            column_of = np.cumsum(used) - 1
            used = np.flatnonzero(used)
            scores = vectors.participant_dense[block] @ vectors.vacancy_dense[open_positions[used]].T
            score = scores[row, column_of[column]].astype(np.float64)
            # by person, best first, ties in open order: one stable sort of person * 4 + (1 - score)
            # instead of a two-key lexsort. The scores are cosines (VectorIndex accepts only
            # L2-normalised vectors), so each person's keys stay within their own [4p - eps, 4p + 2 + eps];
            # scores closer than ~1e-15 count as a tie
            order = np.argsort(row * 4.0 + (1.0 - score), kind="stable")
            row, column = row[order], column[order]
            first = np.searchsorted(row, row)  # position of each person's first pair
            keep = (np.arange(len(row)) - first) < (need - counts[block])[row]
            fill_p.append(block[row[keep]])
            fill_v.append(open_positions[column[keep]])
        if not fill_p:
            return np.empty(0, np.int64), np.empty(0, np.int64)
        return np.concatenate(fill_p), np.concatenate(fill_v)
