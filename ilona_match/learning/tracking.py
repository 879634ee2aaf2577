"""MLflow runs, the model registry and the ``champion`` alias.

Tracking defaults to a local SQLite store ``{workdir}/mlflow.db`` with artifacts under
``{workdir}/mlartifacts`` (the registry needs a database backend); ``MLFLOW_TRACKING_URI`` points
it elsewhere. Every training run logs parameters (flattened settings and pipeline config), the data
fingerprint, metrics (training summary and every system's evaluation numbers, e.g.
``full_pipeline.ndcg_at_10``), a feature-importance plot, the evaluation table as CSV, and one
pyfunc model wrapping the whole pipeline, registered as a new version.

The model is logged "from code": a three-line script imports ``serving.mlflow_model.MatchingModel``
from the installed package and the pipeline folder (``persistence.save_pipeline``) is its artifact,
so the registry holds no pickle. ``load_champion`` reads that folder straight from the registry
(without running the model's code). No participant free text is ever logged: only configs, counts
and metrics.

Champion rule (``CHAMPION_RULE``, applied by ``ilona_match.training.train`` with
``model_selection.judge``): a new version becomes ``champion`` when there is none yet, or when it
beats the current champion on its run's held-out window scored with the current data. The version registered is the model that was judged. ``promote`` lets a
person override the rule.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from matplotlib.figure import Figure
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models.signature import ModelSignature
from mlflow.types.schema import ParamSchema, ParamSpec

from ilona_match import __version__
from ilona_match.config import EMBEDDING_CACHE_DIR
from ilona_match.contract.spec import ACTOR_NAME
from ilona_match.learning.audit import AuditReport
from ilona_match.learning.model_card import CARD_ARTIFACT, model_card, write_card
from ilona_match.matching.persistence import load_pipeline, save_pipeline
from ilona_match.matching.pipeline import MatchingPipeline

__all__ = [
    "AUDIT_ARTIFACT",
    "CHAMPION_ALIAS",
    "CHAMPION_RULE",
    "PIPELINE_ARTIFACT",
    "EXPERIMENT",
    "MODEL_NAME",
    "TrainingRecord",
    "configure_tracking",
    "current_champion",
    "current_champion_run",
    "fingerprint_files",
    "load_champion",
    "run_audit",
    "version_card",
    "log_training_run",
    "metric_name",
    "promote",
    "tracking_uri",
]

EXPERIMENT = "ilona-match"
MODEL_NAME = "ilona-match"
CHAMPION_ALIAS = "champion"
SHIPPED_ROW = "shipped model"  # the evaluation table's row of the registered model
CHAMPION_METRIC = "shipped_model.ndcg_at_10"
CHAMPION_RULE = (
    "a new version becomes champion when there is no champion yet, or when, on the held-out window of its run scored "
    "with the current data, its NDCG@10 beats the champion's by evaluation.min_gain with a 95% paired bootstrap "
    "interval over participants above zero"
)
_NO_CHAMPION = "no champion model yet: run `ilona-match train`"
PIPELINE_ARTIFACT = "pipeline"
AUDIT_ARTIFACT = "audit.json"
_MODEL_CODE = (
    "# the ilona-match pyfunc model, logged as code (no pickle): the pipeline folder is its artifact\n"
    "from mlflow.models import set_model\n\n"
    "from ilona_match.serving.mlflow_model import MatchingModel\n\n"
    "set_model(MatchingModel())\n"
)
_SIGNATURE = ModelSignature(
    params=ParamSchema([
        ParamSpec("as_of", "string", ""),
        ParamSpec("k", "long", 10),
        ParamSpec("vacancies_path", "string", ""),
    ])
)
_TAG_AS_OF = "evaluation.as_of"
_TAG_FINGERPRINT = "data_fingerprint"


# ------------------------------------------------------------------------------------ the store
# mlflow.set_tracking_uri also writes MLFLOW_TRACKING_URI into os.environ (for subprocesses): the
# local stores set here are remembered so that they are not mistaken for the user's setting, and the
# variable is put back as the user left it, so that a child process (another workdir) is not pointed
# at this process's store
_LOCAL_STORES: set[str] = set()


def tracking_uri(workdir: str | Path) -> str:
    """``MLFLOW_TRACKING_URI`` when set, else the SQLite store ``{workdir}/mlflow.db``."""
    return _configured_uri() or f"sqlite:///{Path(workdir).resolve() / 'mlflow.db'}"


def _configured_uri() -> str:
    """The user's MLFLOW_TRACKING_URI ('' when unset or when it is a local store set by this module)."""
    configured = os.environ.get("MLFLOW_TRACKING_URI", "").strip()
    return "" if configured in _LOCAL_STORES else configured


