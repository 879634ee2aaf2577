"""``train`` and ``evaluate`` for pipelines, notebooks and the CLI (the edge that reads data folders).

``--as-of D`` means the same for both: the run stands on day D and reads nothing dated D or later;
the last ``evaluation.horizon_days`` before D are held out to judge the model, which learns from
the outcomes before them. Without it, D is the day after the last outcome.

train: fit on the outcomes before the window, judge on the window beside the baselines, keep the
trained ranker only when it beats the pipeline without ranker (``model_selection``), log one MLflow
run and register exactly the model that was judged; it becomes ``champion`` when there is none
yet or when it beats the current champion on the same window, both scored on the current data.
The outcomes are the data folder's table plus the events posted to ``POST /feedback``.

Both then calibrate the model on the window (its scores to the chance of a success) and measure the
**expected placements** of the nightly run on the split date: every participant's list of vacancies
open that day, acted-on pairs left out, each pair's calibrated chance, each vacancy filling at most
its openings (``learning.metrics.expected_placements``), with the configured allocation and with
each person's plain top k.

When the data folder has a ``participant_groups`` table, both audit those lists by group
(``learning.audit``, the only reader of that table); ``train`` does not promote a model whose audit
breaks the thresholds of ``settings.audit`` and says which group and metric.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

import pandas as pd

from ilona_match.config import EMBEDDING_CACHE_DIR, Settings, load_settings
from ilona_match.contract import DataBundle, load_data
from ilona_match.contract.events import EventHistory, combine_events
from ilona_match.contract.exclusion import acted_pairs
from ilona_match.contract.spec import ALL_TABLES
from ilona_match.learning.audit import AuditInputs, AuditReport, audit_run
from ilona_match.learning.evaluation import (
    FULL_PIPELINE,
    NO_RANKER,
    EvaluationResult,
    NoHeldOutData,
    calibrate,
    evaluate_systems,
    score_pipeline,
)
from ilona_match.learning.leave_last_out import (
    ENGINE_VARIANTS,
    LeaveLastOutResult,
    PairScorer,
    evaluate_leave_last_out,
    per_participant_ndcg,
)
from ilona_match.learning.metrics import expected_placements
from ilona_match.learning.model_selection import compare, judge
from ilona_match.matching.calibration import Reliability
from ilona_match.matching.executor import Executor
from ilona_match.matching.pipeline import MatchingPipeline
from ilona_match.serving.allocation import AllocationConfig
from ilona_match.serving.batch import in_id_order, serve_lists
from ilona_match.serving.nightly import executor_for

__all__ = ["SHIPPED", "TrainResult", "audit_lists", "default_as_of", "evaluate", "outcome_history", "train"]

SHIPPED = "shipped model"  # the evaluation table's row of what is registered (the full pipeline or the prior)


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    model_version: str
    promoted: bool
    reason: str
    evaluation: pd.DataFrame | None  # the evaluation table with its "shipped model" row (None: no held-out window)
    ranker: str  # what the registered model ranks with, and why
    evaluation_result: EvaluationResult | None = None
    calibration: str = ""  # the registered model's calibration, in words
    placements: str = ""  # expected placements on the split date, in words
    reliability: pd.DataFrame | None = None  # the calibration's bins: pairs, mean predicted, observed (out of fold)
    audit: AuditReport | None = None  # the fairness audit of the lists on the split date (None: no participant_groups)


def default_as_of(outcomes: DataBundle | pd.DataFrame) -> date:
    """The day after the last outcome (of a bundle or an outcomes frame): learn from everything known."""
    if isinstance(outcomes, DataBundle):
        outcomes = outcomes.outcomes
    if outcomes.empty:
        raise ValueError("outcomes table is empty: give --as-of explicitly")
    return (outcomes["event_date"].max() + pd.Timedelta(days=1)).date()


def _settings(config: str | Path | Settings | None) -> Settings:
    return config if isinstance(config, Settings) else load_settings(config)


def outcome_history(bundle: DataBundle, settings: Settings) -> EventHistory:
    """The bundle's outcomes plus the feedback events stored in the results database."""
    from ilona_match.serving.store import ResultStore

    store = ResultStore.from_settings(settings)
    try:
        feedback = store.feedback()
    finally:
        store.close()
    return combine_events(bundle.outcomes, feedback, bundle.participants["participant_id"],
                          bundle.vacancies["vacancy_id"])


