"""Where a run's chunks of participants are computed: in this process, or on the workers of a Dask cluster.

A run splits its participants into chunks (``batch.chunk_size``). What happens to a chunk is a
function of the fitted pipeline, the run's prepared vacancy side and the chunk alone, so chunks can be
computed anywhere and gathered in order. ``LocalExecutor`` computes them here, one after another.
``DaskExecutor`` ships the pipeline and the vacancy side to every worker of a Dask cluster as files —
the saved pipeline folder (``save_pipeline``) and the prepared vacancies with their FAISS indexes
(``save_vacancy_state``), never pickled models — each worker loads them once, and partitions of whole
chunks are computed there. The chunk boundaries are the same with either executor and any number of
workers or partitions, so the same inputs (and the same embedding cache) give the same bytes.

A worker lost mid-run costs its partitions, which Dask computes again elsewhere; when it may not
(``distributed.scheduler.allowed-failures``) the run stops with ``WorkerLost`` before anything is
published. Without a scheduler address ``DaskExecutor`` starts a ``distributed.LocalCluster``, so one
machine can use it too.
"""

from __future__ import annotations

import functools
import hashlib
import io
import os
import shutil
import tarfile
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol

from ilona_match.matching.persistence import (
    load_pipeline,
    load_vacancy_state,
    save_pipeline,
    save_vacancy_state,
)
from ilona_match.matching.pipeline import MatchingPipeline, VacancyState

__all__ = ["ChunkSession", "DaskExecutor", "Executor", "LocalExecutor", "WorkerLost", "make_executor"]

ChunkFn = Callable[[MatchingPipeline, VacancyState, Any], Any]
_PLUGIN_PREFIX = "ilona-match-scoring-"


class WorkerLost(RuntimeError):
    """A Dask worker was lost and its work could not be done again: the run published nothing."""


class ChunkSession(Protocol):
    """Computes chunk tasks against one pipeline and vacancy side."""

    def map(self, fn: ChunkFn, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        """``(i, fn(pipeline, state, tasks[i]))`` for every task, each once, as they finish (in order
        here; in any order on a cluster), so the caller keeps only what it needs of each."""
        ...


class Executor(Protocol):
    def session(self, pipeline: MatchingPipeline, state: VacancyState) -> Any:
        """A context manager giving a ``ChunkSession`` over this pipeline and vacancy side."""
        ...


class _LocalSession:
    def __init__(self, pipeline: MatchingPipeline, state: VacancyState) -> None:
        self.pipeline, self.state = pipeline, state

    def map(self, fn: ChunkFn, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        for i, task in enumerate(tasks):
            yield i, fn(self.pipeline, self.state, task)


class LocalExecutor:
    """Every chunk in this process, in order (the default). A context manager like ``DaskExecutor``."""

    def __enter__(self) -> LocalExecutor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None

    @contextmanager
    def session(self, pipeline: MatchingPipeline, state: VacancyState) -> Iterator[ChunkSession]:
        yield _LocalSession(pipeline, state)


def _pack(pipeline: MatchingPipeline, state: VacancyState) -> bytes:
    """The pipeline folder and the vacancy side as one uncompressed tar archive (files, not pickles)."""
    with tempfile.TemporaryDirectory(prefix="ilona-match-ship-") as folder:
        save_pipeline(pipeline, Path(folder) / "pipeline")
        save_vacancy_state(state, Path(folder) / "vacancies")
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            for name in ("pipeline", "vacancies"):
                archive.add(Path(folder) / name, arcname=name)
        return buffer.getvalue()


@functools.cache
def _worker_plugin_class() -> type:
    from distributed import WorkerPlugin

    class ScoringFiles(WorkerPlugin):  # type: ignore[misc]
        """Unpacks the shipped files into the worker's own folder when the worker starts (or joins
        later, e.g. after a restart); the pipeline and vacancies are loaded once, by the first task."""

        def __init__(self, archive: bytes, digest: str, cache_dir: str | None) -> None:
            self.archive, self.digest, self.cache_dir = archive, digest, cache_dir
            self.folder: Path | None = None
            self.loaded: tuple[MatchingPipeline, VacancyState] | None = None

        def setup(self, worker: Any) -> None:
            self.lock = threading.Lock()  # made here: the plugin travels pickled, a lock cannot
            self.folder = Path(worker.local_directory) / f"{_PLUGIN_PREFIX}{self.digest}"
            if not self.folder.is_dir():
                partial = self.folder.with_name(f"{self.folder.name}.{uuid.uuid4().hex}")
                with tarfile.open(fileobj=io.BytesIO(self.archive), mode="r") as archive:
                    archive.extractall(partial, filter="data")
                partial.rename(self.folder)
            self.archive = b""  # the files are here now: no second copy in the worker's memory

        def teardown(self, worker: Any) -> None:
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)

        def load(self) -> tuple[MatchingPipeline, VacancyState]:
            with self.lock:
                if self.loaded is None:
                    assert self.folder is not None
                    cache = self.cache_dir or str(self.folder.parent / "ilona-match-embedding-cache")
                    self.loaded = (load_pipeline(self.folder / "pipeline", cache_dir=cache),
                                   load_vacancy_state(self.folder / "vacancies"))
                return self.loaded

    return ScoringFiles


def _run_partition(plugin_name: str, fn: ChunkFn, tasks: Sequence[Any]) -> list[Any]:
    """On a worker: the partition's chunks against the shipped pipeline and vacancy side."""
    from distributed import get_worker

    plugin = get_worker().plugins.get(plugin_name)
    if plugin is None:
        raise RuntimeError(f"worker {get_worker().address} has no {plugin_name}: the run's files were not shipped")
    pipeline, state = plugin.load()
    return [fn(pipeline, state, task) for task in tasks]


class _DaskSession:
    def __init__(self, client: Any, plugin_name: str, partitions: int | None) -> None:
        self.client, self.plugin_name, self.partitions = client, plugin_name, partitions

    def map(self, fn: ChunkFn, tasks: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from distributed import KilledWorker, as_completed

        if not tasks:
            return
        count = min(len(tasks), self.partitions or len(tasks))
        bounds = [round(i * len(tasks) / count) for i in range(count + 1)]  # whole chunks per partition
        run = uuid.uuid4().hex[:8]
        futures = [
            self.client.submit(_run_partition, self.plugin_name, fn, list(tasks[a:b]), key=f"ilona-match-{run}-{i}",
                               pure=False)
            for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))
        ]
        first = {future.key: a for future, a in zip(futures, bounds[:-1])}
        try:
            for future in as_completed(futures):
                results = future.result()
                future.release()
                yield from enumerate(results, start=first[future.key])
        except KilledWorker as error:
            raise WorkerLost(
                f"a Dask worker was lost while computing {error.task!r} and the task may not run again "
                f"(distributed.scheduler.allowed-failures): the run stopped and published nothing"
            ) from None
        finally:
            self.client.cancel(futures)


