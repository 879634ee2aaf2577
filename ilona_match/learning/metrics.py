"""Ranking metrics for many queries at once (vectorised with pandas group-bys, no per-query loop).

Inputs are long frames: recommendations ``(query_id, item_id, rank)`` with rank 1 = best, and
relevance judgements ``(query_id, item_id, grade)`` with grade >= 0 (unlisted pairs are grade 0).
A rank is a position: a list may skip ranks (e.g. after filtering) and the discount follows the
rank value. Per-query metrics return a Series indexed by query_id over the queries that have at
least one relevant item; a query with relevant items but no recommendation scores 0, a query
without relevant items is left out (``evaluate_rankings`` counts it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import gammainc, gammaincc

__all__ = [
    "Gain",
    "catalogue_coverage",
    "evaluate_rankings",
    "expected_placements",
    "filled_openings",
    "placement_loads",
    "gini_exposure",
    "mrr",
    "ndcg_at_k",
    "recall_at_k",
]

Gain = Literal["exponential", "linear"]
_KEY = ["query_id", "item_id"]


def _check_columns(name: str, frame: pd.DataFrame, columns: Sequence[str]) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [column for column in columns if column not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {', '.join(missing)}")
    if frame.duplicated(_KEY).any():
        raise ValueError(f"{name} lists a (query_id, item_id) pair more than once")


def _check_recs(recs: pd.DataFrame) -> pd.DataFrame:
    _check_columns("recs", recs, ["query_id", "item_id", "rank"])
    if len(recs) and (not pd.api.types.is_integer_dtype(recs["rank"]) or recs["rank"].min() < 1):
        raise ValueError("recs rank must be integers >= 1 (1 = best)")
    if recs.duplicated(["query_id", "rank"]).any():
        raise ValueError("recs gives two items the same rank in one query")
    return recs[["query_id", "item_id", "rank"]]


def _check_relevance(relevance: pd.DataFrame) -> pd.DataFrame:
    _check_columns("relevance", relevance, ["query_id", "item_id", "grade"])
    grade = relevance["grade"]
    if not pd.api.types.is_numeric_dtype(grade) or pd.api.types.is_bool_dtype(grade):
        raise ValueError("relevance grade must be numeric")
    values = grade.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.isfinite(values).all() or (values < 0).any():
        raise ValueError("relevance grade must be finite and >= 0")
    return relevance[["query_id", "item_id"]].assign(grade=values)


def _check_k(k: int | None, optional: bool = False) -> None:
    if optional and k is None:
        return
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a whole number >= 1, got {k!r}")


def _check_min_grade(min_grade: float) -> None:
    if not min_grade > 0:
        raise ValueError(f"min_grade must be > 0 (grade 0 means not relevant), got {min_grade!r}")


def _gain(grade: pd.Series, gain: Gain) -> pd.Series:
    if gain == "exponential":
        return np.exp2(grade) - 1.0
    if gain == "linear":
        return grade.astype(np.float64)
    raise ValueError(f"gain must be 'exponential' or 'linear', got {gain!r}")


def _top(recs: pd.DataFrame, k: int | None) -> pd.DataFrame:
    return recs if k is None else recs[recs["rank"] <= k]


def _discount(rank: pd.Series) -> pd.Series:
    return 1.0 / np.log2(rank.astype(np.float64) + 1.0)


def ndcg_at_k(
    recs: pd.DataFrame, relevance: pd.DataFrame, k: int, gain: Gain = "exponential"
) -> pd.Series:
    """NDCG@k per query: gain 2**grade - 1 (or grade when ``gain="linear"``), discount 1/log2(rank + 1).

    The ideal DCG ranks ALL of the query's relevant items, recommended or not.
    """
    _check_k(k)
    recs, relevance = _check_recs(recs), _check_relevance(relevance)
    judged = relevance.assign(gain=_gain(relevance["grade"], gain))
    judged = judged[judged["gain"] > 0]
    hits = _top(recs, k).merge(judged[[*_KEY, "gain"]], on=_KEY, how="inner")
    dcg = (hits["gain"] * _discount(hits["rank"])).groupby(hits["query_id"]).sum()
    ideal = judged.sort_values(["query_id", "gain"], ascending=[True, False], kind="stable")
    position = ideal.groupby("query_id", sort=False).cumcount() + 1
    ideal, position = ideal[position <= k], position[position <= k]
    idcg = (ideal["gain"] * _discount(position)).groupby(ideal["query_id"]).sum()
    return (dcg.reindex(idcg.index, fill_value=0.0) / idcg).rename(f"ndcg@{k}")


def recall_at_k(recs: pd.DataFrame, relevance: pd.DataFrame, k: int, min_grade: float = 1) -> pd.Series:
    """Recall@k per query: relevant items (grade >= min_grade) in the top k / all relevant items."""
    _check_k(k)
    _check_min_grade(min_grade)
    recs, relevance = _check_recs(recs), _check_relevance(relevance)
    relevant = relevance[relevance["grade"] >= min_grade]
    total = relevant.groupby("query_id").size()
    hits = _top(recs, k).merge(relevant[_KEY], on=_KEY, how="inner").groupby("query_id").size()
    return (hits.reindex(total.index, fill_value=0) / total).astype(np.float64).rename(f"recall@{k}")


def mrr(recs: pd.DataFrame, relevance: pd.DataFrame, min_grade: float = 1, k: int | None = None) -> pd.Series:
    """Reciprocal rank of the first relevant item (grade >= min_grade) per query; 0 when none (in the top k)."""
    _check_k(k, optional=True)
    _check_min_grade(min_grade)
    recs, relevance = _check_recs(recs), _check_relevance(relevance)
    relevant = relevance[relevance["grade"] >= min_grade]
    queries = pd.Index(relevant["query_id"].unique(), name="query_id")
    hits = _top(recs, k).merge(relevant[_KEY], on=_KEY, how="inner")
    first = hits.groupby("query_id")["rank"].min()
    return (1.0 / first.astype(np.float64)).reindex(queries, fill_value=0.0).sort_index().rename("mrr")


def _item_counts(recs: pd.DataFrame, n_items: int | None, k: int | None) -> np.ndarray:
    _check_k(k, optional=True)
    counts = _top(_check_recs(recs), k)["item_id"].value_counts().to_numpy()
    if n_items is not None:
        if isinstance(n_items, bool) or not isinstance(n_items, int | np.integer) or n_items < 1:
            raise ValueError(f"n_items must be a whole number >= 1, got {n_items!r}")
        if n_items < len(counts):
            raise ValueError(f"n_items is {n_items}, but {len(counts)} distinct items are recommended")
        counts = np.concatenate([counts, np.zeros(n_items - len(counts), dtype=counts.dtype)])
    return counts


def catalogue_coverage(recs: pd.DataFrame, n_items: int, k: int | None = None) -> float:
    """Share of the ``n_items`` catalogue recommended at least once (within the top k)."""
    counts = _item_counts(recs, n_items, k)
    return float((counts > 0).sum() / n_items)


def gini_exposure(recs: pd.DataFrame, n_items: int | None = None, k: int | None = None) -> float:
    """Gini coefficient of recommendation counts per item: 0 = all equal, (n-1)/n = one item gets all.

    Items never recommended count as 0 when ``n_items`` gives the catalogue size; without it only
    recommended items are compared. NaN when nothing is recommended.
    """
    return gini_of_counts(_item_counts(recs, n_items, k))


def placement_loads(vacancy: np.ndarray, rank: np.ndarray, chance: np.ndarray, n_vacancies: int) -> np.ndarray:
    """Expected hires sent to each vacancy: the sum over the people it is listed for of
    ``chance / log2(1 + rank)`` (a person acts on the item at rank r with probability 1/log2(r + 1))."""
    acted = np.asarray(chance, np.float64) / np.log2(1.0 + np.asarray(rank, np.float64))
    return np.bincount(np.asarray(vacancy, np.int64), weights=acted, minlength=n_vacancies)


Fill = Literal["fluid", "poisson"]
_FEW_OPENINGS = 8  # up to this many openings the Poisson fill is summed term by term (fast, exact)


def filled_openings(openings: np.ndarray, load: np.ndarray, fill: Fill = "fluid") -> np.ndarray:
    """Openings each vacancy is expected to fill when ``load`` acted-on hire chances are sent to it.

    ``fluid``: ``min(openings, load)``, the hires taken as certain (the terms of
    ``expected_placements``). ``poisson``: ``E[min(n, H)]`` with the hires H arriving at random,
    Poisson with mean ``load``; it is below the fluid value near the openings (one opening and an
    expected load of 1 fill 0.63, not 1), so each further person sent to a vacancy adds less, and
    a vacancy never counts as full before it is. In closed form
    ``load * P(H <= n - 2) + n * P(H >= n)``.
    """
    openings, load = np.asarray(openings, np.float64), np.maximum(np.asarray(load, np.float64), 0.0)
    if fill == "fluid":
        return np.minimum(openings, load)
    if fill != "poisson":
        raise ValueError(f"fill must be 'fluid' or 'poisson', got {fill!r}")
    openings, load = np.broadcast_arrays(openings, load)
    filled = np.empty(openings.shape)
    few = openings <= _FEW_OPENINGS
    if few.any():  # n - sum over j < n of (n - j) P(H = j), the Poisson terms built one from the last
        n, mean = openings[few], load[few]
        term = np.exp(-mean)
        short = n * term
        for j in range(1, int(n.max())):
            term = term * mean / j
            short += np.where(j < n, (n - j) * term, 0.0)
        filled[few] = n - short
    if not few.all():  # P(H <= m) = Q(m + 1, load), the regularised upper incomplete gamma
        n, mean = openings[~few], load[~few]
        filled[~few] = mean * gammaincc(n - 1.0, mean) + n * gammainc(n, mean)
    return filled


def expected_placements(vacancy: np.ndarray, rank: np.ndarray, chance: np.ndarray, openings: np.ndarray,
                        fill: Fill = "fluid") -> float:
    """Expected placements with competition: the sum over vacancies of
    ``min(openings, sum of acted-on hire chances)`` (``placement_loads``; ``fill="poisson"``: the
    openings expected to fill when those hires arrive at random, ``filled_openings``).

    A vacancy fills at most its openings, so sending the same ten people to one opening counts once,
    while each person acts on their first item more often than on their tenth. ``vacancy`` holds
    positions into ``openings``; ``rank`` is each row's 1-based place in its person's list;
    ``chance`` the pair's probability of a hire (or of a good outcome).
    """
    vacancy, rank, chance = (np.asarray(a) for a in (vacancy, rank, chance))
    if not len(vacancy) == len(rank) == len(chance):
        raise ValueError(f"vacancy, rank and chance must have equal lengths, got {len(vacancy)}, {len(rank)}, {len(chance)}")
    if len(rank) and (rank.min() < 1):
        raise ValueError("rank must be >= 1 (1 = best)")
    if len(chance) and not (np.isfinite(chance).all() and chance.min() >= 0 and chance.max() <= 1):
        raise ValueError("chance must be probabilities in [0, 1]")
    openings = np.asarray(openings, np.float64)
    return float(filled_openings(openings, placement_loads(vacancy, rank, chance, len(openings)), fill).sum())


def gini_of_counts(counts: np.ndarray) -> float:
    """Gini coefficient of per-item counts (``gini_exposure`` when the counts are already known)."""
    counts = np.sort(np.asarray(counts)).astype(np.float64)
    n, total = len(counts), counts.sum()
    if total == 0:
        return float("nan")
    position = np.arange(1, n + 1)
    return float(((2 * position - n - 1) * counts).sum() / (n * total))


def evaluate_rankings(
    recs: pd.DataFrame,
    relevance: pd.DataFrame,
    ks: Sequence[int] = (10, 50),
    n_items: int | None = None,
    min_grade: float = 1,
    gain: Gain = "exponential",
) -> dict[str, float]:
    """Mean ndcg@k, recall@k and mrr over the queries with a relevant item, plus exposure measures.

    Keys: ``ndcg@k``, ``recall@k``, ``gini@k`` for each k (and ``coverage@k`` with ``n_items``),
    ``mrr``, ``queries`` (queries averaged over: at least one grade >= min_grade) and
    ``queries_without_relevant`` (queries recommended to that have none, left out of the means).
    """
    if not ks:
        raise ValueError("ks must name at least one cut-off")
    for k in ks:
        _check_k(k)
    reciprocal = mrr(recs, relevance, min_grade=min_grade)
    queries = reciprocal.index
    result: dict[str, float] = {}
    for k in ks:
        result[f"ndcg@{k}"] = float(ndcg_at_k(recs, relevance, k, gain=gain).reindex(queries).mean())
        result[f"recall@{k}"] = float(recall_at_k(recs, relevance, k, min_grade=min_grade).mean())
        if n_items is not None:
            result[f"coverage@{k}"] = catalogue_coverage(recs, n_items, k=k)
        result[f"gini@{k}"] = gini_exposure(recs, n_items=n_items, k=k)
    result["mrr"] = float(reciprocal.mean())
    result["queries"] = float(len(queries))
    result["queries_without_relevant"] = float((~pd.Index(recs["query_id"].unique()).isin(queries)).sum())
    return result
