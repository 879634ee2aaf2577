"""The whole matching graph as one fitted object:

participant lookup (profiles) -> candidate retrieval (channels + hard filter) -> pair features ->
ranker -> top-N. ``fit`` learns from outcomes before an as-of date; ``recommend`` serves any
participants over the vacancies open on a date. Everything it learns is saved without pickles
(LightGBM text model, FAISS indexes are rebuilt from cached embeddings, TF-IDF vocabularies as JSON).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from scipy import sparse
from sklearn.exceptions import NotFittedError

from ilona_match.constraints import feasible, to_check_items
from ilona_match.contract import EVENT_STRENGTH, EVENTS, LANGUAGES
from ilona_match.embedding import EmbedderConfig, TextEmbedder
from ilona_match.features import FEATURE_NAMES, CandidatePairs, PairFeatures, TextVectors, compute_features
from ilona_match.index import IndexConfig
from ilona_match.lexical import LexicalEncoder
from ilona_match.profiles import (
    ExtractMentions,
    ParticipantProfiles,
    VacancyProfiles,
    build_participants,
    build_vacancies,
    mentions_in,
)
from ilona_match.ranker import GRADES, LambdaRanker, RankerConfig, _prior_terms, prior_score
from ilona_match.reasons import Explanation, explain_rows
from ilona_match.retrieval import CandidateRetriever, RetrievalConfig
from ilona_match.taxonomy import Taxonomy
from ilona_match.text_analysis import TextAnalysisCache

__all__ = ["explain_top", "ranked_rows", "top_n", "MatchingPipeline", "PipelineConfig", "Scored", "TrainingConfig", "VacancyState", "strongest_outcomes"]


class TrainingConfig(BaseModel):
    """How outcomes become ranking examples."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    validation_days: int = Field(60, ge=0, description="the last days before as-of validate (early stopping)")
    negatives_per_participant: int = Field(20, ge=0, description="retrieved, never-logged vacancies added as grade 0")
    min_training_pairs: int = Field(30, ge=1, description="fewer logged pairs: serve the prior alone")


