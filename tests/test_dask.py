"""The nightly job on a Dask cluster (a LocalCluster of two worker processes): the same table as in
this process, byte for byte, whatever the partitions; a worker killed mid-run loses and duplicates no
one; a run whose lost work may not run again stops and publishes nothing."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import dask
import numpy as np
import pandas as pd
import pytest

from ilona_match.cli import main
from ilona_match.contract import DataBundle, load_data
from ilona_match.contract.events import strongest_outcomes
from ilona_match.learning.tracking import load_champion
from ilona_match.matching.executor import DaskExecutor, WorkerLost, make_executor
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig, TrainingConfig
from ilona_match.matching.ranker import RankerConfig
from ilona_match.serving.allocation import AllocationConfig
from ilona_match.serving.batch import run_batch
from ilona_match.serving.nightly import run_nightly
from ilona_match.serving.store import ResultStore
from tests.conftest import TEST_EMBEDDER

CHUNK = 20  # 300 participants: 15 chunks, so a worker can be killed with work still to do


@dataclass
class Run:
    data: DataBundle
    pipeline: MatchingPipeline
    version: str
    as_of: date
    local: dict[str, bytes] = field(default_factory=dict)  # the local executor's table per allocation


def _table(run: Run, allocation: str, **options: object) -> bytes:
    config = AllocationConfig(k=10) if allocation == "placements" else None
    result = run_batch(run.pipeline, run.data.participants, run.data.vacancies, run.as_of, k=10,
                       model_version=run.version, chunk_size=CHUNK, allocation=config, **options)
    assert len(result.frame) > 0
    return result.frame.to_csv(index=False).encode()


@pytest.fixture(scope="module")
def run(served_world, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The served champion with a cold embedding cache of its own, and its tables computed here."""
    pipeline, version = load_champion(served_world.workdir, cache_dir=tmp_path_factory.mktemp("client-cache"))
    run = Run(load_data(served_world.data_dir), pipeline, version, served_world.as_of)
    run.local = {allocation: _table(run, allocation) for allocation in ("placements", "none")}
    return run


