"""Settings: typed, frozen, validated once at the entry point.

Precedence (highest first): explicit overrides (command-line flags) > ``ILONA_MATCH_*`` environment
variables (nested with ``__``, e.g. ``ILONA_MATCH_CONTRACT__MAX_TEXT_CHARS=5000``) > the YAML file
given with ``--config`` (or ``ILONA_MATCH_CONFIG``) > the defaults below, which
``configs/default.yaml`` spells out. Unknown keys anywhere raise.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ilona_match.contract.exclusion import ExclusionConfig
from ilona_match.contract.spec import GROUP_COLUMNS
from ilona_match.matching.pipeline import PipelineConfig
from ilona_match.pathways.planner import PathwayConfig

__all__ = ["AUDITED_METRICS", "EMBEDDING_CACHE_DIR", "ApiSettings", "AuditSettings", "BatchSettings", "ConfigError", "ContractSettings", "EvaluationSettings", "Settings", "load_settings"]


EMBEDDING_CACHE_DIR = "embedding-cache"  # inside the work folder, shared by train, batch and API


class ConfigError(ValueError):
    """A settings file or override that does not fit the schema."""


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ContractSettings(_Section):
    """How input tables are read."""

    max_text_chars: int = Field(20_000, gt=0, description="longer text cells are row faults")


class EvaluationSettings(_Section):
    """The held-out window of ``evaluate`` and ``train``, and the test a model must pass to ship.

    A run on as-of D learns from outcomes before D - horizon_days and is judged on the days after."""

    horizon_days: int = Field(60, gt=0, description="held-out window: the last days before as-of")
    k: int = Field(50, gt=0, description="ranked list length scored by the metrics")
    min_gain: float = Field(
        0.0, ge=0, description="NDCG@10 a trained ranker must gain over no ranker (and a new version over the "
        "champion), with a 95% bootstrap interval over participants above zero")
    bootstrap_rounds: int = Field(2000, ge=100, description="resamples of that interval")


class BatchSettings(_Section):
    """The nightly job."""

    k: int = Field(10, gt=0)
    chunk_size: int = Field(2000, gt=0, description="participants scored together (bounds memory)")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the results database (default: SQLite results.db in the work folder)"
    )
    keep_runs: int = Field(3, gt=0, description="published runs kept in the database (least data kept)")
    allocation: Literal["placements", "cap", "none"] = Field(
        "placements", description="placements: full lists chosen for the most expected placements across the run; "
        "cap: at most c*n people per vacancy (lists may be short); none: each person's plain top k",
    )
    relevance_weight: float = Field(
        1.5, ge=0, description="placements: weight of each person's own expected value beside the run's expected "
        "placements (higher keeps lists closer to each person's own top k)",
    )
    fill: Literal["poisson", "fluid"] = Field(
        "poisson", description="placements: poisson: a vacancy fills the openings expected when the acted-on hires "
        "arrive at random; fluid: min(openings, expected hires)",
    )
    exposure_per_opening: float = Field(3.0, gt=0, description="cap: a vacancy with n openings goes to at most c*n people")
    candidate_pool: int = Field(50, gt=0, description="ranked candidates per participant the allocation chooses from")
    executor: Literal["local", "dask"] = Field(
        "local", description="local: every chunk in this process; dask: chunks on the workers of a Dask cluster "
        "(the one at batch.scheduler, or a LocalCluster of batch.dask_workers processes started for the run)",
    )
    scheduler: str | None = Field(None, description="address of an existing Dask scheduler, e.g. tcp://host:8786")
    dask_workers: int = Field(2, gt=0, description="worker processes of the LocalCluster started when no scheduler is given")
    partitions: int | None = Field(
        None, gt=0, description="Dask tasks the chunks are grouped into (default: one per chunk)")
    worker_cache_dir: str | None = Field(
        None, description="embedding cache folder every worker of a remote cluster can reach (default: each "
        "worker's own folder; a LocalCluster uses the work folder's cache)",
    )
    pool_memory_mb: float = Field(
        2048, ge=0, description="memory the allocation pool may keep for its candidates' features; chunks beyond it "
        "keep (participant, vacancy, score) alone and their chosen rows are scored again (bounded memory, slower)",
    )

    @model_validator(mode="after")
    def _scheduler_needs_dask(self) -> BatchSettings:
        if self.scheduler and self.executor != "dask":
            raise ValueError(f"batch.scheduler ({self.scheduler}) needs batch.executor: dask")
        return self

    @field_validator("allocation", mode="before")
    @classmethod
    def _switch(cls, value: Any) -> Any:
        """``true``/``false`` (environment variables, older configs) mean the default allocation or none."""
        if isinstance(value, bool) or str(value).lower() in ("true", "false"):
            return "placements" if str(value).lower() == "true" else "none"
        return value


class ApiSettings(_Section):
    """The HTTP API (``ilona-match serve``)."""

    host: str = "127.0.0.1"
    port: int = Field(8000, gt=0, lt=65536)
    data_dir: Path | None = Field(None, description="data folder whose vacancies the API recommends from")
    as_of: date | None = Field(None, description="openness date of the served vacancies (default: today)")
    keys_file: Path | None = Field(None, description="hashed API keys (default: api-keys.json in the work folder)")
    max_body_bytes: int = Field(65_536, gt=0, description="larger request bodies get 413")
    max_k: int = Field(100, gt=0)


AUDITED_METRICS: tuple[str, ...] = (
    "has_recommendation", "list_length", "good_exposure", "expected_placements", "ndcg_at_10",
)


class AuditSettings(_Section):
    """The fairness audit of every training and nightly run (``learning.audit``) and the records kept of
    what the engine served (the audit log of the results database)."""

    min_group_size: int = Field(20, ge=5, description="groups and intersections with fewer people are not "
                                "reported (small cells would single people out, and their figures are noise)")
    min_check_size: int = Field(
        50, ge=5, description="groups smaller than this are reported but never block promotion: with dozens of "
        "groups and intersections, some small group's interval misses by chance")
    bootstrap_rounds: int = Field(200, ge=20, description="resamples behind each 95% interval")
    intersections: bool = Field(True, description="audit pairs of attributes (e.g. age band x gender) as well")
    min_ratio: float = Field(
        0.8, gt=0, le=1, description="a group whose value of a checked metric is below this share of everyone "
        "else's, with the whole 95% interval below it, blocks promotion (after the four-fifths rule)")
    checked_metrics: tuple[Literal[AUDITED_METRICS], ...] = Field(  # type: ignore[valid-type]
        ("has_recommendation", "expected_placements", "ndcg_at_10"),
        description="metrics held to min_ratio")
    checked_attributes: tuple[Literal[GROUP_COLUMNS], ...] = Field(  # type: ignore[valid-type]
        ("age_band", "gender", "mother_tongue_group"),
        description="attributes (and their intersections) whose gaps can block promotion; all are reported. "
        "Capacity category and region are not checked by default: the hard constraints of a person's capacity "
        "and the vacancies near them shape what they can be offered, by design")
    block_widening: bool = Field(
        True, description="a model whose lists widen a gap between groups that the hiring history shows "
        "(beyond both intervals) is not promoted")
    block_promotion: bool = Field(True, description="false: report gaps, never block (the report still says so)")
    log_retention_days: int = Field(
        365, gt=0, description="audit-log records older than this are deleted by `ilona-match audit-log purge` "
        "(and after each nightly run)")


_FILE_VALUES: ContextVar[dict[str, Any] | None] = ContextVar("ilona_match_config_file", default=None)


class Settings(BaseSettings):
    """All settings of one run."""

    model_config = SettingsConfigDict(
        env_prefix="ILONA_MATCH_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    workdir: Path = Field(Path("ilona-work"), description="where runs, models and the MLflow store live")
    contract: ContractSettings = ContractSettings()
    matching: PipelineConfig = PipelineConfig()
    evaluation: EvaluationSettings = EvaluationSettings()
    batch: BatchSettings = BatchSettings()
    exclusion: ExclusionConfig = ExclusionConfig()
    pathways: PathwayConfig = PathwayConfig()
    api: ApiSettings = ApiSettings()
    audit: AuditSettings = AuditSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Flags > environment > config file > defaults (pydantic-settings deep-merges sections)."""
        file_source = InitSettingsSource(settings_cls, init_kwargs=_FILE_VALUES.get() or {})
        return (init_settings, env_settings, file_source)


def load_settings(
    config_file: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Load and validate settings once; raise ConfigError naming the file and field on a fault."""
    config_file = config_file or os.environ.get("ILONA_MATCH_CONFIG")
    file_values: dict[str, Any] = {}
    source = "settings"
    if config_file:
        path = Path(config_file)
        source = str(path)
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise ConfigError(f"{path}: cannot read config ({type(exc).__name__})") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: config must be a mapping of sections")
        file_values = loaded
    token = _FILE_VALUES.set(file_values)
    try:
        return Settings(**dict(overrides or {}))
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{source}: {field}: {first['msg']}{more}") from None
    finally:
        _FILE_VALUES.reset(token)
