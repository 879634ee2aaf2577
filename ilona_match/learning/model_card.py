"""The model card of one registered version, generated from its MLflow run (EU AI Act Art. 11, 13).

Everything version-specific comes from the run: its data window and fingerprint, what it ranks with
and why, the evaluation table, the calibration and its reliability, expected placements, the fairness
audit by group and the champion decision. What does not change between versions — intended use,
uses it must not be put to, known limits — is written here once. ``tracking.log_training_run`` logs
the card beside the run (``model_card.md``) and writes it to ``{workdir}/models/cards/``;
``ilona-match model-card`` writes it again for any version.
"""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

__all__ = ["CARD_ARTIFACT", "card_path", "model_card", "write_card"]

CARD_ARTIFACT = "model_card.md"
_CARDS_DIR = Path("models") / "cards"
_EVALUATION_COLUMNS = ["met ndcg@10", "ndcg@10", "recall@10", "mrr", "constraint_breaks"]
_AUDIT_METRICS = ("has_recommendation", "good_exposure", "expected_placements", "ndcg_at_10")

INTENDED_USE = """\
Decision support for job coaches working with people with partial work capacity, the long-term
unemployed and people who need a job coach: each night a ranked list of open vacancies that respect
the person's work capacity, with plain-language reasons, what to check, and a calibrated chance of a
good outcome shown as a level. A coach reviews every list and decides with the person (human
oversight, EU AI Act Art. 14); a coach can set any recommendation aside with a reason
(`POST /feedback`), and those overrides are counted in the fairness audit."""

NOT_FOR = """\
- ranking or screening people for employers, or any decision an employer takes about a candidate;
- deciding benefits, sanctions, eligibility for services or the order in which people are served;
- any automated decision about a person without a coach's review;
- people or vacancies outside the data it was trained on (other countries' labour markets, other
  languages than Finnish, Swedish and English) without a new evaluation."""

KNOWN_LIMITS = """\
- It learns from what coaches and job boards chose to show (logging bias): the chance of a good
  outcome is calibrated on pairs that were met, and is an extrapolation for pairs unlike them.
- Outcomes carry the history's biases. The engine never reads group attributes, but features can
  correlate with them; the audit below compares what each group gets with what the hiring history
  shows, and blocks promotion where the lists widen a gap the history shows.
- Small services have small held-out windows: the intervals below are wide, and groups under the
  audit's minimum size are not reported at all.
- Hard constraints are only as good as the recorded capacity: unknown values are shown to the coach
  as "to check", never guessed.
- The long form of this card (how it is trained, evaluated and shipped) is models/cards/ilona-match.md
  in the source tree."""


def card_path(workdir: str | Path, name: str, version: str | int) -> Path:
    """Where the card of a version is written in the work folder."""
    return Path(workdir) / _CARDS_DIR / f"{name}-v{version}.md"


def write_card(card: str, workdir: str | Path, name: str, version: str | int) -> Path:
    path = card_path(workdir, name, version)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(card, encoding="utf-8")
    return path


def _text_artifact(run_uri: str, name: str) -> str | None:
    try:
        return mlflow.artifacts.load_text(f"{run_uri}/{name}")
    except (MlflowException, OSError):
        return None