class PipelineConfig(BaseModel):
    """Every setting of the matching pipeline (the ``matching`` section of the settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    embedder: EmbedderConfig = EmbedderConfig()
    index: IndexConfig = IndexConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    ranker: RankerConfig = RankerConfig()
    training: TrainingConfig = TrainingConfig()
    lexical_char_weight: float = Field(0.5, ge=0, le=1)


def strongest_outcomes(outcomes: pd.DataFrame) -> pd.DataFrame:
    """One row per (participant_id, vacancy_id): the strongest event, its grade and the first event date."""
    if outcomes.empty:
        return pd.DataFrame(columns=["participant_id", "vacancy_id", "event", "grade", "first_date"])
    strength = outcomes["event"].map(EVENT_STRENGTH)
    frame = outcomes.assign(_strength=strength)
    grouped = frame.groupby(["participant_id", "vacancy_id"], sort=True)
    pairs = grouped.agg(_strength=("_strength", "max"), first_date=("event_date", "min")).reset_index()
    pairs["event"] = [EVENTS[s] for s in pairs["_strength"]]
    pairs["grade"] = pairs["event"].map(GRADES).astype(np.int32)
    return pairs.drop(columns="_strength")


@dataclass(frozen=True)
class VacancyState:
    """The vacancy side of a run, prepared once: profiles, vectors and the fitted retriever."""

    jobs: VacancyProfiles
    dense: np.ndarray
    concept: np.ndarray
    lexical: object  # scipy CSR
    retriever: CandidateRetriever


@dataclass(frozen=True)
class Scored:
    """Feasible candidates of a set of participants with features and scores."""

    people: ParticipantProfiles
    features: PairFeatures
    scores: np.ndarray
    proposed_by: dict[str, np.ndarray]

    def take(self, rows: np.ndarray) -> Scored:
        """The same participants with only the candidate pairs at ``rows`` (e.g. a top-N pool)."""
        f = self.features
        pairs = CandidatePairs(f.pairs.participant[rows], f.pairs.vacancy[rows])
        return Scored(self.people, PairFeatures(pairs, f.matrix[rows], f.to_check[rows]), self.scores[rows],
                      {name: flags[rows] for name, flags in self.proposed_by.items()})


class MatchingPipeline:
    """Fit on a data folder's tables, then recommend (see module docstring)."""

    def __init__(self, config: PipelineConfig | None = None, *, cache_dir: str | Path | None = None,
                 taxonomy: Taxonomy | None = None) -> None:
        self.config = config or PipelineConfig()
        self.cache_dir = cache_dir
        self.taxonomy = taxonomy or Taxonomy.load()
        self._embedder: TextEmbedder | None = None
        self._analysis: TextAnalysisCache | None = None

    # ------------------------------------------------------------------------------ text channels
    @property
    def embedder(self) -> TextEmbedder:
        if self._embedder is None:
            self._embedder = TextEmbedder(self.config.embedder, cache_dir=self.cache_dir)
        return self._embedder

    @property
    def analysis(self) -> TextAnalysisCache | None:
        """ESCO mentions and lexical rows kept by text hash in the embedding cache's file (with a cache_dir)."""
        if self._analysis is None and self.embedder.cache is not None:
            self._analysis = TextAnalysisCache(self.embedder.cache)
        return self._analysis

    def _extract(self) -> ExtractMentions | None:
        analysis = self.analysis
        return None if analysis is None else lambda texts, languages: analysis.mentions(self.taxonomy, texts, languages)

    def _lexical(self, texts: list[str], languages: list[str]) -> sparse.csr_matrix:
        analysis = self.analysis
        if analysis is None:
            return self.lexical_.transform(texts, languages)
        return analysis.lexical(self.lexical_, texts, languages)

    def _dense(self, texts: list[str], role: str) -> np.ndarray:
        vectors = self.embedder.encode(texts, role=role)  # type: ignore[arg-type]
        empty = np.array([not t.strip() for t in texts])
        vectors[empty] = 0.0  # no text, no dense evidence (the feature becomes 0, retrieval skips it)
        return vectors

    def warm_up(self) -> None:
        """Load now what the first request in each language would otherwise load while a coach waits:
        the embedding model and its first run (~5 s), and each language's lemmatiser dictionary and
        taxonomy label index (1-3 s each). Once the vacancies' text analysis comes from the cache,
        preparing them loads none of these. Nothing is encoded into the cache."""
        self._check_fitted()
        languages = list(LANGUAGES)
        sample = ["hoitaja vårdare carer"] * len(languages)
        mentions_in(self.taxonomy, sample, languages)
        self.lexical_.transform(sample, languages)
        self.embedder.warm_up()

    def _check_fitted(self) -> None:
        if not hasattr(self, "lexical_"):
            raise NotFittedError("MatchingPipeline is not fitted: call fit(...) or load a trained model")

    def prepare_vacancies(self, vacancies: pd.DataFrame) -> VacancyState:
        """Profiles, embeddings and retrieval indexes of the vacancies (once per run)."""
        self._check_fitted()
        jobs = build_vacancies(vacancies, self.taxonomy, self._extract())
        dense = self._dense(jobs.texts, "passage")
        concept = self._dense(jobs.concept_texts, "passage")
        lexical = self._lexical(jobs.texts, list(jobs.language))
        vectors = TextVectors(dense[:0], dense, concept[:0], concept, lexical[:0], lexical)
        retriever = CandidateRetriever(self.config.retrieval, self.config.index).fit(jobs, vectors)
        return VacancyState(jobs, dense, concept, lexical, retriever)

    def _vectors(self, people: ParticipantProfiles, state: VacancyState) -> TextVectors:
        return TextVectors(
            self._dense(people.texts, "query"), state.dense,
            self._dense(people.concept_texts, "query"), state.concept,
            self._lexical(people.texts, list(people.language)), state.lexical,
        )

    # ------------------------------------------------------------------------------------ scoring
    def score_candidates(self, participants: pd.DataFrame, state: VacancyState, as_of: date,
                         use_ranker: bool = True) -> Scored:
        """Retrieve feasible candidates for the participants and score them."""
        self._check_fitted()
        people = build_participants(participants, self.taxonomy, self._extract())
        vectors = self._vectors(people, state)
        retrieved = state.retriever.retrieve(people, state.jobs, vectors, as_of)
        features = compute_features(people, state.jobs, retrieved.pairs, vectors, as_of)
        scores = self.predict(features.matrix) if use_ranker else prior_score(features.matrix, FEATURE_NAMES)
        return Scored(people, features, np.asarray(scores, dtype=np.float64), retrieved.proposed_by)

    def score_pairs(self, participants: pd.DataFrame, state: VacancyState, pairs: CandidatePairs,
                    as_of: date) -> Scored:
        """Score given (participant, vacancy) positions — e.g. one pair to explain — with the same
        features and ranker as ``score_candidates``. Pairs must be feasible: that is checked."""
        self._check_fitted()
        people = build_participants(participants, self.taxonomy, self._extract())
        if not feasible(people.limits, state.jobs.demands, pairs.participant, pairs.vacancy, as_of).all():
            raise ValueError(f"a pair to score is not open on {as_of} or breaks a hard constraint")
        vectors = self._vectors(people, state)
        features = compute_features(people, state.jobs, pairs, vectors, as_of)
        return Scored(people, features, np.asarray(self.predict(features.matrix), dtype=np.float64), {})

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Ranker score of feature rows (the prior alone when there were too few outcomes to learn)."""
        self._check_fitted()
        if self.ranker_ is None:
            return prior_score(matrix, FEATURE_NAMES)
        return self.ranker_.predict(matrix)

    def recommend(self, participants: pd.DataFrame, state: VacancyState, as_of: date, k: int = 10,
                  use_ranker: bool = True) -> pd.DataFrame:
        """Top-k feasible vacancies per participant: participant_id, coach_id, rank, vacancy_id, score, to_check.

        Ties are broken by vacancy id, so the same inputs always give the same table.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        scored = self.score_candidates(participants, state, as_of, use_ranker=use_ranker)
        return top_n(scored, state, k)

    # ----------------------------------------------------------------------------------- training
    def fit(self, participants: pd.DataFrame, vacancies: pd.DataFrame, outcomes: pd.DataFrame,
            as_of: date) -> MatchingPipeline:
        """Learn from outcomes dated before ``as_of`` (vacancies published before it)."""
        known_vacancies = vacancies[vacancies["published_at"] < pd.Timestamp(as_of)]
        if known_vacancies.empty:
            raise ValueError(f"no vacancy was published before {as_of}: nothing to learn from")
        self.lexical_ = LexicalEncoder(char_weight=self.config.lexical_char_weight).fit(
            _vacancy_texts(known_vacancies), known_vacancies["language"].fillna("fi").tolist()
        )
        self.ranker_: LambdaRanker | None = None
        self.as_of_ = as_of
        history = outcomes[outcomes["event_date"] < pd.Timestamp(as_of)]
        pairs = strongest_outcomes(history)
        pairs = pairs[pairs["vacancy_id"].isin(known_vacancies["vacancy_id"])]
        self.training_summary_ = {"logged_pairs": len(pairs), "positive_pairs": int((pairs["grade"] > 0).sum())}
        if len(pairs) < self.config.training.min_training_pairs or pairs["grade"].nunique() < 2:
            self.training_summary_["ranker"] = "prior only (too few outcomes)"
            return self
        examples = self._examples(participants, known_vacancies, pairs)
        cut = np.datetime64(as_of - timedelta(days=self.config.training.validation_days), "D")
        valid_query = examples.query_date >= cut
        train, valid = ~valid_query, valid_query
        if train.sum() == 0 or examples.grade[train].max() == 0:
            train, valid = np.ones_like(valid_query), np.zeros_like(valid_query)
        ranker = LambdaRanker(self.config.ranker)
        args = examples.subset(train)
        if valid.any() and examples.grade[valid].max() > 0:
            ranker.fit(*args, FEATURE_NAMES, *examples.subset(valid)[:3])
        else:
            ranker.fit(*args, FEATURE_NAMES)
        self.ranker_ = ranker
        self.training_summary_.update(
            ranker="lambdarank", train_rows=int(train.sum()), valid_rows=int(valid.sum()),
            best_iteration=int(ranker.best_iteration_),
        )
        return self

    def _examples(self, participants: pd.DataFrame, vacancies: pd.DataFrame, pairs: pd.DataFrame) -> _Examples:
        """Logged pairs plus retrieved never-logged negatives, each participant one query, features
        as of the day the participant was first logged (vacancy age then, not now)."""
        people_frame = participants[participants["participant_id"].isin(pairs["participant_id"])].reset_index(drop=True)
        state = self.prepare_vacancies(vacancies.reset_index(drop=True))
        people = build_participants(people_frame, self.taxonomy, self._extract())
        vectors = self._vectors(people, state)
        p_pos = pd.Series(np.arange(len(people)), index=people.ids)
        v_pos = pd.Series(np.arange(len(state.jobs)), index=state.jobs.ids)
        logged = pairs[pairs["participant_id"].isin(p_pos.index)]
        p = p_pos[logged["participant_id"]].to_numpy()
        v = v_pos[logged["vacancy_id"]].to_numpy()
        grade = logged["grade"].to_numpy()
        first_seen = logged.groupby("participant_id")["first_date"].min()
        day = first_seen.reindex(people.ids).to_numpy(dtype="datetime64[D]")
        negatives = self.config.training.negatives_per_participant
        if negatives:
            neg_p, neg_v = [], []
            for query_day in np.unique(day):  # retrieval runs per distinct day (a few hundred at most)
                block = np.flatnonzero(day == query_day)
                sub = _subset_vectors(vectors, block)
                got = state.retriever.retrieve(people.take(block), state.jobs, sub, pd.Timestamp(query_day).date())
                neg_p.append(block[got.pairs.participant])
                neg_v.append(got.pairs.vacancy)
            cand_p, cand_v = np.concatenate(neg_p), np.concatenate(neg_v)
            width = len(state.jobs)
            fresh = ~np.isin(cand_p * width + cand_v, p * width + v)
            cand_p, cand_v = cand_p[fresh], cand_v[fresh]
            rng = np.random.default_rng(self.config.ranker.seed)
            order = rng.permutation(len(cand_p))
            cand_p, cand_v = cand_p[order], cand_v[order]
            keep = _first_n_per_group(cand_p, negatives)
            p = np.concatenate([p, cand_p[keep]])
            v = np.concatenate([v, cand_v[keep]])
            grade = np.concatenate([grade, np.zeros(keep.sum(), dtype=grade.dtype)])
        order = np.lexsort((v, p))
        p, v, grade = p[order], v[order], grade[order]
        features = compute_features(people, state.jobs, CandidatePairs(p, v), vectors, day[p])
        return _Examples(features.matrix, grade.astype(np.int32), p, day[p])


