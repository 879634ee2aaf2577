"""save_pipeline / load_pipeline on a small synthetic world: identical recommendations, no pickle,
and a clear error for every missing, corrupt or mismatching file."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from ilona_match.contract import load_data
from ilona_match.matching.features import FEATURE_NAMES
from ilona_match.matching.index import IndexConfig
from ilona_match.matching.persistence import (
    MANIFEST_FILE,
    load_pipeline,
    load_vacancy_state,
    save_pipeline,
    save_vacancy_state,
)
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig, TrainingConfig
from ilona_match.matching.ranker import RankerConfig
from ilona_match.synthetic import generate_world
from tests.conftest import TEST_EMBEDDER

AS_OF = date(2026, 6, 1)
CONFIG = PipelineConfig(embedder=TEST_EMBEDDER, ranker=RankerConfig(num_threads=1, n_estimators=60))


@dataclass(frozen=True)
class World:
    participants: pd.DataFrame
    vacancies: pd.DataFrame
    outcomes: pd.DataFrame
    cache_dir: Path


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """300 participants, 150 vacancies; data and embedding cache under the session's base temp folder
    (test_tracking uses the same folder, so the texts are embedded once per session)."""
    base = tmp_path_factory.getbasetemp() / "ilona-world"
    if not (base / "data" / "outcomes.csv").is_file():
        generate_world(base / "data", participants=300, vacancies=150, seed=1)
    bundle = load_data(base / "data")
    return World(bundle.participants, bundle.vacancies, bundle.outcomes, base / "cache")


def _fit(world: World, config: PipelineConfig = CONFIG) -> MatchingPipeline:
    return MatchingPipeline(config, cache_dir=world.cache_dir).fit(
        world.participants, world.vacancies, world.outcomes, as_of=AS_OF
    )


def _recommend(pipeline: MatchingPipeline, world: World) -> pd.DataFrame:
    return pipeline.recommend(world.participants, pipeline.prepare_vacancies(world.vacancies), AS_OF, k=10)


@pytest.fixture(scope="module")
def fitted(world: World) -> MatchingPipeline:
    pipeline = _fit(world)
    assert pipeline.ranker_ is not None
    return pipeline


@pytest.fixture(scope="module")
def saved(fitted: MatchingPipeline, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pipeline(fitted, tmp_path_factory.mktemp("saved") / "pipeline")


def _copy(saved: Path, tmp_path: Path) -> Path:
    """A private copy of the saved folder to damage."""
    target = tmp_path / "copy"
    for file in saved.rglob("*"):
        if file.is_file():
            (target / file.relative_to(saved)).parent.mkdir(parents=True, exist_ok=True)
            (target / file.relative_to(saved)).write_bytes(file.read_bytes())
    return target


def _edit_manifest(directory: Path, **changes: object) -> None:
    manifest = json.loads((directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest.update(changes)
    (directory / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")


def test_round_trip_recommends_byte_identical_tables(fitted: MatchingPipeline, saved: Path, world: World) -> None:
    loaded = load_pipeline(saved, cache_dir=world.cache_dir)
    original = _recommend(fitted, world)
    again = _recommend(loaded, world)
    assert len(original) > 0
    pd.testing.assert_frame_equal(again, original, check_exact=True)
    assert again.to_csv(index=False).encode() == original.to_csv(index=False).encode()


def test_round_trip_keeps_state_and_writes_no_pickle(fitted: MatchingPipeline, saved: Path) -> None:
    loaded = load_pipeline(saved)
    assert loaded.config == fitted.config
    assert loaded.as_of_ == AS_OF
    assert loaded.training_summary_ == fitted.training_summary_
    assert loaded.ranker_ is not None and loaded.ranker_.feature_names_ == list(FEATURE_NAMES)
    files = sorted(p.relative_to(saved).as_posix() for p in saved.rglob("*") if p.is_file())
    assert files == ["lexical.json", "lexical_idf.npz", "pipeline.json", "ranker/model.txt", "ranker/ranker.json"]
    assert not any(b"pickle" in p.read_bytes() or p.suffix == ".pkl" for p in saved.rglob("*") if p.is_file())
    manifest = json.loads((saved / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert manifest["taxonomy_version"] == fitted.taxonomy.version
    assert manifest["embedder_model_id"] == fitted.embedder.model_id
    assert manifest["feature_names"] == list(FEATURE_NAMES)


def test_lexical_transform_identical_after_round_trip(fitted: MatchingPipeline, saved: Path, world: World) -> None:
    texts = [*world.vacancies["description"].head(40), *world.participants["profile_text"].head(40), "", "x"]
    languages = ["fi", "sv", "en"] * (len(texts) // 3) + ["fi"] * (len(texts) % 3)
    before = fitted.lexical_.transform(texts, languages)
    after = load_pipeline(saved).lexical_.transform(texts, languages)
    assert before.shape == after.shape and before.dtype == after.dtype
    assert before.nnz > 0 and (before != after).nnz == 0
    assert np.array_equal(before.indices, after.indices) and np.array_equal(before.data, after.data)


def test_prior_only_pipeline_round_trips_without_ranker(world: World, tmp_path: Path) -> None:
    config = CONFIG.model_copy(update={"training": TrainingConfig(min_training_pairs=1_000_000)})
    prior_only = _fit(world, config)
    assert prior_only.ranker_ is None
    directory = save_pipeline(prior_only, tmp_path / "prior")
    assert not (directory / "ranker").exists()
    loaded = load_pipeline(directory, cache_dir=world.cache_dir)
    assert loaded.ranker_ is None
    pd.testing.assert_frame_equal(_recommend(loaded, world), _recommend(prior_only, world), check_exact=True)


def test_save_refuses_unfitted_pipeline_and_non_empty_folder(fitted: MatchingPipeline, tmp_path: Path) -> None:
    with pytest.raises(NotFittedError, match="unfitted MatchingPipeline"):
        save_pipeline(MatchingPipeline(CONFIG), tmp_path / "unfitted")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match="not an empty directory"):
        save_pipeline(fitted, tmp_path / "busy")


def test_missing_folder_and_files(saved: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not a directory"):
        load_pipeline(tmp_path / "nowhere")
    broken = _copy(saved, tmp_path)
    (broken / "ranker" / "model.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"incomplete: .*model\.txt is missing"):
        load_pipeline(broken)
    (broken / MANIFEST_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=r"incomplete: .*pipeline\.json is missing"):
        load_pipeline(broken)


def test_corrupt_files(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    with (broken / "lexical.json").open("a", encoding="utf-8") as stream:
        stream.write(" ")
    with pytest.raises(ValueError, match=r"lexical\.json is corrupt: its SHA-256 differs"):
        load_pipeline(broken)
    (broken / MANIFEST_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"pipeline\.json is corrupt: not valid JSON"):
        load_pipeline(broken)


def test_corrupt_idf_file_with_matching_checksum(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    (broken / "lexical_idf.npz").write_bytes(b"not an npz file")
    files = json.loads((broken / MANIFEST_FILE).read_text(encoding="utf-8"))["files"]
    files["lexical_idf.npz"] = hashlib.sha256(b"not an npz file").hexdigest()
    _edit_manifest(broken, files=files)
    with pytest.raises(ValueError, match="is corrupt"):
        load_pipeline(broken)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": 99}, "is not a version-2 ilona-match/pipeline manifest"),
        ({"format_version": 1}, r"version 1\); fit and save it again with this version"),
        ({"taxonomy_version": "ESCO v0.9"}, "uses taxonomy 'ESCO v0.9'"),
        ({"embedder_model_id": "other-model==1.0"}, "trained with embedder 'other-model==1.0'"),
        ({"feature_names": ["dense_text"]}, "trained on other features"),
        ({"as_of": "June 2026"}, "does not fit this version"),
        ({"files": {}}, "no file checksums"),
    ],
)
def test_manifest_mismatch(saved: Path, tmp_path: Path, changes: dict[str, object], message: str) -> None:
    broken = _copy(saved, tmp_path)
    _edit_manifest(broken, **changes)
    with pytest.raises(ValueError, match=message):
        load_pipeline(broken)


def test_config_unknown_to_this_version(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    config = json.loads((broken / MANIFEST_FILE).read_text(encoding="utf-8"))["config"]
    _edit_manifest(broken, config={**config, "future_option": 1})
    with pytest.raises(ValueError, match="does not fit this version of ilona-match"):
        load_pipeline(broken)


def test_embedder_not_available_locally(saved: Path, tmp_path: Path) -> None:
    broken = _copy(saved, tmp_path)
    config = json.loads((broken / MANIFEST_FILE).read_text(encoding="utf-8"))["config"]
    config["embedder"]["model"] = str(tmp_path / "no-such-model")
    _edit_manifest(broken, config=config)
    with pytest.raises(ValueError, match="embedding model cannot be loaded here"):
        load_pipeline(broken)


def test_vacancy_side_round_trips_through_files(fitted: MatchingPipeline, world: World, tmp_path: Path) -> None:
    """What a Dask worker loads instead of profiling, embedding and indexing the vacancies again:
    the same lists, byte for byte, from FAISS's own index files and no pickle."""
    state = fitted.prepare_vacancies(world.vacancies)
    folder = save_vacancy_state(state, tmp_path / "vacancies")
    loaded = load_vacancy_state(folder)
    assert (folder / "retriever" / "dense" / "index.faiss").is_file()
    assert not any(p.suffix == ".pkl" for p in folder.rglob("*"))
    original = fitted.recommend(world.participants, state, AS_OF, k=10)
    again = fitted.recommend(world.participants, loaded, AS_OF, k=10)
    assert len(original) > 0
    assert again.to_csv(index=False) == original.to_csv(index=False)
    np.testing.assert_array_equal(loaded.jobs.ids, state.jobs.ids)
    assert loaded.jobs.isco_groups == state.jobs.isco_groups
    assert (loaded.jobs.required_skills != state.jobs.required_skills).nnz == 0
    with pytest.raises(FileExistsError, match="not an empty directory"):
        save_vacancy_state(state, folder)


