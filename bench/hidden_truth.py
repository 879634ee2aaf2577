"""The nightly batch scored against a synthetic world's hidden hire probabilities, beside baselines.

    python bench/hidden_truth.py --family coach|market --seed 1 [--participants 1500] [--vacancies 1500]
                                 [--other-languages 1.0] [--workdir /tmp/ht] [--set SECTION__FIELD=VALUE ...]
                                 [--variant NAME]

Runs what a user runs, as separate processes: ``ilona-match generate`` (or the market family's
generator) into WORKDIR/worlds/FAMILY-SEED-LANG, then ``ilona-match train --data DATA`` and
``ilona-match batch --data DATA --as-of AS_OF --out recs.csv`` with default settings (the
placements allocation) and again with ``batch.allocation=none`` (recs-none.csv), every ``--set``
given as an ``ILONA_MATCH_*`` override (e.g. ``--set MATCHING__RANKER__NUM_LEAVES=15``).
AS_OF is the day after the world's last day. The world's embedding cache is shared by every variant.

Every participant's list is scored with NDCG@10 whose gain is the pair's hidden hire probability
(``ilona_match.synthetic.truth``) and whose ideal is the ten best pairs the engine could have
recommended: vacancies open on AS_OF that break no hard constraint, minus pairs already acted on
(``ilona_match.serving.acted_pairs``, the engine's own rule, applied to every system alike). The
same is done for the baselines, which see only what the engine sees: character n-gram TF-IDF +
filters and embedding (the engine's model) + filters over each side's written text and listed
skills and occupations, the engine's pipeline without its ranker (the prior), and random feasible.

Each system's lists (the engine's as served, the baselines' top 10) are also scored by expected
placements with competition (``learning.metrics.expected_placements``) with the hidden hire
probabilities as chances and the vacancies' openings.

One JSON line per run: the systems' NDCG@10 and expected placements, the engine over the best of
TF-IDF and embedding and over its own lists without the allocation, the share of people with at
least k feasible pairs who got k, the calibration error ``train`` reported, what ``train`` decided
(ranker kept or prior) and its own held-out table's full-pipeline and no-ranker NDCG@10.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit, setting_overrides
from sklearn.feature_extraction.text import TfidfVectorizer

from ilona_match.contract import load_data
from ilona_match.synthetic.truth import (
    WORLD_FILE,
    hidden_ndcg,
    hidden_placements,
    judged_pairs,
    list_ranks,
    load_truth,
    top_lists,
)

K = 10


def world_dir(workdir: Path, family: str, seed: int, participants: int, vacancies: int, other: float) -> Path:
    return workdir / "worlds" / f"{family}-{seed}-{participants}x{vacancies}-{other:g}"


def make_world(data: Path, family: str, seed: int, participants: int, vacancies: int, other: float) -> None:
    if (data / WORLD_FILE).is_file():
        return
    if family == "coach":
        from ilona_match.synthetic import generate_world

        generate_world(data, participants=participants, vacancies=vacancies, seed=seed, other_languages=other)
    else:
        from ilona_match.synthetic.market import generate_market_world

        generate_market_world(data, participants=participants, vacancies=vacancies, seed=seed, other_languages=other)


def run(command: list[str], env: dict[str, str], log: Path) -> str:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    log.write_text(done.stdout + "\n--- stderr ---\n" + done.stderr, encoding="utf-8")
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}); see {log}")
    print(f"# {' '.join(command[:2])}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    return done.stdout


def held_out(train_output: str) -> dict[str, float]:
    """The shipped model's and the no-ranker row's NDCG@10 of the table ``train`` prints (met pairs, replay)."""
    found = {}
    for name in ("shipped model", "pipeline without ranker", "full pipeline", "tf-idf + filters"):
        match = re.search(rf"^{re.escape(name)}\s+(\S+)\s+(\S+)", train_output, re.MULTILINE)
        if match:
            found[f"{name} met"], found[f"{name} replay"] = (float(value) for value in match.groups())
    return found


def texts(bundle) -> tuple[list[str], list[str]]:
    def joined(frame: pd.DataFrame, columns: list[str]) -> list[str]:
        parts = []
        for column in columns:
            values = frame[column] if column in frame else pd.Series([""] * len(frame))
            parts.append(values.map(lambda x: " ".join(x) if isinstance(x, tuple | list) else ("" if pd.isna(x) else str(x))))
        return [" ".join(items).strip() for items in zip(*parts)]

    people = joined(bundle.participants, ["profile_text", "skills", "occupations"])
    jobs = joined(bundle.vacancies, ["title", "description", "occupation", "required_skills", "optional_skills"])
    return people, jobs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--family", choices=["coach", "market"], required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--participants", type=int, default=1500)
    parser.add_argument("--vacancies", type=int, default=1500)
    parser.add_argument("--other-languages", type=float, default=1.0)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/hidden-truth"))
    parser.add_argument("--set", action="append", default=[], metavar="SECTION__FIELD=VALUE")
    parser.add_argument("--variant", default="default", help="name of this run's settings (its own work folder)")
    parser.add_argument("--reuse", action="store_true", help="score the run's earlier recs.csv again")
    parser.add_argument("--embedder-model", default=None, help="matching.embedder.model for every step")
    args = parser.parse_args()

    data = world_dir(args.workdir, args.family, args.seed, args.participants, args.vacancies, args.other_languages)
    make_world(data, args.family, args.seed, args.participants, args.vacancies, args.other_languages)
    run_dir = data.parent.parent / "runs" / data.name / args.variant
    run_dir.mkdir(parents=True, exist_ok=True)
    cache = data.parent.parent / "cache" / data.name
    cache.mkdir(parents=True, exist_ok=True)
    work = run_dir / "work"
    work.mkdir(exist_ok=True)
    if not (work / "embedding-cache").exists():
        (work / "embedding-cache").symlink_to(cache)

    env = {k: v for k, v in os.environ.items() if not k.startswith("ILONA_MATCH_") and k != "MLFLOW_TRACKING_URI"}
    env.update({"ILONA_MATCH_WORKDIR": str(work), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    if args.embedder_model:
        env["ILONA_MATCH_MATCHING__EMBEDDER__MODEL"] = args.embedder_model
    env.update(setting_overrides(args.set))

    bundle = load_data(data)
    as_of = (bundle.outcomes["event_date"].max() + pd.Timedelta(days=1)).date()
    world = json.loads((data / WORLD_FILE).read_text())["config"]
    world_end = date.fromisoformat(world["start"]) + timedelta(days=world["days"])
    as_of = max(as_of, world_end)

    recs_path, plain_path = run_dir / "recs.csv", run_dir / "recs-none.csv"
    if args.reuse and recs_path.is_file():
        trained = (run_dir / "train.log").read_text(encoding="utf-8")
    else:
        trained = run(["ilona-match", "train", "--data", str(data), "--as-of", as_of.isoformat(), "--quiet"], env,
                      run_dir / "train.log")
        for path, allocation in ((recs_path, None), (plain_path, "none")):
            batch_env = env if allocation is None else {**env, "ILONA_MATCH_BATCH__ALLOCATION": allocation}
            run(["ilona-match", "batch", "--data", str(data), "--as-of", as_of.isoformat(), "--out", str(path),
                 "--no-reports", "--quiet"], batch_env, run_dir / f"batch-{allocation or 'default'}.log")
    recs = pd.read_csv(recs_path, dtype={"participant_id": str, "vacancy_id": str})
    plain = pd.read_csv(plain_path, dtype={"participant_id": str, "vacancy_id": str})

    from ilona_match.config import load_settings
    from ilona_match.contract.exclusion import acted_pairs
    from ilona_match.learning.tracking import load_champion

    os.environ.update({k: v for k, v in env.items() if k.startswith("ILONA_MATCH_")})
    settings = load_settings()
    acted = acted_pairs(bundle.outcomes, as_of, settings.exclusion)
    frame = judged_pairs(load_truth(data), bundle.participants, bundle.vacancies, as_of,
                         set(zip(acted.participant_ids, acted.vacancy_ids)))
    p = pd.Index(bundle.participants["participant_id"]).get_indexer(frame["participant"])
    v = pd.Index(bundle.vacancies["vacancy_id"]).get_indexer(frame["vacancy"])
    scores = {"engine": list_ranks(frame, recs, K), "engine without allocation": list_ranks(frame, plain, K)}
    key = pd.MultiIndex.from_arrays([frame["participant"], frame["vacancy"]])
    outside = ~recs.set_index(["participant_id", "vacancy_id"]).index.isin(key)

    people_text, job_text = texts(bundle)
    known = (bundle.vacancies["published_at"] < pd.Timestamp(as_of)).to_numpy()
    tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=2)
    tfidf.fit([job_text[i] for i in np.flatnonzero(known)])
    tp, tv = tfidf.transform(people_text), tfidf.transform(job_text)
    scores["tf-idf + filters"] = np.asarray(tp[p].multiply(tv[v]).sum(axis=1)).ravel()

    pipeline, version = load_champion(work)
    embedder = pipeline.embedder
    ep, ev = embedder.encode(people_text, role="query"), embedder.encode(job_text, role="passage")
    scores["embedding + filters"] = np.einsum("ij,ij->i", ep[p], ev[v])

    from ilona_match.serving.batch import run_batch

    prior = run_batch(pipeline, bundle.participants, bundle.vacancies, as_of, k=K, use_ranker=False, exclude=acted).frame
    scores["pipeline without ranker"] = list_ranks(frame, prior, K)
    scores["random feasible"] = np.random.default_rng(0).random(len(frame))

    figures = {name: hidden_ndcg(frame, score, K) for name, score in scores.items()}
    best = max(figures["tf-idf + filters"], figures["embedding + filters"])
    openings = bundle.vacancies.set_index("vacancy_id")["openings"].fillna(1)
    lists = {name: top_lists(frame, score, K) for name, score in scores.items()}
    lists.update({"engine": recs, "engine without allocation": plain, "pipeline without ranker": prior})
    placements = {name: hidden_placements(frame, rows, openings) for name, rows in lists.items()}
    best_placements = max(placements["tf-idf + filters"], placements["embedding + filters"])
    feasible_count = frame.groupby("participant").size()
    enough = feasible_count[feasible_count >= K].index
    got = recs.groupby("participant_id").size().reindex(enough, fill_value=0)
    ece = re.search(r"expected calibration error ([\d.]+)", trained)
    decision = re.search(r"^ranker: .*$", trained, re.MULTILINE)
    emit({
        "bench": "hidden_truth", "family": args.family, "seed": args.seed, "other_languages": args.other_languages,
        "participants": args.participants, "vacancies": args.vacancies, "variant": args.variant, "as_of": str(as_of),
        **{f"ndcg@10 {name}": value for name, value in figures.items()},
        "engine / best baseline": figures["engine"] / best,
        "engine / no ranker": figures["engine"] / figures["pipeline without ranker"],
        **{f"expected placements {name}": value for name, value in placements.items()},
        "placements engine / without allocation": placements["engine"] / placements["engine without allocation"],
        "placements engine / best baseline": placements["engine"] / best_placements,
        "ndcg engine / without allocation": figures["engine"] / figures["engine without allocation"],
        "full lists where k feasible": float((got >= K).mean()) if len(got) else float("nan"),
        "calibration ece": float(ece.group(1)) if ece else float("nan"),
        "recommendations per person": len(recs) / len(bundle.participants),
        "recommended pairs outside the candidates": int(outside.sum()),
        "train decision": decision.group(0) if decision else "",
        **{f"held-out {name}": value for name, value in held_out(trained).items()},
        "model_version": version, "settings": " ".join(args.set),
    })


if __name__ == "__main__":
    main()
