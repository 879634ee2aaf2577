"""Leave-last-interaction-out on a data folder, beside a taste world's own hidden appeal.

    python bench/leave_last_out.py --data W [--engines all|full|none] [--set SECTION__FIELD=VALUE ...]

Runs what ``ilona-match evaluate --data W --leave-last-out`` runs (``training.leave_last_out``: the
engine fitted on the log before the window, each person's last new vacancy of the window held out,
every system ranking the vacancies open and fitting that day) and, when W is a taste world
(``ilona-match generate --family taste``), one more system: **hidden appeal**, the candidates ranked
by what draws the person to them on the world's job board before its noise (taste, the pull toward
their past field, distance; ``synthetic.taste.board_appeal``): the order the world's hidden process
itself would view in, were every ad shown. The board shows each person 40 random ads a week, so which
vacancy is viewed next is partly chance; this row is what knowing the hidden taste is worth, the
figure the engine and the baselines are read against (not a strict bound: the day an ad was
published or how long it stays open also tells a little). ``--engines full`` runs the engine without its
channel ablations; ``none`` only the baselines and the ceiling (the engine is still fitted, for its
text and history stages). Every ``--set`` is an ``ILONA_MATCH_*`` override, as in ``bench/hidden_truth.py``.

One JSON line per system: hit@10, ndcg@10, judged, and hit@10 over the best of popularity, local
popularity and TF-IDF + filters.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from pathlib import Path

from _report import emit, setting_overrides

BASELINES = ("popularity", "local popularity", "tf-idf + filters")
ORACLE = "hidden appeal"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--engines", choices=("all", "full", "none"), default="all")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION__FIELD=VALUE")
    args = parser.parse_args()
    os.environ.update(setting_overrides(args.set))

    from ilona_match.learning.evaluation import FULL_PIPELINE
    from ilona_match.learning.leave_last_out import ENGINE_VARIANTS
    from ilona_match.training import leave_last_out

    engines = {"all": tuple(ENGINE_VARIANTS), "full": (FULL_PIPELINE,), "none": ()}[args.engines]
    from ilona_match.synthetic.taste import TasteOracle

    scorers = {}
    with contextlib.suppress(ValueError):  # not a taste world: no hidden appeal to read
        scorers[ORACLE] = TasteOracle.from_folder(args.data)
    started = time.perf_counter()
    result = leave_last_out(args.data, engines=engines, scorers=scorers)
    seconds = time.perf_counter() - started
    table = result.table
    best = max(float(table.loc[name, "hit@10"]) for name in BASELINES)
    for system, row in table.iterrows():
        emit({"data": str(args.data), "system": system, "hit@10": row["hit@10"], "ndcg@10": row["ndcg@10"],
              "judged": int(row["judged"]), "over best baseline": row["hit@10"] / best if best else None,
              "set aside": result.set_aside, "split": str(result.split), "end": str(result.end),
              "settings": " ".join(args.set), "seconds": round(seconds, 1)}, digits=3)


if __name__ == "__main__":
    main()
