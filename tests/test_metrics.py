"""Ranking metrics against answers worked out by hand, and NDCG against scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import ndcg_score

from ilona_match.learning.metrics import (
    catalogue_coverage,
    evaluate_rankings,
    gini_exposure,
    mrr,
    ndcg_at_k,
    recall_at_k,
)

LOG2_3 = math.log2(3)


def _recs(rows: list[tuple[str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["query_id", "item_id", "rank"])


def _relevance(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["query_id", "item_id", "grade"])


@pytest.fixture
def recs() -> pd.DataFrame:
    # q1 ranks a, b, c; q2 ranks x, y (nothing relevant); q3 has a relevant item but no list
    return _recs([("q1", "a", 1), ("q1", "b", 2), ("q1", "c", 3), ("q2", "x", 1), ("q2", "y", 2)])


@pytest.fixture
def relevance() -> pd.DataFrame:
    # d (grade 3) was never recommended: it still counts in the ideal DCG and in recall
    return _relevance([("q1", "b", 2), ("q1", "c", 1), ("q1", "d", 3), ("q1", "a", 0), ("q3", "e", 1)])


Q1_NDCG3 = (3 / LOG2_3 + 1 / 2) / (7 + 3 / LOG2_3 + 1 / 2)


def test_ndcg_by_hand(recs: pd.DataFrame, relevance: pd.DataFrame) -> None:
    at3 = ndcg_at_k(recs, relevance, 3)
    assert at3.name == "ndcg@3"
    assert list(at3.index) == ["q1", "q3"]  # q2 has no relevant item: left out
    assert at3["q1"] == pytest.approx(Q1_NDCG3)
    assert at3["q3"] == 0.0  # relevant item, no recommendation
    assert ndcg_at_k(recs, relevance, 1)["q1"] == 0.0
    linear = ndcg_at_k(recs, relevance, 3, gain="linear")["q1"]
    assert linear == pytest.approx((2 / LOG2_3 + 1 / 2) / (3 + 2 / LOG2_3 + 1 / 2))


def test_ndcg_discount_follows_rank_value_when_ranks_skip() -> None:
    recs = _recs([("q", "a", 1), ("q", "b", 3)])
    relevance = _relevance([("q", "b", 1)])
    assert ndcg_at_k(recs, relevance, 5)["q"] == pytest.approx(0.5)  # 1/log2(3+1) over ideal 1
    assert ndcg_at_k(recs, relevance, 2)["q"] == 0.0


def test_recall_and_mrr_by_hand(recs: pd.DataFrame, relevance: pd.DataFrame) -> None:
    recall2, recall3 = recall_at_k(recs, relevance, 2), recall_at_k(recs, relevance, 3)
    assert recall2.to_dict() == pytest.approx({"q1": 1 / 3, "q3": 0.0})
    assert recall3["q1"] == pytest.approx(2 / 3)
    assert recall_at_k(recs, relevance, 3, min_grade=2).to_dict() == pytest.approx({"q1": 0.5})
    assert mrr(recs, relevance).to_dict() == pytest.approx({"q1": 0.5, "q3": 0.0})
    assert mrr(recs, relevance, min_grade=3).to_dict() == {"q1": 0.0}
    assert mrr(recs, relevance, k=1).to_dict() == {"q1": 0.0, "q3": 0.0}


def test_coverage_and_gini_by_hand(recs: pd.DataFrame) -> None:
    assert catalogue_coverage(recs, n_items=10) == pytest.approx(0.5)  # a b c x y
    assert catalogue_coverage(recs, n_items=10, k=1) == pytest.approx(0.2)  # a x
    assert gini_exposure(recs) == pytest.approx(0.0)  # five items, once each
    assert gini_exposure(recs, n_items=10) == pytest.approx(0.5)  # half the items share it all equally
    one_item = _recs([("q1", "a", 1), ("q2", "a", 1), ("q3", "a", 1)])
    assert gini_exposure(one_item, n_items=4) == pytest.approx(3 / 4)
    assert math.isnan(gini_exposure(_recs([])))


def test_evaluate_rankings_bundles_means_and_counts(recs: pd.DataFrame, relevance: pd.DataFrame) -> None:
    result = evaluate_rankings(recs, relevance, ks=(1, 3), n_items=10)
    assert result["queries"] == 2 and result["queries_without_relevant"] == 1
    assert result["ndcg@3"] == pytest.approx(Q1_NDCG3 / 2)
    assert result["ndcg@1"] == 0.0
    assert result["recall@3"] == pytest.approx(1 / 3)
    assert result["mrr"] == pytest.approx(0.25)
    assert result["coverage@1"] == pytest.approx(0.2) and result["coverage@3"] == pytest.approx(0.5)
    assert result["gini@3"] == pytest.approx(0.5)
    assert "coverage@3" not in evaluate_rankings(recs, relevance, ks=(3,))
    nothing = evaluate_rankings(recs.head(0), relevance, ks=(3,))
    assert nothing["ndcg@3"] == 0.0 and nothing["mrr"] == 0.0 and nothing["queries"] == 2


@pytest.mark.parametrize("gain", ["linear", "exponential"])
@pytest.mark.parametrize("k", [5, 15])
def test_ndcg_matches_sklearn_on_random_data(gain: str, k: int) -> None:
    rng = np.random.default_rng(7)
    n_queries, n_items = 40, 15
    grades = rng.integers(0, 5, size=(n_queries, n_items))
    grades[:, 0] = np.maximum(grades[:, 0], 1)  # every query has a relevant item
    scores = rng.random((n_queries, n_items))
    order = np.argsort(-scores, axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, n_items + 1)[None, :].repeat(n_queries, 0), axis=1)
    query = np.repeat(np.arange(n_queries), n_items)
    item = np.tile(np.arange(n_items), n_queries)
    recs = pd.DataFrame({"query_id": query, "item_id": item, "rank": ranks.ravel()})
    relevance = pd.DataFrame({"query_id": query, "item_id": item, "grade": grades.ravel()})
    ours = ndcg_at_k(recs, relevance, k, gain=gain)
    true_gain = grades if gain == "linear" else 2.0**grades - 1
    theirs = [ndcg_score(true_gain[q : q + 1], scores[q : q + 1], k=k) for q in range(n_queries)]
    np.testing.assert_allclose(ours.to_numpy(), theirs, rtol=1e-12)


def test_bad_inputs_raise(recs: pd.DataFrame, relevance: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="lacks column"):
        ndcg_at_k(recs.drop(columns="rank"), relevance, 3)
    with pytest.raises(TypeError, match="DataFrame"):
        ndcg_at_k(recs.to_numpy(), relevance, 3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="more than once"):
        recall_at_k(pd.concat([recs, recs.head(1).assign(rank=9)]), relevance, 3)
    with pytest.raises(ValueError, match="same rank"):
        mrr(_recs([("q", "a", 1), ("q", "b", 1)]), relevance)
    with pytest.raises(ValueError, match="integers >= 1"):
        mrr(_recs([("q", "a", 0)]), relevance)
    with pytest.raises(ValueError, match="integers >= 1"):
        mrr(recs.assign(rank=recs["rank"].astype(float)), relevance)
    with pytest.raises(ValueError, match="finite and >= 0"):
        ndcg_at_k(recs, relevance.assign(grade=-1.0), 3)
    with pytest.raises(ValueError, match="must be numeric"):
        ndcg_at_k(recs, relevance.assign(grade="high"), 3)
    with pytest.raises(ValueError, match="k must be a whole number"):
        ndcg_at_k(recs, relevance, 0)
    with pytest.raises(ValueError, match="gain must be"):
        ndcg_at_k(recs, relevance, 3, gain="cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_grade must be > 0"):
        recall_at_k(recs, relevance, 3, min_grade=0)
    with pytest.raises(ValueError, match="5 distinct items"):
        catalogue_coverage(recs, n_items=4)
    with pytest.raises(ValueError, match="n_items must be"):
        gini_exposure(recs, n_items=0)
    with pytest.raises(ValueError, match="at least one cut-off"):
        evaluate_rankings(recs, relevance, ks=())