def configure_tracking(workdir: str | Path) -> MlflowClient:
    """Point MLflow (tracking and registry, process-wide) at the store; make ``EXPERIMENT`` the active one.

    With the default local store, the workdir is created and the experiment keeps its artifacts
    under ``{workdir}/mlartifacts`` (MLflow would otherwise write ``./mlruns`` in the current folder).
    """
    uri = tracking_uri(workdir)
    local = not _configured_uri()
    if local:
        Path(workdir).mkdir(parents=True, exist_ok=True)
        _LOCAL_STORES.add(uri)
    users_settings = {name: os.environ.get(name) for name in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    for name, value in users_settings.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    if client.get_experiment_by_name(EXPERIMENT) is None:
        location = (Path(workdir).resolve() / "mlartifacts").as_uri() if local else None
        client.create_experiment(EXPERIMENT, artifact_location=location)
    mlflow.set_experiment(EXPERIMENT)
    return client


def fingerprint_files(paths: Iterable[str | Path]) -> str:
    """SHA-256 over the files' names and bytes, in name order: the same data gives the same value
    wherever the folder lives."""
    files = sorted((Path(path) for path in paths), key=lambda path: (path.name, str(path)))
    if not files:
        raise ValueError("fingerprint_files needs at least one file")
    digest = hashlib.sha256()
    for path in files:
        if not path.is_file():
            raise FileNotFoundError(f"cannot fingerprint {path}: no such file")
        digest.update(f"{path.name}\0{path.stat().st_size}\0".encode())
        with path.open("rb") as stream:
            for block in iter(lambda: stream.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------------------- training runs
@dataclass(frozen=True)
class TrainingRecord:
    """What ``log_training_run`` did: the run, the registered version and the champion decision."""

    run_id: str
    model_version: str
    promoted: bool
    reason: str


def metric_name(system: str, column: str) -> str:
    """MLflow name of an evaluation number: ("full pipeline", "ndcg@10") -> "full_pipeline.ndcg_at_10"."""

    def part(text: str) -> str:
        return re.sub(r"[^a-z0-9]+", "_", text.lower().replace("@", "_at_")).strip("_")

    return f"{part(system)}.{part(column)}"


def _flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as dotted parameter names; lists as JSON."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{name}."))
        elif isinstance(value, list | tuple):
            flat[name] = json.dumps(value, default=str)
        else:
            flat[name] = str(value)
    return flat


def _evaluation_metrics(evaluation: pd.DataFrame) -> dict[str, float]:
    metrics = {}
    for system, row in evaluation.iterrows():
        for column, value in row.items():
            metrics[metric_name(str(system), str(column))] = float(value)
    return metrics


def _importance_figure(pipeline: MatchingPipeline) -> Figure | None:
    """Bar chart of the ranker's gain per feature (None for a prior-only pipeline)."""
    if pipeline.ranker_ is None:
        return None
    gain = pipeline.ranker_.feature_importance("gain").iloc[::-1]
    figure = Figure(figsize=(7, 0.22 * len(gain) + 1.2), layout="constrained")
    axes = figure.subplots()
    axes.barh(gain.index, gain.to_numpy())
    axes.set_xlabel("total gain")
    axes.set_title("ranker feature importance (gain)")
    axes.tick_params(axis="y", labelsize=7)
    return figure