def _pipeline(settings: Settings) -> MatchingPipeline:
    return MatchingPipeline(settings.matching, cache_dir=Path(settings.workdir) / EMBEDDING_CACHE_DIR)


def _fitted_before_window(data_dir: str | Path | DataBundle, as_of: date | None,
                          config: str | Path | Settings | None) -> tuple[Settings, DataBundle, pd.DataFrame, date, date,
                                                                        MatchingPipeline]:
    """The settings, data, events, as-of, split and the pipeline fitted on the log before the split."""
    settings = _settings(config)
    bundle = data_dir if isinstance(data_dir, DataBundle) else load_data(
        data_dir, tables=ALL_TABLES, max_text_chars=settings.contract.max_text_chars)
    events = outcome_history(bundle, settings).events
    as_of = as_of or default_as_of(events)
    split = as_of - timedelta(days=settings.evaluation.horizon_days)
    pipeline = _pipeline(settings).fit(bundle.participants, bundle.vacancies, events, split)
    return settings, bundle, events, as_of, split, pipeline


def evaluate(
    data_dir: str | Path | DataBundle,
    as_of: date | None = None,
    config: str | Path | Settings | None = None,
) -> EvaluationResult:
    """Fit on the outcomes before ``as_of - horizon`` and compare the pipeline with the baselines on
    the held-out window up to ``as_of`` (module docstring)."""
    settings, bundle, events, as_of, split, pipeline = _fitted_before_window(data_dir, as_of, config)
    result = evaluate_systems(pipeline, bundle.participants, bundle.vacancies, events, split,
                              horizon_days=settings.evaluation.horizon_days, k=settings.evaluation.k)
    pipeline.calibrator_ = calibrate(pipeline, bundle.participants, bundle.vacancies, events, split, as_of)
    placements, lists = placements_on(pipeline, bundle, events, split, settings)
    audit = audit_lists(bundle, lists, events, split, settings, result.per_query[FULL_PIPELINE], run="evaluation")
    return replace(result, calibration=_calibration_line(pipeline), reliability=_reliability(pipeline),
                   placements=placements, audit=audit)


def leave_last_out(data_dir: str | Path | DataBundle, as_of: date | None = None,
                   config: str | Path | Settings | None = None, engines: tuple[str, ...] = tuple(ENGINE_VARIANTS),
                   scorers: Mapping[str, PairScorer] | None = None) -> LeaveLastOutResult:
    """Fit on the log before ``as_of - horizon`` and rank each person's last interaction of the window
    (``learning.leave_last_out``) with the engine, its channel ablations (``engines``), the baselines
    and any further ``scorers``."""
    settings, bundle, events, as_of, split, pipeline = _fitted_before_window(data_dir, as_of, config)
    return evaluate_leave_last_out(pipeline, bundle.participants, bundle.vacancies, events, split, as_of,
                                   settings.exclusion, settings.matching.history.window_days, engines=engines,
                                   scorers=scorers)


def audit_lists(bundle: DataBundle, lists: pd.DataFrame | None, events: pd.DataFrame, day: date, settings: Settings,
                ndcg: pd.Series | None = None, run: str = "") -> AuditReport | None:
    """The fairness audit (``learning.audit``) of the lists served on ``day``, when the data folder has a
    ``participant_groups`` table and the lists carry calibrated chances; None otherwise."""
    groups = bundle.participant_groups
    if groups is None or groups.empty or lists is None:
        return None
    from ilona_match.serving.store import ResultStore

    store = ResultStore.from_settings(settings)
    try:
        overrides = store.overrides()
    finally:
        store.close()
    history = events[events["event_date"] < pd.Timestamp(day)]
    inputs = AuditInputs(bundle.participants[["participant_id", "lat", "lon"]], groups, bundle.vacancies, lists,
                         history, ndcg=ndcg, overrides=overrides[overrides["event_date"] < day.isoformat()])
    return audit_run(inputs, settings.audit, run=run, day=day.isoformat())


