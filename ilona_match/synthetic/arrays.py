"""Vectorised sampling and column-building helpers shared by the world's generators."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

__all__ = [
    "categorical",
    "compact_rows",
    "haversine_km",
    "id_strings",
    "list_column",
    "sample_rows",
    "sigmoid",
]


def categorical(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One draw per row of a (rows, k) probability matrix (rows need not be normalised)."""
    cumulative = np.cumsum(probabilities, axis=1)
    u = rng.random(probabilities.shape[0]) * cumulative[:, -1]
    return np.minimum((cumulative <= u[:, None]).sum(axis=1), probabilities.shape[1] - 1)


def sample_rows(rng: np.random.Generator, pool: np.ndarray, k: np.ndarray, rank_decay: float = 0.0) -> np.ndarray:
    """Draw ``k[i]`` distinct items from row i of a padded pool (-1 = empty), earlier items favoured.

    Weighted sampling without replacement by exponential keys (Efraimidis–Spirakis) with weight
    ``1 / (1 + rank_decay * position)``. Returns a (rows, pool width) array padded with -1.
    """
    rows, width = pool.shape
    weight = 1.0 / (1.0 + rank_decay * np.arange(width))
    keys = np.log(rng.random((rows, width))) / weight
    keys[pool < 0] = -np.inf
    order = np.argsort(-keys, axis=1, kind="stable")
    chosen = np.take_along_axis(pool, order, axis=1)
    keep = (np.arange(width)[None, :] < np.asarray(k)[:, None]) & (chosen >= 0)
    return np.where(keep, chosen, -1)


def compact_rows(values: np.ndarray, unique: bool = True) -> np.ndarray:
    """Move each row's -1 padding to the end, first dropping repeated values in the row if ``unique``."""
    values = values.copy()
    if unique:
        order = np.argsort(values, axis=1, kind="stable")
        ordered = np.take_along_axis(values, order, axis=1)
        repeat = np.zeros_like(ordered, dtype=bool)
        repeat[:, 1:] = ordered[:, 1:] == ordered[:, :-1]
        np.put_along_axis(values, order, np.where(repeat, -1, ordered), axis=1)
    order = np.argsort(values < 0, axis=1, kind="stable")
    return np.take_along_axis(values, order, axis=1)


def list_column(items: np.ndarray, vocabulary: pa.Array, present: np.ndarray | None = None) -> pa.Array:
    """A list<string> column from a padded (rows, k) index array into ``vocabulary``.

    Rows with no items, or with ``present`` false, are null (a missing list in the contract).
    """
    valid = items >= 0
    counts = valid.sum(axis=1)
    has = counts > 0 if present is None else (counts > 0) & present
    counts = np.where(has, counts, 0)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int32)
    flat = items[valid & has[:, None]]
    mask = pa.array(~has)
    return pa.ListArray.from_arrays(pa.array(offsets), vocabulary.take(pa.array(flat, pa.int64())), mask=mask)


def id_strings(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Zero-padded identifiers such as P0000042."""
    digits = pc.utf8_lpad(pc.cast(pa.array(numbers, pa.int64()), pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(pa.scalar(prefix), digits, "")


def haversine_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Great-circle distance in kilometres."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0 * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """The logistic function."""
    return 1.0 / (1.0 + np.exp(-x))