class DaskExecutor:
    """Chunks on the workers of a Dask cluster: the one at ``scheduler`` (``tcp://host:8786``), or a
    ``LocalCluster`` of ``workers`` processes started here. ``partitions``: how many tasks the chunks
    are grouped into (default: one per chunk, which balances best and loses least to a lost worker).
    ``cache_dir``: the embedding cache the workers use, a folder they can all reach (the work folder's
    on a local cluster); without it each worker keeps one in its own folder.
    Use it as a context manager: the client (and a local cluster) close on exit."""

    def __init__(self, scheduler: str | None = None, *, workers: int = 2, partitions: int | None = None,
                 cache_dir: str | Path | None = None) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        if partitions is not None and partitions < 1:
            raise ValueError(f"partitions must be at least 1, got {partitions}")
        self.scheduler, self.workers, self.partitions = scheduler, workers, partitions
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.client: Any = None
        self._cluster: Any = None

    def __enter__(self) -> DaskExecutor:
        import dask
        from distributed import Client, LocalCluster

        if self.scheduler:
            try:
                self.client = Client(self.scheduler, timeout="30s")
            except OSError as error:
                raise ConnectionError(f"no Dask scheduler answered at {self.scheduler}: {error}") from None
        else:
            threads = max(1, (os.cpu_count() or 1) // self.workers)  # the cores, shared out between the workers
            environ = {f"distributed.nanny.pre-spawn-environ.{name}": threads
                       for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}
            with dask.config.set(environ):
                self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                             dashboard_address=":0")  # any free port: no clash with another cluster
            self.client = Client(self._cluster)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.client is not None:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()
        self.client = self._cluster = None

    @contextmanager
    def session(self, pipeline: MatchingPipeline, state: VacancyState) -> Iterator[ChunkSession]:
        """Ship the pipeline and vacancy side to every worker (and to any that joins later) for the
        session's length; the workers' copies are removed after it."""
        if self.client is None:
            raise RuntimeError("DaskExecutor is not started: use it as a context manager (with DaskExecutor(...) as ex)")
        archive = _pack(pipeline, state)
        digest = hashlib.sha256(archive).hexdigest()[:16]
        name = f"{_PLUGIN_PREFIX}{digest}"
        self.client.register_plugin(_worker_plugin_class()(archive, digest, self.cache_dir), name=name)
        del archive
        try:
            yield _DaskSession(self.client, name, self.partitions)
        finally:
            self.client.unregister_worker_plugin(name)


def make_executor(kind: Literal["local", "dask"], scheduler: str | None = None, *, workers: int = 2,
                  partitions: int | None = None, cache_dir: str | Path | None = None) -> LocalExecutor | DaskExecutor:
    """The executor a run's settings name, to use as a context manager."""
    if kind == "local":
        if scheduler:
            raise ValueError("a scheduler address needs executor 'dask'")
        return LocalExecutor()
    if kind == "dask":
        return DaskExecutor(scheduler, workers=workers, partitions=partitions, cache_dir=cache_dir)
    raise ValueError(f"unknown executor {kind!r}: use 'local' or 'dask'")

