"""ESCO mentions and lexical rows kept by text hash: the same profiles, vectors and scores as
computing them afresh, read back in a new process, never another taxonomy's or fit's, no text kept."""

from __future__ import annotations

import copy
import sqlite3

import numpy as np
import pytest

from ilona_match.contract import load_data, records_to_frame
from ilona_match.matching.persistence import load_pipeline, save_pipeline
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig
from ilona_match.matching.profiles import build_participants
from ilona_match.matching.ranker import RankerConfig
from ilona_match.synthetic import generate_world
from ilona_match.text.analysis import TextAnalysisCache
from ilona_match.text.embedding import EmbeddingCache
from ilona_match.text.lexical import LexicalEncoder
from ilona_match.text.taxonomy import Taxonomy, mentions_in
from ilona_match.training import default_as_of
from tests.conftest import TEST_EMBEDDER

LIMITS = {"max_hours_per_week": 30, "physical_capacity": "light"}
PLANTED = "Hoitaja, jolla on selkäkipu ja salainen lause 5521, haluaa siivota"


def _same_sparse(a, b) -> None:
    assert a.shape == b.shape
    for part in ("indptr", "indices", "data"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))


def test_cached_mentions_and_lexical_rows_give_the_same_run_in_a_new_process(tmp_path) -> None:
    generate_world(tmp_path / "data", participants=80, vacancies=40, seed=11)
    bundle = load_data(tmp_path / "data")
    as_of = default_as_of(bundle)
    fresh = MatchingPipeline(PipelineConfig(embedder=TEST_EMBEDDER, ranker=RankerConfig(num_threads=1, n_estimators=30))).fit(
        bundle.participants, bundle.vacancies, bundle.outcomes, as_of)
    assert fresh.analysis is None  # no cache_dir: everything computed
    save_pipeline(fresh, tmp_path / "model")
    people = bundle.participants.head(30).reset_index(drop=True)
    runs = {}
    for name in ("cold", "warm"):  # two loads, as two nights' processes would
        pipeline = load_pipeline(tmp_path / "model", cache_dir=tmp_path / "cache")
        state = pipeline.prepare_vacancies(bundle.vacancies)
        runs[name] = (pipeline, state, pipeline.score_candidates(people, state, as_of))
    plain_state = fresh.prepare_vacancies(bundle.vacancies)
    plain = fresh.score_candidates(people, plain_state, as_of)
    cold, warm = runs["cold"][0].analysis, runs["warm"][0].analysis
    assert len(plain.scores) > 0 and plain_state.jobs.occupations.nnz > 0 and plain_state.lexical.nnz > 0
    assert cold.misses > 0 and cold.hits == 0
    assert warm.misses == 0 and warm.hits == cold.misses
    for _, state, scored in runs.values():
        _same_sparse(state.lexical, plain_state.lexical)
        for matrix in ("required_skills", "occupations", "isco4"):
            _same_sparse(getattr(state.jobs, matrix), getattr(plain_state.jobs, matrix))
        assert state.jobs.concept_texts == plain_state.jobs.concept_texts
        np.testing.assert_array_equal(scored.features.pairs.vacancy, plain.features.pairs.vacancy)
        np.testing.assert_array_equal(scored.features.matrix, plain.features.matrix)
        np.testing.assert_array_equal(scored.scores, plain.scores)