def _markdown(frame: pd.DataFrame) -> str:
    """A small table in Markdown (no extra dependency)."""
    columns = [str(frame.index.name or "")] + [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    for row in frame.itertuples(name=None):  # keeps each column's type: counts stay whole
        cells = [f"{v:.3f}" if isinstance(v, float) else str(v) for v in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _interval(value: float, low: float, high: float) -> str:
    if value is None or pd.isna(value):
        return "-"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def _window_end(params: dict[str, str]) -> str:
    """The last day of the run's held-out window (the split plus ``evaluation.horizon_days``, less a day)."""
    try:
        split = date.fromisoformat(params["evaluation.as_of"])
        return (split + timedelta(days=int(params["evaluation.horizon_days"]) - 1)).isoformat()
    except (KeyError, ValueError):
        return "?"


def _audit_section(text: str | None) -> list[str]:
    if text is None:
        return ["The training data had no `participant_groups` table: this version was not audited by group. "
                "Add the table (docs/data-contract.md) and train again before serving people whose groups "
                "may be treated differently."]
    payload = json.loads(text)
    summary, violations = payload["summary"], payload.get("violations", [])
    lines = [f"Lists of the split date, {summary['people']} participants ({summary['with_groups']} with group "
             f"attributes), groups of at least {summary['min_group_size']} people, 95% bootstrap intervals "
             f"({summary['bootstrap_rounds']} resamples). Attributes: {', '.join(summary['attributes']) or 'none'}"
             f"{'; intersections: ' + ', '.join(summary['intersections']) if summary.get('intersections') else ''}."]
    groups = pd.DataFrame(payload.get("groups", []))
    if not groups.empty:
        single = groups[~groups["attribute"].str.contains(" x ") & groups["metric"].isin(_AUDIT_METRICS)]
        single = single.assign(cell=[_interval(v, lo, hi) for v, lo, hi in
                                     zip(single["value"], single["low"], single["high"])])
        wide = single.pivot_table(index=["attribute", "group", "people"], columns="metric", values="cell",
                                  aggfunc="first", sort=False)
        wide = wide.reset_index().set_index("attribute")
        lines += ["", _markdown(wide)]
    history = pd.DataFrame(payload.get("history", []))
    if not history.empty:
        single = history[~history["attribute"].str.contains(" x ")]
        lines += ["", "Hiring history beside the lists (relative to everyone; 1 = the same as everyone):", ""]
        lines += [f"- {r.attribute} = {r.group}: hired {_interval(r.hire_relative, r.hire_low, r.hire_high)}x in the "
                  f"history; {_interval(r.engine_relative, r.engine_low, r.engine_high)}x of the expected placements "
                  f"— {r.verdict}" for r in single.itertuples()]
    lines += ["", "Violations of the audit thresholds: " + ("; ".join(violations) if violations else "none.")]
    return lines


def model_card(client: MlflowClient, name: str, version: str | int) -> str:
    """The card of registered version ``version`` of ``name``, from its run (module docstring)."""
    try:
        found = client.get_model_version(name, str(version))
    except MlflowException as error:
        raise LookupError(f"model {name!r} has no version {version}") from error
    run_id = found.tags.get("run_id") or found.run_id
    run = client.get_run(run_id)
    params, metrics, tags = run.data.params, run.data.metrics, run.data.tags
    aliases = list(getattr(found, "aliases", []) or [])
    registered = datetime.fromtimestamp(found.creation_timestamp / 1000, tz=timezone.utc).date().isoformat()
    lines = [f"# Model card — {name}, version {version}", "",
             f"Generated {datetime.now(timezone.utc).date().isoformat()} from MLflow run `{run_id}` "
             f"(registered {registered}; aliases: {', '.join(aliases) or 'none'}).", "",
             "## What it is", "",
             f"One pyfunc model wrapping the whole matching pipeline (ilona-match {tags.get('ilona_match.version', '?')}): "
             f"embedder `{tags.get('embedder_model_id', '?')}`, ESCO taxonomy {tags.get('taxonomy_version', '?')}, "
             "hard work-capacity filters, retrieval channels and a ranker. "
             f"It ranks with: {tags.get('ranker.decision') or params.get('training.ranker', '?')}.", "",
             f"Champion decision: {tags.get('champion.decision', '?')} — {tags.get('champion.reason', '?')}", "",
             *([f"Promoted by a person: {found.tags['champion.promoted_by']} on {found.tags.get('champion.promoted_at', '?')} "
                f"(champion before: {found.tags.get('champion.replaced_version', '?')}) — "
                f"{found.tags.get('champion.override_reason', '')}", ""] if "champion.promoted_by" in found.tags else []),
             "## Intended use", "", INTENDED_USE, "", "## Must not be used for", "", NOT_FOR, "",
             "## Data", "",
             f"- outcome history from {params.get('training.history_from', '?')}; learned from outcomes before "
             f"{params.get('evaluation.as_of', '?')}; judged on the held-out window from then until "
             f"{_window_end(params)}",
             f"- data fingerprint (SHA-256 of the input files): `{params.get('data_fingerprint', '?')}`",
             f"- pairs people met before the window: {metrics.get('training.logged_pairs', float('nan')):.0f}, "
             f"{metrics.get('training.positive_pairs', float('nan')):.0f} of them a success; "
             f"feedback events used: {metrics.get('training.feedback_events', 0):.0f}",
             "- participants are pseudonymous ids; no free text is logged (MLflow holds settings, counts, metrics).",
             "", "## Metrics overall (held-out window)", ""]
    evaluation = _text_artifact(run.info.artifact_uri, "evaluation.csv")
    if evaluation is None:
        lines.append("No held-out window with a success to judge: no ranking metrics.")
    else:
        table = pd.read_csv(io.StringIO(evaluation), index_col="system")
        lines.append(_markdown(table[[c for c in _EVALUATION_COLUMNS if c in table.columns]]))
    lines += ["", "## Calibration and expected placements", ""]
    if "training.calibration_ece" in metrics:
        lines.append(f"Chance of a good outcome (interview, work trial or hire) calibrated on "
                     f"{metrics.get('training.calibration_pairs', 0):.0f} pairs of the held-out window; expected "
                     f"calibration error {metrics['training.calibration_ece']:.4f} out of fold (base rate "
                     f"{metrics.get('training.calibration_base_rate', float('nan')):.3f}); from sampling alone a "
                     f"perfectly calibrated chance would show {metrics.get('training.calibration_ece_noise', float('nan')):.4f} "
                     f"on these pairs, 95 % of draws below "
                     f"{metrics.get('training.calibration_ece_noise_95', float('nan')):.4f}."
                     + (f" Each figure is the mean over {metrics['training.calibration_repeats']:.0f} assignments of "
                        f"people to folds (ECE {metrics['training.calibration_ece_lowest']:.4f}–"
                        f"{metrics['training.calibration_ece_highest']:.4f})."
                        if metrics.get("training.calibration_repeats", 1) > 1 else ""))
        weights = {key.removeprefix("training.calibration_weight_"): value for key, value in metrics.items()
                   if key.startswith("training.calibration_weight_")}
        if weights:
            lines.append("The chance reads the score and facts of the pair, so it compares across "
                         "people (weights per standard deviation, learned on the window): "
                         + ", ".join(f"{name} {value:+.2f}" for name, value in sorted(weights.items())) + ".")
        reliability = _text_artifact(run.info.artifact_uri, "calibration_reliability.csv")
        if reliability is not None:
            lines += ["", _markdown(pd.read_csv(io.StringIO(reliability), index_col=0))]
    else:
        lines.append("Not calibrated (too few pairs met in the held-out window): no chance of a good outcome is shown.")
    if "training.expected_placements" in metrics:
        lines += ["", f"Expected placements of the run on the split date: {metrics['training.expected_placements']:.2f} "
                  f"with the allocation, {metrics.get('training.expected_placements_top_k', float('nan')):.2f} with "
                  "each person's plain top k."]
    lines += ["", "## By group (fairness audit)", ""]
    lines += _audit_section(_text_artifact(run.info.artifact_uri, "audit.json"))
    lines += ["", "## Known limits", "", KNOWN_LIMITS, ""]
    return "\n".join(lines)
