"""The ``ilona-match`` command line: the edge where files are read and written.

Every command exits non-zero with a one-line reason on bad input (a traceback only with
``--debug``) and reads settings once, here, from ``--config`` / ``ILONA_MATCH_*`` / flags.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
from pydantic import ValidationError
from tqdm.auto import tqdm

from ilona_match.config import ConfigError, Settings, load_settings
from ilona_match.contract import ContractError, load_data, validate_data, write_rejects
from ilona_match.matching.executor import WorkerLost

if TYPE_CHECKING:
    from ilona_match.learning.evaluation import EvaluationResult

__all__ = ["main"]


class UsageError(ValueError):
    """A command-line value that cannot be used (reported in one line)."""


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


AS_OF_HELP = ("the day the run stands on: nothing dated on or after it is read; the last evaluation.horizon_days "
              "before it judge the model, which learns from the outcomes before them (default: the day after the last "
              "outcome)")


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return number


def _hire_bias_rule(value: str) -> tuple[str, str, float]:
    """``--hire-bias column=value:factor`` (generate): a planted hiring bias rule of the synthetic worlds."""
    from ilona_match.synthetic.groups import parse_bias_rule

    try:
        return parse_bias_rule(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.synthetic import generate_world

    hire_bias = tuple(args.hire_bias or ())
    if args.views_only and args.family != "taste":
        raise ValueError("--views-only applies to --family taste")
    if args.family == "taste":
        from ilona_match.synthetic.taste import generate_taste_world

        if hire_bias:
            raise ValueError("--hire-bias applies to the coach and market families")
        print(generate_taste_world(args.out, participants=args.participants, vacancies=args.vacancies, seed=args.seed,
                                   fmt=args.format, views_only=args.views_only).describe())
        return 0
    if args.family == "market":
        from ilona_match.synthetic.market import generate_market_world

        print(generate_market_world(args.out, participants=args.participants, vacancies=args.vacancies, seed=args.seed,
                                    fmt=args.format, other_languages=args.other_languages,
                                    hire_bias=hire_bias).describe())
        return 0
    with tqdm(total=args.participants, unit="participant", desc="generate", disable=args.quiet) as bar:
        summary = generate_world(
            args.out,
            participants=args.participants,
            vacancies=args.vacancies,
            seed=args.seed,
            fmt=args.format,
            other_languages=args.other_languages,
            progress=bar.update,
            hire_bias=hire_bias,
        )
    print(summary.describe())
    return 0


def _cmd_validate(args: argparse.Namespace, settings: Settings) -> int:
    faults = validate_data(args.data, max_text_chars=settings.contract.max_text_chars)
    for fault in faults:
        print(fault)
    if args.rejects is not None and not any(f.fatal for f in faults):
        bundle = load_data(args.data, on_error="continue", max_text_chars=settings.contract.max_text_chars)
        write_rejects(bundle.rejects, args.rejects)
        print(f"{len(bundle.rejects)} rejected rows written to {args.rejects}")
    if faults:
        fatal = sum(f.fatal for f in faults)
        print(f"{len(faults)} faults ({fatal} fatal) in {args.data}", file=sys.stderr)
        return 1
    print(f"{args.data}: valid")
    return 0


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.demo import run_demo

    workdir = args.workdir or settings.workdir
    report = run_demo(workdir, settings=settings, participants=args.participants,
                      vacancies=args.vacancies, seed=args.seed, progress=not args.quiet)
    print(report)
    return 0


def _cmd_train(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.training import train

    result = train(args.data, as_of=args.as_of, config=_executor_options(args, settings))
    if result.evaluation is not None:
        print(_window_line(result.evaluation_result))
        print(result.evaluation.round(4).to_string())
    else:
        print("no held-out window: no new pair reached a success in it")
    print(f"ranker: {result.ranker}")
    print(f"calibration: {result.calibration}")
    _print_reliability(result.reliability)
    print(result.placements)
    state = "promoted to champion" if result.promoted else "not promoted"
    print(f"run id: {result.run_id}\nmodel version: {result.model_version} ({state}: {result.reason})")
    return 0


def _cmd_evaluate(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.training import evaluate, leave_last_out, placements_line

    if args.leave_last_out:
        held = leave_last_out(args.data, as_of=args.as_of, config=settings)
        print(f"leave-last-out: {int(held.table['judged'].iloc[0])} people whose last interaction entered the log "
              f"in [{held.split}, {held.end}); {held.set_aside} set aside (closed that day or breaking a hard constraint)")
        print(held.table[["hit@10", "ndcg@10"]].round(4).to_string())
        return 0
    result = evaluate(args.data, as_of=args.as_of, config=settings)
    print(_window_line(result))
    print(result.table.round(4).to_string())
    print(f"calibration: {result.calibration}")
    _print_reliability(result.reliability)
    print(placements_line(result.placements, result.split))
    return 0


def _print_reliability(table: pd.DataFrame | None) -> None:
    """The calibration's reliability table: per bin of predicted chance, what happened (out of fold)."""
    if table is not None and len(table):
        shown = table.rename(columns={"mean_predicted": "predicted"}).round(3)
        print("reliability (bins of predicted chance, out of fold):")
        print(shown.to_string(index=False))