@pytest.fixture(scope="module")
def worker_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The workers' embedding cache, cold for the first run: the same texts are encoded in the same
    chunks there as here, so what they cache is what a cold run computes."""
    return tmp_path_factory.mktemp("worker-cache")


@pytest.fixture(scope="module")
def cluster(worker_cache: Path) -> Iterator[DaskExecutor]:
    with DaskExecutor(workers=2, cache_dir=worker_cache) as executor:
        assert len(executor.client.scheduler_info()["workers"]) == 2
        yield executor


@pytest.mark.parametrize("partitions", [None, 2, 7])
def test_dask_gives_the_local_table_byte_for_byte(run: Run, cluster: DaskExecutor, partitions: int | None) -> None:
    cluster.partitions = partitions
    assert _table(run, "placements", executor=cluster) == run.local["placements"]
    assert _table(run, "none", executor=cluster) == run.local["none"]


def _killer(executor: DaskExecutor) -> tuple[Callable[[int], None], list[int]]:
    """A progress callback that kills (SIGKILL) a worker that still has work, once, after the first chunk."""
    pids = executor.client.run(os.getpid)
    killed: list[int] = []

    def progress(_: int) -> None:
        if killed:
            return
        busy = [address for address, keys in executor.client.processing().items() if keys]
        if busy:
            os.kill(pids[busy[0]], signal.SIGKILL)
            killed.append(pids[busy[0]])

    return progress, killed


def test_a_worker_killed_mid_run_loses_and_duplicates_no_one(run: Run, worker_cache: Path) -> None:
    with DaskExecutor(workers=2, cache_dir=worker_cache) as executor:
        progress, killed = _killer(executor)
        table = _table(run, "placements", executor=executor, progress=progress)
        assert killed, "no worker had work left to kill"
        executor.client.wait_for_workers(2, timeout=120)
        assert killed[0] not in executor.client.run(os.getpid).values()  # the nanny started a new one
    assert table == run.local["placements"]
    frame = pd.read_csv(pd.io.common.BytesIO(table))
    assert not frame.duplicated(["participant_id", "rank"]).any()
    assert not frame.duplicated(["participant_id", "vacancy_id"]).any()


def test_a_run_whose_lost_work_may_not_run_again_publishes_nothing(served_world, tmp_path: Path) -> None:
    batch = served_world.settings.batch.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'results.db'}", "chunk_size": CHUNK})
    settings = served_world.settings.model_copy(update={"batch": batch})
    out = tmp_path / "recommendations.csv"
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}), \
            DaskExecutor(workers=2, cache_dir=tmp_path / "cache") as executor:
        progress, killed = _killer(executor)
        with pytest.raises(WorkerLost, match="published nothing"):
            run_nightly(settings, served_world.data_dir, served_world.as_of, out, reports=False,
                        progress=progress, executor=executor)
    assert killed
    assert not out.exists() and not list(tmp_path.glob("recommendations*"))
    assert ResultStore.from_settings(settings).latest_run() is None


def test_the_settings_choose_the_executor(served_world, tmp_path: Path) -> None:
    """``batch.executor: dask`` with no scheduler starts a LocalCluster for the run and closes it;
    the published table is the one the local executor publishes."""
    tables = {}
    for executor in ("local", "dask"):
        batch = served_world.settings.batch.model_copy(update={
            "database_url": f"sqlite:///{tmp_path / f'{executor}.db'}", "executor": executor, "dask_workers": 2})
        settings = served_world.settings.model_copy(update={"batch": batch})
        out = tmp_path / f"{executor}.csv"
        log = run_nightly(settings, served_world.data_dir, served_world.as_of, out, reports=False).log
        assert log.recommendations > 0
        tables[executor] = out.read_bytes()
    assert tables["dask"] == tables["local"]


def test_bad_executor_options_are_refused(served_world, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ValueError, match="workers must be at least 1"):
        DaskExecutor(workers=0)
    with pytest.raises(ValueError, match="partitions must be at least 1"):
        DaskExecutor(partitions=0)
    with pytest.raises(ValueError, match="a scheduler address needs executor 'dask'"):
        make_executor("local", "tcp://127.0.0.1:8786")
    with pytest.raises(ValueError, match="unknown executor 'spark'"):
        make_executor("spark")  # type: ignore[arg-type]
    with pytest.raises(RuntimeError, match="not started"), DaskExecutor().session(None, None):  # type: ignore[arg-type]
        pass
    code = main(["batch", "--data", str(served_world.data_dir), "--as-of", "2026-06-01", "--out", str(tmp_path / "r.csv"),
                 "--executor", "local", "--scheduler", "tcp://127.0.0.1:1"])
    assert code == 1
    assert "needs batch.executor: dask" in capsys.readouterr().err


def test_training_rows_are_the_same_on_the_cluster(run: Run, cluster: DaskExecutor, tmp_path: Path) -> None:
    """Training-data preparation on the workers, block by block: the same rows (negatives included)
    and the same model as in this process."""
    # the float embedder: both sides encode cold, in different batches, and int8's activation scales depend on
    # the batch, so only the float model gives the same vectors on both sides
    config = PipelineConfig(embedder=TEST_EMBEDDER.model_copy(update={"quantize": "none"}),
                            ranker=RankerConfig(num_threads=1, n_estimators=20),
                            training=TrainingConfig(block_size=40, negatives_per_participant=3))
    data, as_of = run.data, run.as_of
    cluster.cache_dir = str(tmp_path / "workers")  # cold, like this process's
    here = MatchingPipeline(config, cache_dir=tmp_path / "here").fit(data.participants, data.vacancies, data.outcomes, as_of)
    there = MatchingPipeline(config, cache_dir=tmp_path / "there").fit(data.participants, data.vacancies, data.outcomes,
                                                                       as_of, executor=cluster)
    assert here.ranker_ is not None and there.ranker_ is not None
    assert there.ranker_.booster_.model_to_string() == here.ranker_.booster_.model_to_string()
    known = data.vacancies[data.vacancies["published_at"] < pd.Timestamp(as_of)]
    pairs = strongest_outcomes(data.outcomes[data.outcomes["event_date"] < pd.Timestamp(as_of)])
    pairs = pairs[pairs["vacancy_id"].isin(known["vacancy_id"])]
    rows_here = here.training_examples(data.participants, known, pairs)
    rows_there = here.training_examples(data.participants, known, pairs, executor=cluster)
    assert len(np.unique(rows_here.participant)) > 2 * 40  # several blocks
    assert (rows_here.grade == 0).sum() > (pairs["grade"] == 0).sum()  # negatives were drawn
    for name in ("matrix", "grade", "participant", "day", "weight", "participant_ids", "vacancy_ids"):
        np.testing.assert_array_equal(getattr(rows_there, name), getattr(rows_here, name), err_msg=name)
