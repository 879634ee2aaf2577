"""Nightly job entry point: the champion model's recommendations for every participant.

    python pipelines/nightly_batch.py --data DATA --as-of 2026-09-01 --out out/recommendations.parquet

A thin wrapper over `ilona-match batch` so schedulers can call a script; all options are the CLI's.
"""

from __future__ import annotations

import sys

from ilona_match.cli import main

if __name__ == "__main__":
    sys.exit(main(["batch", *sys.argv[1:]]))
