"""Shared fixtures: one small trained world with a registered champion, built once per test session.

The nightly job, the coach report and the HTTP API all serve what `ilona-match train` registered;
their tests share this world instead of each training a model.
"""

from __future__ import annotations

import gc
import os

# Speed, set before anything loads a model or reads the settings (a developer's own values win):
# - the embedder runs with int8 Linear layers (about twice as fast on CPU) and reads the first 64 tokens
#   of a text (the default 256; about three times as fast on the synthetic vacancy texts).
#   tests/test_embedding.py tests the default float model itself; the benchmarks measure the defaults.
# - each pytest-xdist worker, and the `ilona-match` processes it starts, gets its share of the cores,
#   so two workers do not each run torch, LightGBM and BLAS on every core.
os.environ.setdefault("ILONA_MATCH_MATCHING__EMBEDDER__QUANTIZE", "int8")
os.environ.setdefault("ILONA_MATCH_MATCHING__EMBEDDER__MAX_SEQ_LENGTH", "64")
if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    _threads = str(max(1, (os.cpu_count() or 1) // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    for _name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ.setdefault(_name, _threads)

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest

from ilona_match.config import Settings, load_settings
from ilona_match.synthetic import generate_world
from ilona_match.text.embedding import EmbedderConfig
from ilona_match.training import train

SERVED_AS_OF = date(2026, 6, 1)
# the same embedder for pipelines a test builds without the settings
TEST_EMBEDDER = EmbedderConfig(quantize=os.environ["ILONA_MATCH_MATCHING__EMBEDDER__QUANTIZE"],
                               max_seq_length=int(os.environ["ILONA_MATCH_MATCHING__EMBEDDER__MAX_SEQ_LENGTH"]))


@dataclass(frozen=True)
class ServedWorld:
    """A data folder in the contract and a work folder whose MLflow store has a champion model."""

    data_dir: Path
    workdir: Path
    settings: Settings
    as_of: date
    model_version: str


@pytest.fixture(scope="session")
def served_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedWorld]:
    base = tmp_path_factory.getbasetemp() / "ilona-served"
    data_dir, workdir = base / "data", base / "work"
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        patch.delenv("ILONA_MATCH_CONFIG", raising=False)
        generate_world(data_dir, participants=300, vacancies=150, seed=1)
        settings = load_settings(None, {
            "workdir": workdir,
            # the float embedder: the Dask tests compare tables encoded in different batches, and int8's
            # activation scales depend on the batch
            "matching": {"embedder": {"quantize": "none"}, "ranker": {"num_threads": 1, "n_estimators": 60}},
            "audit": {"bootstrap_rounds": 50},  # the audit's figures are tested on their own (test_audit.py)
        })
        result = train(data_dir, as_of=SERVED_AS_OF, config=settings)
        assert result.promoted, result.reason
        yield ServedWorld(data_dir, workdir, settings, SERVED_AS_OF, result.model_version)


def pytest_configure(config: pytest.Config) -> None:
    """Garbage collection as the command line sets it (``cli._collect_garbage_less_often``): the
    tests build the same large indexes, and each worker keeps its imports for the whole run."""
    gc.freeze()
    gc.set_threshold(10_000)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The longest tests (marked ``slow``) first: the workers then share the short ones at the end
    instead of one worker finishing a long test while the other waits."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