def current_champion(workdir: str | Path, name: str = MODEL_NAME) -> tuple[MatchingPipeline, str] | None:
    """The champion's pipeline and version, or None when there is no champion yet."""
    client = configure_tracking(workdir)
    if _champion(client, name) is None:
        return None
    return load_champion(workdir, name=name)


def _champion(client: MlflowClient, name: str) -> ModelVersion | None:
    """The model version holding the champion alias, or None."""
    try:
        return client.get_model_version_by_alias(name, CHAMPION_ALIAS)
    except MlflowException as error:
        if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def log_training_run(
    pipeline: MatchingPipeline,
    *,
    data_fingerprint: str,
    settings_dump: Mapping[str, Any],
    evaluation: pd.DataFrame | None,
    workdir: str | Path,
    register_as: str = MODEL_NAME,
    evaluated_as_of: date | None = None,
    promoted: bool,
    reason: str,
    audit: AuditReport | None = None,
) -> TrainingRecord:
    """Log one training run, register the pipeline as a new version and record the champion decision
    (``promoted``, ``reason``: CHAMPION_RULE as ``training.train`` applied it); the alias moves when promoted.
    The fairness audit (when the data has group attributes) goes to the run as figures and ``audit.json``;
    the version's model card (``model_card``) is generated from the finished run, logged beside it and
    written to ``{workdir}/models/cards/``.

    ``evaluation`` is the run's evaluation table (index: system, with a ``shipped model`` row) or
    None when there was no held-out window; ``evaluated_as_of`` is its split date (default: the
    pipeline's as-of). What the model ranks with, and why, is in ``training_summary_["ranker"]``.
    """
    if evaluation is not None and SHIPPED_ROW not in evaluation.index:
        raise ValueError(f"the evaluation table has no {SHIPPED_ROW!r} row")
    client = configure_tracking(workdir)
    split = (evaluated_as_of or pipeline.as_of_).isoformat()
    metrics = {f"training.{key}": float(value) for key, value in pipeline.training_summary_.items()
               if isinstance(value, int | float)}
    params = _flatten(settings_dump)
    params.update(_flatten(pipeline.config.model_dump(mode="json"), "matching."))
    params.update({f"training.{key}": str(value) for key, value in pipeline.training_summary_.items()
                   if not isinstance(value, int | float)})
    params.update({"data_fingerprint": data_fingerprint, "as_of": pipeline.as_of_.isoformat(), _TAG_AS_OF: split})
    candidate = None
    if evaluation is not None:
        metrics.update(_evaluation_metrics(evaluation))
        candidate = metrics[CHAMPION_METRIC]

    with tempfile.TemporaryDirectory(prefix="ilona-match-model-") as scratch:
        pipeline_dir = save_pipeline(pipeline, Path(scratch) / PIPELINE_ARTIFACT)
        code = Path(scratch) / "matching_model.py"
        code.write_text(_MODEL_CODE, encoding="utf-8")
        with mlflow.start_run(run_name=f"train as of {pipeline.as_of_}") as run:
            mlflow.set_tags({
                "ilona_match.version": __version__,
                "taxonomy_version": pipeline.taxonomy.version,
                "embedder_model_id": pipeline.embedder.model_id,
            })
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.log_text(json.dumps(settings_dump, default=str, indent=1), "settings.json")
            if evaluation is not None:
                mlflow.log_text(evaluation.to_csv(index_label="system"), "evaluation.csv")
            calibrator = getattr(pipeline, "calibrator_", None)
            if calibrator is not None:  # bins of predicted chance against what happened, out of fold
                mlflow.log_text(calibrator.reliability_.table.to_csv(index_label="bin"), "calibration_reliability.csv")
            if audit is not None:  # aggregates of groups of at least audit.min_group_size people only
                mlflow.log_metrics(audit.metrics())
                mlflow.log_text(audit.to_json(), AUDIT_ARTIFACT)
                mlflow.set_tag("audit.violations", str(len(audit.violations)))
            figure = _importance_figure(pipeline)
            if figure is not None:
                mlflow.log_figure(figure, "feature_importance.png")
            with warnings.catch_warnings():
                # an input example would be a participant's profile: the signature declares params only
                warnings.filterwarnings("ignore", message=r".*input example was not provided", category=UserWarning)
                info = mlflow.pyfunc.log_model(
                    name="model", python_model=str(code), artifacts={PIPELINE_ARTIFACT: str(pipeline_dir)},
                    signature=_SIGNATURE, model_config={"cache_dir": ""}, registered_model_name=register_as,
                    pip_requirements=[f"ilona-match=={__version__}", f"mlflow=={mlflow.__version__}"],
                )
            version = str(info.registered_model_version)
            champion = _champion(client, register_as)
            mlflow.set_tags({
                "ranker.decision": str(pipeline.training_summary_.get("ranker", "")),
                "champion.rule": CHAMPION_RULE,
                "champion.candidate_version": version,
                f"champion.candidate_{CHAMPION_METRIC}": "none" if candidate is None else repr(candidate),
                "champion.previous_version": "none" if champion is None else str(champion.version),
                "champion.decision": "promoted" if promoted else "not promoted",
                "champion.reason": reason,
            })
    version_tags = {_TAG_AS_OF: split, _TAG_FINGERPRINT: data_fingerprint, "run_id": run.info.run_id}
    if candidate is not None:
        version_tags[CHAMPION_METRIC] = repr(candidate)
    for key, value in version_tags.items():
        client.set_model_version_tag(register_as, version, key, value)
    if promoted:
        client.set_registered_model_alias(register_as, CHAMPION_ALIAS, version)
    card = model_card(client, register_as, version)
    client.log_text(run.info.run_id, card, CARD_ARTIFACT)
    write_card(card, workdir, register_as, version)
    return TrainingRecord(run.info.run_id, version, promoted, reason)