def test_vacancy_side_keeps_an_hnsw_graph_as_built(fitted: MatchingPipeline, world: World, tmp_path: Path) -> None:
    """An HNSW graph built again may differ; the saved one is read back and searches the same."""
    from ilona_match.matching.pipeline import VacancyState
    from ilona_match.matching.retrieval import CandidateRetriever

    state = fitted.prepare_vacancies(world.vacancies)
    people = fitted_people(fitted, world)
    vectors = fitted._vectors(people, state)  # noqa: SLF001
    retriever = CandidateRetriever(fitted.config.retrieval, IndexConfig(exact_below=10)).fit(state.jobs, vectors)
    assert retriever.dense_index_.kind_ == "hnsw"
    hnsw = VacancyState(state.jobs, state.dense, state.concept, state.lexical, retriever)
    loaded = load_vacancy_state(save_vacancy_state(hnsw, tmp_path / "hnsw"))
    assert loaded.retriever.dense_index_.kind_ == "hnsw"
    before = retriever.retrieve(people, state.jobs, vectors, AS_OF)
    after = loaded.retriever.retrieve(people, loaded.jobs, fitted._vectors(people, loaded), AS_OF)  # noqa: SLF001
    np.testing.assert_array_equal(after.pairs.participant, before.pairs.participant)
    np.testing.assert_array_equal(after.pairs.vacancy, before.pairs.vacancy)


