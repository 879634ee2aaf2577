"""The nightly batch with the local executor and on a Dask LocalCluster of 1 and 2 workers, on one world.

    python bench/dask_executor.py --world /tmp/ilona-stages/100000_50000_7 --cache DIR [--model NAME]
                                  [--k 20] [--chunk-size 2000] [--workers 1,2] [--no-local]

WORLD is a folder made by ``bench/stages.py`` (its ``data`` and a fitted model: ``model`` or
``model-NAME`` with --model); every vacancy is served as open on the world's as-of date (stages.py's
``--all-open``), with the capped allocation (3 people per opening) and k = 20. CACHE is the embedding
cache the client and the workers share (a LocalCluster's workers share this machine's disk).
Each run loads the pipeline afresh, as a new process would. Per executor it reports:

vacancy_side_s   profiles, vectors and indexes of the vacancies (on the client, once per run)
ship_s           the pipeline and vacancy side packed as files and registered on every worker
scoring_s        from the first chunk sent to the last chunk's pool back (workers load the shipped
                 files once, inside this)
allocate_explain_s  the allocation on the client, then the chosen rows scored again and explained
                 (on the workers with Dask; kept features are reused with the local executor)
total_s          the whole run_batch, and whether its table is byte-identical to the local one

Prints one JSON line per executor.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import pandas as pd
from _report import emit

from ilona_match.contract import load_data
from ilona_match.matching.executor import DaskExecutor, LocalExecutor
from ilona_match.matching.persistence import load_pipeline
from ilona_match.serving.allocation import AllocationConfig
from ilona_match.serving.batch import _prepare_open, run_batch
from ilona_match.training import default_as_of


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(executor: LocalExecutor | DaskExecutor, model: Path, cache: Path, participants: pd.DataFrame,
        vacancies: pd.DataFrame, as_of, k: int, chunk_size: int) -> tuple[dict[str, float], bytes]:
    pipeline = load_pipeline(model, cache_dir=cache)
    start = time.perf_counter()
    state = _prepare_open(pipeline, vacancies, as_of)
    vacancy_side = time.perf_counter() - start
    ship = 0.0
    if isinstance(executor, DaskExecutor):  # what opening a session costs, timed on its own
        begin = time.perf_counter()
        with executor.session(pipeline, state):
            ship = time.perf_counter() - begin
    marks: list[float] = []
    begin = time.perf_counter()
    result = run_batch(pipeline, participants, state, as_of, k=k, chunk_size=chunk_size,
                       allocation=AllocationConfig(k=k, objective="cap", exposure_per_opening=3.0),
                       progress=lambda _: marks.append(time.perf_counter()), executor=executor)
    end = time.perf_counter()
    figures = {"vacancy_side_s": vacancy_side, "ship_s": ship,
               "scoring_s": (marks[-1] if marks else end) - begin,
               "allocate_explain_s": end - (marks[-1] if marks else begin),
               "total_s": vacancy_side + ship + end - begin, "rows": len(result.frame)}
    return figures, result.frame.to_csv(index=False).encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world", type=Path, required=True)
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--model", help="the model-NAME folder of the world (default: model)")
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--chunk-size", type=int, default=2000)
    parser.add_argument("--workers", default="1,2", help="comma-separated LocalCluster sizes")
    parser.add_argument("--no-local", action="store_true", help="skip the local executor (no identity check)")
    args = parser.parse_args()
    model = args.world / (f"model-{args.model}" if args.model else "model")
    bundle = load_data(args.world / "data")
    as_of = default_as_of(bundle)
    vacancies = bundle.vacancies.assign(published_at=bundle.vacancies["published_at"].clip(upper=pd.Timestamp(as_of)),
                                        closes_at=pd.NaT)
    facts = {"participants": len(bundle.participants), "vacancies": len(vacancies), "k": args.k,
             "chunk_size": args.chunk_size}
    local = None
    if not args.no_local:
        figures, local = run(LocalExecutor(), model, args.cache, bundle.participants, vacancies, as_of, args.k,
                             args.chunk_size)
        emit({"executor": "local", **figures, "client_peak_rss_mb": _peak_rss_mb(), **facts})
    for workers in (int(w) for w in args.workers.split(",")):
        with DaskExecutor(workers=workers, cache_dir=args.cache) as executor:
            figures, table = run(executor, model, args.cache, bundle.participants, vacancies, as_of, args.k,
                                 args.chunk_size)
        emit({"executor": "dask", "workers": workers, **figures,
              "identical_to_local": None if local is None else table == local,
              "client_peak_rss_mb": _peak_rss_mb(),
              **facts})


if __name__ == "__main__":
    main()