def promote(version: str | int, *, workdir: str | Path, reviewer: str, reason: str,
            name: str = MODEL_NAME) -> str | None:
    """Make ``version`` the champion whatever the rule said: a person's decision (human oversight), so
    the version keeps who decided (``reviewer``, a pseudonymous name), why and when as tags. Returns
    the version that was champion before (None if none was)."""
    if not re.match(ACTOR_NAME, reviewer or ""):
        raise ValueError(f"reviewer {reviewer!r}: give a pseudonymous name of letters, digits, '_', '.' or '-' "
                         "(at most 64)")
    if not reason or not reason.strip() or len(reason) > 500:
        raise ValueError("reason: say in at most 500 characters why this version should serve despite the rule")
    client = configure_tracking(workdir)
    try:
        client.get_model_version(name, str(version))
    except MlflowException as error:
        raise LookupError(f"model {name!r} has no version {version}") from error
    before = _champion(client, name)
    client.set_registered_model_alias(name, CHAMPION_ALIAS, str(version))
    tags = {"champion.promoted_by": reviewer, "champion.override_reason": reason.strip(),
            "champion.promoted_at": pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
            "champion.replaced_version": "none" if before is None else str(before.version)}
    for key, value in tags.items():
        client.set_model_version_tag(name, str(version), key, value)
    return None if before is None else str(before.version)


def _no_champion(client: MlflowClient, name: str) -> LookupError:
    """Why nothing is served: no version yet, or the newest one was registered but not promoted."""
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        versions = []
    if not versions:
        return LookupError(_NO_CHAMPION)
    newest = max(versions, key=lambda v: int(v.version))
    run_id = newest.run_id or newest.tags.get("run_id", "")
    try:
        reason = client.get_run(run_id).data.tags.get("champion.reason", "") if run_id else ""
    except MlflowException:
        reason = ""
    return LookupError(
        f"no champion model: version {newest.version} is registered but was not promoted"
        f"{f' ({reason})' if reason else ''}. Review it (`ilona-match audit --run {run_id}`, `ilona-match model-card "
        f"--version {newest.version}`); a person who accepts it makes it serve with `ilona-match promote "
        f"{newest.version} --reviewer NAME --reason TEXT`")


# -------------------------------------------------------------------------------------- loading
_MODELS_URI = re.compile(r"models:/(?P<name>[^/@]+)(?:/(?P<version>\d+)|@(?P<alias>[\w-]+))")


