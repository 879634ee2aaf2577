"""The fairness audit on worlds with and without a planted hiring bias.

    python bench/fairness.py --family coach|market --seed 1 [--bias age_band=55+:0.3] [--participants 1500]
                             [--vacancies 1500] [--workdir /tmp/fairness]

Generates the world (``--bias`` plants a bias in its hidden hiring process: employers hire people
of the group FACTOR times as often; none without it), trains as ``ilona-match train`` does (the
audit runs on the lists of the split date, with the held-out window's NDCG@10 per person) and
prints one JSON line per group of the biased attribute: the group's hire rate in the history
relative to everyone (with its 95 % interval), its share of the engine's expected placements
relative to everyone, the audit's verdict, the group's expected placements over everyone else's,
its NDCG@10 where enough people were judged, and whether the audit blocked promotion. The hidden
truth gives the group's mean hire chance over its lists against everyone's, for scale.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit

from ilona_match.config import load_settings
from ilona_match.contract import load_data
from ilona_match.synthetic.groups import parse_bias_rule
from ilona_match.synthetic.truth import load_truth
from ilona_match.training import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=("coach", "market"), required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--bias", default="", help="COLUMN=VALUE:FACTOR (none: no planted bias)")
    parser.add_argument("--attribute", default="age_band", help="attribute to report when there is no bias")
    parser.add_argument("--participants", type=int, default=1500)
    parser.add_argument("--vacancies", type=int, default=1500)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/fairness"))
    args = parser.parse_args()

    rules = (parse_bias_rule(args.bias),) if args.bias else ()
    attribute = rules[0][0] if rules else args.attribute
    name = f"{args.family}-{args.seed}-{'bias' if rules else 'none'}"
    folder, workdir = args.workdir / name / "data", args.workdir / name / "work"
    started = time.perf_counter()
    if args.family == "coach":
        from ilona_match.synthetic import generate_world

        generate_world(folder, participants=args.participants, vacancies=args.vacancies, seed=args.seed,
                       hire_bias=rules)
    else:
        from ilona_match.synthetic.market import generate_market_world

        generate_market_world(folder, participants=args.participants, vacancies=args.vacancies, seed=args.seed,
                              hire_bias=rules)
    generated = time.perf_counter() - started
    settings = load_settings(None, {"workdir": workdir})
    result = train(folder, config=settings)
    audit = result.audit
    if audit is None:
        raise SystemExit("no audit: the world has no participant_groups table")
    truth = load_truth(folder)
    bundle = load_data(folder, tables=("participants", "participant_groups"))
    groups = bundle.participant_groups.set_index("participant_id")[attribute]
    history = audit.history[audit.history["attribute"] == attribute].set_index("group")
    gaps = audit.gaps[audit.gaps["attribute"] == attribute]
    for group, row in history.iterrows():
        ratio = gaps[(gaps["group"] == group) & (gaps["metric"] == "expected_placements")]
        ndcg = gaps[(gaps["group"] == group) & (gaps["metric"] == "ndcg_at_10")]
        emit({"family": args.family, "seed": args.seed, "bias": args.bias or "none", "attribute": attribute,
              "group": group, "people": int(row["people"]), "hire_rate": row["hire_rate"],
              "hire_relative": row["hire_relative"], "hire_low": row["hire_low"], "hire_high": row["hire_high"],
              "engine_relative": row["engine_relative"], "engine_low": row["engine_low"],
              "engine_high": row["engine_high"], "verdict": row["verdict"],
              "placements_vs_rest": float(ratio["ratio"].iloc[0]) if len(ratio) else float("nan"),
              "ndcg_vs_rest": float(ndcg["ratio"].iloc[0]) if len(ndcg) else float("nan"),
              "hidden_chance_vs_rest": _hidden_ratio(truth, folder, groups, group),
              "violations": len(audit.violations), "promoted": result.promoted,
              "seconds_generate": round(generated, 1), "seconds_train": round(time.perf_counter() - started - generated, 1)})


def _hidden_ratio(truth, folder: Path, groups: pd.Series, group: str) -> float:
    """The group's mean hidden hire chance over the pairs its people met in the history, over everyone
    else's: what the world's employers really do."""
    outcomes = load_data(folder).outcomes.drop_duplicates(["participant_id", "vacancy_id"])
    chance = truth.hire_probability(outcomes["participant_id"].to_numpy(), outcomes["vacancy_id"].to_numpy())
    mine = outcomes["participant_id"].map(groups).eq(group).to_numpy()
    return float(np.mean(chance[mine]) / np.mean(chance[~mine])) if mine.any() and (~mine).any() else float("nan")


if __name__ == "__main__":
    main()
