"""Each text channel's contribution to the pipeline, and its Finnish-vs-English gap.

    python bench/channel_contributions.py DATA AS_OF [--horizon-days 60] [--cache-dir /tmp/embcache]
                                          [--ranker-seeds 3] [--no-ablation]

On the time split of ``ilona_match.learning.evaluation`` (learn before AS_OF; judge the outcomes of the next
``horizon`` days on vacancies open on AS_OF) it prints one JSON line per figure, then markdown tables:

alone      each retrieval channel's similarity as the only score over all feasible open vacancies (hard
           filters and openness as evaluation.py's baselines): dense_text (MiniLM cosine of the texts),
           dense_concept (MiniLM cosine of the English ESCO labels), lexical (stemmed + character n-gram
           TF-IDF cosine), concepts (the concept channel's score: shared ESCO skills + 3 x shared
           occupations), beside the full pipeline. NDCG@10 and Recall@50 (mean and standard error over
           queries) overall, by the language of the participant's profile text (fi / sv / en), and by
           pair language: ``same`` / ``cross`` judge only the relevant vacancies written in the
           participant's / another language (the ranking itself is unchanged), also per participant language.
retrieval  in the full pipeline's candidates: the share of relevant, feasible test pairs each channel
           proposes, proposes alone (no other channel does), and that only the exhaustive fill adds.
ablation   the pipeline refitted without one channel in retrieval (RetrievalConfig.channels), and also
           without that channel's similarity feature(s) in the ranker (blanked to NaN in training and
           scoring: LightGBM never splits on an all-missing column), beside the full pipeline refitted
           with other ranker seeds (the noise floor of a refit).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time
from datetime import date

import numpy as np
import pandas as pd
from _report import emit, markdown_table
from _window import all_feasible, ranked, split_day_relevance
from scipy import sparse

from ilona_match.contract import load_data
from ilona_match.contract.constraints import feasible, open_on
from ilona_match.learning.metrics import ndcg_at_k, recall_at_k
from ilona_match.matching.features import FEATURE_NAMES
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig, Scored, VacancyState, top_n
from ilona_match.matching.ranker import RankerConfig
from ilona_match.matching.retrieval import CHANNELS, RetrievalConfig

LANGUAGES = ("fi", "sv", "en")
K_NDCG, K_RECALL = 10, 50
# the ranker features carrying each channel's similarity
CHANNEL_FEATURES: dict[str, tuple[str, ...]] = {
    "dense_text": ("dense_text",),
    "dense_concept": ("dense_concept",),
    "lexical": ("lexical",),
    "concepts": ("required_coverage", "required_missing", "optional_coverage", "occupation_skill_coverage",
                 "own_skill_share", "occupation_match", "isco4_match", "isco2_match"),
}


class WithoutFeatures(MatchingPipeline):
    """The pipeline with some ranker features blanked (NaN) in its training examples and when scoring."""

    def __init__(self, config: PipelineConfig, *, dropped: tuple[str, ...], cache_dir: str) -> None:
        super().__init__(config, cache_dir=cache_dir)
        self.dropped = dropped
        self._columns = [FEATURE_NAMES.index(name) for name in dropped]

    def _blank(self, matrix: np.ndarray) -> np.ndarray:
        matrix = matrix.copy()
        matrix[:, self._columns] = np.nan
        return matrix

    def training_examples(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        examples = super().training_examples(*args, **kwargs)
        return dataclasses.replace(examples, matrix=self._blank(examples.matrix))

    def predict(self, matrix: np.ndarray) -> np.ndarray:
        return super().predict(self._blank(matrix))


def segments(relevance: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Relevance judgements (with p_lang, v_lang) split by participant language and pair language."""
    same = relevance["p_lang"] == relevance["v_lang"]
    out = {"all": relevance, "same": relevance[same], "cross": relevance[~same]}
    for lang in LANGUAGES:
        mine = relevance["p_lang"] == lang
        out[lang] = relevance[mine]
        out[f"{lang}/same"] = relevance[mine & same]
        out[f"{lang}/cross"] = relevance[mine & ~same]
    return out


