"""The whole matching graph as one fitted object:

participant lookup (profiles) -> candidate retrieval (channels + hard filter) -> pair features ->
ranker -> top-N. ``fit`` learns from outcomes before an as-of date; ``recommend`` serves any
participants over the vacancies open on a date. Everything it learns is saved without pickles
(LightGBM text model, FAISS indexes are rebuilt from cached embeddings, TF-IDF vocabularies as JSON).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator
from scipy import sparse
from sklearn.exceptions import NotFittedError

from ilona_match.contract import LANGUAGES
from ilona_match.contract.constraints import CHECK_ITEMS, feasible, to_check_items
from ilona_match.contract.events import MAX_GRADE, strongest_outcomes
from ilona_match.contract.exclusion import ExcludedPairs
from ilona_match.matching.calibration import CalibrationConfig, Calibrator
from ilona_match.matching.features import (
    FEATURE_NAMES,
    CandidatePairs,
    PairFeatures,
    TextVectors,
    compute_features,
)
from ilona_match.matching.history import HistoryConfig, HistoryItems, InteractionHistory, check_event_values
from ilona_match.matching.index import IndexConfig
from ilona_match.matching.profiles import (
    ParticipantProfiles,
    VacancyProfiles,
    build_participants,
    build_vacancies,
)
from ilona_match.matching.ranker import LambdaRanker, RankerConfig, _prior_terms, prior_score
from ilona_match.matching.reasons import Explanation, explain_rows
from ilona_match.matching.retrieval import CandidateRetriever, RetrievalConfig
from ilona_match.text.analysis import TextAnalysisCache
from ilona_match.text.embedding import EmbedderConfig, TextEmbedder
from ilona_match.text.lexical import LexicalEncoder
from ilona_match.text.linking import LinkerConfig, LinksNames, NameLinker
from ilona_match.text.taxonomy import ExtractMentions, Taxonomy, mentions_in

__all__ = ["explain_top", "ranked_rows", "top_n", "MatchingPipeline", "PipelineConfig", "Scored", "TrainingConfig",
           "TrainingExamples", "VacancyState"]


class TrainingConfig(BaseModel):
    """How outcomes become ranking examples."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    validation_days: int = Field(60, ge=0, description="pairs logged in the last days before as-of validate (early stopping)")
    negatives_per_participant: int = Field(
        0, ge=0, description="retrieved, never-logged vacancies added per person as grade 0, each dated on one of "
        "the person's logged days (0: learn from logged pairs only)")
    negative_weight: float = Field(1.0, gt=0, le=1, description="training weight of a never-logged row (a logged row weighs 1)")
    maturity_days: int = Field(
        30, ge=0, description="pairs first logged this close to as-of with no success yet are left out: their outcome "
        "is not known yet")
    min_training_pairs: int = Field(30, ge=1, description="fewer logged pairs: serve the prior alone")
    block_size: int = Field(2000, gt=0, description="people whose training rows are computed together (the unit "
                            "an executor distributes)")
    weak_grades: dict[str, int] = Field(
        default_factory=lambda: {"viewed": 1, "applied": 1},
        description="grades of weaker events when they count (implicit_feedback): what people looked at and "
        "applied to are weak positives; a rejection is no success and stays 0")
    listable_only: bool = Field(True, description="learn only from logged pairs a list may show: a pair that breaks "
                                "a hard constraint of the person (a job board blind to work capacity logs such views) "
                                "is never a candidate, and learning from it teaches what is never served")
    implicit_feedback: Literal["when_no_success", "people_without_success", "always", "never"] = Field(
        "when_no_success", description="whose weaker events count as weak positives (weak_grades): everyone's when "
        "the log holds no success at all (a feed of views or clicks), the people's with no success in the "
        "log, everyone's (successes then weigh 1 + their grade), or no one's")
    weak_negatives: int = Field(20, ge=0, description="never-logged vacancies added as grade 0 for each person "
                                "learning from weak grades (at least negatives_per_participant)")

    @field_validator("weak_grades")
    @classmethod
    def _weak_events(cls, grades: dict[str, int]) -> dict[str, int]:
        check_event_values(grades, "weak_grades", 0, MAX_GRADE)
        return grades


