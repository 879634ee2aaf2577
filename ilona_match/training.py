"""``train`` and ``evaluate`` for pipelines, notebooks and the CLI (the edge that reads data folders).

train: evaluate on the held-out period [as_of - horizon, as_of) against the baselines, refit on all
outcomes before as_of, log one MLflow run and register the model; it becomes ``champion`` only if
it beats the current champion on the same held-out period (tracking.py holds the rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from ilona_match.config import EMBEDDING_CACHE_DIR, Settings, load_settings
from ilona_match.contract import DataBundle, load_data
from ilona_match.evaluation import EvaluationResult, evaluate_systems
from ilona_match.pipeline import MatchingPipeline

__all__ = ["TrainResult", "default_as_of", "evaluate", "train"]


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_version: str
    promoted: bool
    reason: str
    evaluation: pd.DataFrame


def default_as_of(bundle: DataBundle) -> date:
    """The day after the last outcome: learn from everything known."""
    if bundle.outcomes.empty:
        raise ValueError("outcomes table is empty: give --as-of explicitly")
    return (bundle.outcomes["event_date"].max() + pd.Timedelta(days=1)).date()


def _settings(config: str | Path | Settings | None) -> Settings:
    return config if isinstance(config, Settings) else load_settings(config)


def evaluate(
    data_dir: str | Path | DataBundle,
    as_of: date | None = None,
    config: str | Path | Settings | None = None,
) -> EvaluationResult:
    """Fit on outcomes before ``as_of`` (default: horizon days before the last outcome) and compare
    the pipeline with the baselines on the following ``evaluation.horizon_days``."""
    settings = _settings(config)
    bundle = data_dir if isinstance(data_dir, DataBundle) else load_data(data_dir, max_text_chars=settings.contract.max_text_chars)
    horizon = settings.evaluation.horizon_days
    split = as_of or default_as_of(bundle) - timedelta(days=horizon)
    pipeline = MatchingPipeline(settings.matching, cache_dir=Path(settings.workdir) / EMBEDDING_CACHE_DIR)
    pipeline.fit(bundle.participants, bundle.vacancies, bundle.outcomes, split)
    return evaluate_systems(pipeline, bundle.participants, bundle.vacancies, bundle.outcomes, split,
                            horizon_days=horizon, k=settings.evaluation.k)


def train(
    data_dir: str | Path,
    as_of: date | None = None,
    config: str | Path | Settings | None = None,
) -> TrainResult:
    """Evaluate, refit, log to MLflow and register (see module docstring)."""
    from ilona_match.tracking import fingerprint_files, log_training_run

    settings = _settings(config)
    bundle = load_data(data_dir, max_text_chars=settings.contract.max_text_chars)
    as_of = as_of or default_as_of(bundle)
    horizon = settings.evaluation.horizon_days
    split = as_of - timedelta(days=horizon)
    cache = Path(settings.workdir) / EMBEDDING_CACHE_DIR
    pipeline = MatchingPipeline(settings.matching, cache_dir=cache)
    pipeline.fit(bundle.participants, bundle.vacancies, bundle.outcomes, split)
    result = evaluate_systems(pipeline, bundle.participants, bundle.vacancies, bundle.outcomes, split,
                              horizon_days=horizon, k=settings.evaluation.k)
    if settings.evaluation.refit:
        pipeline = MatchingPipeline(settings.matching, cache_dir=cache)
        pipeline.fit(bundle.participants, bundle.vacancies, bundle.outcomes, as_of)
    record = log_training_run(
        pipeline,
        data_fingerprint=fingerprint_files(sorted(bundle.source_files.values())),
        settings_dump=settings.model_dump(mode="json"),
        evaluation=result.table,
        workdir=settings.workdir,
        evaluated_as_of=split,
    )
    return TrainResult(record.run_id, str(record.model_version), record.promoted, record.reason, result.table)
