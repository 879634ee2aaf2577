"""The ``ilona-match`` command line: the edge where files are read and written.

Every command exits non-zero with a one-line reason on bad input (a traceback only with
``--debug``) and reads settings once, here, from ``--config`` / ``ILONA_MATCH_*`` / flags.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path

from tqdm.auto import tqdm

from ilona_match.config import ConfigError, Settings, load_settings
from ilona_match.contract import ContractError, load_data, validate_data, write_rejects

__all__ = ["main"]


class UsageError(ValueError):
    """A command-line value that cannot be used (reported in one line)."""


def _iso_date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an ISO date (YYYY-MM-DD)") from None


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return number


def _cmd_generate(args: argparse.Namespace, settings: Settings) -> int:
    from ilona_match.synthetic import generate_world

    with tqdm(total=args.participants, unit="participant", desc="generate", disable=args.quiet) as bar:
        summary = generate_world(
            args.out,
            participants=args.participants,
            vacancies=args.vacancies,
            seed=args.seed,
            fmt=args.format,
            progress=bar.update,
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
    demo.add_argument("--vacancies", type=_positive_int, default=300)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(handler=_cmd_demo)

    gen = commands.add_parser("generate", parents=[common], help="write a synthetic world in the data contract")
    gen.add_argument("--out", type=Path, required=True)
    gen.add_argument("--participants", type=_positive_int, default=2000)
    gen.add_argument("--vacancies", type=_positive_int, default=800)
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--format", choices=("csv", "parquet"), default="csv")
    gen.set_defaults(handler=_cmd_generate)

    val = commands.add_parser("validate", parents=[common], help="check a data folder against the contract")
    val.add_argument("--data", type=Path, required=True)
    val.add_argument("--rejects", type=Path, help="also write the rejected rows (CSV/Parquet) here")
    val.set_defaults(handler=_cmd_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    args = _build_parser().parse_args(argv)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    try:
        settings = load_settings(args.config)
        return handler(args, settings)
    except (ContractError, ConfigError, UsageError) as exc:
        if args.debug:
            raise
        print(f"ilona-match {args.command}: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"ilona-match {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: Exception) -> str:
    faults = getattr(exc, "faults", None)
    if faults:
        more = f" (and {len(faults) - 1} more faults; run `ilona-match validate`)" if len(faults) > 1 else ""
        return f"{faults[0]}{more}"
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
