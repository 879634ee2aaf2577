"""``ilona-match demo``: the whole job on an embedded default, offline, on a fresh install."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ilona_match.config import Settings
from ilona_match.contract import DataBundle, load_data

__all__ = ["run_demo", "summarise_world"]


def summarise_world(bundle: DataBundle) -> str:
    """A short plain-text summary of a data folder (counts only: no free text)."""
    p, v, o = bundle.participants, bundle.vacancies, bundle.outcomes
    lines = [
        f"participants: {len(p):,} ({_mix(p['language'])}), coaches: {p['coach_id'].nunique():,}",
        f"vacancies:    {len(v):,} ({_mix(v['language'])}), sectors: {_mix(v['sector'], top=6)}",
        f"outcomes:     {len(o):,} events on {len(o.groupby(['participant_id', 'vacancy_id'])):,} pairs; "
        f"events: {_mix(o['event'], top=9)}",
    ]
    if len(bundle.rejects):
        lines.append(f"rejected rows: {len(bundle.rejects):,}")
    return "\n".join(lines)


def _mix(column: pd.Series, top: int = 3) -> str:
    shares = column.astype("string").fillna("unknown").value_counts(normalize=True).head(top)
    return ", ".join(f"{name} {share:.0%}" for name, share in shares.items())


def _pathways_line(details: dict, path: Path | None) -> str:
    """What the pathways table holds, or why there is none."""
    if path is None:
        return "pathways: none (the data folder has no services table)"
    return (f"pathways: {details['pathways']} routes to work for {details['participants_with_pathway']} participants, "
            f"{details['without_recommendation_with_pathway']} of them with no fitting vacancy (their coach page shows "
            f"the routes first) -> {path.resolve()}")


def _audit_line(audit: Any, details: dict, command: str) -> str:
    """The fairness audit in one line (the full report: ``ilona-match audit``)."""
    if audit is None:
        return "fairness audit: none (the data folder has no participant_groups table)"
    found = details.get("audit_violations", len(audit.violations))
    return (f"fairness audit by {', '.join(audit.summary['attributes'])}: {found} violation(s) of the thresholds in "
            f"tonight's lists, {len(audit.violations)} on the registered model's split date; each group's figures "
            f"with 95% intervals and the hiring history beside the lists: `{command}`")


def _command(name: str, workdir: Path, configured: Path) -> str:
    """``ilona-match NAME`` as the user types it to read this work folder (``configured``: the settings' one)."""
    same = Path(workdir).resolve() == configured.resolve()
    return f"ilona-match {name}" if same else f"ILONA_MATCH_WORKDIR={workdir} ilona-match {name}"


def run_demo(
    workdir: Path,
    *,
    settings: Settings,
    participants: int = 600,
    vacancies: int = 1000,
    seed: int = 7,
    progress: bool = True,
) -> str:
    """The whole job on a synthetic world, in ``workdir``: generate, validate, train (MLflow run and
    registered model), nightly batch. Returns the report to print: where everything is."""
    from tqdm.auto import tqdm

    from ilona_match.learning.model_card import card_path
    from ilona_match.learning.tracking import MODEL_NAME, tracking_uri
    from ilona_match.serving.nightly import allocation_summary, run_nightly
    from ilona_match.synthetic import generate_world
    from ilona_match.training import default_as_of, train

    workdir = Path(workdir)
    configured = Path(settings.workdir)
    settings = settings.model_copy(update={"workdir": workdir})
    data_dir = workdir / "data"
    with tqdm(total=participants, unit="participant", desc="generate", disable=not progress) as bar:
        generate_world(data_dir, participants=participants, vacancies=vacancies, seed=seed, progress=bar.update)
    bundle = load_data(data_dir, max_text_chars=settings.contract.max_text_chars)
    as_of = default_as_of(bundle)
    trained = train(data_dir, as_of=as_of, config=settings)
    out = workdir / "recommendations.csv"
    with tqdm(total=len(bundle.participants), unit="participant", desc="batch", disable=not progress) as bar:
        nightly = run_nightly(settings, data_dir, as_of, out, progress=bar.update)
    run = nightly.log
    k = settings.batch.k
    full = int((pd.read_csv(out, usecols=["participant_id"]).groupby("participant_id").size() >= k).sum())
    if trained.evaluation is None:
        table = "  (no new pair reached a success in the held-out window: nothing to judge)"
    else:
        table = trained.evaluation[["met ndcg@10", "ndcg@10", "recall@10", "constraint_breaks"]].round(3).to_string()
    return "\n".join(
        [
            f"ilona-match demo — work folder: {workdir.resolve()}",
            f"synthetic world (seed {seed}): {data_dir.resolve()} — valid against the data contract",
            summarise_world(bundle),
            "",
            f"held-out evaluation before registering (time split, {settings.evaluation.horizon_days} days):",
            table,
            f"ranker: {trained.ranker}",
            f"MLflow run {trained.run_id}, model version {trained.model_version} "
            f"({'champion' if trained.promoted else 'not promoted'}) in {tracking_uri(workdir)}",
            f"nightly batch as of {as_of}: {run.recommendations} recommendations for {run.participants} participants; "
            f"{full} got a full list of {k}, {run.details['participants_without_recommendation']} none (no fitting "
            f"vacancy open that day: their coach page says so first) -> {out.resolve()}",
            allocation_summary(run.details),
            _pathways_line(run.details, nightly.pathways),
            f"coach reports (one page per coach): {nightly.reports.resolve() if nightly.reports else '-'}",
            f"published as run {run.run_id} to {nightly.database_url}",
            _audit_line(trained.audit, run.details, _command("audit", workdir, configured)),
            f"model card of version {trained.model_version}: "
            f"{card_path(workdir, MODEL_NAME, trained.model_version).resolve()} (`ilona-match model-card`)",
        ]
    )
