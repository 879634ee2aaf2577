"""Latency of ``POST /recommendations`` over real HTTP with 50,000 vacancies served.

    python bench/api_latency.py [--workdir /tmp/ilona-api-bench] [--vacancies 50000] [--participants 400]
                                [--requests 100] [--champion] [--seed 7] [--embedder-model DIR]

Generates a world in WORKDIR/data (kept and reused), fits a pipeline on its outcomes before the last
day (one LightGBM thread, few trees; saved in WORKDIR/model and reused; or, with --champion, serves
WORKDIR's registered champion; --embedder-model fits with that embedder instead, e.g. a static model
of ``ilona-match distill-embedder``, saved in WORKDIR/model-NAME),
prepares ALL its vacancies as open on that day (the served index holds every one of them, as a
national feed would), starts the real server (uvicorn on loopback, the app of ``ilona-match serve``)
and times requests over one keep-alive connection:

known_profile  the same participant of the world every time (its texts' embeddings are cached
               after the first request, as for anyone the nightly job has seen)
new_profile    a different, never-seen profile text every time (encoded during the request)

Prints one JSON line per figure (setup times, then p50/p99 per case). Embeddings are cached in
WORKDIR, so a second run skips the long encoding of the vacancies.
"""

from __future__ import annotations

import argparse
import http.client
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from _report import emit as emit_record

from ilona_match.config import EMBEDDING_CACHE_DIR, load_settings
from ilona_match.contract import frame_to_records, load_data
from ilona_match.matching.persistence import load_pipeline, save_pipeline
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig
from ilona_match.matching.ranker import RankerConfig
from ilona_match.serving.api import add_api_key, background_server, create_app
from ilona_match.serving.matcher import Matcher
from ilona_match.synthetic import generate_world
from ilona_match.text.embedding import DEFAULT_MODEL, EmbedderConfig
from ilona_match.training import default_as_of


def emit(figure: str, value: float, **facts: Any) -> None:
    """One JSON line through the bench scripts' shared printer."""
    emit_record({"bench": "api_latency", "figure": figure, "value": value, **facts}, digits=2)


def time_requests(url: str, key: str, bodies: list[dict[str, Any]], warmup: int) -> np.ndarray:
    """Milliseconds per request after ``warmup`` untimed ones, on one keep-alive connection."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    times = []
    for i, body in enumerate(bodies):
        start = time.perf_counter()
        connection.request("POST", "/recommendations", body=json.dumps(body).encode(), headers=headers)
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200:
            raise RuntimeError(f"request {i}: HTTP {response.status}: {payload[:200]!r}")
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000)
    connection.close()
    return np.array(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ilona-api-bench"))
    parser.add_argument("--vacancies", type=int, default=50_000)
    parser.add_argument("--participants", type=int, default=400)
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--champion", action="store_true", help="serve WORKDIR's registered champion instead of fitting")
    parser.add_argument("--embedder-model", help="fit with this embedder (EmbedderConfig.model) instead of the default")
    args = parser.parse_args()

    data = args.workdir / "data"
    begun = time.perf_counter()
    if not (data / "vacancies.csv").exists():
        generate_world(data, participants=args.participants, vacancies=args.vacancies, seed=args.seed)
        emit("generate_s", time.perf_counter() - begun, vacancies=args.vacancies, participants=args.participants)
    bundle = load_data(data)
    as_of: date = default_as_of(bundle)
    settings = load_settings(None, {
        "workdir": args.workdir,
        "batch": {"k": args.k},
        "api": {"as_of": as_of, "keys_file": args.workdir / "bench-keys.json", "max_k": max(args.k, 100)},
    })

    begun = time.perf_counter()
    model = args.workdir / ("model" if args.embedder_model is None else f"model-{Path(args.embedder_model).name}")
    if args.champion:
        matcher = Matcher.load(workdir=args.workdir)
    elif model.exists():  # fitted by an earlier run on this world
        matcher = Matcher(load_pipeline(model, cache_dir=args.workdir / EMBEDDING_CACHE_DIR), "bench-fit")
    else:
        # training needs the vacancies that have outcomes (plus some without, for the lexical vocabulary),
        # not all 50,000: preparing those is what the served side does below
        with_outcomes = bundle.vacancies["vacancy_id"].isin(set(bundle.outcomes["vacancy_id"]))
        training_vacancies = pd.concat([bundle.vacancies[with_outcomes], bundle.vacancies[~with_outcomes].head(1000)])
        config = PipelineConfig(embedder=EmbedderConfig(model=args.embedder_model or DEFAULT_MODEL),
                                ranker=RankerConfig(num_threads=1, n_estimators=100))
        pipeline = MatchingPipeline(config, cache_dir=args.workdir / EMBEDDING_CACHE_DIR)
        pipeline.fit(bundle.participants, training_vacancies, bundle.outcomes, as_of)
        save_pipeline(pipeline, model)
        matcher = Matcher(pipeline, "bench-fit")
        emit("fit_s", time.perf_counter() - begun, **{k: str(v) for k, v in pipeline.training_summary_.items()})
    served = bundle.vacancies.assign(published_at=bundle.vacancies["published_at"].clip(upper=pd.Timestamp(as_of)),
                                     closes_at=pd.NaT)  # every vacancy open on as_of
    begun = time.perf_counter()
    matcher.use_vacancies(served, as_of)
    emit("prepare_vacancies_s", time.perf_counter() - begun, vacancies=len(served))

    keys_file = Path(settings.api.keys_file)
    keys_file.unlink(missing_ok=True)
    key = add_api_key(keys_file, "bench")
    app = create_app(settings, matcher=matcher)

    people = bundle.participants.sample(frac=1.0, random_state=args.seed).reset_index(drop=True)
    known = {**frame_to_records(people.iloc[[0]])[0], "k": args.k}
    fresh = []
    for i in range(args.requests + 3):
        person = frame_to_records(people.iloc[[1 + i % (len(people) - 1)]])[0]
        person.update(participant_id=f"NEW-{i}", k=args.k,
                      profile_text=f"{person.get('profile_text', '')} Haen nyt uutta työtä (viesti {i}, {time.time_ns()}).")
        fresh.append(person)

    facts = {"vacancies": len(served), "k": args.k, "requests": args.requests, "model_version": matcher.model_version}
    with background_server(app) as url:
        for case, bodies in (("known_profile", [known] * (args.requests + 3)), ("new_profile", fresh)):
            ms = time_requests(url, key, bodies, warmup=3)
            for q in (50, 99):
                emit(f"p{q}_ms", float(np.percentile(ms, q)), case=case, **facts)
            emit("mean_ms", float(ms.mean()), case=case, **facts)


if __name__ == "__main__":
    sys.exit(main())
