"""Retrieval: never a pair that breaks a hard constraint, and k candidates whenever k feasible exist."""

from __future__ import annotations

from datetime import date, timedelta
from unittest import mock

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.exceptions import NotFittedError

from ilona_match.contract import HARD_RESTRICTIONS, PHYSICAL_LEVELS, RESTRICTIONS
from ilona_match.contract.constraints import feasible, open_on
from ilona_match.matching import retrieval
from ilona_match.matching.features import TextVectors
from ilona_match.matching.profiles import build_participants, build_vacancies
from ilona_match.matching.retrieval import CandidateRetriever, RetrievalConfig, _top_sparse, _used_postings
from ilona_match.text.taxonomy import Taxonomy

AS_OF = date(2026, 3, 1)


def _people(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant_id": [f"P{i}" for i in range(len(rows))],
            "coach_id": "C1",
            "language": "fi",
            "profile_text": "",
            "skills": [()] * len(rows),
            "occupations": [()] * len(rows),
            "max_hours_per_week": [r["hours"] for r in rows],
            "physical_capacity": [r["physical"] for r in rows],
            "restrictions": [tuple(r["restrictions"]) for r in rows],
        }
    )


def _jobs(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "vacancy_id": [f"V{j}" for j in range(len(rows))],
            "sector": "cleaning",
            "title": "",
            "description": "",
            "hours_per_week": pd.array([r["hours"] for r in rows], dtype="Float64").astype("float64"),
            "physical_load": [r["physical"] for r in rows],
            **{flag: pd.array([r[flag] for r in rows], dtype="boolean") for flag in HARD_RESTRICTIONS.values()},
            "published_at": pd.to_datetime([AS_OF - timedelta(days=r["age"]) for r in rows]),
            "closes_at": pd.to_datetime([None if r["days_left"] is None else AS_OF + timedelta(days=r["days_left"]) for r in rows]),
        }
    )


def _vectors(n: int, m: int, seed: int) -> TextVectors:
    rng = np.random.default_rng(seed)

    def unit(rows: int) -> np.ndarray:
        x = rng.normal(size=(rows, 8)).astype(np.float32)
        return x / np.linalg.norm(x, axis=1, keepdims=True)

    def lexical(rows: int) -> sparse.csr_matrix:
        x = sparse.random(rows, 30, density=0.2, random_state=seed, format="csr", dtype=np.float32)
        return x

    return TextVectors(unit(n), unit(m), unit(n), unit(m), lexical(n), lexical(m))


person = st.fixed_dictionaries(
    {
        "hours": st.floats(0, 60),
        "physical": st.sampled_from(PHYSICAL_LEVELS),
        "restrictions": st.lists(st.sampled_from(RESTRICTIONS), unique=True),
    }
)
job = st.fixed_dictionaries(
    {
        "hours": st.one_of(st.none(), st.floats(0, 60)),
        "physical": st.sampled_from([*PHYSICAL_LEVELS, None]),
        **{flag: st.sampled_from([True, False, None]) for flag in HARD_RESTRICTIONS.values()},
        "age": st.integers(-10, 60),
        "days_left": st.one_of(st.none(), st.integers(-5, 60)),
    }
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(person, min_size=1, max_size=12), st.lists(job, min_size=1, max_size=40), st.integers(1, 8),
       st.integers(0, 10), st.integers(0, 2**16))
