"""Nearest-neighbour search over normalised vectors with FAISS (inner product = cosine).

Below ``exact_below`` vectors the index is exact (``IndexFlatIP``); above it, an HNSW graph
(``IndexHNSWFlat``) trades a little recall for speed. An index is saved with ``faiss.write_index``
and a JSON manifest, never pickled, so loading a file cannot run code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

import faiss
import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from sklearn.exceptions import NotFittedError

__all__ = ["IndexConfig", "IndexKind", "VectorIndex"]

IndexKind = Literal["exact", "hnsw"]

_INDEX_FILE = "index.faiss"
_MANIFEST_FILE = "manifest.json"
_IDS_FILE = "ids.npy"
_FORMAT = "ilona-match/vector-index"
_FORMAT_VERSION = 1
_NORM_TOLERANCE = 1e-3


class IndexConfig(BaseModel):
    """How the index is built and searched."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exact_below: int = Field(20_000, ge=0, description="exact search below this many vectors, HNSW from it on")
    hnsw_m: int = Field(32, gt=1, description="HNSW graph degree")
    ef_construction: int = Field(80, gt=0, description="HNSW candidate list while building")
    ef_search: int = Field(128, gt=0, description="HNSW candidate list while searching (raised to k when smaller)")


def _check_vectors(name: str, vectors: np.ndarray, dimension: int | None = None) -> np.ndarray:
    """Return ``vectors`` C-contiguous after checking they are 2-D float32 rows of unit length."""
    if not isinstance(vectors, np.ndarray) or vectors.ndim != 2:
        raise ValueError(f"{name} must be a 2-D NumPy array, got {type(vectors).__name__} of shape {np.shape(vectors)}")
    if vectors.dtype != np.float32:
        raise ValueError(f"{name} must be float32, got {vectors.dtype}")
    if dimension is not None and vectors.shape[1] != dimension:
        raise ValueError(f"{name} have dimension {vectors.shape[1]}, the index has {dimension}")
    if vectors.shape[1] == 0:
        raise ValueError(f"{name} have dimension 0")
    if not np.isfinite(vectors).all():
        raise ValueError(f"{name} contain NaN or infinite values")
    norms = np.linalg.norm(vectors, axis=1)
    if vectors.shape[0] and np.abs(norms - 1.0).max() > _NORM_TOLERANCE:
        raise ValueError(f"{name} must be L2-normalised (row norms range {norms.min():.4f}..{norms.max():.4f})")
    return np.ascontiguousarray(vectors)


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {k!r}")
    return int(k)


