"""The nightly job, at the edge where files and the results database are written.

One run: read and check the inputs (bad rows set aside in a rejects file, every valid row kept),
load the champion, score in chunks, re-check every recommendation against the hard constraints,
then publish. Each output is replaced atomically — the coach reports' folder and the table file
by a rename, the database in one transaction — and the database is written last: it is the
commit point, so a run killed at any moment leaves every reader with the previous complete run,
and the next run simply starts again. The run log holds counts and the model version, no text.
When the data folder has a ``participant_groups`` table, the run's lists are audited by group
(``learning.audit``) and the report is stored with the run; the audit log of the results database
records the run: model version, data fingerprint, config hash and every list's ids in order.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from ilona_match.config import EMBEDDING_CACHE_DIR, Settings
from ilona_match.contract import ContractError, find_table, load_data, write_rejects, write_table
from ilona_match.contract.constraints import ParticipantLimits, VacancyDemands, feasible, open_on
from ilona_match.contract.events import combine_events
from ilona_match.contract.exclusion import acted_pairs
from ilona_match.contract.output import PATHWAY_COLUMNS
from ilona_match.learning.audit import AuditInputs, AuditReport, audit_run
from ilona_match.learning.tracking import fingerprint_files
from ilona_match.matching.executor import DaskExecutor, Executor, LocalExecutor, make_executor
from ilona_match.pathways.tables import PathwayInputs
from ilona_match.serving.allocation import Allocation, AllocationConfig
from ilona_match.serving.batch import run_batch
from ilona_match.serving.store import ResultStore, RunLog

__all__ = ["NightlyOutputs", "allocation_summary", "config_hash", "publish_file", "run_nightly"]

REPORTS_DIR = "reports"


@dataclass(frozen=True)
class NightlyOutputs:
    """Where one nightly run put its results."""

    log: RunLog
    table: Path
    rejects: Path | None
    reports: Path | None
    database_url: str
    pathways: Path | None = None  # the pathways table, when the data folder has services


def publish_file(write: Callable[[Path], None], target: Path) -> None:
    """Write through ``write`` into a hidden sibling, flush it to disk, then rename over ``target``:
    readers see the old file or the new one, never half of it."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".partial-{target.name}")  # same folder (same file system), same extension
    write(partial)
    with open(partial, "rb") as handle:
        os.fsync(handle.fileno())
    partial.replace(target)


def _publish_folder(pages: dict[str, str], target: Path) -> None:
    """Coach pages of one run into ``target`` as a whole: written aside, then renamed into place."""
    from ilona_match.serving.report import write_coach_reports

    partial = target.with_name(f".partial-{target.name}")
    shutil.rmtree(partial, ignore_errors=True)
    write_coach_reports(pages, partial)
    if target.exists():  # the same run again (same run id): the old copy goes aside first
        stale = target.with_name(f".stale-{target.name}")
        shutil.rmtree(stale, ignore_errors=True)
        target.replace(stale)
        partial.replace(target)
        shutil.rmtree(stale, ignore_errors=True)
    else:
        partial.replace(target)


def _check_constraints(frame: pd.DataFrame, participants: pd.DataFrame, vacancies: pd.DataFrame, as_of: date) -> int:
    """Re-check every recommended pair with the contract's rule, apart from the code that chose it.

    Returns the number of pairs checked; a break is a defect and stops the run before anything is published.
    """
    people = participants.reset_index(drop=True)
    jobs = vacancies.reset_index(drop=True)
    p = pd.Index(people["participant_id"]).get_indexer(frame["participant_id"])
    v = pd.Index(jobs["vacancy_id"]).get_indexer(frame["vacancy_id"])
    if (p < 0).any() or (v < 0).any():
        raise RuntimeError("a recommendation names a participant or vacancy that is not in the inputs")
    demands = VacancyDemands.from_frame(jobs)
    ok = feasible(ParticipantLimits.from_frame(people), demands, p, v, as_of) & open_on(demands, as_of)[v]
    if not ok.all():
        raise RuntimeError(f"{int((~ok).sum())} recommendations break a hard constraint; nothing was published")
    return len(frame)


def _tables_present(data_dir: Path) -> tuple[str, ...]:
    """participants, vacancies, services and participant_groups (optional: empty tables when absent; the
    groups are read by the fairness audit only) always; outcomes when the folder has them (the pairs already acted on are left out of every list; a folder without
    an outcome history excludes nothing)."""
    try:
        find_table(data_dir, "outcomes")
    except ContractError:
        return ("participants", "participant_groups", "vacancies", "services")
    return ("participants", "participant_groups", "vacancies", "services", "outcomes")