def _window_line(result: EvaluationResult) -> str:
    return (f"held-out window {result.split} .. {result.end - timedelta(days=1)}: {result.participants} participants "
            f"judged on {result.queries} days they met new vacancies ({result.relevant_pairs} pairs); "
            f"{result.set_aside_pairs} pairs already in the log before the window set aside")


def _read_participant_list(path: Path) -> list[str]:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise UsageError(f"{path}: cannot read participant list ({type(exc).__name__})") from None
    if "participant_id" not in frame.columns:
        raise UsageError(f"{path}: missing header participant_id")
    return [p.strip() for p in frame["participant_id"] if p.strip()]


def _cmd_batch(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.serving.nightly import allocation_summary, run_nightly

    wanted = _read_participant_list(args.participants) if args.participants is not None else None
    settings = _executor_options(args, settings)
    with tqdm(unit="participant", desc="batch", disable=args.quiet) as bar:
        outputs = run_nightly(settings, args.data, args.as_of, args.out, participant_ids=wanted, model=args.model,
                              k=args.k, rejects=args.rejects, reports=not args.no_reports,
                              progress=bar.update, on_start=lambda total: bar.reset(total=total))
    log = outputs.log
    print(f"{log.recommendations} recommendations for {log.participants} participants over {log.open_vacancies} "
          f"open vacancies (model version {log.model_version}, run {log.run_id}) -> {outputs.table}")
    print(f"{log.details.get('participants_without_recommendation', 0)} participants got no recommendation; "
          + allocation_summary(log.details))
    if outputs.rejects is not None:
        print(f"{log.rejected_rows} rejected input rows set aside -> {outputs.rejects}")
    if outputs.reports is not None:
        print(f"coach reports -> {outputs.reports}")
    print(f"published to {outputs.database_url}")
    return 0


def _executor_options(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with --executor, --scheduler and --workers, checked like the config file's."""
    chosen = {name: value for name, value in (("executor", args.executor), ("scheduler", args.scheduler),
                                              ("dask_workers", args.workers)) if value is not None}
    if args.scheduler and not args.executor:
        chosen["executor"] = "dask"
    return _with_batch(settings, chosen) if chosen else settings


def _with_batch(settings: Settings, updates: dict[str, Any]) -> Settings:
    """The settings with command-line batch options, checked like the config file's."""
    try:
        batch = type(settings.batch).model_validate({**settings.batch.model_dump(), **updates})
    except ValidationError as error:
        raise UsageError(f"batch options: {error.errors()[0]['msg']}") from None
    return settings.model_copy(update={"batch": batch})


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.serving.api import serve

    updates = {name: value for name, value in (("data_dir", args.data), ("as_of", args.as_of)) if value is not None}
    if updates:
        settings = settings.model_copy(update={"api": settings.api.model_copy(update=updates)})
    serve(settings, host=args.host, port=args.port)
    return 0


def _cmd_api_key(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.serving.api import add_api_key, default_keys_file

    keys_file = default_keys_file(settings)
    key = add_api_key(keys_file, args.name)
    print(f"API key {args.name!r} (shown once; only its SHA-256 hash is kept in {keys_file}):\n{key}")
    return 0


def _cmd_audit_log_show(args: argparse.Namespace, settings: Settings) -> int:
    """The audit log's records (ids, counts and hash prefixes only), oldest first."""
    from ilona_match.serving.store import ResultStore

    records = ResultStore.from_settings(settings).audit_records(since=args.since, last=args.last)
    if not records:
        print("no audit records")
        return 0
    table = pd.DataFrame([{
        "seq": r.seq, "at": f"{r.at[:19]}Z", "kind": r.kind, "caller": r.caller, "run_id": r.run_id or "-",
        "model_version": r.model_version, "participants": r.participants, "items": r.items,
        "data_fingerprint": r.data_fingerprint[:12] or "-", "config_hash": r.config_hash[:12] or "-",
    } for r in records])
    print(table.to_string(index=False))
    return 0


def _cmd_audit_log_purge(args: argparse.Namespace, settings: Settings) -> int:
    """Delete the audit records older than the retention (the newest record always stays)."""
    from ilona_match.serving.store import ResultStore

    days = args.older_than_days or settings.audit.log_retention_days
    deleted = ResultStore.from_settings(settings).purge_audit_log(days)
    print(f"{deleted} audit records older than {days} days deleted")
    return 0


def _cmd_audit_log_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Recompute the audit log's hash chain: 0 when intact, 1 naming the first seq that breaks it."""
    from ilona_match.serving.store import ResultStore

    store = ResultStore.from_settings(settings)
    broken = store.verify_audit_log()
    if broken is not None:
        print(f"ilona-match {args.command}: audit log broken at seq {broken}: a record was changed, inserted or "
              "deleted there", file=sys.stderr)
        return 1
    print(f"audit log intact: {len(store.audit_records())} records")
    return 0


def _cmd_distill_embedder(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.text.embedding import distill_static_model

    model = args.model or settings.matching.embedder.model
    out = distill_static_model(args.out, model=model, dimensions=args.dimensions)
    print(f"static model distilled from {model} into {out}\n"
          f"use it with the setting  matching.embedder.model: {out.resolve()}  (then fit or train again)")
    return 0


def _cmd_audit(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.learning.tracking import current_champion_run, run_audit
    from ilona_match.serving.store import ResultStore

    store = ResultStore.from_settings(settings)
    try:
        stored = store.audit_report(args.run)
    finally:
        store.close()
    if stored is not None:
        run_id, report = stored
        print(f"nightly run {run_id}")
    else:
        run_id = args.run or current_champion_run(settings.workdir)
        if run_id is None:
            raise LookupError("no audit yet: run `ilona-match train` and `ilona-match batch` on a data folder with "
                              "a participant_groups table")
        report = run_audit(run_id, workdir=settings.workdir)
        print(f"training run {run_id}")
    if report is None:
        print("no fairness audit: the run's data folder had no participant_groups table (docs/data-contract.md)")
        return 0
    print(report.text())
    return 0


def _cmd_model_card(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.learning.model_card import write_card
    from ilona_match.learning.tracking import MODEL_NAME, version_card

    version, card = version_card(args.version, workdir=settings.workdir)
    path = args.out or write_card(card, settings.workdir, MODEL_NAME, version)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(card, encoding="utf-8")
    print(f"model card of version {version} -> {Path(path).resolve()}")
    return 0


def _cmd_promote(args: argparse.Namespace, settings: Settings) -> int:
    """A person makes a registered version the champion (e.g. one the rule or the fairness audit held
    back, after reviewing it); recorded on the version and in the audit log."""
    from ilona_match.learning.tracking import promote
    from ilona_match.serving.store import AuditEntry, ResultStore

    before = promote(args.version, workdir=settings.workdir, reviewer=args.reviewer, reason=args.reason)
    store = ResultStore.from_settings(settings)
    try:
        store.append_audit(AuditEntry(kind="model.promotion", caller=args.reviewer, model_version=str(args.version),
                                      served=()))
    finally:
        store.close()
    print(f"version {args.version} is the champion now (before: {before or 'none'}), promoted by {args.reviewer}")
    return 0


def _cmd_explain(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.serving.matcher import Matcher
    from ilona_match.training import default_as_of, outcome_history

    bundle = load_data(args.data, max_text_chars=settings.contract.max_text_chars)
    person = bundle.participants[bundle.participants["participant_id"] == args.participant]
    if person.empty:
        raise UsageError(f"--participant {args.participant!r}: no such participant_id in {args.data}")
    if not (bundle.vacancies["vacancy_id"] == args.vacancy).any():
        raise UsageError(f"--vacancy {args.vacancy!r}: no such vacancy_id in {args.data}")
    events = outcome_history(bundle, settings).events
    as_of = args.as_of or default_as_of(events)
    matcher = Matcher.load(args.model, workdir=settings.workdir, vacancies=bundle.vacancies, as_of=as_of,
                           outcomes=events)
    why = matcher.explain(person, args.vacancy)
    print(f"participant {why.participant_id}, vacancy {why.vacancy_id}, as of {as_of} "
          f"(model version {matcher.model_version})")
    print("reasons: " + (" / ".join(why.reasons) or "-"))
    print("to check: " + (", ".join(why.to_check_text) or "-"))
    if why.matched_skills or why.missing_skills:
        print(f"skills it asks that the person has: {', '.join(why.matched_skills) or '-'}; "
              f"missing: {', '.join(why.missing_skills) or '-'}")
    contributions = pd.Series(dict(why.contributions), dtype=float)
    contributions = contributions[contributions != 0].sort_values(key=abs, ascending=False)
    print("feature contributions to the score (the ranker's log-odds; positive raises it):")
    print(contributions.round(4).to_string() if len(contributions) else "  (none)")
    return 0


def _executor_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--executor", choices=("local", "dask"),
                        help=f"where {what} (default: settings.batch.executor); dask without --scheduler starts a "
                        "LocalCluster here")
    parser.add_argument("--scheduler", help="address of an existing Dask scheduler, e.g. tcp://host:8786 (implies --executor dask)")
    parser.add_argument("--workers", type=_positive_int,
                        help="worker processes of the LocalCluster (default: settings.batch.dask_workers)")


def _build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="YAML settings file (default: built-in defaults)")
    common.add_argument("--debug", action="store_true", help="show tracebacks")
    common.add_argument("--quiet", action="store_true", help="no progress bars")

    parser = argparse.ArgumentParser(
        prog="ilona-match", description="Job matching for people with partial work capacity."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo = commands.add_parser("demo", parents=[common], help="the whole job on a synthetic world")
    demo.add_argument("--workdir", type=Path, help="folder for data and outputs (default: settings.workdir)")
    demo.add_argument("--participants", type=_positive_int, default=600)
    demo.add_argument("--vacancies", type=_positive_int, default=1000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(handler=_cmd_demo)

    gen = commands.add_parser("generate", parents=[common], help="write a synthetic world in the data contract")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--participants", type=_positive_int, default=2000)
    gen.add_argument("--vacancies", type=_positive_int, default=800)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--format", choices=("csv", "parquet"), default="csv")
    gen.add_argument("--other-languages", type=float, default=1.0,
                     help="scale of the Swedish and English text shares (0.1 = almost all Finnish)")
    gen.add_argument("--family", choices=("coach", "market", "taste"), default="coach",
                     help="coach: coaches' logs, hiring a weighted sum of known facts; market: hiring by thresholds "
                          "and competition, a job board's log, records as people write them; taste: a hidden taste "
                          "per person drives views, applications and hires")
    gen.add_argument("--views-only", action="store_true",
                     help="taste family: keep only the viewed events (a job board's click log)")
    gen.add_argument("--hire-bias", type=_hire_bias_rule, action="append", metavar="COLUMN=VALUE:FACTOR",
                     help="plant a hiring bias for a fairness audit: employers hire people of the group FACTOR "
                          "(0-1] times as often, e.g. age_band=55+:0.5 (repeatable; columns of participant_groups)")
    gen.set_defaults(handler=_cmd_generate)

    val = commands.add_parser("validate", parents=[common], help="check a data folder against the contract")
    val.add_argument("--data", type=Path, required=True)
    val.add_argument("--rejects", type=Path, help="also write the rejected rows (CSV/Parquet) here")
    val.set_defaults(handler=_cmd_validate)

    tr = commands.add_parser("train", parents=[common], help="train, evaluate, log to MLflow and register a model")
    tr.add_argument("--data", type=Path, required=True)
    tr.add_argument("--as-of", type=_iso_date, help=AS_OF_HELP)
    _executor_arguments(tr, "training rows are computed")
    tr.set_defaults(handler=_cmd_train)

    ev = commands.add_parser("evaluate", parents=[common], help="time-split evaluation beside baselines")
    ev.add_argument("--data", type=Path, required=True)
    ev.add_argument("--as-of", type=_iso_date, help=AS_OF_HELP)
    ev.add_argument("--leave-last-out", action="store_true",
                    help="rank each person's last interaction of the window instead (Hit@10, NDCG@10), with the "
                         "engine's channel ablations and popularity, local popularity and TF-IDF baselines")
    ev.set_defaults(handler=_cmd_evaluate)

    bt = commands.add_parser("batch", parents=[common], help="the nightly job: recommendations for every participant")
    bt.add_argument("--data", type=Path, required=True)
    bt.add_argument("--as-of", type=_iso_date, required=True)
    bt.add_argument("--out", type=Path, required=True, help="CSV or Parquet file")
    bt.add_argument("--participants", type=Path, help="CSV with header participant_id: only these")
    bt.add_argument("--model", help="models:/NAME@ALIAS, models:/NAME/VERSION or a saved pipeline folder (default: champion)")
    bt.add_argument("--k", type=_positive_int, help="recommendations per participant (default: settings.batch.k)")
    bt.add_argument("--rejects", type=Path, help="rejected input rows go here (default: OUT's name + .rejects.csv)")
    bt.add_argument("--no-reports", action="store_true", help="skip the coach reports (HTML)")
    _executor_arguments(bt, "participants are scored")
    bt.set_defaults(handler=_cmd_batch)

    au = commands.add_parser("audit", parents=[common], help="the fairness audit of a run, by group (docs/fairness.md)")
    au.add_argument("--run", help="a nightly run id or an MLflow training run id (default: the latest nightly run, "
                                  "else the champion's training run)")
    au.set_defaults(handler=_cmd_audit)

    card = commands.add_parser("model-card", parents=[common], help="write the model card of a registered version")
    card.add_argument("--version", help="model version (default: the champion)")
    card.add_argument("--out", type=Path, help="file to write (default: WORKDIR/models/cards/ilona-match-vN.md)")
    card.set_defaults(handler=_cmd_model_card)

    pr = commands.add_parser("promote", parents=[common], help="a person makes a registered version the champion")
    pr.add_argument("version", help="the registered model version to serve")
    pr.add_argument("--reviewer", required=True, help="who decided (a pseudonymous name, kept with the version)")
    pr.add_argument("--reason", required=True, help="why it should serve despite the rule (kept with the version)")
    pr.set_defaults(handler=_cmd_promote)

    ex = commands.add_parser("explain", parents=[common], help="the reasons and feature contributions behind one "
                                                               "recommendation")
    ex.add_argument("--data", type=Path, required=True)
    ex.add_argument("--participant", required=True, help="participant_id")
    ex.add_argument("--vacancy", required=True, help="vacancy_id")
    ex.add_argument("--as-of", type=_iso_date, help="openness date (default: the day after the last outcome)")
    ex.add_argument("--model", help="models:/NAME@ALIAS, models:/NAME/VERSION or a saved pipeline folder (default: champion)")
    ex.set_defaults(handler=_cmd_explain)

    sv = commands.add_parser("serve", parents=[common], help="the HTTP API (see docs/interfaces.md)")
    sv.add_argument("--host", help="address to listen on (default: settings.api.host, 127.0.0.1)")
    sv.add_argument("--port", type=_positive_int, help="port (default: settings.api.port, 8000)")
    sv.add_argument("--data", type=Path, help="data folder whose vacancies are served (default: settings.api.data_dir)")
    sv.add_argument("--as-of", type=_iso_date, help="openness date of the served vacancies (default: today)")
    sv.set_defaults(handler=_cmd_serve)

    dist = commands.add_parser("distill-embedder", parents=[common],
                               help="the faster embedder mode: distil the embedding model into a static one")
    dist.add_argument("--out", type=Path, required=True, help="new folder for the static model")
    dist.add_argument("--model", help="model to distil (default: settings.matching.embedder.model)")
    dist.add_argument("--dimensions", type=_positive_int, default=256, help="vector length after PCA (default 256)")
    dist.set_defaults(handler=_cmd_distill_embedder)

    key = commands.add_parser("api-key", parents=[common], help="manage the HTTP API's keys")
    key_commands = key.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = key_commands.add_parser("add", parents=[common], help="make a new key (printed once, stored hashed)")
    add.add_argument("--name", required=True, help="who uses the key (e.g. the calling system)")
    add.set_defaults(handler=_cmd_api_key)

    audit = commands.add_parser("audit-log", parents=[common],
                                help="the records of what the engine served (EU AI Act Art. 12)")
    audit_commands = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = audit_commands.add_parser("show", parents=[common], help="print the records, oldest first")
    show.add_argument("--last", type=_positive_int, metavar="N", help="only the newest N")
    show.add_argument("--since", type=_iso_date, metavar="DATE", help="only records from this day on (UTC)")
    show.set_defaults(handler=_cmd_audit_log_show)
    purge = audit_commands.add_parser("purge", parents=[common], help="delete records older than the retention")
    purge.add_argument("--older-than-days", type=_positive_int, metavar="N",
                       help="retention in days (default: settings.audit.log_retention_days)")
    purge.set_defaults(handler=_cmd_audit_log_purge)
    verify = audit_commands.add_parser("verify", parents=[common], help="check that no record was changed or removed")
    verify.set_defaults(handler=_cmd_audit_log_verify)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    args = _build_parser().parse_args(argv)
    _quiet_libraries(args.debug)
    _collect_garbage_less_often()
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    try:
        settings = load_settings(args.config)
        return handler(args, settings)
    except (ContractError, ConfigError, UsageError, LookupError, ValueError, FileNotFoundError, FileExistsError,
            ImportError, ConnectionError, WorkerLost) as exc:
        if args.debug:
            raise
        print(f"ilona-match {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ilona-match {args.command}: interrupted", file=sys.stderr)
        return 130


def _collect_garbage_less_often() -> None:
    """Leave the objects of the imports out of every later garbage collection and collect the
    youngest generation every 10,000 allocations instead of 700: a run builds hundreds of thousands
    of small objects (the taxonomy's label indexes), and the default collector rescans them all
    many times. A warm ``ilona-match batch`` of 120 people took 13.5 s before, 10.7 s after (means of three)."""
    import gc

    gc.freeze()
    gc.set_threshold(10_000)


def _quiet_libraries(debug: bool) -> None:
    """MLflow, transformers and alembic talk a lot; keep the terminal for our own one-line reports."""
    import logging
    import os
    import warnings

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    if not debug:
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # transformers' "Loading weights" bar
        for name in ("mlflow", "alembic", "transformers", "sentence_transformers", "lightgbm"):
            logging.getLogger(name).setLevel(logging.ERROR)
        warnings.filterwarnings("ignore", module="mlflow")
        warnings.filterwarnings("ignore", category=FutureWarning)


def _one_line(exc: Exception) -> str:
    faults = getattr(exc, "faults", None)
    if faults:
        more = f" (and {len(faults) - 1} more faults; run `ilona-match validate`)" if len(faults) > 1 else ""
        return f"{faults[0]}{more}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
