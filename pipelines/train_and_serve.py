"""Notebook-style walk-through for data scientists: train -> register -> batch -> Python API.

    python pipelines/train_and_serve.py --data DATA [--workdir ilona-work] [--as-of YYYY-MM-DD]

Each step is a plain call of the public API, so the cells can be pasted into a notebook.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import ilona_match as im
from ilona_match.training import default_as_of


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, default=Path("ilona-work"))
    parser.add_argument("--as-of", type=date.fromisoformat)
    args = parser.parse_args()

    # 1. settings, loaded once at the entry point
    settings = im.load_settings(overrides={"workdir": str(args.workdir)})
    # 2. the data, checked against the contract
    bundle = im.load_data(args.data)
    as_of = args.as_of or default_as_of(bundle)
    # 3. train: learn before the held-out window, judge on it, keep the ranker only if it beats the
    #    prior, MLflow run, registered version (champion if better on the same window)
    run = im.train(args.data, as_of=as_of, config=settings)
    if run.evaluation is not None:
        print(run.evaluation.round(3).to_string())
    print(f"ranker: {run.ranker}")
    print(f"run {run.run_id}: version {run.model_version}, promoted={run.promoted} ({run.reason})")
    # 4. the nightly lists with the champion; pairs already acted on are left out
    matcher = im.Matcher.load(workdir=args.workdir, vacancies=bundle.vacancies, as_of=as_of, outcomes=bundle.outcomes,
                              exclusion=settings.exclusion)
    frame = matcher.recommend_batch(bundle.participants.head(20), bundle.vacancies, as_of, k=5)
    print(frame[["participant_id", "rank", "vacancy_id", "score", "to_check"]].head(10).to_string())
    # 5. the Python API for one participant, and why the first vacancy was chosen
    person = bundle.participants.iloc[0].to_dict()
    recs = matcher.recommend(person, k=3)
    print(recs)
    if recs:
        print(matcher.explain(person, recs[0]["vacancy_id"]).text)


if __name__ == "__main__":
    main()