def placements_on(pipeline: MatchingPipeline, bundle: DataBundle, events: pd.DataFrame, day: date,
                  settings: Settings) -> tuple[dict[str, float], pd.DataFrame | None]:
    """Expected placements of the nightly run on ``day`` with the pipeline's calibrated chances: with
    the configured allocation (``allocated``; plain top k when it is ``none``) and with each person's
    plain top k (``top_k``), and the recommendations per participant; and the lists served that day
    (what the fairness audit judges). Empty and None without a calibration."""
    if getattr(pipeline, "calibrator_", None) is None or bundle.participants.empty:
        return {}, None
    state = pipeline.prepare_vacancies(in_id_order(bundle.vacancies)).with_history(
        pipeline.prepare_history(events, bundle.vacancies, day, bundle.participants))
    exclude = acted_pairs(events, day, settings.exclusion)
    objective = "cap" if settings.batch.allocation == "cap" else "placements"
    served = serve_lists(pipeline, bundle.participants, state, day, k=settings.batch.k, exclude=exclude,
                         allocation=AllocationConfig(k=settings.batch.k, objective=objective,
                                                     exposure_per_opening=settings.batch.exposure_per_opening,
                                                     relevance_weight=settings.batch.relevance_weight,
                                                     fill=settings.batch.fill),
                         candidate_pool=settings.batch.candidate_pool, chunk_size=settings.batch.chunk_size)
    frame = served.frame
    if served.allocation is None:  # nothing open that fits anyone
        top_k = expected_placements(state.jobs.id_index.get_indexer(frame["vacancy_id"]), frame["rank"].to_numpy(),
                                    frame["p_outcome"].to_numpy(dtype=float), state.jobs.openings)
        allocated = top_k
    else:
        top_k = float(served.allocation.before.expected_placements or 0.0)
        allocated = top_k if settings.batch.allocation == "none" else float(served.allocation.after.expected_placements or 0.0)
    return {"expected_placements": round(allocated, 4), "expected_placements_top_k": round(top_k, 4),
            "recommendations_per_participant": round(len(frame) / len(bundle.participants), 3)}, frame


def _choose_ranker(pipeline: MatchingPipeline, result: EvaluationResult | None, settings: Settings) -> str:
    """Keep the trained ranker only when it beats no ranker on the window (``model_selection.judge``);
    else rank with the prior."""
    if pipeline.ranker_ is None:
        return f"prior: {pipeline.training_summary_.get('ranker', 'no ranker trained')}"
    if result is None:
        pipeline.ranker_ = None
        verdict = "prior: no held-out window to show that the trained ranker beats no ranker"
    else:
        judged = judge(result.met_per_participant[FULL_PIPELINE], result.met_per_participant[NO_RANKER],
                       result.per_query[FULL_PIPELINE], result.per_query[NO_RANKER],
                       settings.evaluation.min_gain, settings.evaluation.bootstrap_rounds,
                       learned_who_is_shown=pipeline.training_summary_.get("negatives_per_participant", 0) > 0)
        if judged.better:
            return f"trained ranker: {judged.text}"
        pipeline.ranker_ = None
        verdict = f"prior: {judged.text}"
    pipeline.training_summary_["ranker"] = verdict
    return verdict


