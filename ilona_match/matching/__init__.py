"""The matching stages, in the order a participant goes through them: profiles (ESCO concepts and
limits from the contract's fields) -> candidate retrieval (FAISS and sparse channels, hard filter,
fill) -> pair features -> ranker (the documented prior, plus trees when shown better) -> reasons;
``MatchingPipeline`` fits and runs them, ``persistence`` saves it without pickles."""

from __future__ import annotations

from ilona_match._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "ParticipantProfiles": "profiles", "VacancyProfiles": "profiles", "build_participants": "profiles",
    "build_vacancies": "profiles",
    "IndexConfig": "index", "VectorIndex": "index",
    "CandidateRetriever": "retrieval", "RetrievalConfig": "retrieval",
    "FEATURE_NAMES": "features", "CandidatePairs": "features", "compute_features": "features",
    "LambdaRanker": "ranker", "RankerConfig": "ranker", "prior_score": "ranker",
    "Explanation": "reasons",
    "MatchingPipeline": "pipeline", "PipelineConfig": "pipeline", "TrainingConfig": "pipeline",
    "load_pipeline": "persistence", "save_pipeline": "persistence",
})