def _vacancy_texts(vacancies: pd.DataFrame) -> list[str]:
    return [f"{t}. {d}" for t, d in zip(vacancies["title"].fillna(""), vacancies["description"].fillna(""))]


def _subset_vectors(vectors: TextVectors, rows: np.ndarray) -> TextVectors:
    return TextVectors(
        vectors.participant_dense[rows], vectors.vacancy_dense, vectors.participant_concept[rows],
        vectors.vacancy_concept, vectors.participant_lexical[rows], vectors.vacancy_lexical,
    )


def _first_n_per_group(groups: np.ndarray, n: int) -> np.ndarray:
    """Mask keeping the first ``n`` rows of each group value, in the current order."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    start = np.searchsorted(sorted_groups, sorted_groups)
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - start
    return rank < n


@dataclass(frozen=True)
class _Examples:
    matrix: np.ndarray
    grade: np.ndarray
    participant: np.ndarray  # sorted: rows of one participant are consecutive
    query_date: np.ndarray

    def subset(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        participant = self.participant[mask]
        _, sizes = np.unique(participant, return_counts=True)
        return self.matrix[mask], self.grade[mask], sizes


def ranked_rows(scored: Scored, state: VacancyState, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the k best candidates per participant and their ranks, grouped by participant,
    best first; ties broken by vacancy id (deterministic)."""
    pairs = scored.features.pairs
    vacancy_ids = state.jobs.ids[pairs.vacancy]
    order = np.lexsort((vacancy_ids.astype(str), -scored.scores, pairs.participant))
    participant = pairs.participant[order]
    rank = np.arange(len(order)) - np.searchsorted(participant, participant) + 1
    keep = rank <= k
    return order[keep], rank[keep].astype(np.int32)


