"""Where the name linker's effect on the ranking comes from: the people whose profiles it changes, or
everyone else (whose lists move only because a trained ranker learned from other rows).

    python bench/linker_effect.py --data WORLD --runs WITH:WITHOUT[,WITH:WITHOUT...]
    python bench/linker_effect.py --data WORLD --serve RUN[,RUN...] [--other accept=0.6]

Each WITH:WITHOUT is a pair of ``bench/hidden_truth.py`` run folders of the same world, one with the
linker and one with ``--set MATCHING__LINKER__ENABLED=false`` (e.g. the same ranker seed). The profiles
are built twice from the first WITH run's champion (its taxonomy and linker settings): with the linker
and without. A person is *changed* when their occupations, ISCO groups or skills differ. Each run's
nightly lists (``recs.csv``) are scored per person on the hidden truth (NDCG@10), and the difference
with / without is split into the changed people's share and the rest's (both as a change of the run's
mean NDCG@10). Then, for each accepted link of a listed name that is no label, the changed people who
list it and their mean NDCG@10 change over the pairs. JSON lines.

``--serve RUN`` takes training out of the comparison: RUN's champion (trained with or without the
linker) serves the nightly run twice, with the default linker and with the ``--other`` linker settings
(``matching.linker`` fields, values as JSON: ``--other 'languages=["fi","sv"]'``; by default
``enabled=false``), the default allocation and settings otherwise, and both lists are scored on the
hidden truth (NDCG@10, expected placements). The NDCG@10 difference comes with a 95 % interval from
a paired bootstrap over the judged people (``learning.model_selection.compare``, 2,000 resamples; with
several runs also one over the runs' mean difference per person), and the number of people whose
lists differ.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
from _report import emit


def _value(text: str) -> object:
    """A ``--other`` value: JSON where it parses (false, 0.6, ["fi","sv"]), else the text."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _rows(matrix) -> list[frozenset[int]]:
    matrix = matrix.tocsr()
    return [frozenset(matrix.indices[matrix.indptr[i]:matrix.indptr[i + 1]].tolist()) for i in range(matrix.shape[0])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="the world's data folder")
    parser.add_argument("--runs", help="WITH:WITHOUT run folders, comma-separated pairs")
    parser.add_argument("--serve", help="run folders whose champion serves with the default linker and the other, "
                        "comma-separated")
    parser.add_argument("--other", action="append", default=[], metavar="FIELD=VALUE",
                        help="--serve: the other linker's settings (default enabled=false); repeatable")
    args = parser.parse_args()
    if (args.runs is None) == (args.serve is None):
        raise SystemExit("give either --runs WITH:WITHOUT[,...] or --serve RUN[,...]")
    if args.serve:
        other = {key: _value(text) for key, text in (item.partition("=")[::2] for item in args.other)}
        other = other or {"enabled": False}
        serve_both_ways(args.data, [Path(run) for run in args.serve.split(",")], other)
        return
    pairs = [tuple(Path(part) for part in spec.split(":")) for spec in args.runs.split(",")]
    if any(len(pair) != 2 for pair in pairs):
        raise SystemExit(f"--runs {args.runs!r}: write WITH:WITHOUT[,WITH:WITHOUT...]")
    os.environ.update({"ILONA_MATCH_WORKDIR": str(pairs[0][0] / "work"), "HF_HUB_OFFLINE": "1"})

    from ilona_match.config import load_settings
    from ilona_match.contract import load_data
    from ilona_match.contract.exclusion import acted_pairs
    from ilona_match.learning.tracking import load_champion
    from ilona_match.matching.profiles import _analysed, build_participants
    from ilona_match.synthetic.truth import hidden_ndcg_by_participant, judged_pairs, list_ranks, load_truth

    settings = load_settings()
    bundle = load_data(args.data)
    people = bundle.participants.reset_index(drop=True)
    pipeline, _ = load_champion(settings.workdir)
    if pipeline.linker is None:
        raise SystemExit(f"{pairs[0][0]}: its champion has the linker switched off; give the run with it first")
    linked = build_participants(people, pipeline.taxonomy, pipeline.extract_mentions(), pipeline.linker)
    plain = build_participants(people, pipeline.taxonomy, pipeline.extract_mentions(), None)
    changed = np.zeros(len(people), bool)
    for field in ("occupations", "isco4", "skills"):
        changed |= np.array([a != b for a, b in zip(_rows(getattr(linked, field)), _rows(getattr(plain, field)),
                                                     strict=True)])
    changed_ids = set(people["participant_id"][changed])

    kinds = pipeline.config.linker.kinds
    names: dict[tuple[str, str], dict] = {}  # (name, kind) -> the link and who lists it
    for row in people[changed].itertuples(index=False):
        lang = _analysed(row.language)  # as the profiles hand names to the linker
        for kind, cell in (("occupation", row.occupations), ("skill", row.skills)):
            if kind not in kinds or not isinstance(cell, tuple):  # load_data splits the cells
                continue
            for name in cell:
                if pipeline.taxonomy.resolve(name) is not None:
                    continue
                link = pipeline.linker.link(name, kind, lang)
                if link.accepted:
                    entry = names.setdefault((name, kind), {"lang": lang, "link": link, "people": set()})
                    entry["people"].add(row.participant_id)

    truth, k = load_truth(args.data), settings.batch.k
    differences = {}
    for with_run, without_run in pairs:
        as_of = pd.Timestamp(pd.read_csv(with_run / "recs.csv", nrows=1)["as_of"][0]).date()
        acted = acted_pairs(bundle.outcomes, as_of, settings.exclusion)
        frame = judged_pairs(truth, people, bundle.vacancies, as_of, set(zip(acted.participant_ids, acted.vacancy_ids)))
        scored = [hidden_ndcg_by_participant(frame, list_ranks(frame, pd.read_csv(run / "recs.csv"), k), k)
                  for run in (with_run, without_run)]
        difference = scored[0] - scored[1]
        differences[with_run.name] = difference
        is_changed = difference.index.isin(list(changed_ids))
        emit({"bench": "linker_effect", "with": str(with_run), "without": str(without_run),
              "ndcg@10 with": scored[0].mean(), "ndcg@10 without": scored[1].mean(),
              "judged people": len(difference), "people the linker changes": int(is_changed.sum()),
              "change from them": difference[is_changed].sum() / len(difference),
              "change from the rest": difference[~is_changed].sum() / len(difference),
              "mean change of a changed person": difference[is_changed].mean() if is_changed.any() else None,
              "mean change of the rest": difference[~is_changed].mean()})
    by_person = pd.DataFrame(differences)
    for (name, kind), entry in sorted(names.items(), key=lambda item: -len(item[1]["people"])):
        link = entry["link"]
        rows = by_person.reindex(sorted(entry["people"])).dropna(how="all")
        emit({"bench": "linker_effect", "name": name, "kind": kind, "lang": entry["lang"],
              "linked to": link.concept.labels.get("en", link.concept.uri), "confidence": link.confidence,
              "people": len(entry["people"]), "mean ndcg@10 change": float(np.nanmean(rows.to_numpy()))
              if len(rows) else None})