class PipelineConfig(BaseModel):
    """Every setting of the matching pipeline (the ``matching`` section of the settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    embedder: EmbedderConfig = EmbedderConfig()
    index: IndexConfig = IndexConfig()
    retrieval: RetrievalConfig = RetrievalConfig()
    ranker: RankerConfig = RankerConfig()
    training: TrainingConfig = TrainingConfig()
    calibration: CalibrationConfig = CalibrationConfig()
    lexical_char_weight: float = Field(0.5, ge=0, le=1)
    linker: LinkerConfig = LinkerConfig()
    history: HistoryConfig = HistoryConfig()


@dataclass(frozen=True)
class VacancyState:
    """The vacancy side of a run, prepared once: profiles, vectors and the fitted retriever."""

    jobs: VacancyProfiles
    dense: np.ndarray
    concept: np.ndarray
    lexical: object  # scipy CSR
    retriever: CandidateRetriever
    history: InteractionHistory | None = None  # the run's interaction history (``prepare_history``)

    def with_history(self, history: InteractionHistory | None) -> VacancyState:
        """The same vacancy side with the run's interaction history."""
        return replace(self, history=history)


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

    @property
    def linker(self) -> LinksNames | None:
        """The name linker for listed names that are no ESCO label (None when switched off); with a
        cache folder its links are kept there, so a run links only names no run met before."""
        if not self.config.linker.enabled:
            return None
        linker = NameLinker.shared(self.taxonomy, self.config.linker)
        analysis = self.analysis
        return linker if analysis is None else analysis.stored_links(linker)

    def extract_mentions(self) -> ExtractMentions | None:
        """ESCO mentions of texts through the text-analysis cache (None without a cache folder)."""
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
        taxonomy label index (1-3 s each), and the name linker's indexes (~4 s a kind). Once the
        vacancies' text analysis comes from the cache, preparing them loads none of these. Nothing is
        encoded into the cache."""
        self._check_fitted()
        languages = list(LANGUAGES)
        sample = ["hoitaja vårdare carer"] * len(languages)
        mentions_in(self.taxonomy, sample, languages)
        self.lexical_.transform(sample, languages)
        self.embedder.warm_up()
        if self.linker is not None:
            self.linker.warm_up()

    def _check_fitted(self) -> None:
        if not hasattr(self, "lexical_"):
            raise NotFittedError("MatchingPipeline is not fitted: call fit(...) or load a trained model")

    def prepare_vacancies(self, vacancies: pd.DataFrame) -> VacancyState:
        """Profiles, embeddings and retrieval indexes of the vacancies (once per run)."""
        self._check_fitted()
        jobs = build_vacancies(vacancies, self.taxonomy, self.extract_mentions(), self.linker)
        dense = self._dense(jobs.texts, "passage")
        concept = self._dense(jobs.concept_texts, "passage")
        lexical = self._lexical(jobs.texts, list(jobs.language))
        vectors = TextVectors(dense[:0], dense, concept[:0], concept, lexical[:0], lexical)
        retriever = CandidateRetriever(self.config.retrieval, self.config.index).fit(jobs, vectors)
        return VacancyState(jobs, dense, concept, lexical, retriever)

    def prepare_history(self, events: pd.DataFrame, vacancies: pd.DataFrame, as_of: date,
                        participants: pd.DataFrame | None = None) -> InteractionHistory | None:
        """The interaction history of the outcome ``events`` dated before ``as_of`` (None when switched
        off or when there is none). ``vacancies``: every vacancy the events may name, closed ones too
        (their texts form the history profiles); ``participants``: their municipalities count local
        engagement."""
        if not self.config.history.enabled or events is None or events.empty:
            return None
        before = events[events["event_date"] < pd.Timestamp(as_of)]
        if "vacancy_id" in before:
            before = before[before["vacancy_id"].notna()]
        items = vacancies.drop_duplicates("vacancy_id").reset_index(drop=True)
        engaged = items["vacancy_id"].isin(before["vacancy_id"]).to_numpy()
        if before.empty or not engaged.any():
            return None
        jobs = build_vacancies(items[engaged].reset_index(drop=True), self.taxonomy, self.extract_mentions(), self.linker)
        dense_part, concept_part = self._dense(jobs.texts, "passage"), self._dense(jobs.concept_texts, "passage")
        dense = np.zeros((len(items), dense_part.shape[1]), np.float32)
        concept = np.zeros((len(items), concept_part.shape[1]), np.float32)
        dense[engaged], concept[engaged] = dense_part, concept_part
        towns = None
        if participants is not None and "municipality" in participants:
            towns = participants.drop_duplicates("participant_id").set_index("participant_id")["municipality"]
        employer = items["employer_id"] if "employer_id" in items else pd.Series([""] * len(items))
        sector = items["sector"] if "sector" in items else pd.Series([""] * len(items))
        history_items = HistoryItems(items["vacancy_id"].astype(str).to_numpy(object),
                                     sector.fillna("").astype(str).to_numpy(object),
                                     employer.fillna("").astype(str).to_numpy(object), dense, concept)
        return InteractionHistory(self.config.history).fit(before, history_items, towns)

    def _vectors(self, people: ParticipantProfiles, state: VacancyState) -> TextVectors:
        return TextVectors(
            self._dense(people.texts, "query"), state.dense,
            self._dense(people.concept_texts, "query"), state.concept,
            self._lexical(people.texts, list(people.language)), state.lexical,
        )

    # ------------------------------------------------------------------------------------ scoring
    def score_candidates(self, participants: pd.DataFrame, state: VacancyState, as_of: date,
                         use_ranker: bool = True, exclude: ExcludedPairs | None = None) -> Scored:
        """Retrieve feasible candidates for the participants (leaving out ``exclude``) and score them."""
        self._check_fitted()
        people = build_participants(participants, self.taxonomy, self.extract_mentions(), self.linker)
        vectors = self._vectors(people, state)
        excluded = None if exclude is None else exclude.keys(pd.Index(people.ids), state.jobs.id_index)
        retrieved = state.retriever.retrieve(people, state.jobs, vectors, as_of, excluded, state.history)
        features = compute_features(people, state.jobs, retrieved.pairs, vectors, as_of, state.history)
        scores = self.predict(features.matrix) if use_ranker else prior_score(features.matrix, FEATURE_NAMES)
        return Scored(people, features, np.asarray(scores, dtype=np.float64), retrieved.proposed_by)

    def score_pairs(self, participants: pd.DataFrame, state: VacancyState, pairs: CandidatePairs,
                    as_of: date, use_ranker: bool = True) -> Scored:
        """Score given (participant, vacancy) positions — e.g. one pair to explain — with the same
        features and ranker as ``score_candidates``. Pairs must be feasible: that is checked."""
        self._check_fitted()
        people = build_participants(participants, self.taxonomy, self.extract_mentions(), self.linker)
        if not feasible(people.limits, state.jobs.demands, pairs.participant, pairs.vacancy, as_of).all():
            raise ValueError(f"a pair to score is not open on {as_of} or breaks a hard constraint")
        vectors = self._vectors(people, state)
        features = compute_features(people, state.jobs, pairs, vectors, as_of, state.history)
        scores = self.predict(features.matrix) if use_ranker else prior_score(features.matrix, FEATURE_NAMES)
        return Scored(people, features, np.asarray(scores, dtype=np.float64), {})

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        """Ranker score of feature rows (the prior alone when there were too few outcomes to learn)."""
        self._check_fitted()
        if self.ranker_ is None:
            return prior_score(matrix, FEATURE_NAMES)
        return self.ranker_.predict(matrix)

    def chance(self, scores: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """The calibrated chance of a success of each pair, from its score and its feature row (``matrix``,
        FEATURE_NAMES columns: the calibration reads its context there); NaN when no window calibrated
        this model."""
        scores = np.asarray(scores, np.float64)
        calibrator = getattr(self, "calibrator_", None)
        if calibrator is None:
            return np.full(len(scores), np.nan)
        return calibrator.predict(scores, calibrator.context_of(matrix))

    def recommend(self, participants: pd.DataFrame, state: VacancyState, as_of: date, k: int = 10,
                  use_ranker: bool = True, exclude: ExcludedPairs | None = None) -> pd.DataFrame:
        """Top-k feasible vacancies per participant: participant_id, coach_id, rank, vacancy_id, score, to_check.

        Ties are broken by vacancy id, so the same inputs always give the same table. No reasons:
        the served lists come from ``batch.run_batch``, which adds them.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        scored = self.score_candidates(participants, state, as_of, use_ranker=use_ranker, exclude=exclude)
        return top_n(scored, state, k)

    # ----------------------------------------------------------------------------------- training
    def fit(self, participants: pd.DataFrame, vacancies: pd.DataFrame, outcomes: pd.DataFrame,
            as_of: date, executor: BlockExecutor | None = None) -> MatchingPipeline:
        """Learn from outcomes dated before ``as_of`` (vacancies published before it).

        Each logged pair is one training row computed as of the day the pair entered the log (its
        first event): the vacancy's age, days to close and openness are those of that day, as at
        serving time. Pairs logged within ``training.maturity_days`` of as-of that have not yet
        reached a success are left out (their outcome is not known yet).
        """
        known_vacancies = vacancies[vacancies["published_at"] < pd.Timestamp(as_of)]
        if known_vacancies.empty:
            raise ValueError(f"no vacancy was published before {as_of}: nothing to learn from")
        self.lexical_ = LexicalEncoder(char_weight=self.config.lexical_char_weight).fit(
            _vacancy_texts(known_vacancies), known_vacancies["language"].fillna("fi").tolist()
        )
        self.ranker_: LambdaRanker | None = None
        self.calibrator_: Calibrator | None = None  # fitted on a held-out window (training.train)
        self.as_of_ = as_of
        training = self.config.training
        history = outcomes[outcomes["event_date"] < pd.Timestamp(as_of)]
        pairs = strongest_outcomes(history)
        pairs = pairs[pairs["vacancy_id"].isin(known_vacancies["vacancy_id"])]
        succeeded = pairs.groupby("participant_id")["grade"].transform("max").to_numpy() > 0
        mode = training.implicit_feedback
        weak_person = (np.full(len(pairs), mode == "always" or (mode == "when_no_success" and not succeeded.any()))
                       | ((mode == "people_without_success") & ~succeeded))
        if weak_person.any():  # what these people looked at and applied to are weak positives
            weak_grade = pairs["event"].map(training.weak_grades).fillna(0).astype(np.int32).to_numpy()
            pairs = pairs.assign(grade=np.where(weak_person, np.maximum(pairs["grade"], weak_grade), pairs["grade"]),
                                 weight=np.where(weak_person, 1.0 + pairs["grade"], 1.0))
        weak = bool(weak_person.any())
        no_success = len(pairs) > 0 and not succeeded.any()
        recent = pairs["first_date"] >= pd.Timestamp(as_of - timedelta(days=training.maturity_days))
        immature = recent & (pairs["grade"] == 0)
        pairs = pairs[~immature]
        self.training_summary_ = {"logged_pairs": len(pairs), "positive_pairs": int((pairs["grade"] > 0).sum()),
                                  "immature_pairs_left_out": int(immature.sum()),
                                  "grades": ("weak (no success in the log)" if no_success else
                                             f"successes, weak for {pairs.loc[weak_person[~immature], 'participant_id'].nunique()} "
                                             "people without one" if weak else "successes")}
        nothing_to_learn = not (pairs["grade"] > 0).any() if weak else pairs["grade"].nunique() < 2
        if len(pairs) < training.min_training_pairs or nothing_to_learn:
            self.training_summary_["ranker"] = "prior only (too few outcomes)"
            return self
        learners = pairs.loc[weak_person[~immature], "participant_id"].unique()
        negatives = pd.Series(max(training.negatives_per_participant, training.weak_negatives), index=learners)
        self.training_summary_["negatives_per_participant"] = int(max(training.negatives_per_participant,
                                                                      negatives.max() if len(negatives) else 0))
        interactions = self.prepare_history(history, known_vacancies, as_of, participants)
        examples = self.training_examples(participants, known_vacancies, pairs, executor, interactions, negatives)
        cut = np.datetime64(as_of - timedelta(days=training.validation_days), "D")
        valid = examples.day >= cut
        if valid.all() or examples.grade[~valid].max(initial=0) == 0:
            valid = np.zeros_like(valid)
        ranker = LambdaRanker(self.config.ranker)
        train_part = examples.subset(~valid)
        if valid.any() and examples.grade[valid].max() > 0:
            ranker.fit(*train_part[:3], FEATURE_NAMES, *examples.subset(valid)[:3], sample_weight=train_part[3])
        else:
            ranker.fit(*train_part[:3], FEATURE_NAMES, sample_weight=train_part[3])
        self.ranker_ = ranker
        self.training_summary_.update(
            ranker=self.config.ranker.objective, train_rows=int((~valid).sum()), valid_rows=int(valid.sum()),
            best_iteration=int(ranker.best_iteration_),
        )
        return self

    def training_examples(self, participants: pd.DataFrame, vacancies: pd.DataFrame,
                          pairs: pd.DataFrame, executor: BlockExecutor | None = None,
                          history: InteractionHistory | None = None,
                          negatives: pd.Series | None = None) -> TrainingExamples:
        """The rows the ranker learns from: each logged pair (``strongest_outcomes`` form) as of the day
        it entered the log, plus ``training.negatives_per_participant`` retrieved never-logged vacancies,
        each as of one of its person's logged days (among the vacancies open that day); one query per
        participant. ``vacancies`` are the ones known on the cut-off day. Needs the text channels
        (called from ``fit``, or on a fitted pipeline to inspect what it learned from).

        People are taken in blocks of ``training.block_size`` (profiles, vectors, negatives and features
        of a block together), computed here or by ``executor`` (``matching.executor``: the workers of a
        Dask cluster); the blocks are the same either way, so are the rows. ``history``: the interaction
        history of the training events (each row reads only its events before the row's day);
        ``negatives``: never-logged rows by participant id (others: ``training.negatives_per_participant``)."""
        people_frame = participants[participants["participant_id"].isin(pairs["participant_id"])].reset_index(drop=True)
        state = self.prepare_vacancies(vacancies.reset_index(drop=True)).with_history(history)
        base = self.config.training.negatives_per_participant
        per_person = (np.full(len(people_frame), base, np.int64) if negatives is None else np.maximum(
            negatives.reindex(people_frame["participant_id"]).fillna(base).to_numpy(np.int64), base))
        p_pos = pd.Series(np.arange(len(people_frame)), index=people_frame["participant_id"].to_numpy())
        logged = pairs[pairs["participant_id"].isin(p_pos.index)]
        p = p_pos[logged["participant_id"]].to_numpy()
        v = state.jobs.id_index.get_indexer(logged["vacancy_id"])
        day = logged["first_date"].to_numpy(dtype="datetime64[D]")
        grade = logged["grade"].to_numpy()
        row_weight = logged["weight"].to_numpy(np.float64) if "weight" in logged else np.ones(len(logged))
        size = self.config.training.block_size
        blocks = []
        for number, first in enumerate(range(0, len(people_frame), size)):
            mine = (p >= first) & (p < first + size)
            blocks.append(_ExampleBlock(people_frame.iloc[first:first + size].reset_index(drop=True), first, number,
                                        p[mine] - first, v[mine], day[mine], grade[mine], row_weight[mine],
                                        per_person[first:first + size]))
        if executor is None:
            parts = [_block_examples(self, state, block) for block in blocks]
        else:
            with executor.session(self, state) as session:
                done = dict(session.map(_block_examples, blocks))
            parts = [done[i] for i in range(len(blocks))]
        if not parts:
            return TrainingExamples(np.empty((0, len(FEATURE_NAMES))), np.empty(0, np.int32), np.empty(0, np.int64),
                                    np.empty(0, "datetime64[D]"), np.empty(0), np.empty(0, object), np.empty(0, object))
        return TrainingExamples(*(np.concatenate([getattr(part, name) for part in parts])
                                  for name in ("matrix", "grade", "participant", "day", "weight", "participant_ids",
                                               "vacancy_ids")))