def top_n(scored: Scored, state: VacancyState, k: int) -> pd.DataFrame:
    """The k best candidates per participant, ties broken by vacancy id (deterministic)."""
    rows, rank = ranked_rows(scored, state, k)
    pairs = scored.features.pairs
    return pd.DataFrame(
        {
            "participant_id": scored.people.ids[pairs.participant[rows]],
            "coach_id": scored.people.coach_ids[pairs.participant[rows]],
            "rank": rank,
            "vacancy_id": state.jobs.ids[pairs.vacancy[rows]],
            "score": scored.scores[rows],
            "to_check": ["|".join(to_check_items(int(m))) for m in scored.features.to_check[rows]],
        }
    )


def explain_top(pipeline: MatchingPipeline, scored: Scored, state: VacancyState, top: pd.DataFrame) -> list[Explanation]:
    """Explanations of the rows of ``top`` (a ``top_n`` table), in its order.

    Contributions come from LightGBM ``pred_contrib`` (or the prior's terms when no ranker was
    learned); matched and missing skills are the vacancy's required skills the person has or lacks,
    labelled in the participant's language.
    """
    pairs = scored.features.pairs
    p_pos = pd.Series(np.arange(len(scored.people)), index=scored.people.ids)
    key = pd.Series(np.arange(len(pairs)), index=pd.MultiIndex.from_arrays([pairs.participant, pairs.vacancy]))
    p = p_pos[top["participant_id"]].to_numpy()
    v = state.jobs.id_index.get_indexer(top["vacancy_id"])
    if (v < 0).any():
        raise ValueError("a vacancy to explain is not among the prepared vacancies")
    rows = key[pd.MultiIndex.from_arrays([p, v])].to_numpy()
    matrix = scored.features.matrix[rows]
    if pipeline.ranker_ is not None:
        contributions = pipeline.ranker_.contributions(matrix)
    else:
        contributions = np.column_stack([_prior_terms(matrix.astype(np.float64), FEATURE_NAMES), np.zeros(len(rows))])
    people, jobs, taxonomy = scored.people, state.jobs, pipeline.taxonomy
    own = (people.skills + people.implied_skills).sign().tocsr()
    skill_uris = taxonomy.skill_uris
    matched, missing, languages = [], [], []
    required_skills = jobs.required_skills.tocsr()
    for i, j in zip(p.tolist(), v.tolist()):
        lang = str(people.language[i])
        # rows read straight from the CSR arrays: scipy's row slicing costs ~30 µs a call
        required = set(required_skills.indices[required_skills.indptr[j]:required_skills.indptr[j + 1]].tolist())
        have = set(own.indices[own.indptr[i]:own.indptr[i + 1]].tolist())
        matched.append([taxonomy.label(skill_uris[c], lang) for c in sorted(required & have)])
        missing.append([taxonomy.label(skill_uris[c], lang) for c in sorted(required - have)])
        languages.append(lang)
    return explain_rows(contributions, matrix, languages, matched, missing, scored.features.to_check[rows],
                        list(zip(top["participant_id"], top["vacancy_id"])))