def _choose_by_last_interactions(pipeline: MatchingPipeline, bundle: DataBundle, events: pd.DataFrame, split: date,
                                 as_of: date, settings: Settings) -> str:
    """A log with no success has no window of successes to judge on: keep a ranker trained on weak
    grades only when it finds the last interactions of the window (``learning.leave_last_out``) better
    than no ranker, with a 95 % bootstrap interval over participants above ``min_gain``."""
    try:
        held = evaluate_leave_last_out(pipeline, bundle.participants, bundle.vacancies, events, split, as_of,
                                       settings.exclusion, settings.matching.history.window_days,
                                       engines=(FULL_PIPELINE, NO_RANKER), baselines=False)
    except ValueError as exc:  # no last interaction in the window
        pipeline.ranker_ = None
        verdict = f"prior: no held-out window to show that the trained ranker beats no ranker ({exc})"
    else:
        ndcg = per_participant_ndcg(held.ranks)
        on_last = compare(ndcg[FULL_PIPELINE], ndcg[NO_RANKER], settings.evaluation.min_gain,
                          settings.evaluation.bootstrap_rounds)
        text = (f"on the last interactions held out NDCG@10 {on_last.gain:+.4f} (95% interval {on_last.low:+.4f} .. "
                f"{on_last.high:+.4f}, {on_last.participants} participants)")
        if on_last.better:
            return f"trained ranker: the trained ranker beats no ranker; {text}"
        pipeline.ranker_ = None
        verdict = f"prior: the trained ranker does not beat no ranker; {text}"
    pipeline.training_summary_["ranker"] = verdict
    return verdict


def train(
    data_dir: str | Path,
    as_of: date | None = None,
    config: str | Path | Settings | None = None,
    executor: Executor | None = None,
) -> TrainResult:
    """Fit, judge, choose, log to MLflow and register (see module docstring). The training rows are
    computed by ``executor`` when one is given (already started), else by the one ``batch.executor``
    names (a Dask cluster computes them block by block; the rows are the same)."""
    from ilona_match.learning.tracking import current_champion, fingerprint_files, log_training_run

    settings = _settings(config)
    bundle = load_data(data_dir, tables=ALL_TABLES, max_text_chars=settings.contract.max_text_chars)
    history = outcome_history(bundle, settings)
    events = history.events
    as_of = as_of or default_as_of(events)
    horizon = settings.evaluation.horizon_days
    split = as_of - timedelta(days=horizon)
    with contextlib.nullcontext(executor) if executor is not None else executor_for(settings) as running:
        pipeline = _pipeline(settings).fit(bundle.participants, bundle.vacancies, events, split, running)
    pipeline.training_summary_["feedback_events"] = history.from_feedback
    if not events.empty:
        pipeline.training_summary_["history_from"] = events["event_date"].min().date().isoformat()
    try:
        result: EvaluationResult | None = evaluate_systems(
            pipeline, bundle.participants, bundle.vacancies, events, split, horizon_days=horizon, k=settings.evaluation.k)
    except NoHeldOutData:
        result = None
    if result is None and pipeline.ranker_ is not None and pipeline.training_summary_.get("grades", "").startswith("weak"):
        ranker = _choose_by_last_interactions(pipeline, bundle, events, split, as_of, settings)
    else:
        ranker = _choose_ranker(pipeline, result, settings)
    pipeline.calibrator_ = calibrate(pipeline, bundle.participants, bundle.vacancies, events, split, as_of)
    if pipeline.calibrator_ is not None:
        reliability = pipeline.calibrator_.reliability_
        pipeline.training_summary_.update(calibration_ece=round(reliability.ece, 4), calibration_brier=round(reliability.brier, 5),
                                          calibration_ece_noise=round(reliability.noise, 4),
                                          calibration_ece_noise_95=round(reliability.noise_95, 4),
                                          calibration_ece_lowest=round(reliability.ece_range[0], 4),
                                          calibration_ece_highest=round(reliability.ece_range[1], 4),
                                          calibration_repeats=reliability.repeats,
                                          calibration_pairs=reliability.pairs,
                                          calibration_base_rate=round(reliability.base_rate, 4),
                                          **{f"calibration_weight_{name}": round(weight, 4)
                                             for name, weight in pipeline.calibrator_.weights().items()})
    placements, lists = placements_on(pipeline, bundle, events, split, settings)
    pipeline.training_summary_.update(placements)
    table = None
    shipped = FULL_PIPELINE if pipeline.ranker_ is not None else NO_RANKER
    audit = audit_lists(bundle, lists, events, split, settings, None if result is None else result.per_query[shipped],
                        run="training")
    if result is not None:
        table = pd.concat([result.table, result.table.loc[[shipped]].rename(index={shipped: SHIPPED})])
        pipeline.training_summary_.update(judged_participants=result.participants,
                                          set_aside_pairs=result.set_aside_pairs)

    champion = current_champion(settings.workdir)
    if champion is None:
        promoted, reason = True, "no champion yet"
    elif result is None:
        promoted, reason = False, f"this run has no held-out window to compare with champion version {champion[1]}"
    else:
        held = score_pipeline(champion[0], bundle.participants, bundle.vacancies, events, split, as_of,
                              k=settings.evaluation.k)
        shipped = FULL_PIPELINE if pipeline.ranker_ is not None else NO_RANKER
        decision = judge(result.met_per_participant[shipped], held.met, result.per_query[shipped], held.replay,
                         settings.evaluation.min_gain, settings.evaluation.bootstrap_rounds,
                         ("this model", f"champion version {champion[1]}"),
                         learned_who_is_shown=pipeline.ranker_ is not None
                         and pipeline.training_summary_.get("negatives_per_participant", 0) > 0)
        promoted, reason = decision.better, decision.text
    if promoted and audit is not None and audit.violations and settings.audit.block_promotion:
        more = f" (and {len(audit.violations) - 1} more: `ilona-match audit`)" if len(audit.violations) > 1 else ""
        promoted, reason = False, f"the fairness audit blocks promotion: {audit.violations[0]}{more}"
    record = log_training_run(
        pipeline,
        data_fingerprint=fingerprint_files(sorted(bundle.source_files.values())),
        settings_dump=settings.model_dump(mode="json"),
        evaluation=table,
        workdir=settings.workdir,
        evaluated_as_of=split,
        promoted=promoted,
        reason=reason,
        audit=audit,
    )
    return TrainResult(record.run_id, str(record.model_version), record.promoted, record.reason, table, ranker, result,
                       _calibration_line(pipeline), placements_line(placements, split), _reliability(pipeline), audit)


