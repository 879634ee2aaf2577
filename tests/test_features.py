"""Pair features: known answers on the contract's example, and one definition for batch and single calls."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numba
import numpy as np
import pytest
from scipy import sparse

from ilona_match.contract import load_data
from ilona_match.matching.features import FEATURE_NAMES, CandidatePairs, TextVectors, compute_features
from ilona_match.matching.profiles import build_participants, build_vacancies
from ilona_match.text.lexical import LexicalEncoder
from ilona_match.text.taxonomy import Taxonomy

EXAMPLE = Path(__file__).parent / "data" / "example"
AS_OF = date(2026, 9, 1)


def _features(people_frame, jobs_frame, lexical: LexicalEncoder):
    taxonomy = Taxonomy.load()
    people, jobs = build_participants(people_frame, taxonomy), build_vacancies(jobs_frame, taxonomy)
    rng = np.random.default_rng(0)
    dense_v = rng.normal(size=(len(jobs), 6)).astype(np.float32)
    dense_v /= np.linalg.norm(dense_v, axis=1, keepdims=True)
    # participant dense vectors derived from ids so that a one-row call gets the same vector
    dense_p = np.stack([np.random.default_rng(int(i[1:])).normal(size=6) for i in people.ids]).astype(np.float32)
    dense_p /= np.linalg.norm(dense_p, axis=1, keepdims=True)
    vectors = TextVectors(dense_p, dense_v, dense_p, dense_v,
                          lexical.transform(people.texts, people.language), lexical.transform(jobs.texts, jobs.language))
    p = np.repeat(np.arange(len(people)), len(jobs))
    v = np.tile(np.arange(len(jobs)), len(people))
    return people, jobs, compute_features(people, jobs, CandidatePairs(p, v), vectors, AS_OF)


@pytest.fixture(scope="module")
def example():
    bundle = load_data(EXAMPLE)
    lexical = LexicalEncoder().fit(bundle.vacancies["title"].tolist(), bundle.vacancies["language"].tolist())
    return bundle, lexical


def _row(people, jobs, features, pid: str, vid: str) -> dict[str, float]:
    i, j = list(people.ids).index(pid), list(jobs.ids).index(vid)
    k = np.flatnonzero((features.pairs.participant == i) & (features.pairs.vacancy == j))[0]
    return dict(zip(FEATURE_NAMES, features.matrix[k].tolist()))


def test_known_answers_on_the_example(example) -> None:
    bundle, lexical = example
    people, jobs, features = _features(bundle.participants, bundle.vacancies, lexical)
    home_care = _row(people, jobs, features, "P001", "V101")
    assert home_care["required_coverage"] == 1.0 and home_care["required_missing"] == 0
    assert home_care["isco4_match"] == 1.0 and home_care["occupation_match"] == 1.0
    assert home_care["hours_margin"] == 0.0 and home_care["physical_margin"] == 0.0
    assert home_care["supports_overlap"] == 2.0  # wage_subsidy and work_trial both accepted
    assert home_care["same_municipality"] == 1.0 and home_care["distance_km"] == pytest.approx(1.9, abs=0.1)
    assert home_care["sector_preferred"] == 1.0 and home_care["social_enterprise"] == 1.0
    assert home_care["vacancy_age_days"] == 12 and home_care["days_to_close"] == 30
    kitchen = _row(people, jobs, features, "P003", "V103")
    assert kitchen["isco4_match"] == 1.0  # "kitchen assistant" (en) meets "Köksbiträde" (sv) through ESCO
    assert kitchen["to_check_count"] == 1  # physical load unknown; heavy lifting does not matter to P003
    assert np.isnan(kitchen["sector_preferred"])  # P003 states no preference
    remote = _row(people, jobs, features, "P004", "V104")
    assert remote["remote_fit"] == 1.0 and remote["distance_ratio"] == 0.0  # same town, no coordinates
    assert np.isnan(_row(people, jobs, features, "P004", "V101")["distance_km"])
    assert features.matrix.dtype == np.float32 and features.matrix.shape == (20, len(FEATURE_NAMES))


def test_single_participant_rows_equal_batch_rows(example) -> None:
    bundle, lexical = example
    people, jobs, batch = _features(bundle.participants, bundle.vacancies, lexical)
    for i, pid in enumerate(people.ids):
        one_frame = bundle.participants.iloc[[i]].reset_index(drop=True)
        _, _, single = _features(one_frame, bundle.vacancies, lexical)
        np.testing.assert_array_equal(single.matrix, batch.matrix[batch.pairs.participant == i], err_msg=pid)


def test_pairs_must_be_aligned() -> None:
    with pytest.raises(ValueError, match="equal length"):
        CandidatePairs(np.arange(3), np.arange(2))


def test_lexical_encoder_checks_its_inputs() -> None:
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="not fitted"):
        LexicalEncoder().transform(["a"], ["fi"])
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        LexicalEncoder().fit(["a", "b"], ["fi"])
    with pytest.raises(ValueError, match="char_weight"):
        LexicalEncoder(char_weight=2).fit(["a"], ["fi"])
    enc = LexicalEncoder().fit(["Siivoojaa haetaan kouluun", "Lagerarbetare sökes"], ["fi", "sv"])
    rows = enc.transform(["siivooja", "kouluun siivoojaksi"], ["fi", "fi"])
    assert isinstance(rows, sparse.csr_matrix)
    assert np.allclose(sparse.linalg.norm(rows, axis=1), 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8])
def test_sparse_rowwise_dot_equals_the_dense_row_products(dtype) -> None:
    """The compiled pair kernel against dense row products: unsorted indices, empty rows, repeated
    pairs, any value type; and a clear error when the two sides do not share columns."""
    from ilona_match.matching.features import _sparse_rowwise_dot

    rng = np.random.default_rng(5)
    a = sparse.random(40, 70, density=0.15, format="csr", dtype=np.float64, random_state=rng)
    b = sparse.random(25, 70, density=0.3, format="csr", dtype=np.float64, random_state=rng)
    a = (sparse.diags((np.arange(40) != 3).astype(np.float64)) @ a).tocsr()  # row 3 of a, row 7 of b empty
    b = (sparse.diags((np.arange(25) != 7).astype(np.float64)) @ b).tocsr()
    for m in (a, b):
        m.eliminate_zeros()
        m.sort_indices()
        m.data = np.ceil(m.data * 5).astype(dtype)
    within_row = np.concatenate([np.arange(start, stop)[::-1] for start, stop in zip(b.indptr[:-1], b.indptr[1:])])
    b = sparse.csr_matrix((b.data[within_row], b.indices[within_row], b.indptr), shape=b.shape)  # each row reversed
    assert not b.has_sorted_indices
    ia, ib = rng.integers(0, 40, 500), rng.integers(0, 25, 500)
    ia[:3], ib[:3] = 3, 7
    expected = (a.toarray()[ia].astype(np.float64) * b.toarray()[ib]).sum(axis=1)
    got = _sparse_rowwise_dot(a, b, ia, ib)
    assert got.dtype == np.float32 and (got[:3] == 0).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert len(_sparse_rowwise_dot(a, b, ia[:0], ib[:0])) == 0
    with pytest.raises(ValueError, match="the two sides have 70 and 71 columns"):
        _sparse_rowwise_dot(a, sparse.csr_matrix((25, 71)), ia, ib)


def test_a_kernel_numba_cannot_cache_still_compiles() -> None:
    """A function numba finds no cache place for (here: one without a source file, as in a read-only
    install with no home folder) is compiled without the disk cache instead of failing at import."""
    from ilona_match.matching.features import _compiled

    namespace: dict = {}
    exec("def twice(x):\n    return 2 * x\n", namespace)  # noqa: S102 - a function with no source file
    with pytest.raises(RuntimeError, match="no locator available"):
        numba.njit(cache=True)(namespace["twice"])
    assert _compiled(namespace["twice"])(21) == 42
