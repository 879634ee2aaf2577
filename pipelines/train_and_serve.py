"""Notebook-style walk-through for data scientists: train -> register -> batch -> Python API.

    python pipelines/train_and_serve.py --data DATA [--workdir ilona-work] [--as-of YYYY-MM-DD]

Each step is a plain call of the public API, so the cells can be pasted into a notebook.
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path

import ilona_match as im
from ilona_match.batch import recommend_frame
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
    # 3. train: held-out evaluation, refit, MLflow run, registered version (champion if better)
    run = im.train(args.data, as_of=as_of, config=settings)
    print(run.evaluation.round(3).to_string())
    print(f"run {run.run_id}: version {run.model_version}, promoted={run.promoted} ({run.reason})")
    # 4. the nightly batch with the champion
    matcher = im.Matcher.load(workdir=args.workdir, vacancies=bundle.vacancies, as_of=as_of)
    frame = recommend_frame(matcher.pipeline, bundle.participants.head(20), bundle.vacancies, as_of,
                            k=5, model_version=matcher.model_version)
    print(frame[["participant_id", "rank", "vacancy_id", "score", "to_check"]].head(10).to_string())
    # 5. the Python API for one participant, and why the first vacancy was chosen
    person = bundle.participants.iloc[0].to_dict()
    recs = matcher.recommend(person, k=3)
    print(recs)
    if recs:
        print(matcher.explain(person, recs[0]["vacancy_id"]).text)


if __name__ == "__main__":
    main()