def test_candidates_are_feasible_and_enough(people_rows, job_rows, per_channel, min_feasible, seed) -> None:
    taxonomy = Taxonomy.load()
    people = build_participants(_people(people_rows), taxonomy)
    jobs = build_vacancies(_jobs(job_rows), taxonomy)
    vectors = _vectors(len(people), len(jobs), seed)
    config = RetrievalConfig(per_channel=per_channel, min_feasible=min_feasible)
    got = CandidateRetriever(config).fit(jobs, vectors).retrieve(people, jobs, vectors, AS_OF)
    p, v = got.pairs.participant, got.pairs.vacancy
    assert feasible(people.limits, jobs.demands, p, v, AS_OF).all()
    assert len(set(zip(p.tolist(), v.tolist()))) == len(p)  # no duplicates
    all_p = np.repeat(np.arange(len(people)), len(jobs))
    all_v = np.tile(np.arange(len(jobs)), len(people))
    feasible_counts = np.bincount(all_p[feasible(people.limits, jobs.demands, all_p, all_v, AS_OF)], minlength=len(people))
    got_counts = np.bincount(p, minlength=len(people))
    assert (got_counts >= np.minimum(feasible_counts, min_feasible)).all()
    with mock.patch.object(retrieval, "_FILL_PAIRS", 1):  # the exhaustive fill one person per block
        small = CandidateRetriever(config).fit(jobs, vectors).retrieve(people, jobs, vectors, AS_OF)
    np.testing.assert_array_equal(small.pairs.participant, p)
    np.testing.assert_array_equal(small.pairs.vacancy, v)


def test_one_retriever_over_changing_open_sets_equals_fresh_retrievers() -> None:
    """The retriever keeps the inverted indexes of the last open set: another date's set must be
    rebuilt, not reused."""
    taxonomy = Taxonomy.load()
    rng = np.random.default_rng(3)
    people_rows = [{"hours": 40.0, "physical": "heavy", "restrictions": []} for _ in range(6)]
    job_rows = [{"hours": 20.0, "physical": "light", **dict.fromkeys(HARD_RESTRICTIONS.values(), False),
                 "age": int(rng.integers(0, 30)), "days_left": int(rng.integers(-20, 20))} for _ in range(40)]
    people, jobs = build_participants(_people(people_rows), taxonomy), build_vacancies(_jobs(job_rows), taxonomy)
    vectors = _vectors(len(people), len(jobs), seed=4)
    config = RetrievalConfig(per_channel=3, min_feasible=0, channels=("lexical", "concepts", "dense_text"))
    reused = CandidateRetriever(config).fit(jobs, vectors)
    days = [AS_OF, AS_OF - timedelta(days=15), AS_OF, AS_OF + timedelta(days=10)]
    assert len({tuple(np.flatnonzero(open_on(jobs.demands, day))) for day in days}) == 3
    for day in days:
        got = reused.retrieve(people, jobs, vectors, day)
        fresh = CandidateRetriever(config).fit(jobs, vectors).retrieve(people, jobs, vectors, day)
        assert got.pairs.participant.tolist() == fresh.pairs.participant.tolist()
        assert got.pairs.vacancy.tolist() == fresh.pairs.vacancy.tolist()
        assert open_on(jobs.demands, day)[got.pairs.vacancy].all()


def test_retrieve_before_fit_and_mismatched_vacancies_raise() -> None:
    taxonomy = Taxonomy.load()
    rows = [{"hours": 20.0, "physical": "light", "restrictions": []}]
    jrows = [{"hours": 10.0, "physical": "light", **dict.fromkeys(HARD_RESTRICTIONS.values(), False), "age": 1, "days_left": None}]
    people, jobs = build_participants(_people(rows), taxonomy), build_vacancies(_jobs(jrows), taxonomy)
    vectors = _vectors(1, 1, 0)
    with pytest.raises(NotFittedError, match="not fitted"):
        CandidateRetriever().retrieve(people, jobs, vectors, AS_OF)
    retriever = CandidateRetriever().fit(jobs, vectors)
    two = build_vacancies(_jobs(jrows * 2), taxonomy)
    with pytest.raises(ValueError, match="fitted on 1 vacancies, got 2"):
        retriever.retrieve(people, two, _vectors(1, 2, 0), AS_OF)
    with pytest.raises(ValueError, match="extra"):
        RetrievalConfig(per_chanel=3)  # type: ignore[call-arg]


