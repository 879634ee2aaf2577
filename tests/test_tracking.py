"""MLflow runs, registry and the champion alias on a real SQLite store in a temp folder (no mocks).

The champion rule itself (scoring candidate and champion on the same window) is applied by
``training.train`` and tested in test_model_selection.py; here the decision it hands over is recorded."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from pydantic import ValidationError

from ilona_match.contract import load_data
from ilona_match.contract.exclusion import acted_pairs
from ilona_match.learning.evaluation import evaluate_systems
from ilona_match.learning.tracking import (
    CHAMPION_ALIAS,
    CHAMPION_RULE,
    MODEL_NAME,
    TrainingRecord,
    configure_tracking,
    fingerprint_files,
    load_champion,
    log_training_run,
    metric_name,
    promote,
    tracking_uri,
    version_card,
)
from ilona_match.matching.persistence import save_pipeline
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig
from ilona_match.matching.ranker import RankerConfig
from ilona_match.serving.batch import run_batch
from ilona_match.serving.mlflow_model import MatchingModel
from ilona_match.synthetic import generate_world
from ilona_match.training import SHIPPED
from tests.conftest import TEST_EMBEDDER

AS_OF = date(2026, 6, 1)


@dataclass(frozen=True)
class World:
    data_dir: Path
    participants: pd.DataFrame
    vacancies: pd.DataFrame
    cache_dir: Path
    fingerprint: str
    pipeline: MatchingPipeline
    evaluation: pd.DataFrame


@pytest.fixture(scope="module", autouse=True)
def default_store() -> Iterator[None]:
    """The tests must use the local store in their temp folder, whatever the shell sets."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        yield


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The small world of test_persistence (same folder: its embeddings are cached once per session)."""
    base = tmp_path_factory.getbasetemp() / "ilona-world"
    if not (base / "data" / "outcomes.csv").is_file():
        generate_world(base / "data", participants=300, vacancies=150, seed=1)
    bundle = load_data(base / "data")
    pipeline = MatchingPipeline(PipelineConfig(embedder=TEST_EMBEDDER, ranker=RankerConfig(num_threads=1, n_estimators=60)),
                                cache_dir=base / "cache")
    pipeline.fit(bundle.participants, bundle.vacancies, bundle.outcomes, as_of=AS_OF)
    table = evaluate_systems(pipeline, bundle.participants, bundle.vacancies, bundle.outcomes, AS_OF).table
    table = pd.concat([table, table.loc[["full pipeline"]].rename(index={"full pipeline": SHIPPED})])
    return World(base / "data", bundle.participants, bundle.vacancies, base / "cache",
                 fingerprint_files(bundle.source_files.values()), pipeline, table)


def _log(world: World, workdir: Path, evaluation: pd.DataFrame | None, promoted: bool, reason: str,
         fingerprint: str | None = None) -> TrainingRecord:
    return log_training_run(
        world.pipeline, data_fingerprint=fingerprint or world.fingerprint,
        settings_dump={"workdir": str(workdir), "evaluation": {"horizon_days": 60}},
        evaluation=evaluation, workdir=workdir, promoted=promoted, reason=reason,
    )


@dataclass(frozen=True)
class Registry:
    workdir: Path
    first: TrainingRecord
    worse: TrainingRecord


@pytest.fixture(scope="module")
def registry(world: World, tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """A store with version 1 (promoted: the first) and version 2 (registered, judged not better)."""
    workdir = tmp_path_factory.mktemp("work")
    first = _log(world, workdir, world.evaluation, True, "no champion yet")
    worse = _log(world, workdir, world.evaluation, False, "this model does not beat champion version 1")
    return Registry(workdir, first, worse)


def _client(workdir: Path) -> MlflowClient:
    uri = tracking_uri(workdir)
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _recommend(pipeline: MatchingPipeline, world: World) -> pd.DataFrame:
    return pipeline.recommend(world.participants, pipeline.prepare_vacancies(world.vacancies), AS_OF, k=10)


# ------------------------------------------------------------------------------- small helpers
def test_tracking_uri_defaults_to_sqlite_in_workdir_and_follows_env(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    assert tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://tracking.example:5000")
    assert tracking_uri(tmp_path) == "http://tracking.example:5000"


def test_local_store_is_not_passed_on_to_child_processes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A child `ilona-match` with another workdir must not inherit this process's local store."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)
    configure_tracking(tmp_path)
    assert "MLFLOW_TRACKING_URI" not in os.environ and "MLFLOW_REGISTRY_URI" not in os.environ
    assert mlflow.get_tracking_uri() == tracking_uri(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'shared.db'}")
    configure_tracking(tmp_path / "other")
    assert os.environ["MLFLOW_TRACKING_URI"] == f"sqlite:///{tmp_path / 'shared.db'}"


def test_fingerprint_depends_on_names_and_bytes_not_folder(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "participants.csv").write_bytes(b"participant_id\nP1\n")
        (tmp_path / folder / "vacancies.csv").write_bytes(b"vacancy_id\nV1\n")
    first = fingerprint_files([tmp_path / "a" / "participants.csv", tmp_path / "a" / "vacancies.csv"])
    same = fingerprint_files([tmp_path / "b" / "vacancies.csv", tmp_path / "b" / "participants.csv"])
    assert first == same and len(first) == 64
    (tmp_path / "b" / "vacancies.csv").write_bytes(b"vacancy_id\nV2\n")
    assert fingerprint_files([tmp_path / "b" / "participants.csv", tmp_path / "b" / "vacancies.csv"]) != first
    with pytest.raises(ValueError, match="at least one file"):
        fingerprint_files([])
    with pytest.raises(FileNotFoundError, match="cannot fingerprint .*missing.csv"):
        fingerprint_files([tmp_path / "missing.csv"])


def test_metric_names() -> None:
    assert metric_name("full pipeline", "ndcg@10") == "full_pipeline.ndcg_at_10"
    assert metric_name("tf-idf + filters", "recall@50") == "tf_idf_filters.recall_at_50"


# ---------------------------------------------------------------------------- runs and registry
def test_first_run_registers_version_1_as_champion(registry: Registry) -> None:
    assert registry.first.model_version == "1"
    assert registry.first.promoted and registry.first.reason == "no champion yet"
    client = _client(registry.workdir)
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version) == "1"
    assert (registry.workdir / "mlflow.db").is_file() and (registry.workdir / "mlartifacts").is_dir()


def test_a_version_judged_not_better_is_registered_but_not_promoted(registry: Registry, world: World) -> None:
    assert registry.worse.model_version == "2" and not registry.worse.promoted
    client = _client(registry.workdir)
    assert str(client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS).version) == "1"
    tags = client.get_run(registry.worse.run_id).data.tags
    assert tags["champion.rule"] == CHAMPION_RULE
    assert tags["champion.decision"] == "not promoted"
    assert tags["champion.reason"] == "this model does not beat champion version 1"
    assert tags["champion.previous_version"] == "1"
    assert tags["ranker.decision"] == "binary"  # the objective of the trained ranker: no gate applied here
    shipped = float(world.evaluation.loc[SHIPPED, "ndcg@10"])
    assert float(tags["champion.candidate_shipped_model.ndcg_at_10"]) == pytest.approx(shipped)
    assert float(client.get_model_version(MODEL_NAME, "2").tags["shipped_model.ndcg_at_10"]) == pytest.approx(shipped)


def test_run_logs_params_metrics_plot_and_evaluation(registry: Registry, world: World) -> None:
    client = _client(registry.workdir)
    run = client.get_run(registry.first.run_id)
    params, metrics = run.data.params, run.data.metrics
    assert params["data_fingerprint"] == world.fingerprint
    assert params["as_of"] == params["evaluation.as_of"] == AS_OF.isoformat()
    assert params["matching.ranker.n_estimators"] == "60"
    assert params["evaluation.horizon_days"] == "60"
    assert params["training.ranker"] == "binary"
    assert metrics["training.logged_pairs"] == world.pipeline.training_summary_["logged_pairs"]
    for system in world.evaluation.index:
        assert metrics[metric_name(system, "ndcg@10")] == pytest.approx(world.evaluation.loc[system, "ndcg@10"])
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    assert {"evaluation.csv", "feature_importance.png", "settings.json"} <= artifacts
    local = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="feature_importance.png",
                                                     tracking_uri=tracking_uri(registry.workdir)))
    assert local.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    csv = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="evaluation.csv",
                                                   tracking_uri=tracking_uri(registry.workdir)))
    logged = pd.read_csv(csv, index_col="system")
    assert list(logged.index) == list(world.evaluation.index)


def test_no_participant_free_text_and_no_pickle_in_store(registry: Registry, world: World) -> None:
    files = [path for path in registry.workdir.rglob("*") if path.is_file()]
    assert not [path for path in files if path.suffix == ".pkl"]
    store = b"".join(path.read_bytes() for path in files)
    texts = [text for text in world.participants["profile_text"] if text.strip()]
    sentences = {part.strip() for text in texts for part in text.split(".") if len(part.strip()) > 30}
    assert len(texts) > 100 and len(sentences) > 20
    assert not [text for text in texts if text.encode() in store]
    assert not [sentence for sentence in sentences if sentence.encode() in store]


def test_load_champion_recommends_like_the_original(registry: Registry, world: World) -> None:
    pipeline, version = load_champion(registry.workdir, cache_dir=world.cache_dir)
    assert version == "1"
    pd.testing.assert_frame_equal(_recommend(pipeline, world), _recommend(world.pipeline, world), check_exact=True)


def test_load_champion_by_uri_and_local_folder(registry: Registry, world: World, tmp_path: Path) -> None:
    assert load_champion(registry.workdir, f"models:/{MODEL_NAME}/2")[1] == "2"
    assert load_champion(registry.workdir, f"models:/{MODEL_NAME}@{CHAMPION_ALIAS}")[1] == "1"
    folder = save_pipeline(world.pipeline, tmp_path / "exported")
    pipeline, version = load_champion(registry.workdir, str(folder))
    assert version == "local:exported" and pipeline.as_of_ == AS_OF
    with pytest.raises(LookupError, match="no such registered model version"):
        load_champion(registry.workdir, f"models:/{MODEL_NAME}/99")
    with pytest.raises(ValueError, match="expected models:/NAME/VERSION or models:/NAME@ALIAS"):
        load_champion(registry.workdir, f"models:/{MODEL_NAME}")
    with pytest.raises(FileNotFoundError, match="neither a models:/ URI nor a saved pipeline folder"):
        load_champion(registry.workdir, str(tmp_path / "nothing"))


def test_pyfunc_predict_and_unwrap(registry: Registry, world: World) -> None:
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{CHAMPION_ALIAS}",
                                     model_config={"cache_dir": str(world.cache_dir)})
    wrapped = model.unwrap_python_model()
    assert isinstance(wrapped, MatchingModel) and isinstance(wrapped.pipeline, MatchingPipeline)
    people = world.participants.head(4)
    got = model.predict(people, params={"as_of": AS_OF.isoformat(), "k": 3, "vacancies_path": str(world.data_dir)})
    bundle = load_data(world.data_dir)
    history = world.pipeline.prepare_history(bundle.outcomes, bundle.vacancies, AS_OF)
    expected = run_batch(world.pipeline, people, bundle.vacancies, AS_OF, k=3, exclude=acted_pairs(bundle.outcomes, AS_OF),
                         history=history).frame  # the nightly path, with reasons and the interaction history
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    assert got["reasons"].str.len().min() > 0
    with pytest.raises(ValidationError, match="as_of"):
        model.predict(people, params={"vacancies_path": str(world.data_dir)})


# ------------------------------------------------------------------- rule edge cases, override
def test_a_run_without_evaluation_is_recorded_and_promote_overrides(world: World, tmp_path: Path) -> None:
    first = _log(world, tmp_path, world.evaluation, True, "no champion yet")
    unevaluated = _log(world, tmp_path, None, False, "this run has no held-out window to compare with champion version 1")
    assert first.promoted and not unevaluated.promoted
    client = _client(tmp_path)
    assert "shipped_model.ndcg_at_10" not in client.get_model_version(MODEL_NAME, unevaluated.model_version).tags
    before = promote(unevaluated.model_version, workdir=tmp_path, reviewer="lead-7", reason="reviewed by hand")
    champion = client.get_model_version_by_alias(MODEL_NAME, CHAMPION_ALIAS)
    assert str(champion.version) == unevaluated.model_version and before == first.model_version
    assert champion.tags["champion.promoted_by"] == "lead-7"
    assert champion.tags["champion.override_reason"] == "reviewed by hand"
    assert champion.tags["champion.replaced_version"] == first.model_version
    assert load_champion(tmp_path)[1] == unevaluated.model_version
    with pytest.raises(LookupError, match="has no version 99"):
        promote(99, workdir=tmp_path, reviewer="lead-7", reason="x")
    with pytest.raises(ValueError, match="reviewer 'Anna Virtanen': give a pseudonymous name"):
        promote(1, workdir=tmp_path, reviewer="Anna Virtanen", reason="x")
    with pytest.raises(ValueError, match="reason: say in at most 500 characters"):
        promote(1, workdir=tmp_path, reviewer="lead-7", reason="  ")


def test_a_version_held_back_says_so_and_a_person_promotes_it_from_the_command_line(
        world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing served because the first version was held back: the error says which version, why and
    how a person makes it serve; `ilona-match promote` does, and the audit log records who did."""
    from ilona_match.cli import main

    monkeypatch.setenv("ILONA_MATCH_WORKDIR", str(tmp_path))
    held = _log(world, tmp_path, world.evaluation, False,
                "the fairness audit blocks promotion: gender = female: expected_placements is 0.7x")
    with pytest.raises(LookupError, match=r"version 1 is registered but was not promoted \(the fairness audit blocks "
                                          r"promotion: gender = female.*ilona-match promote 1 --reviewer NAME"):
        load_champion(tmp_path)
    assert main(["promote", held.model_version, "--reviewer", "Anna Virtanen", "--reason", "x"]) != 0
    assert "give a pseudonymous name" in capsys.readouterr().err
    assert main(["promote", held.model_version, "--reviewer", "lead-7", "--reason",
                 "the gap is the region's vacancies; reviewed with the coaches"]) == 0
    assert "version 1 is the champion now (before: none), promoted by lead-7" in capsys.readouterr().out
    assert load_champion(tmp_path)[1] == held.model_version
    card = version_card(held.model_version, workdir=tmp_path)[1]
    assert "Promoted by a person: lead-7 on " in card and "reviewed with the coaches" in card
    assert main(["audit-log", "show"]) == 0
    (line,) = [row for row in capsys.readouterr().out.splitlines() if "model.promotion" in row]
    assert line.split()[3:5] == ["lead-7", "-"] and line.split()[5] == held.model_version


def test_no_champion_yet(tmp_path: Path) -> None:
    with pytest.raises(LookupError, match=r"no champion model yet: run `ilona-match train`"):
        load_champion(tmp_path)


def test_evaluation_without_shipped_model_row(world: World, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no 'shipped model' row"):
        _log(world, tmp_path, world.evaluation.drop(index=SHIPPED), True, "no champion yet")


def test_served_pipeline_caches_embeddings_in_the_work_folder(registry: Registry, world: World) -> None:
    """A nightly run must re-encode only new texts: the champion uses the work folder's cache."""
    pipeline, _ = load_champion(registry.workdir)
    cache = pipeline.embedder.cache
    assert cache is not None and Path(cache.directory).resolve() == (registry.workdir / "embedding-cache").resolve()
    first = pipeline.embedder.encode(["siivooja kouluun", "lagerarbetare"])
    again = load_champion(registry.workdir)[0].embedder
    np.testing.assert_array_equal(again.encode(["siivooja kouluun", "lagerarbetare"]), first)
    assert again.hits == 2 and again.misses == 0