def _reliability(pipeline: MatchingPipeline) -> pd.DataFrame | None:
    calibrator = getattr(pipeline, "calibrator_", None)
    return None if calibrator is None else calibrator.reliability_.table


def placements_line(placements: dict[str, float], day: date) -> str:
    """Expected placements in words (``placements_on``)."""
    if not placements:
        return "no expected placements: they need a calibrated chance of success"
    return (f"expected placements of the run on {day}: {placements['expected_placements']:.2f} with the allocation, "
            f"{placements['expected_placements_top_k']:.2f} with each person's plain top k "
            f"({placements['recommendations_per_participant']:.1f} recommendations per participant)")


def _calibration_line(pipeline: MatchingPipeline) -> str:
    calibrator = pipeline.calibrator_
    if calibrator is None:
        return "no chance of success: the held-out window has too few pairs met, or no success, to calibrate on"
    r = calibrator.reliability_
    weights = calibrator.weights()
    reads = (" on the score and " + ", ".join(f"{name} {weight:+.2f}" for name, weight in list(weights.items())[1:])
             + f" (weights per standard deviation, the score's {weights['score']:+.2f})" if weights else "")
    return (f"{calibrator.method}{reads} on {r.pairs} pairs met in the held-out window (success rate {r.base_rate:.3f}); "
            f"expected calibration error {r.ece:.4f} (a perfectly calibrated chance shows {r.noise:.4f} on these pairs, "
            f"95 % of draws below {r.noise_95:.4f}), Brier score {r.brier:.4f}, out of fold{_over_assignments(r)}")


def _over_assignments(reliability: Reliability) -> str:
    """How the out-of-fold figures were averaged: over how many fold assignments, and the ECE's range."""
    if reliability.repeats < 2:
        return ""
    low, high = reliability.ece_range
    return f", the mean over {reliability.repeats} assignments of people to folds (ECE {low:.4f}–{high:.4f})"