def _allocation_details(allocation: Allocation | None, asked: str) -> dict[str, float | int | str]:
    """Congestion and expected placements before and after the allocation, for the run log (counts and
    ratios only)."""
    if allocation is None:
        return {"allocation": "none" if asked == "none" else f"none:{asked}_needs_a_calibrated_model"}
    details: dict[str, float | int | str] = {"allocation": f"{allocation.objective}:{allocation.method}"}
    for when, stats in (("before", allocation.before), ("after", allocation.after)):
        details[f"max_per_opening_{when}"] = float(stats.max_per_opening)
        details[f"exposure_gini_{when}"] = round(float(stats.gini), 4)
        details[f"participants_short_{when}"] = int(stats.short)
        if stats.expected_placements is not None:
            details[f"expected_placements_{when}"] = round(float(stats.expected_placements), 3)
    before = float(allocation.before.utility)
    details["utility_lost_share"] = round(float(allocation.utility_lost) / before, 4) if before else 0.0
    return details


def allocation_summary(details: Mapping[str, Any]) -> str:
    """The run's allocation and expected placements with and without it, in words, from a run log's details."""
    if "expected_placements_after" not in details:
        return f"allocation: {details.get('allocation', 'none')}"
    return (f"expected placements (calibrated chances, each vacancy filling at most its openings): "
            f"{details['expected_placements_after']:.1f} with the allocation ({details['allocation']}), "
            f"{details['expected_placements_before']:.1f} with each person's plain top list")


def run_nightly(
    settings: Settings,
    data_dir: Path,
    as_of: date,
    out: Path,
    *,
    participant_ids: Sequence[str] | None = None,
    model: str | None = None,
    k: int | None = None,
    rejects: Path | None = None,
    reports: bool = True,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[int], None] | None = None,
    executor: Executor | None = None,
) -> NightlyOutputs:
    """The whole nightly run (module docstring). ``on_start`` receives the number of participants.
    Chunks are scored by ``executor`` when one is given (already started), else by the one
    ``settings.batch`` names (started and closed here)."""
    from ilona_match.learning.tracking import load_champion
    from ilona_match.serving.report import render_coach_reports

    started = datetime.now(timezone.utc)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise ValueError(f"--out {out}: use a .csv or .parquet file name")
    bundle = load_data(data_dir, tables=_tables_present(data_dir), on_error="continue",
                       max_text_chars=settings.contract.max_text_chars)
    participants = bundle.participants
    store = ResultStore.from_settings(settings)
    history = combine_events(bundle.outcomes, store.feedback(), bundle.participants["participant_id"],
                             bundle.vacancies["vacancy_id"])
    exclude = acted_pairs(history.events, as_of, settings.exclusion)
    if participant_ids is not None:
        unknown = sorted(set(participant_ids) - set(participants["participant_id"]))
        if unknown:
            raise ValueError(f"{len(unknown)} unknown participant_id(s) in the participant list, first {unknown[0]!r}")
        participants = participants[participants["participant_id"].isin(set(participant_ids))].reset_index(drop=True)
    pipeline, version = load_champion(settings.workdir, model)
    interactions = pipeline.prepare_history(history.events, bundle.vacancies, as_of, bundle.participants)
    if on_start is not None:
        on_start(len(participants))
    k = k or settings.batch.k
    allocation = (AllocationConfig(k=k, objective=settings.batch.allocation,
                                   exposure_per_opening=settings.batch.exposure_per_opening,
                                   relevance_weight=settings.batch.relevance_weight,
                                   fill=settings.batch.fill)
                  if settings.batch.allocation != "none" else None)
    with contextlib.nullcontext(executor) if executor is not None else executor_for(settings) as running:
        result = run_batch(pipeline, participants, bundle.vacancies, as_of, k=k, model_version=version,
                           chunk_size=settings.batch.chunk_size, progress=progress, allocation=allocation,
                           candidate_pool=settings.batch.candidate_pool, pool_memory_mb=settings.batch.pool_memory_mb,
                           exclude=exclude, executor=running, history=interactions)
    frame = result.frame
    checked = _check_constraints(frame, participants, bundle.vacancies, as_of)
    run_id = str(frame["run_id"].iloc[0]) if len(frame) else f"run-{as_of:%Y%m%d}-empty"

    paths = _pathways(settings, pipeline, bundle, history.events, participants, as_of, run_id)
    paths_path = None
    if paths is not None:
        paths_path = out.with_name(f"{out.stem}.pathways{out.suffix}")
        publish_file(lambda path: write_table(paths, path), paths_path)

    rejects_path = None
    if not bundle.rejects.empty:
        rejects_path = rejects or out.with_name(f"{out.stem}.rejects.csv")
        publish_file(lambda path: write_rejects(bundle.rejects, path), rejects_path)
    reports_path = None
    if reports:
        reports_path = Path(settings.workdir) / REPORTS_DIR / run_id
        previous = store.current_lists() if store.latest_run() is not None else None
        _publish_folder(render_coach_reports(frame, result.explanations, bundle.vacancies,
                                             participants=participants, previous=previous, pathways=paths,
                                             services=bundle.services), reports_path)
    publish_file(lambda path: write_table(frame, path), out)

    audit = _audit(settings, bundle, frame, participants, history.events, store, as_of, run_id)
    open_count = int(open_on(VacancyDemands.from_frame(bundle.vacancies), as_of).sum())
    log = RunLog(
        run_id=run_id, as_of=as_of, model_version=str(version),
        started_at=started.isoformat(timespec="seconds"),
        finished_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        participants=len(participants), vacancies=len(bundle.vacancies), open_vacancies=open_count,
        rejected_rows=len(bundle.rejects[["file", "row"]].drop_duplicates()),
        recommendations=len(frame), to_check=int((frame["to_check"] != "").sum()),
        details={"constraint_checks": checked, "constraint_breaks": 0,
                 "pairs_excluded_done": int((exclude.reasons == "done").sum()),
                 "pairs_excluded_rested": int((exclude.reasons == "rested").sum()),
                 "feedback_events_used": history.from_feedback,
                 "participants_without_recommendation": len(participants) - int(frame["participant_id"].nunique()),
                 **_allocation_details(result.allocation, settings.batch.allocation),
                 **_pathway_details(paths, frame, participants),
                 "data_fingerprint": fingerprint_files(sorted(bundle.source_files.values())),
                 "config_hash": config_hash(settings),
                 **({} if audit is None else {"audit_violations": len(audit.violations)})},
    )
    store.publish(frame, log, paths, audit=None if audit is None else audit.to_json())  # the commit point
    return NightlyOutputs(log, out, rejects_path, reports_path, store.url, paths_path)