def load_champion(workdir: str | Path, model_uri: str | None = None, *, name: str = MODEL_NAME,
                  cache_dir: str | Path | None = None) -> tuple[MatchingPipeline, str]:
    """The pipeline to serve and its model version.

    ``model_uri``: None (the registered champion), ``models:/NAME/VERSION``, ``models:/NAME@ALIAS``,
    a saved pipeline folder or a local MLflow model folder (both reported as version ``local:<folder>``).
    Embeddings are cached in the work folder's cache unless ``cache_dir`` says otherwise, so a
    nightly run re-encodes only new or changed texts.
    """
    cache_dir = cache_dir if cache_dir is not None else Path(workdir) / EMBEDDING_CACHE_DIR
    if model_uri is not None and not model_uri.startswith("models:/"):
        path = Path(model_uri)
        if (path / "MLmodel").is_file():
            return _pyfunc_pipeline(str(path), cache_dir), f"local:{path.resolve().name}"
        if path.is_dir():
            return load_pipeline(path, cache_dir=cache_dir), f"local:{path.resolve().name}"
        raise FileNotFoundError(f"{model_uri} is neither a models:/ URI nor a saved pipeline folder")
    client = configure_tracking(workdir)
    if model_uri is None:
        champion = _champion(client, name)
        if champion is None:
            raise _no_champion(client, name)
        return _pyfunc_pipeline(f"models:/{name}/{champion.version}", cache_dir), str(champion.version)
    match = _MODELS_URI.fullmatch(model_uri)
    if match is None:
        raise ValueError(f"{model_uri!r}: expected models:/NAME/VERSION or models:/NAME@ALIAS")
    try:
        if match["alias"]:
            version = str(client.get_model_version_by_alias(match["name"], match["alias"]).version)
        else:
            version = str(client.get_model_version(match["name"], match["version"]).version)
    except MlflowException as error:
        raise LookupError(f"{model_uri}: no such registered model version") from error
    return _pyfunc_pipeline(f"models:/{match['name']}/{version}", cache_dir), version


def _pyfunc_pipeline(uri: str, cache_dir: str | Path | None) -> MatchingPipeline:
    """The pipeline folder a logged model carries (its ``pipeline`` artifact), read without running the
    model's code: MLflow's copy goes to a scratch folder and ``load_pipeline`` reads it into memory."""
    with tempfile.TemporaryDirectory(prefix="ilona-match-load-") as scratch:
        local = Path(uri) if not uri.startswith("models:/") else Path(
            mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=scratch))
        folder = local / "artifacts" / PIPELINE_ARTIFACT
        if not (local / "MLmodel").is_file() or not folder.is_dir():
            raise ValueError(f"{uri} is not an ilona-match model (no {PIPELINE_ARTIFACT} artifact)")
        return load_pipeline(folder, cache_dir=cache_dir)


def run_audit(run_id: str, *, workdir: str | Path) -> AuditReport | None:
    """The fairness audit logged with a training run (None when the run had no group attributes)."""
    client = configure_tracking(workdir)
    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        raise LookupError(f"no MLflow run {run_id!r} in {tracking_uri(workdir)}") from error
    try:
        text = mlflow.artifacts.load_text(f"{run.info.artifact_uri}/{AUDIT_ARTIFACT}")
    except (MlflowException, OSError):
        return None
    return AuditReport.from_json(text)


def version_card(version: str | int | None = None, *, workdir: str | Path, name: str = MODEL_NAME) -> tuple[str, str]:
    """(version, model card) of a registered version, the champion when ``version`` is None."""
    client = configure_tracking(workdir)
    if version is None:
        champion = _champion(client, name)
        if champion is None:
            raise _no_champion(client, name)
        version = champion.version
    return str(version), model_card(client, name, version)


def current_champion_run(workdir: str | Path, name: str = MODEL_NAME) -> str | None:
    """The MLflow run id of the champion version (None without a champion)."""
    champion = _champion(configure_tracking(workdir), name)
    return None if champion is None else (champion.tags.get("run_id") or champion.run_id)