def serve_both_ways(data: Path, runs: list[Path], other: dict[str, object]) -> None:
    """Each run's champion serves with the default linker and with the ``other`` settings; both lists
    scored on the hidden truth, the NDCG@10 difference with its bootstrap interval over people."""
    from ilona_match.config import load_settings
    from ilona_match.contract import load_data
    from ilona_match.contract.exclusion import acted_pairs
    from ilona_match.learning.model_selection import compare
    from ilona_match.learning.tracking import load_champion
    from ilona_match.serving.allocation import AllocationConfig
    from ilona_match.serving.batch import run_batch
    from ilona_match.synthetic.truth import (
        hidden_ndcg_by_participant,
        hidden_placements,
        judged_pairs,
        list_ranks,
        load_truth,
    )
    from ilona_match.text.linking import LinkerConfig

    bundle = load_data(data)
    truth = load_truth(data)
    openings = bundle.vacancies.set_index("vacancy_id")["openings"].fillna(1)
    differences = {}
    for run in runs:
        os.environ.update({"ILONA_MATCH_WORKDIR": str(run / "work"), "HF_HUB_OFFLINE": "1"})
        settings = load_settings()
        as_of = pd.Timestamp(pd.read_csv(run / "recs.csv", nrows=1)["as_of"][0]).date()
        acted = acted_pairs(bundle.outcomes, as_of, settings.exclusion)
        frame = judged_pairs(truth, bundle.participants, bundle.vacancies, as_of,
                             set(zip(acted.participant_ids, acted.vacancy_ids)))
        pipeline, version = load_champion(settings.workdir)
        trained = pipeline.config
        settings_of = {"with": LinkerConfig(), "other": LinkerConfig.model_validate({**LinkerConfig().model_dump(), **other})}
        figures, per_person, lists = {}, {}, {}
        for key, linker in settings_of.items():
            pipeline.config = trained.model_copy(update={"linker": linker})
            history = pipeline.prepare_history(bundle.outcomes, bundle.vacancies, as_of, bundle.participants)
            recs = run_batch(pipeline, bundle.participants, bundle.vacancies, as_of, k=settings.batch.k,
                             allocation=AllocationConfig(k=settings.batch.k,
                                                         relevance_weight=settings.batch.relevance_weight,
                                                         fill=settings.batch.fill),
                             candidate_pool=settings.batch.candidate_pool, exclude=acted, history=history).frame
            per_person[key] = hidden_ndcg_by_participant(frame, list_ranks(frame, recs, settings.batch.k),
                                                         settings.batch.k)
            figures[f"ndcg@10 {key}"] = float(per_person[key].mean())
            figures[f"placements {key}"] = hidden_placements(frame, recs, openings)
            lists[key] = recs.groupby("participant_id")["vacancy_id"].agg(tuple)
        differences[str(run)] = per_person["with"] - per_person["other"]
        comparison = compare(per_person["with"], per_person["other"])
        everyone = lists["with"].index.union(lists["other"].index)
        moved = lists["with"].reindex(everyone) != lists["other"].reindex(everyone)
        emit({"bench": "linker_effect", "serve": str(run), "model_version": version, "other": other,
              "trained with the linker": trained.linker.enabled,
              "ranker": "trained" if pipeline.ranker_ is not None else "prior", **figures,
              "ndcg ratio": figures["ndcg@10 with"] / figures["ndcg@10 other"],
              "ndcg@10 difference": round(comparison.gain, 5),
              "difference 95% interval": (round(comparison.low, 5), round(comparison.high, 5)),
              "people whose lists differ": int(moved.sum()), "judged people": comparison.participants,
              "placements ratio": figures["placements with"] / figures["placements other"]})
    if len(differences) > 1:
        mean = pd.DataFrame(differences).dropna().mean(axis=1)
        comparison = compare(mean, pd.Series(0.0, index=mean.index))
        emit({"bench": "linker_effect", "serve": "mean over the runs", "other": other, "runs": len(differences),
              "ndcg@10 difference": round(comparison.gain, 5),
              "difference 95% interval": (round(comparison.low, 5), round(comparison.high, 5)),
              "judged people": comparison.participants})


if __name__ == "__main__":
    main()