def _mean_se(values: pd.Series) -> tuple[float, float]:
    n = len(values)
    mean = float(values.mean()) if n else float("nan")
    return mean, float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else float("nan")


def per_query(recs: pd.DataFrame, relevance: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """NDCG@10 and Recall@50 of each query with a relevant item."""
    judged = relevance[["query_id", "item_id", "grade"]]
    return ndcg_at_k(recs, judged, K_NDCG), recall_at_k(recs, judged, K_RECALL)


def segment_metrics(recs: pd.DataFrame, relevance: pd.DataFrame,
                    base: tuple[pd.Series, pd.Series] | None = None) -> dict[str, float]:
    """Mean and standard error of NDCG@10 and Recall@50 over the queries with a relevant item; with
    ``base`` (another system's per-query figures) also the paired difference and its standard error."""
    ndcg, recall = per_query(recs, relevance)
    out: dict[str, float] = {"queries": len(ndcg), "relevant_pairs": int((relevance["grade"] >= 1).sum())}
    for name, values, reference in ((f"ndcg@{K_NDCG}", ndcg, 0), (f"recall@{K_RECALL}", recall, 1)):
        out[name], out[f"{name}_se"] = _mean_se(values)
        if base is not None:
            out[f"delta_{name}"], out[f"delta_{name}_se"] = _mean_se(values - base[reference].reindex(values.index))
    return out


def pipeline_recs(scored: Scored, state: VacancyState) -> pd.DataFrame:
    top = top_n(scored, state, K_RECALL)
    return top.rename(columns={"participant_id": "query_id", "vacancy_id": "item_id"})[["query_id", "item_id", "rank"]]


def channel_scores(pipeline: MatchingPipeline, scored: Scored, state: VacancyState, p: np.ndarray,
                   v: np.ndarray) -> dict[str, np.ndarray]:
    """Each channel's similarity of the pairs (p, v), as retrieval computes it."""
    people = scored.people
    vectors = pipeline._vectors(people, state)
    concept_query = sparse.hstack([(people.skills + people.implied_skills).sign(), people.occupations], format="csr")

    def sparse_dot(a: sparse.csr_matrix, b: sparse.csr_matrix) -> np.ndarray:
        return np.asarray(a[p].multiply(b[v]).sum(axis=1)).ravel()

    return {
        "dense_text": np.einsum("ij,ij->i", vectors.participant_dense[p], vectors.vacancy_dense[v]),
        "dense_concept": np.einsum("ij,ij->i", vectors.participant_concept[p], vectors.vacancy_concept[v]),
        "lexical": sparse_dot(vectors.participant_lexical, vectors.vacancy_lexical),
        "concepts": sparse_dot(concept_query, state.retriever.concepts_),
    }


def relevant_positions(relevance: pd.DataFrame, scored: Scored, state: VacancyState) -> tuple[np.ndarray, np.ndarray]:
    p_pos = pd.Series(np.arange(len(scored.people)), index=scored.people.ids)
    v_pos = pd.Series(np.arange(len(state.jobs)), index=state.jobs.ids)
    return p_pos[relevance["query_id"]].to_numpy(), v_pos[relevance["item_id"]].to_numpy()


def candidate_shares(relevance: pd.DataFrame, scored: Scored, state: VacancyState, as_of: date) -> dict[str, float]:
    """Of the relevant (grade >= 1) test pairs that break no hard constraint: the share among the
    candidates, proposed by each channel, proposed by it alone, and added by the fill only."""
    relevant = relevance[relevance["grade"] >= 1]
    rp, rv = relevant_positions(relevant, scored, state)
    ok = feasible(scored.people.limits, state.jobs.demands, rp, rv, as_of)
    rp, rv = rp[ok], rv[ok]
    width = np.int64(len(state.jobs))
    pairs = scored.features.pairs
    keys = pairs.participant.astype(np.int64) * width + pairs.vacancy
    order = np.argsort(keys)
    wanted = rp.astype(np.int64) * width + rv
    at = np.clip(np.searchsorted(keys[order], wanted), 0, max(len(keys) - 1, 0))
    found = (keys[order][at] == wanted) if len(keys) else np.zeros(len(wanted), bool)
    row = order[at]
    flags = {c: scored.proposed_by[c][row] & found for c in scored.proposed_by}
    any_channel = np.zeros(len(wanted), bool)
    for f in flags.values():
        any_channel |= f
    n = max(len(wanted), 1)
    out = {"relevant_pairs": int(len(relevant)), "feasible_share": float(ok.mean()) if len(ok) else float("nan"),
           "in_candidates": float(found.sum() / n), "fill_only": float((found & ~any_channel).sum() / n)}
    for c, f in flags.items():
        others = np.zeros(len(wanted), bool)
        for d, g in flags.items():
            if d != c:
                others |= g
        out[f"{c}_proposes"] = float(f.sum() / n)
        out[f"{c}_alone"] = float((f & ~others).sum() / n)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("as_of", type=date.fromisoformat)
    parser.add_argument("--horizon-days", type=int, default=60)
    parser.add_argument("--cache-dir", default="/tmp/embcache")
    parser.add_argument("--ranker-seeds", type=int, default=3, help="refits of the full pipeline (seeds 0..n-1)")
    parser.add_argument("--no-ablation", action="store_true", help="only the channel-alone and retrieval figures")
    args = parser.parse_args()

    bundle = load_data(args.data)
    vacancies = bundle.vacancies.reset_index(drop=True)
    relevance = split_day_relevance(bundle.outcomes, vacancies, args.as_of, args.horizon_days)
    people_frame = bundle.participants[bundle.participants["participant_id"].isin(relevance["query_id"])]
    people_frame = people_frame.reset_index(drop=True)

    def fit(retrieval: RetrievalConfig | None = None, dropped: tuple[str, ...] = (), seed: int = 0):  # type: ignore[no-untyped-def]
        config = PipelineConfig(ranker=RankerConfig(num_threads=1, seed=seed), retrieval=retrieval or RetrievalConfig())
        pipeline = WithoutFeatures(config, dropped=dropped, cache_dir=args.cache_dir) if dropped else \
            MatchingPipeline(config, cache_dir=args.cache_dir)
        start = time.time()
        pipeline.fit(bundle.participants, bundle.vacancies, bundle.outcomes, args.as_of)
        state = pipeline.prepare_vacancies(vacancies)
        scored = pipeline.score_candidates(people_frame, state, args.as_of)
        return pipeline, state, scored, time.time() - start

    common = {"data": args.data, "as_of": args.as_of.isoformat(), "horizon_days": args.horizon_days}
    full, state, scored, seconds = fit()
    people = scored.people
    lang_of_person = pd.Series(people.language, index=people.ids)
    lang_of_job = pd.Series(state.jobs.language, index=state.jobs.ids)
    relevance = relevance.assign(p_lang=lang_of_person[relevance["query_id"]].to_numpy(),
                                 v_lang=lang_of_job[relevance["item_id"]].to_numpy())
    parts = segments(relevance)
    positive = relevance[relevance["grade"] >= 1]
    emit({"figure": "split", **common, "participants": len(people), "open_vacancies": int(open_on(state.jobs.demands, args.as_of).sum()),
          "training": full.training_summary_, "fit_and_score_s": round(seconds, 1),
          "relevant_pairs_by_language": {f"{a}->{b}": int(n) for (a, b), n in
                                         positive.groupby(["p_lang", "v_lang"]).size().items()},
          "open_vacancies_by_language": pd.Series(state.jobs.language[open_on(state.jobs.demands, args.as_of)]).value_counts().to_dict()})

    # alone: every channel's similarity as the only score, beside the full pipeline
    p, v = all_feasible(state, people.limits, args.as_of)
    empty_concepts = np.array([not t.strip() for t in people.concept_texts])
    emit({"figure": "inputs", **common, "feasible_pairs": int(len(p)),
          "empty_profile_text": float(np.mean([not t.strip() for t in people.texts])),
          "empty_concept_text": float(empty_concepts.mean()),
          "empty_concept_text_by_language": {lang: float(empty_concepts[people.language == lang].mean())
                                             for lang in LANGUAGES if (people.language == lang).any()}})
    systems = {name: ranked(people.ids, state.jobs.ids, p, v, score, K_RECALL)
               for name, score in channel_scores(full, scored, state, p, v).items()}
    full_recs = pipeline_recs(scored, state)
    systems["full pipeline"] = full_recs
    alone_rows = []
    for name, recs in systems.items():
        row: dict[str, object] = {"system": name}
        found = {}
        for segment, judged in parts.items():
            found[segment] = metrics = segment_metrics(recs, judged)
            emit({"figure": "alone", **common, "system": name, "segment": segment, **metrics})
            row[f"ndcg {segment}"] = metrics[f"ndcg@{K_NDCG}"]
            row[f"recall {segment}"] = metrics[f"recall@{K_RECALL}"]
            row[f"n {segment}"] = metrics["queries"]
        for high, low in (("fi", "en"), ("fi", "sv"), ("same", "cross")):  # independent query sets
            gap = {}
            for metric in (f"ndcg@{K_NDCG}", f"recall@{K_RECALL}"):
                gap[metric] = found[high][metric] - found[low][metric]
                gap[f"{metric}_se"] = math.hypot(found[high][f"{metric}_se"], found[low][f"{metric}_se"])
            emit({"figure": "gap", **common, "system": name, "gap": f"{high} - {low}", **gap})
            row[f"ndcg {high}-{low}"] = f"{gap[f'ndcg@{K_NDCG}']:+.3f} ± {gap[f'ndcg@{K_NDCG}_se']:.3f}"
        alone_rows.append(row)

    # retrieval: what each channel brings into the full pipeline's candidates
    retrieval_rows = []
    for segment in ("all", *LANGUAGES, "same", "cross"):
        shares = candidate_shares(parts[segment], scored, state, args.as_of)
        emit({"figure": "retrieval", **common, "segment": segment, **shares})
        retrieval_rows.append({"segment": segment, **shares})
    counts = np.bincount(scored.features.pairs.participant, minlength=len(people))
    emit({"figure": "candidates", **common, "candidates_per_participant": float(counts.mean()),
          "feasible_open_per_participant": float(len(p) / len(people)),
          **{f"{c}_share_of_candidates": float(f.mean()) for c, f in scored.proposed_by.items()}})

    if full.ranker_ is not None:
        gain = full.ranker_.feature_importance("gain")
        share = gain / gain.sum()
        emit({"figure": "importance", **common, "gain_share": {name: float(share[name]) for name in
              sorted({f for fs in CHANNEL_FEATURES.values() for f in fs}, key=FEATURE_NAMES.index)},
              "rank_of": {name: int((share > share[name]).sum()) + 1 for name in ("dense_text", "dense_concept", "lexical")}})

    def ablation_row(name: str, retrieval: RetrievalConfig, dropped: tuple[str, ...], pipeline: MatchingPipeline,
                     variant_scored: Scored, variant_state: VacancyState, seconds: float) -> dict[str, object]:
        recs = pipeline_recs(variant_scored, variant_state)
        row: dict[str, object] = {"variant": name}
        # the blanked features' total split gain: 0 shows the ranker really learned without them
        dropped_gain = float(pipeline.ranker_.feature_importance("gain")[list(dropped)].sum()) \
            if pipeline.ranker_ is not None else float("nan")
        for segment in ("all", *LANGUAGES):
            metrics = segment_metrics(recs, parts[segment], per_query(full_recs, parts[segment]))
            row[f"ndcg {segment}"], row[f"recall {segment}"] = metrics[f"ndcg@{K_NDCG}"], metrics[f"recall@{K_RECALL}"]
            if segment == "all":
                row["Δndcg"] = f"{metrics[f'delta_ndcg@{K_NDCG}']:+.3f} ± {metrics[f'delta_ndcg@{K_NDCG}_se']:.3f}"
                row["Δrecall"] = f"{metrics[f'delta_recall@{K_RECALL}']:+.3f} ± {metrics[f'delta_recall@{K_RECALL}_se']:.3f}"
            emit({"figure": "ablation", **common, "variant": name, "channels": list(retrieval.channels),
                  "dropped_features": list(dropped), "dropped_features_gain": dropped_gain, "segment": segment, **metrics})
        row["candidate recall"] = candidate_shares(parts["all"], variant_scored, variant_state, args.as_of)["in_candidates"]
        row["candidates"] = len(variant_scored.features.pairs) / len(variant_scored.people)
        row["fit s"] = round(seconds, 1)
        return row

    ablation_rows = []
    if not args.no_ablation:
        ablation_rows.append(ablation_row("full (ranker seed 0)", RetrievalConfig(), (), full, scored, state, seconds))
        variants = [(f"full (ranker seed {s})", RetrievalConfig(), (), s) for s in range(1, args.ranker_seeds)]
        for channel in CHANNELS:
            kept = RetrievalConfig(channels=tuple(c for c in CHANNELS if c != channel))
            variants.append((f"-{channel} retrieval", kept, (), 0))
            variants.append((f"-{channel} retrieval+features", kept, CHANNEL_FEATURES[channel], 0))
        for name, retrieval, dropped, seed in variants:
            pipeline, variant_state, variant_scored, variant_seconds = fit(retrieval, dropped, seed)
            ablation_rows.append(ablation_row(name, retrieval, dropped, pipeline, variant_scored, variant_state,
                                              variant_seconds))

    print()
    print(f"## Channel alone vs full pipeline ({args.data}, as of {args.as_of}, {args.horizon_days} days)\n")
    for metric in ("ndcg", "recall"):
        columns = ["system", *[f"{metric} {s}" for s in ("all", *LANGUAGES, "same", "cross")]]
        print(markdown_table(alone_rows, columns) + "\n")
    print(markdown_table(alone_rows[-1:], ["system", *[f"n {s}" for s in ("all", *LANGUAGES, "same", "cross")]]) + "\n")
    print(markdown_table(alone_rows, ["system", "ndcg fi-en", "ndcg fi-sv", "ndcg same-cross"]) + "\n")
    crossed = [f"ndcg {lang}/{kind}" for lang in LANGUAGES for kind in ("same", "cross")]
    print(markdown_table(alone_rows, ["system", *crossed]) + "\n")
    print(markdown_table(alone_rows[-1:], ["system", *[c.replace("ndcg", "n") for c in crossed]]) + "\n")
    print("## Relevant feasible test pairs among the full pipeline's candidates\n")
    print(markdown_table(retrieval_rows, ["segment", "relevant_pairs", "feasible_share", "in_candidates", "fill_only",
                                          *[f"{c}_proposes" for c in CHANNELS], *[f"{c}_alone" for c in CHANNELS]]) + "\n")
    if ablation_rows:
        print("## Ablation (refitted pipeline)\n")
        print(markdown_table(ablation_rows, ["variant", "ndcg all", "Δndcg", "recall all", "Δrecall", "ndcg fi", "ndcg sv",
                                             "ndcg en", "candidate recall", "candidates", "fit s"]))


if __name__ == "__main__":
    main()