@pytest.mark.parametrize(("dtype", "k", "chunk", "threads", "n_queries", "terms"), [
    (np.float32, 5, 7, 1, 23, 60), (np.float64, 40, 1000, 1, 23, 60), (np.float32, 1, 3, 1, 23, 60),
    (np.float32, 5, 1000, 3, 80, 60),  # one block of 80 rows: on 3 threads
    (np.float32, 5, 1, 1, 9, 600),  # one row per block uses ~12 of 600 terms: the index is cut to them
    (np.float64, 3, 4, 2, 9, 600),
])
def test_sparse_top_k_equals_the_dense_product_top_k(dtype, k, chunk, threads, n_queries, terms) -> None:
    """The sparse channels' top-k (kept while multiplying, on one thread or several, over the
    whole inverted index or the terms a block uses) against a dense product and a full sort."""
    rng = np.random.default_rng(3)
    queries = sparse.random(n_queries, terms, density=12 / terms, format="csr", dtype=dtype, random_state=rng)
    items = sparse.random(30, terms, density=0.3, format="csr", dtype=np.float64, random_state=rng)
    rows, cols = _top_sparse(queries, items.T.tocsr(), k, chunk, threads)
    scores = (queries @ items.T).toarray()
    expected = {(r, int(c)) for r in range(len(scores))
                for c in np.argsort(-scores[r], kind="stable")[:k] if scores[r, c] > 0}
    assert set(zip(rows.tolist(), cols.tolist())) == expected
    assert len(rows) == len(expected)  # no pair twice
    assert (np.diff(rows) >= 0).all()


def test_a_block_using_few_terms_is_multiplied_by_their_postings_only() -> None:
    """One API request's query uses a few hundred of tens of thousands of terms: the inverted index
    is cut to those rows (in order) instead of being copied whole; a block using most terms is not cut."""
    rng = np.random.default_rng(5)
    items_t = sparse.random(400, 50, density=0.2, format="csr", dtype=np.float32, random_state=rng)
    one = sparse.csr_matrix((np.array([0.5, 2.0, 1.0], np.float32), np.array([7, 120, 333], np.int32),
                             np.array([0, 3])), shape=(1, 400))
    block, postings = _used_postings(one, items_t)
    assert postings.shape == (3, 50) and block.shape == (1, 3)
    assert np.array_equal(postings.toarray(), items_t[[7, 120, 333]].toarray())
    np.testing.assert_array_equal((block @ postings).toarray(), (one @ items_t).toarray())
    most = sparse.random(50, 400, density=0.2, format="csr", dtype=np.float32, random_state=rng)
    assert _used_postings(most, items_t)[1] is items_t


def test_terms_in_most_vacancies_leave_the_lexical_index() -> None:
    """A term found in more than ``max_df`` of the items has its posting list emptied; the others
    keep theirs exactly, under the same term ids; at 1.0 the index is returned as it is."""
    items = sparse.csr_matrix(np.array([[1.0, 0.5, 0.0], [2.0, 0.0, 0.0], [3.0, 0.0, 0.7], [4.0, 0.2, 0.0]],
                                       np.float32))  # term 0 in 4/4 items, term 1 in 2/4, term 2 in 1/4
    items_t = items.T.tocsr()
    assert retrieval._without_common_terms(items_t, 1.0) is items_t
    half = retrieval._without_common_terms(items_t, 0.5).toarray()
    np.testing.assert_array_equal(half, np.array([[0, 0, 0, 0], [0.5, 0, 0, 0.2], [0, 0, 0.7, 0]], np.float32))
    quarter = retrieval._without_common_terms(items_t, 0.25).toarray()
    np.testing.assert_array_equal(quarter[2], np.array([0, 0, 0.7, 0], np.float32))
    assert not quarter[:2].any()