def executor_for(settings: Settings) -> LocalExecutor | DaskExecutor:
    """The executor ``settings.batch`` names, to use as a context manager. A LocalCluster's workers
    share the work folder's embedding cache; a remote cluster's use ``batch.worker_cache_dir``."""
    batch = settings.batch
    cache = batch.worker_cache_dir if batch.scheduler else Path(settings.workdir) / EMBEDDING_CACHE_DIR
    return make_executor(batch.executor, batch.scheduler, workers=batch.dask_workers, partitions=batch.partitions,
                         cache_dir=cache)


def config_hash(settings: Settings) -> str:
    """SHA-256 of the run's settings (the audit log's record of which configuration served)."""
    return hashlib.sha256(settings.model_dump_json().encode()).hexdigest()


def _audit(settings: Settings, bundle: Any, frame: pd.DataFrame, participants: pd.DataFrame, events: pd.DataFrame,
           store: ResultStore, as_of: date, run_id: str) -> AuditReport | None:
    """The fairness audit of the run's lists (``learning.audit``) when the data folder has group attributes.
    It reports and flags; it does not hold lists back from coaches (their review is the oversight)."""
    groups = bundle.participant_groups
    if groups is None or groups.empty:
        return None
    overrides = store.overrides()
    inputs = AuditInputs(participants[["participant_id", "lat", "lon"]], groups, bundle.vacancies, frame,
                         events[events["event_date"] < pd.Timestamp(as_of)],
                         overrides=overrides[overrides["event_date"] < as_of.isoformat()])
    return audit_run(inputs, settings.audit, run=run_id, day=as_of.isoformat())


def _pathways(settings: Settings, pipeline: Any, bundle: Any, vacancy_events: pd.DataFrame,
              participants: pd.DataFrame, as_of: date, run_id: str) -> pd.DataFrame | None:
    """The run's pathways (PATHWAY_COLUMNS) when the data folder has services, else None."""
    if bundle.services is None or bundle.services.empty:
        return None
    inputs = PathwayInputs(bundle.vacancies, vacancy_events, bundle.services, bundle.service_outcomes, as_of,
                           pipeline.taxonomy, settings.pathways, extract=pipeline.extract_mentions(),
                           linker=pipeline.linker)
    paths = inputs.plan(participants)
    paths.insert(0, "as_of", as_of.isoformat())
    paths.insert(0, "run_id", run_id)
    return paths[list(PATHWAY_COLUMNS)].astype({"rank": "int64", "p_gain": "float64"})


def _pathway_details(paths: pd.DataFrame | None, frame: pd.DataFrame, participants: pd.DataFrame) -> dict[str, int]:
    """Run-log counts of the pathways: routes, people with one, and people with no list who got one."""
    if paths is None:
        return {}
    with_path = set(paths["participant_id"])
    without_list = set(participants["participant_id"]) - set(frame["participant_id"])
    return {"pathways": len(paths), "participants_with_pathway": len(with_path),
            "without_recommendation_with_pathway": len(with_path & without_list)}