def _vacancy_texts(vacancies: pd.DataFrame) -> list[str]:
    return [f"{t}. {d}" for t, d in zip(vacancies["title"].fillna(""), vacancies["description"].fillna(""))]


def _subset_vectors(vectors: TextVectors, rows: np.ndarray) -> TextVectors:
    return TextVectors(
        vectors.participant_dense[rows], vectors.vacancy_dense, vectors.participant_concept[rows],
        vectors.vacancy_concept, vectors.participant_lexical[rows], vectors.vacancy_lexical,
    )


def _first_n_per_group(groups: np.ndarray, n: int | np.ndarray) -> np.ndarray:
    """Mask keeping the first ``n`` rows of each group value, in the current order (``n``: one number,
    or one per row: its group's)."""
    order = np.argsort(groups, kind="stable")
    sorted_groups = groups[order]
    start = np.searchsorted(sorted_groups, sorted_groups)
    rank = np.empty(len(groups), dtype=np.int64)
    rank[order] = np.arange(len(groups)) - start
    return rank < n


@dataclass(frozen=True)
class TrainingExamples:
    """Training rows: features (FEATURE_NAMES) as of each row's own day, grade, query and weight."""

    matrix: np.ndarray
    grade: np.ndarray
    participant: np.ndarray  # query positions, sorted: rows of one participant are consecutive
    day: np.ndarray  # datetime64[D]: the day the row's features are computed as of
    weight: np.ndarray
    participant_ids: np.ndarray
    vacancy_ids: np.ndarray

    def subset(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Rows at ``mask``: matrix, grades, query group sizes, weights."""
        participant = self.participant[mask]
        _, sizes = np.unique(participant, return_counts=True)
        return self.matrix[mask], self.grade[mask], sizes, self.weight[mask]


@dataclass(frozen=True)
class _ExampleBlock:
    """One block of people and their logged pairs (positions within the block)."""

    people: pd.DataFrame
    first: int  # position of the block's first person among everyone's
    number: int  # the block's number: seeds its negatives, so they do not depend on where it is computed
    p: np.ndarray
    v: np.ndarray
    day: np.ndarray
    grade: np.ndarray
    weight: np.ndarray  # training weight of each logged row
    negatives: np.ndarray  # never-logged rows per person of the block


def _block_examples(pipeline: MatchingPipeline, state: VacancyState, block: _ExampleBlock) -> TrainingExamples:
    """A block's training rows (``MatchingPipeline.training_examples``), queries numbered among everyone's."""
    people = build_participants(block.people, pipeline.taxonomy, pipeline.extract_mentions(), pipeline.linker)
    vectors = pipeline._vectors(people, state)
    p, v, day, grade = block.p, block.v, block.day, block.grade
    weight = block.weight
    training = pipeline.config.training
    if training.listable_only:
        ok = feasible(people.limits, state.jobs.demands, p, v)
        p, v, day, grade, weight = p[ok], v[ok], day[ok], grade[ok], weight[ok]
    if len(p) and (block.negatives[p] > 0).any():
        neg_p, neg_v, neg_day = [], [], []
        for query_day in np.unique(day):  # one retrieval per distinct logged day, for the people logged then
            chosen = np.unique(p[(day == query_day) & (block.negatives[p] > 0)])
            if len(chosen) == 0:
                continue
            got = state.retriever.retrieve(people.take(chosen), state.jobs, _subset_vectors(vectors, chosen),
                                           pd.Timestamp(query_day).date(), history=state.history)
            neg_p.append(chosen[got.pairs.participant])
            neg_v.append(got.pairs.vacancy)
            neg_day.append(np.full(len(got.pairs), query_day))
        cand_p, cand_v, cand_day = np.concatenate(neg_p), np.concatenate(neg_v), np.concatenate(neg_day)
        width = len(state.jobs)
        fresh = ~np.isin(cand_p * width + cand_v, p * width + v)  # never a pair the log holds
        cand_p, cand_v, cand_day = cand_p[fresh], cand_v[fresh], cand_day[fresh]
        rng = np.random.default_rng([pipeline.config.ranker.seed, block.number])
        order = rng.permutation(len(cand_p))
        cand_p, cand_v, cand_day = cand_p[order], cand_v[order], cand_day[order]
        _, first = np.unique(cand_p * width + cand_v, return_index=True)  # a vacancy once per person
        once = np.zeros(len(cand_p), bool)
        once[first] = True
        cand_p, cand_v, cand_day = cand_p[once], cand_v[once], cand_day[once]
        keep = _first_n_per_group(cand_p, block.negatives[cand_p])
        p = np.concatenate([p, cand_p[keep]])
        v = np.concatenate([v, cand_v[keep]])
        day = np.concatenate([day, cand_day[keep]])
        grade = np.concatenate([grade, np.zeros(keep.sum(), dtype=grade.dtype)])
        weight = np.concatenate([weight, np.full(keep.sum(), training.negative_weight)])
    order = np.lexsort((v, day, p))
    p, v, day, grade, weight = p[order], v[order], day[order], grade[order], weight[order]
    features = compute_features(people, state.jobs, CandidatePairs(p, v), vectors, day, state.history)
    return TrainingExamples(features.matrix, grade.astype(np.int32), p + block.first, day, weight, people.ids[p],
                            state.jobs.ids[v])


class BlockExecutor(Protocol):
    """What ``training_examples`` needs of an executor (``matching.executor``): a session over this
    pipeline and vacancy side whose ``map(fn, tasks)`` yields ``(i, fn(pipeline, state, tasks[i]))``."""

    def session(self, pipeline: MatchingPipeline, state: VacancyState) -> Any: ...


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


_LISTED_NAMES_BIT = np.uint16(1 << CHECK_ITEMS.index("listed_names"))


def with_profile_checks(scored: Scored, rows: np.ndarray) -> np.ndarray:
    """The to-check masks of ``rows`` with the person's own item added: listed names not read."""
    unread = scored.people.unresolved_by_row[scored.features.pairs.participant[rows]] > 0
    return scored.features.to_check[rows] | (unread.astype(np.uint16) * _LISTED_NAMES_BIT)


def top_n(scored: Scored, state: VacancyState, k: int, rank: np.ndarray | None = None,
          chance: np.ndarray | None = None) -> pd.DataFrame:
    """The k best candidates per participant, ties broken by vacancy id (deterministic); or, with
    ``rank`` (one per row of ``scored``, e.g. an allocation's lists), the rows in that order. With
    ``chance`` (one per row of ``scored``) the table also carries each row's ``p_outcome``."""
    if rank is None:
        rows, rank = ranked_rows(scored, state, k)
    else:
        rows = np.lexsort((rank, scored.features.pairs.participant))
        rank = np.asarray(rank)[rows]
    pairs = scored.features.pairs
    table = pd.DataFrame(
        {
            "participant_id": scored.people.ids[pairs.participant[rows]],
            "coach_id": scored.people.coach_ids[pairs.participant[rows]],
            "rank": rank,
            "vacancy_id": state.jobs.ids[pairs.vacancy[rows]],
            "score": scored.scores[rows],
            "to_check": ["|".join(to_check_items(int(m))) for m in with_profile_checks(scored, rows)],
        }
    )
    if chance is not None:
        table["p_outcome"] = np.asarray(chance, np.float64)[rows]
    return table


def explain_top(pipeline: MatchingPipeline, scored: Scored, state: VacancyState, top: pd.DataFrame,
                use_ranker: bool = True) -> list[Explanation]:
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
    if pipeline.ranker_ is not None and use_ranker:
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
    return explain_rows(contributions, matrix, languages, matched, missing, with_profile_checks(scored, rows),
                        list(zip(top["participant_id"], top["vacancy_id"])))