def _padded(scores: np.ndarray, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """FAISS pads missing neighbours with label -1 and -FLT_MAX; make the score -inf."""
    scores = np.where(positions < 0, -np.inf, scores).astype(np.float32)
    return scores, positions.astype(np.int64)


class VectorIndex:
    """Inner-product nearest neighbours over fitted rows; ``search`` returns row positions.

    Fitted attributes: ``n_``, ``dimension_``, ``kind_`` ("exact" or "hnsw") and ``ids_`` (the ids
    given to ``fit``, or 0..n-1), so ``ids_[positions]`` maps results to ids where positions >= 0.
    """

    def __init__(self, config: IndexConfig | None = None) -> None:
        self.config = config or IndexConfig()
        self._index: faiss.Index | None = None
        self._subset: tuple[np.ndarray, faiss.IndexFlatIP] | None = None

    def fit(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> VectorIndex:
        """Build the index over ``vectors`` (float32, L2-normalised rows)."""
        vectors = _check_vectors("vectors", vectors)
        n, dimension = vectors.shape
        if n == 0:
            raise ValueError("cannot fit an index on 0 vectors")
        self.ids_ = self._check_ids(ids, n)
        if n < self.config.exact_below:
            index: faiss.Index = faiss.IndexFlatIP(dimension)
            kind: IndexKind = "exact"
        else:
            index = faiss.IndexHNSWFlat(dimension, self.config.hnsw_m, faiss.METRIC_INNER_PRODUCT)
            index.hnsw.efConstruction = self.config.ef_construction
            index.hnsw.efSearch = self.config.ef_search
            kind = "hnsw"
        index.add(vectors)
        self._index, self.n_, self.dimension_, self.kind_ = index, n, dimension, kind
        self._subset = None
        return self

    @staticmethod
    def _check_ids(ids: np.ndarray | None, n: int) -> np.ndarray:
        if ids is None:
            return np.arange(n, dtype=np.int64)
        ids = np.asarray(ids)
        if ids.dtype == object:  # strings in an object array: store them as a fixed-width str array
            if not all(isinstance(value, str) for value in ids.ravel()):
                raise ValueError("ids must be integers or strings")
            ids = ids.astype(str)
        if ids.shape != (n,):
            raise ValueError(f"ids must be 1-D with one id per vector: {n} vectors, ids of shape {ids.shape}")
        if ids.dtype.kind not in "iuU":
            raise ValueError(f"ids must be integers or strings, got dtype {ids.dtype}")
        if len(np.unique(ids)) != n:
            raise ValueError("ids must be unique")
        return ids

    def _fitted(self) -> faiss.Index:
        if self._index is None:
            raise NotFittedError("this VectorIndex is not fitted yet: call fit(vectors) or VectorIndex.load(directory)")
        return self._index

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` best rows per query: (scores, positions), each of shape (n_queries, k), best first.

        Where fewer than ``k`` rows are found the position is -1 and the score -inf.
        """
        index = self._fitted()
        queries = _check_vectors("queries", queries, self.dimension_)
        k = _check_k(k)
        params = self._hnsw_params(k) if self.kind_ == "hnsw" else None
        return _padded(*index.search(queries, k, params=params))

    def search_subset(
        self, queries: np.ndarray, k: int, allowed_positions: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Like ``search``, but only over the rows at ``allowed_positions`` (e.g. vacancies open on a date).

        A subset smaller than ``exact_below`` is searched exactly (filtered HNSW loses recall on
        small subsets); a larger one through the HNSW graph with a FAISS ID selector.
        """
        index = self._fitted()
        queries = _check_vectors("queries", queries, self.dimension_)
        k = _check_k(k)
        allowed = np.asarray(allowed_positions)
        if allowed.ndim != 1 or (allowed.size and allowed.dtype.kind not in "iu"):
            raise ValueError("allowed_positions must be a 1-D array of integer row positions")
        allowed = allowed.astype(np.int64)
        if not np.all(allowed[1:] > allowed[:-1]):  # open positions come sorted and unique; others are made so
            allowed = np.unique(allowed)
        if allowed.size and (allowed[0] < 0 or allowed[-1] >= self.n_):
            raise ValueError(f"allowed_positions must lie in 0..{self.n_ - 1}")
        if allowed.size == 0:
            return np.full((len(queries), k), -np.inf, np.float32), np.full((len(queries), k), -1, np.int64)
        if allowed.size == self.n_:  # every row allowed: the whole index, no selector
            params = self._hnsw_params(k) if self.kind_ == "hnsw" else None
            return _padded(*index.search(queries, k, params=params))
        if self.kind_ == "exact" or allowed.size < self.config.exact_below:
            scores, local = self._subset_index(allowed).search(queries, k)
            positions = np.where(local >= 0, allowed[np.maximum(local, 0)], -1)
            return _padded(scores, positions)
        selector = faiss.IDSelectorBatch(allowed)  # kept referenced until the search returns
        return _padded(*index.search(queries, k, params=self._hnsw_params(k, selector)))

    def _subset_index(self, allowed: np.ndarray) -> faiss.IndexFlatIP:
        """An exact index over the ``allowed`` rows, kept for the next call with the same rows (the
        vacancies open on one date: every API request and batch chunk of a run asks for the same set)."""
        cached = self._subset
        if cached is not None and np.array_equal(cached[0], allowed):
            return cached[1]
        subset = faiss.IndexFlatIP(self.dimension_)
        subset.add(self._fitted().reconstruct_batch(allowed))
        self._subset = (allowed, subset)
        return subset

    def _hnsw_params(self, k: int, selector: faiss.IDSelector | None = None) -> faiss.SearchParametersHNSW:
        params = faiss.SearchParametersHNSW(efSearch=max(self.config.ef_search, k))
        if selector is not None:
            params.sel = selector
        return params

    def save(self, directory: str | Path) -> Path:
        """Write ``index.faiss`` (FAISS's own format), ``ids.npy`` and ``manifest.json`` into ``directory``."""
        index = self._fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(index, str(directory / _INDEX_FILE))
        np.save(directory / _IDS_FILE, self.ids_, allow_pickle=False)
        manifest = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "faiss_version": faiss.__version__,
            "config": self.config.model_dump(),
            "n": self.n_,
            "dimension": self.dimension_,
            "kind": self.kind_,
        }
        (directory / _MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> VectorIndex:
        """Read an index written by ``save`` and check it against its manifest."""
        directory = Path(directory)
        manifest_path = directory / _MANIFEST_FILE
        if not manifest_path.is_file():
            raise FileNotFoundError(f"no vector index in {directory}: {_MANIFEST_FILE} is missing")
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        if manifest.get("format") != _FORMAT or manifest.get("format_version") != _FORMAT_VERSION:
            raise ValueError(f"{manifest_path} is not a version-{_FORMAT_VERSION} {_FORMAT} manifest")
        for name in (_INDEX_FILE, _IDS_FILE):
            if not (directory / name).is_file():
                raise FileNotFoundError(f"vector index in {directory} is incomplete: {name} is missing")
        loaded = cls(IndexConfig(**manifest["config"]))
        index = faiss.read_index(str(directory / _INDEX_FILE))
        expected_type = faiss.IndexFlatIP if manifest["kind"] == "exact" else faiss.IndexHNSWFlat
        if (
            not isinstance(index, expected_type)
            or index.ntotal != manifest["n"]
            or index.d != manifest["dimension"]
            or index.metric_type != faiss.METRIC_INNER_PRODUCT
        ):
            raise ValueError(f"{directory / _INDEX_FILE} does not match its manifest (kind, size or dimension)")
        loaded.ids_ = loaded._check_ids(np.load(directory / _IDS_FILE, allow_pickle=False), index.ntotal)
        if isinstance(index, faiss.IndexHNSWFlat):
            index.hnsw.efSearch = loaded.config.ef_search
        loaded._index, loaded.n_, loaded.dimension_ = index, int(index.ntotal), int(index.d)
        loaded.kind_ = manifest["kind"]
        return loaded
