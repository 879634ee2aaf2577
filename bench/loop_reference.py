"""The whole batch against a straightforward per-participant loop, on the same small world and model.

    python bench/loop_reference.py [--participants 300] [--vacancies 1500] [--k 20] [--seed 23]
                                   [--workdir /tmp/ilona-loop] [--repeats 2]

engine  ``run_batch`` over the vacancies open on the world's last outcome day: prepare the vacancies
        (profiles, embeddings, lexical vectors, indexes), then every participant in chunks, with all
        four retrieval channels, the exhaustive fill, features, ranking and reasons.
loop    what a team would write by hand with the same building blocks: the same vacancy profiles,
        embedded once with a plain ``SentenceTransformer.encode``; then for each participant in
        turn: build the profile, embed its texts, cosine against every open vacancy, drop what
        breaks a hard constraint, take the 100 most similar, compute the same features and call
        LightGBM ``predict``, keep the top k. It has one channel and no reasons: less work.

Both start with no embedding cache (every text is encoded) and use the same fitted pipeline.
Prints one JSON line per figure: seconds (median of --repeats), the ratio loop / engine (> 1: the
engine is faster), and how many of the loop's top-k the engine also recommends.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit
from sentence_transformers import SentenceTransformer

from ilona_match.contract import load_data
from ilona_match.contract.constraints import VacancyDemands, feasible, open_on
from ilona_match.matching.features import CandidatePairs, TextVectors, compute_features
from ilona_match.matching.persistence import load_pipeline, save_pipeline
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig
from ilona_match.matching.profiles import build_participants, build_vacancies
from ilona_match.matching.ranker import RankerConfig
from ilona_match.serving.batch import run_batch
from ilona_match.synthetic import generate_world
from ilona_match.text.embedding import _bundled_minilm_dir
from ilona_match.training import default_as_of

LOOP_CANDIDATES = 100


def engine_run(pipeline: MatchingPipeline, participants: pd.DataFrame, vacancies: pd.DataFrame, as_of, k: int) -> dict[str, set[str]]:
    """The batch's top-k vacancy ids per participant id."""
    frame = run_batch(pipeline, participants, vacancies, as_of, k=k).frame
    return {pid: set(group) for pid, group in frame.groupby("participant_id")["vacancy_id"]}


def loop_run(pipeline: MatchingPipeline, model: SentenceTransformer, participants: pd.DataFrame,
             vacancies: pd.DataFrame, as_of, k: int) -> dict[str, set[str]]:
    """Top-k vacancy ids per participant id, one participant at a time."""
    taxonomy = pipeline.taxonomy
    jobs = build_vacancies(vacancies.reset_index(drop=True), taxonomy)
    encode = dict(normalize_embeddings=True, batch_size=32, convert_to_numpy=True)
    vacancy_dense = model.encode(jobs.texts, **encode).astype(np.float32)
    vacancy_concept = model.encode(jobs.concept_texts, **encode).astype(np.float32)
    vacancy_lexical = pipeline.lexical_.transform(jobs.texts, list(jobs.language))
    everyone = np.arange(len(jobs))
    chosen: dict[str, set[str]] = {}
    for i in range(len(participants)):
        person = build_participants(participants.iloc[[i]].reset_index(drop=True), taxonomy)
        dense = model.encode(person.texts, **encode).astype(np.float32)
        concept = model.encode(person.concept_texts, **encode).astype(np.float32)
        cosine = vacancy_dense @ dense[0]
        ok = everyone[feasible(person.limits, jobs.demands, np.zeros(len(jobs), np.int64), everyone, as_of)]
        candidates = ok[np.argsort(-cosine[ok], kind="stable")[:LOOP_CANDIDATES]]
        pairs = CandidatePairs(np.zeros(len(candidates), np.int64), candidates)
        vectors = TextVectors(dense, vacancy_dense, concept, vacancy_concept,
                              pipeline.lexical_.transform(person.texts, list(person.language)), vacancy_lexical)
        features = compute_features(person, jobs, pairs, vectors, as_of)
        scores = pipeline.predict(features.matrix)
        top = candidates[np.argsort(-scores, kind="stable")[:k]]
        chosen[str(person.ids[0])] = set(jobs.ids[top].tolist())
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=300)
    parser.add_argument("--vacancies", type=int, default=1500)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/ilona-loop"))
    args = parser.parse_args()

    folder = args.workdir / f"{args.participants}_{args.vacancies}_{args.seed}"
    data = folder / "data"
    if not (data / "outcomes.csv").exists():
        generate_world(data, participants=args.participants, vacancies=args.vacancies, seed=args.seed)
    bundle = load_data(data)
    as_of = default_as_of(bundle)
    if not (folder / "model").exists():
        fitted = MatchingPipeline(PipelineConfig(ranker=RankerConfig(num_threads=2)), cache_dir=folder / "fit-cache")
        fitted.fit(bundle.participants, bundle.vacancies, bundle.outcomes, as_of)
        save_pipeline(fitted, folder / "model")
    pipeline = load_pipeline(folder / "model", cache_dir=None)  # no embedding cache: every text encoded
    open_now = bundle.vacancies[open_on(VacancyDemands.from_frame(bundle.vacancies), as_of)].reset_index(drop=True)
    model = SentenceTransformer(str(_bundled_minilm_dir()), local_files_only=True)
    model.max_seq_length = pipeline.config.embedder.max_seq_length
    participants = bundle.participants

    runs = {
        "engine": lambda: engine_run(pipeline, participants, open_now, as_of, args.k),
        "loop": lambda: loop_run(pipeline, model, participants, open_now, as_of, args.k),
    }
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, dict[str, set[str]]] = {}
    for repeat in range(args.repeats):
        for name in (list(runs) if repeat % 2 == 0 else list(reversed(runs))):
            start = time.perf_counter()
            results[name] = runs[name]()
            seconds[name].append(time.perf_counter() - start)
    facts = {"participants": len(participants), "open_vacancies": len(open_now), "k": args.k, "repeats": args.repeats}
    median = {name: statistics.median(values) for name, values in seconds.items()}
    for name, value in median.items():
        emit({"bench": "loop_reference", "figure": f"{name}_s", "seconds": value,
              "ms_per_participant": 1000 * value / len(participants), **facts})
    emit({"bench": "loop_reference", "figure": "ratio_loop_over_engine", "ratio": median["loop"] / median["engine"], **facts})
    shared = [len(results["loop"][pid] & results["engine"].get(pid, set())) / max(1, len(results["loop"][pid]))
              for pid in results["loop"]]
    emit({"bench": "loop_reference", "figure": "engine_keeps_loop_topk", "share": float(np.mean(shared)), **facts})


if __name__ == "__main__":
    main()