def test_the_lexical_channel_ignores_common_terms_when_asked() -> None:
    """Known answer: a term every vacancy shares, heaviest in V2, outweighs the rare term only V3 has.
    With every term the lexical channel proposes V2; without the common one it proposes V3."""
    taxonomy = Taxonomy.load()
    rows = [{"hours": 40.0, "physical": "heavy", "restrictions": []}]
    jrows = [{"hours": 10.0, "physical": "light", **dict.fromkeys(HARD_RESTRICTIONS.values(), False), "age": 1,
              "days_left": None}] * 4
    people, jobs = build_participants(_people(rows), taxonomy), build_vacancies(_jobs(jrows), taxonomy)
    vectors = _vectors(1, 4, 0)
    lexical_jobs = sparse.csr_matrix(np.array([[1, 0], [1, 0], [3, 0], [1, 0.5]], np.float32))
    vectors = TextVectors(vectors.participant_dense, vectors.vacancy_dense, vectors.participant_concept,
                          vectors.vacancy_concept, sparse.csr_matrix(np.array([[1, 1]], np.float32)), lexical_jobs)
    proposed = {}
    for max_df in (1.0, 0.5):
        config = RetrievalConfig(channels=("lexical",), per_channel=1, min_feasible=0, lexical_max_df=max_df)
        got = CandidateRetriever(config).fit(jobs, vectors).retrieve(people, jobs, vectors, AS_OF)
        proposed[max_df] = jobs.ids[got.pairs.vacancy].tolist()
    assert proposed == {1.0: ["V2"], 0.5: ["V3"]}


@pytest.mark.parametrize("max_df", [0.0, -0.1, 1.5])
def test_lexical_max_df_must_be_a_share(max_df) -> None:
    with pytest.raises(ValueError, match="lexical_max_df"):
        RetrievalConfig(lexical_max_df=max_df)


@pytest.mark.parametrize("fill_pairs", [1, 50, 2_000_000])
def test_the_fill_takes_the_best_dense_scores_first_ties_in_open_order(fill_pairs) -> None:
    """Known answer from a plain per-person loop: with no channel proposing anything, each person
    gets their ``min_feasible`` feasible open vacancies of highest dense-text score, equal scores
    (duplicate vacancy vectors) in open order, whatever the block size of the scan."""
    taxonomy = Taxonomy.load()
    rng = np.random.default_rng(11)
    people_rows = [{"hours": float(h), "physical": rng.choice(PHYSICAL_LEVELS), "restrictions": []}
                   for h in rng.integers(5, 40, 9)]
    job_rows = [{"hours": float(rng.integers(5, 40)), "physical": rng.choice(PHYSICAL_LEVELS),
                 **dict.fromkeys(HARD_RESTRICTIONS.values(), False), "age": int(rng.integers(-3, 30)),
                 "days_left": None} for _ in range(60)]
    people, jobs = build_participants(_people(people_rows), taxonomy), build_vacancies(_jobs(job_rows), taxonomy)
    vectors = _vectors(len(people), len(jobs), seed=2)
    vectors.vacancy_dense[1::3] = vectors.vacancy_dense[0]  # a third of the vacancies score alike
    config = RetrievalConfig(channels=("concepts",), min_feasible=5)  # nobody lists a concept: all is fill
    with mock.patch.object(retrieval, "_FILL_PAIRS", fill_pairs):
        got = CandidateRetriever(config).fit(jobs, vectors).retrieve(people, jobs, vectors, AS_OF)
    assert got.filled.all()
    opened = np.flatnonzero(open_on(jobs.demands, AS_OF))
    for person in range(len(people)):
        ok = opened[feasible(people.limits, jobs.demands, np.full(len(opened), person), opened, AS_OF)]
        score = vectors.vacancy_dense[ok] @ vectors.participant_dense[person]
        expected = ok[sorted(range(len(ok)), key=lambda i: (-score[i], ok[i]))[:5]]
        assert sorted(got.pairs.vacancy[got.pairs.participant == person].tolist()) == sorted(expected.tolist())