def fitted_people(pipeline: MatchingPipeline, world: World):  # noqa: ANN201
    from ilona_match.matching.profiles import build_participants

    return build_participants(world.participants, pipeline.taxonomy, pipeline.extract_mentions(), pipeline.linker)


def test_damaged_vacancy_side_is_refused(fitted: MatchingPipeline, world: World, tmp_path: Path) -> None:
    folder = save_vacancy_state(fitted.prepare_vacancies(world.vacancies), tmp_path / "vacancies")
    with (folder / "values.json").open("a", encoding="utf-8") as file:
        file.write(" ")
    with pytest.raises(ValueError, match=r"values.json is corrupt"):
        load_vacancy_state(folder)
    (folder / "arrays.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"arrays.npz is missing"):
        load_vacancy_state(folder)


def test_a_loaded_pipeline_saves_again_unchanged(saved: Path, tmp_path: Path) -> None:
    """Shipping a served model to workers saves the loaded pipeline again: the same files result."""
    again = save_pipeline(load_pipeline(saved), tmp_path / "again")
    for name in ("lexical.json", "ranker/model.txt"):
        assert (again / name).read_bytes() == (saved / name).read_bytes(), name
    with np.load(again / "lexical_idf.npz") as new, np.load(saved / "lexical_idf.npz") as old:
        assert sorted(new.files) == sorted(old.files)
        for name in old.files:
            np.testing.assert_array_equal(new[name], old[name])
