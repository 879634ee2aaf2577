"""Ranking loss of a faster embedder mode: the whole pipeline fitted and evaluated with each mode.

    python bench/embedder_modes.py [--data /tmp/w2031] [--as-of 2026-07-01] [--modes none,int8]
                                   [--seeds 0] [--cache-dir /tmp/embcache] [--static DIR] [--world-seed 2031]

Shorthand for ``bench/config_variants.py`` with one variant per embedder mode
(``embedder.quantize``; with --static DIR also ``static``, that folder of ``ilona-match
distill-embedder`` as ``embedder.model``), the first mode the reference: each is fitted on the
outcomes before AS_OF and evaluated on the 60 days after, per ranker seed, with one LightGBM thread.
The mode changes every dense vector, in training and in serving, so the NDCG@10 difference is the
mode's whole ranking cost. Without --data a 3,000 × 1,200 world (seed --world-seed) is generated.

Prints ``config_variants`` lines (``variant`` = the mode): one per (mode, seed), then one per mode
with its mean NDCG@10, standard error and change relative to the first mode (negative: a loss).
Differences between ranker seeds of one mode show how much of a change is noise.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

from config_variants import compare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("/tmp/w2031"))
    parser.add_argument("--as-of", type=date.fromisoformat, default=date(2026, 7, 1))
    parser.add_argument("--modes", default="none,int8")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--cache-dir", default="/tmp/embcache")
    parser.add_argument("--static", type=Path, default=None, help="a static model folder: adds the mode 'static'")
    parser.add_argument("--world-seed", type=int, default=2031, help="seed of a world generated into --data")
    args = parser.parse_args()
    variants = {mode: {"embedder": {"quantize": mode}} for mode in args.modes.split(",")}
    if args.static is not None:
        variants["static"] = {"embedder": {"model": str(args.static)}}
    compare(variants, args.data, args.world_seed, args.as_of, [int(seed) for seed in args.seeds.split(",")],
            args.cache_dir)


if __name__ == "__main__":
    main()