def test_mentions_are_kept_per_taxonomy_and_language(tmp_path) -> None:
    taxonomy = Taxonomy.load()
    analysis = TextAnalysisCache(EmbeddingCache(tmp_path))
    texts = ["Siivooja ja lähihoitaja", "warehouse worker, forklift driving", "Siivooja ja lähihoitaja", ""]
    languages = ["fi", "en", "sv", "fi"]
    expected = mentions_in(taxonomy, texts, languages)
    assert expected[0] and expected[1] and not expected[3]
    assert analysis.mentions(taxonomy, texts, languages) == expected
    assert analysis.misses == 4  # the same text in another language is another entry
    assert analysis.mentions(taxonomy, texts, languages) == expected and analysis.hits == 4
    other = copy.copy(taxonomy)
    other.fingerprint = "another-taxonomy"
    analysis.mentions(other, texts[:1], languages[:1])
    assert analysis.misses == 5  # another taxonomy never reads this one's mentions
    with pytest.raises(ValueError, match="2 texts but 1 languages"):
        analysis.mentions(taxonomy, texts[:2], languages[:1])


def test_a_refitted_lexical_encoder_does_not_read_its_old_rows(tmp_path) -> None:
    analysis = TextAnalysisCache(EmbeddingCache(tmp_path))
    encoder = LexicalEncoder().fit(["siivous ja hoito", "trukki ja varasto"], ["fi", "fi"])
    texts, languages = ["siivous ja varasto", "kokki"], ["fi", "fi"]
    _same_sparse(analysis.lexical(encoder, texts, languages), encoder.transform(texts, languages))
    encoder.fit(["kokki ja keittiö", "siivous", "varasto ja logistiikka"], ["fi", "fi", "fi"])
    _same_sparse(analysis.lexical(encoder, texts, languages), encoder.transform(texts, languages))
    assert analysis.misses == 4 and analysis.hits == 0
    _same_sparse(analysis.lexical(encoder, texts[::-1], languages), encoder.transform(texts[::-1], languages))
    assert analysis.hits == 2


def test_the_cache_file_keeps_hashes_and_results_never_the_text(tmp_path) -> None:
    taxonomy = Taxonomy.load()
    cache = EmbeddingCache(tmp_path)
    analysis = TextAnalysisCache(cache)
    analysis.mentions(taxonomy, [PLANTED], ["fi"])
    analysis.lexical(LexicalEncoder().fit([PLANTED, "varasto"], ["fi", "fi"]), [PLANTED], ["fi"])
    cache.close()
    raw = b"".join(path.read_bytes() for path in tmp_path.iterdir())
    for word in ("selkäkipu", "salainen lause 5521", "Hoitaja"):
        assert word.encode() not in raw


def test_a_damaged_lexical_row_is_refused_naming_the_file(tmp_path) -> None:
    cache = EmbeddingCache(tmp_path)
    analysis = TextAnalysisCache(cache)
    encoder = LexicalEncoder().fit(["siivous ja hoito", "trukki"], ["fi", "fi"])
    analysis.lexical(encoder, ["siivous"], ["fi"])
    with sqlite3.connect(cache.path) as connection:
        connection.execute("UPDATE blobs SET value = X'0102030405' WHERE kind LIKE 'lexical|%'")
    with pytest.raises(ValueError, match=r"lexical row in .*embeddings.sqlite3 is damaged"):
        analysis.lexical(encoder, ["siivous"], ["fi"])


def test_participant_profiles_take_the_cached_mentions(tmp_path) -> None:
    taxonomy = Taxonomy.load()
    analysis = TextAnalysisCache(EmbeddingCache(tmp_path))
    frame = records_to_frame("participants", [
        {"participant_id": "P1", "coach_id": "C1", "profile_text": "Olen siivooja ja kokki", "language": "fi", **LIMITS},
        {"participant_id": "P2", "coach_id": "C1", "language": "fi", **LIMITS},
    ])
    plain = build_participants(frame, taxonomy)
    extract = lambda texts, languages: analysis.mentions(taxonomy, texts, languages)  # noqa: E731
    cached = build_participants(frame, taxonomy, extract)
    again = build_participants(frame, taxonomy, extract)
    assert analysis.misses == 2 and analysis.hits == 2
    for built in (cached, again):
        _same_sparse(built.skills, plain.skills)
        _same_sparse(built.occupations, plain.occupations)
    assert plain.occupations.nnz > 0
