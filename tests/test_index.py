"""VectorIndex: known neighbours, HNSW recall against exact search, subsets, save/load, errors."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import faiss
import numpy as np
import pytest
from pydantic import ValidationError
from sklearn.exceptions import NotFittedError

from ilona_match.matching.index import IndexConfig, VectorIndex


def _unit(rows: np.ndarray) -> np.ndarray:
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _random_unit(n: int, dimension: int, seed: int) -> np.ndarray:
    return _unit(np.random.default_rng(seed).standard_normal((n, dimension)))


# Four rows on the unit circle at 0, 30, 90 and 180 degrees: every neighbour order is known.
ANGLES = np.deg2rad([0.0, 30.0, 90.0, 180.0])
CIRCLE = _unit(np.stack([np.cos(ANGLES), np.sin(ANGLES)], axis=1))


@pytest.mark.parametrize("exact_below", [20_000, 0], ids=["exact", "hnsw"])
def test_known_neighbours_in_order_with_cosine_scores(exact_below: int) -> None:
    index = VectorIndex(IndexConfig(exact_below=exact_below)).fit(CIRCLE)
    assert index.kind_ == ("exact" if exact_below else "hnsw")
    assert (index.n_, index.dimension_) == (4, 2)
    query = _unit([[np.cos(np.deg2rad(10.0)), np.sin(np.deg2rad(10.0))]])
    scores, positions = index.search(query, 4)
    assert positions.tolist() == [[0, 1, 2, 3]]
    np.testing.assert_allclose(scores[0], np.cos(np.deg2rad([10.0, 20.0, 80.0, 170.0])), atol=1e-6)


def test_k_above_n_pads_with_minus_one_and_minus_infinity() -> None:
    scores, positions = VectorIndex().fit(CIRCLE).search(CIRCLE[:1], 6)
    assert positions.tolist() == [[0, 1, 2, 3, -1, -1]]
    assert np.isneginf(scores[0, 4:]).all() and np.isfinite(scores[0, :4]).all()
    assert scores.dtype == np.float32 and positions.dtype == np.int64


def test_hnsw_recall_at_10_matches_exact_search() -> None:
    vectors = _random_unit(5000, 32, seed=0)
    queries = _random_unit(200, 32, seed=1)
    _, exact = VectorIndex().fit(vectors).search(queries, 10)
    hnsw = VectorIndex(IndexConfig(exact_below=1000)).fit(vectors)
    assert hnsw.kind_ == "hnsw"
    _, approximate = hnsw.search(queries, 10)
    recall = np.mean([len(set(a) & set(e)) / 10 for a, e in zip(approximate, exact, strict=True)])
    assert recall >= 0.95


@pytest.mark.parametrize("exact_below", [20_000, 100], ids=["exact", "hnsw"])
def test_search_subset_returns_only_allowed_rows_with_exact_order(exact_below: int) -> None:
    vectors = _random_unit(500, 16, seed=2)
    queries = _random_unit(5, 16, seed=3)
    allowed = np.arange(1, 500, 7)  # 72 rows: below exact_below, searched exactly either way
    index = VectorIndex(IndexConfig(exact_below=exact_below)).fit(vectors)
    scores, positions = index.search_subset(queries, 5, allowed)
    expected = allowed[np.argsort(-(queries @ vectors[allowed].T), axis=1)[:, :5]]
    assert positions.tolist() == expected.tolist()
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ vectors.T, positions, axis=1), atol=1e-5)


@pytest.mark.parametrize("exact_below", [20_000, 100], ids=["exact", "hnsw"])
def test_search_subset_alternating_subsets_and_all_rows_match_exact_search(exact_below: int) -> None:
    """The index keeps the last subset's exact index: a different subset must not reuse it, and
    allowing every row searches the whole index."""
    vectors = _random_unit(500, 16, seed=12)
    queries = _random_unit(4, 16, seed=13)
    index = VectorIndex(IndexConfig(exact_below=exact_below)).fit(vectors)
    subsets = [np.arange(0, 500, 5), np.arange(3, 500, 9), np.arange(0, 500, 5), np.arange(500)[::-1]]
    for allowed in subsets:
        _, positions = index.search_subset(queries, 4, allowed)
        ordered = np.sort(allowed)
        expected = ordered[np.argsort(-(queries @ vectors[ordered].T), axis=1)[:, :4]]
        if exact_below > 500 or len(allowed) < 500:
            assert positions.tolist() == expected.tolist()
        else:  # every row of an HNSW index: approximate, but only real rows and nearly exact
            assert np.mean([len(set(a) & set(b)) / 4 for a, b in zip(positions, expected)]) >= 0.75
    with pytest.raises(ValueError, match="1-D array"):
        index.search_subset(queries, 4, np.arange(10).reshape(2, 5))


def test_search_subset_of_a_large_hnsw_subset_uses_only_allowed_rows() -> None:
    vectors = _random_unit(3000, 16, seed=4)
    queries = _random_unit(20, 16, seed=5)
    allowed = np.arange(0, 3000, 2)  # 1,500 rows, above exact_below: HNSW with an ID selector
    index = VectorIndex(IndexConfig(exact_below=1000)).fit(vectors)
    _, positions = index.search_subset(queries, 10, allowed)
    assert np.isin(positions, allowed).all()
    exact = allowed[np.argsort(-(queries @ vectors[allowed].T), axis=1)[:, :10]]
    recall = np.mean([len(set(p) & set(e)) / 10 for p, e in zip(positions, exact, strict=True)])
    assert recall >= 0.9


def test_search_subset_pads_when_fewer_rows_are_allowed_than_k() -> None:
    scores, positions = VectorIndex().fit(CIRCLE).search_subset(CIRCLE[:1], 3, np.array([3, 1]))
    assert positions.tolist() == [[1, 3, -1]]
    assert np.isneginf(scores[0, 2])
    scores, positions = VectorIndex().fit(CIRCLE).search_subset(CIRCLE[:1], 2, np.array([], dtype=np.int64))
    assert positions.tolist() == [[-1, -1]] and np.isneginf(scores).all()


@pytest.mark.parametrize("exact_below", [20_000, 100], ids=["exact", "hnsw"])
def test_save_load_round_trip_gives_identical_results_from_a_faiss_file(tmp_path: Path, exact_below: int) -> None:
    vectors = _random_unit(400, 24, seed=6)
    queries = _random_unit(30, 24, seed=7)
    ids = np.array([f"V{i:04d}" for i in range(400)], dtype=object)
    index = VectorIndex(IndexConfig(exact_below=exact_below, ef_search=64)).fit(vectors, ids)
    before = index.search(queries, 10)
    index.save(tmp_path / "idx")

    loaded = VectorIndex.load(tmp_path / "idx")
    after = loaded.search(queries, 10)
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])
    assert (loaded.kind_, loaded.n_, loaded.dimension_, loaded.config) == (
        index.kind_, 400, 24, IndexConfig(exact_below=exact_below, ef_search=64)
    )
    assert loaded.ids_[after[1][0, 0]] == ids[after[1][0, 0]]

    raw = (tmp_path / "idx" / "index.faiss").read_bytes()
    assert raw[:4] == {"exact": b"IxFI", "hnsw": b"IHNf"}[index.kind_]  # FAISS's own fourcc header
    assert not raw.startswith(pickle.PROTO)  # every pickle since protocol 2 opens with PROTO
    assert isinstance(faiss.read_index(str(tmp_path / "idx" / "index.faiss")), faiss.Index)
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert (manifest["n"], manifest["dimension"], manifest["kind"]) == (400, 24, index.kind_)


def test_load_rejects_missing_or_inconsistent_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="manifest.json is missing"):
        VectorIndex.load(tmp_path / "nothing")
    VectorIndex().fit(CIRCLE).save(tmp_path / "idx")
    manifest_path = tmp_path / "idx" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "n": 5}))
    with pytest.raises(ValueError, match="does not match its manifest"):
        VectorIndex.load(tmp_path / "idx")
    manifest_path.write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(ValueError, match="not a version-1"):
        VectorIndex.load(tmp_path / "idx")
    manifest_path.write_text(json.dumps(manifest))
    (tmp_path / "idx" / "ids.npy").unlink()
    with pytest.raises(FileNotFoundError, match="ids.npy is missing"):
        VectorIndex.load(tmp_path / "idx")


def test_search_or_save_before_fit_raises_not_fitted(tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match="not fitted yet"):
        VectorIndex().search(CIRCLE, 1)
    with pytest.raises(NotFittedError, match="not fitted yet"):
        VectorIndex().save(tmp_path)


def test_bad_vectors_queries_ids_and_k_raise() -> None:
    with pytest.raises(ValueError, match="must be float32"):
        VectorIndex().fit(CIRCLE.astype(np.float64))
    with pytest.raises(ValueError, match="must be L2-normalised"):
        VectorIndex().fit(CIRCLE * 2)
    with pytest.raises(ValueError, match="2-D NumPy array"):
        VectorIndex().fit(CIRCLE[0])
    with pytest.raises(ValueError, match="NaN or infinite"):
        VectorIndex().fit(np.full((2, 2), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match="0 vectors"):
        VectorIndex().fit(np.empty((0, 2), dtype=np.float32))
    with pytest.raises(ValueError, match="one id per vector"):
        VectorIndex().fit(CIRCLE, np.arange(3))
    with pytest.raises(ValueError, match="ids must be unique"):
        VectorIndex().fit(CIRCLE, np.array([1, 1, 2, 3]))
    index = VectorIndex().fit(CIRCLE)
    with pytest.raises(ValueError, match="dimension 3, the index has 2"):
        index.search(_random_unit(1, 3, seed=0), 1)
    with pytest.raises(ValueError, match="k must be a whole number"):
        index.search(CIRCLE, 0)
    with pytest.raises(ValueError, match=r"allowed_positions must lie in 0\.\.3"):
        index.search_subset(CIRCLE, 1, np.array([0, 4]))
    with pytest.raises(ValueError, match="integer row positions"):
        index.search_subset(CIRCLE, 1, np.array([0.5]))


def test_unknown_or_invalid_config_options_raise() -> None:
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        IndexConfig(ef_serch=10)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="greater than 0"):
        IndexConfig(ef_search=0)
