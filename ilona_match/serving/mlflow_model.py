"""The whole serving path as one MLflow pyfunc model (``mlflow.pyfunc.load_model`` / MLflow serving).

``training`` logs it "from code": a three-line script imports ``MatchingModel`` from the installed
package and the pipeline folder (``persistence.save_pipeline``) is its artifact, so the registry
holds no pickle. The engine itself reads a registered model's pipeline folder directly
(``tracking.load_champion``); this class is for other systems that load the model with MLflow.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from ilona_match.contract import ContractError, load_data
from ilona_match.contract.exclusion import acted_pairs
from ilona_match.contract.loading import records_to_frame
from ilona_match.learning.tracking import PIPELINE_ARTIFACT
from ilona_match.matching.persistence import load_pipeline
from ilona_match.matching.pipeline import MatchingPipeline
from ilona_match.serving.batch import run_batch

__all__ = ["MatchingModel", "PredictParams"]


class PredictParams(BaseModel):
    """``params`` of ``MatchingModel.predict``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    as_of: date = Field(description="the date openness is judged on (ISO 8601)")
    k: int = Field(10, ge=1, description="recommendations per participant")
    vacancies_path: Path = Field(description="a data folder holding vacancies.csv or vacancies.parquet")


class MatchingModel(mlflow.pyfunc.PythonModel):
    """The whole matching pipeline as one MLflow pyfunc model.

    ``predict(context, participants, params={"as_of": "2026-06-01", "k": 10, "vacancies_path": DATA})``
    takes participant rows in the data contract (raw cells or as ``load_data`` parses them), reads
    the vacancies (and the outcomes, when the folder has them: pairs already acted on are left out)
    from ``vacancies_path`` and returns the recommendations table of the nightly batch
    (``batch.run_batch``: the same serving path, with reasons; no allocation). In Python, ``pyfunc_model.unwrap_python_model().pipeline``
    gives the MatchingPipeline itself. The model config key ``cache_dir`` selects the embedding cache.
    """

    def __init__(self) -> None:
        self._pipeline: MatchingPipeline | None = None

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        cache_dir = (context.model_config or {}).get("cache_dir") or None
        self._pipeline = load_pipeline(context.artifacts[PIPELINE_ARTIFACT], cache_dir=cache_dir)

    @property
    def pipeline(self) -> MatchingPipeline:
        """The loaded pipeline."""
        if self._pipeline is None:
            raise RuntimeError("MatchingModel has no pipeline: load it with mlflow.pyfunc.load_model")
        return self._pipeline

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        given = {key: value for key, value in (params or {}).items() if value not in ("", None)}
        options = PredictParams.model_validate(given)
        participants = records_to_frame("participants", model_input.to_dict("records"))
        try:
            bundle = load_data(options.vacancies_path, tables=("vacancies", "outcomes"))
        except ContractError:  # a folder of vacancies alone: no pair is known to be done
            bundle = load_data(options.vacancies_path, tables=("vacancies",))
        exclude = acted_pairs(bundle.outcomes, options.as_of)
        history = self.pipeline.prepare_history(bundle.outcomes, bundle.vacancies, options.as_of)
        return run_batch(self.pipeline, participants, bundle.vacancies, options.as_of, k=options.k,
                         exclude=exclude, history=history).frame
