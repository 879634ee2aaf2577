"""The fairness audit of a run: does the engine serve every group of people alike, and does it widen
what the hiring history already shows?

Group attributes come from the optional ``participant_groups`` table (contract v1.1), read here and
nowhere else: no group column reaches a feature or the ranker. For each attribute present (age band,
gender, mother-tongue group, capacity category, region) and, optionally, each pair of them, with
groups of at least ``min_group_size`` people (smaller cells are left out: they would single people
out and their figures are noise), the audit reports with 95 % bootstrap intervals:

- **what people get**: the share with at least one recommendation, the list length, the
  rank-discounted exposure to vacancies with a good calibrated chance (``good_exposure``: the sum of
  1/log2(1 + rank) over items whose chance is "good"), each person's share of the run's expected
  placements (each person acts on rank r with probability 1/log2(r + 1), a vacancy fills at most its
  openings: ``learning.metrics.expected_placements`` split over the people sent to it), and, when the
  run has a held-out window, NDCG@10 there;
- **the hiring history beside the lists** (after Bied et al. 2023): each group's hire rate among the
  people who met vacancies before the run, against its share of the engine's expected placements,
  both relative to everyone; and the gap between groups in the characteristics of the vacancies
  recommended (hours, distance, shortage sector, social enterprise) against the same gap in actual
  hires — does the engine widen what the history shows?
- **Skew@k** (Geyik et al. 2019): for the people each vacancy is recommended to, ordered by their
  chance, the log ratio of a group's share of the first k to its share of the run;
- **coach overrides** (``POST /feedback`` with a reason code): counts by reason, and the share of
  each group's people whose lists a coach set aside.

For the checked attributes (by default age band, gender and mother-tongue group: the gaps of capacity
category and region follow from the hard constraints and local supply, by design, and are reported
only) and groups of at least ``min_check_size`` people (among dozens of groups and intersections,
some small group's interval misses by chance), a group whose value of a checked metric is below ``min_ratio`` of everyone else's, with the
whole interval below it, and (with ``block_widening``) lists that give a group less than everyone and
less than the history did, beyond both intervals, are *violations*: ``training.train`` does not promote such a model and says which group
and metric.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from ilona_match.config import AuditSettings
from ilona_match.contract.spec import GROUP_COLUMNS
from ilona_match.matching.calibration import LEVELS

__all__ = ["AuditInputs", "AuditReport", "SHORTAGE_SECTORS", "audit_run", "person_values"]

GOOD_CHANCE = dict(LEVELS)["good"]
SHORTAGE_SECTORS: frozenset[str] = frozenset({"social_health", "elderly_care", "circular_economy"})
HIRED_EVENTS: frozenset[str] = frozenset({"hired", "retained_6m"})
_QUANTILES = [0.025, 0.975]
_SKEW_K = 10
_PEOPLE_METRICS = ("has_recommendation", "list_length", "good_exposure", "expected_placements")
_CHARACTERISTICS = ("hours_per_week", "distance_km", "shortage_sector", "social_enterprise")
_EARTH_KM = 6371.0


@dataclass(frozen=True)
class AuditInputs:
    """What one run served and what the history holds, by participant id (no free text).

    people: participant_id, lat, lon of the run's participants. groups: the ``participant_groups``
    table (may be empty). lists: participant_id, rank, vacancy_id, p_outcome (NaN when uncalibrated).
    history: vacancy outcome events before the audited day. ndcg: held-out NDCG@10 per judged
    participant (training runs). overrides: participant_id, reason of coach overrides.
    """

    people: pd.DataFrame
    groups: pd.DataFrame
    vacancies: pd.DataFrame
    lists: pd.DataFrame
    history: pd.DataFrame
    ndcg: pd.Series | None = None
    overrides: pd.DataFrame | None = None


@dataclass(frozen=True)
class AuditReport:
    """The audit's tables (module docstring) and what breaks the thresholds, in words."""

    summary: dict[str, Any]
    groups: pd.DataFrame  # attribute, group, people, metric, value, low, high
    gaps: pd.DataFrame  # attribute, metric, group, value, ratio (to everyone else), ratio_low, ratio_high, checked
    history: pd.DataFrame  # attribute, group, people, hire_rate, hire_relative(+low/high), engine_relative(+low/high), verdict
    characteristics: pd.DataFrame  # attribute, characteristic, recommended_gap(+low/high), hired_gap(+low/high), verdict
    skew: pd.DataFrame  # attribute, group, share_of_run, share_of_top, skew
    overrides: pd.DataFrame  # reason, overrides
    violations: tuple[str, ...] = field(default_factory=tuple)

    _TABLES = ("groups", "gaps", "history", "characteristics", "skew", "overrides")

    @property
    def attributes(self) -> list[str]:
        return list(dict.fromkeys(self.groups["attribute"])) if not self.groups.empty else []

    def to_json(self) -> str:
        """The whole report as JSON (aggregates of groups of at least ``min_group_size`` people only)."""
        payload = {"summary": self.summary, "violations": list(self.violations)}
        for name in self._TABLES:
            payload[name] = json.loads(getattr(self, name).to_json(orient="records"))
        return json.dumps(payload, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> AuditReport:
        payload = json.loads(text)
        tables = {name: pd.DataFrame(payload.get(name, [])) for name in cls._TABLES}
        return cls(payload["summary"], **tables, violations=tuple(payload.get("violations", [])))

    def metrics(self) -> dict[str, float]:
        """Flat figures for MLflow: ``audit.<attribute>.<metric>.lowest_ratio`` (the lowest group's value over
        everyone else's), the history and engine relative values of each group, the number of violations."""
        out: dict[str, float] = {"audit.violations": float(len(self.violations))}
        if not self.gaps.empty:
            lowest = self.gaps.groupby(["attribute", "metric"], sort=False)["ratio"].min()
            for (attribute, metric), ratio in lowest.items():
                out[f"audit.{_key(attribute)}.{metric}.lowest_ratio"] = float(ratio)
        for row in self.history.itertuples():
            stem = f"audit.{_key(row.attribute)}.{_key(row.group)}"
            out[f"{stem}.hire_relative"] = float(row.hire_relative)
            out[f"{stem}.engine_relative"] = float(row.engine_relative)
        return {name: value for name, value in out.items() if np.isfinite(value)}

    def text(self) -> str:
        """The report as a coach's manager or an auditor reads it."""
        s = self.summary
        lines = [f"fairness audit of {s.get('run', 'the run')} ({s.get('day', '')}): {s['people']} participants, "
                 f"{s['with_groups']} with group attributes; groups under {s['min_group_size']} people are not shown"]
        if not s["attributes"]:
            lines.append("no group attributes (the data folder has no participant_groups table): nothing to audit")
            return "\n".join(lines)
        lines.append(f"attributes: {', '.join(s['attributes'])}; 95% intervals from {s['bootstrap_rounds']} resamples")
        if not self.groups.empty:
            wide = self.groups.assign(cell=[_cell(v, lo, hi) for v, lo, hi in
                                            zip(self.groups["value"], self.groups["low"], self.groups["high"])])
            table = wide.pivot_table(index=["attribute", "group", "people"], columns="metric", values="cell",
                                     aggfunc="first", sort=False)
            lines += ["", "what each group gets (value [95% interval]):", table.to_string()]
        if not self.history.empty:
            lines += ["", "hiring history beside the lists (relative to everyone; 1 = same as everyone):"]
            for row in self.history.itertuples():
                lines.append(f"  {row.attribute} = {row.group} ({row.people} people): hired "
                             f"{_cell(row.hire_relative, row.hire_low, row.hire_high)}x in the history, "
                             f"{_cell(row.engine_relative, row.engine_low, row.engine_high)}x of the expected "
                             f"placements -> {row.verdict}")
        if not self.characteristics.empty:
            lines += ["", "gap between groups in what is recommended against what was hired (largest group gap):"]
            for row in self.characteristics.itertuples():
                lines.append(f"  {row.attribute}, {row.characteristic}: recommended "
                             f"{_cell(row.recommended_gap, row.recommended_low, row.recommended_high)}, hired "
                             f"{_cell(row.hired_gap, row.hired_low, row.hired_high)} -> {row.verdict}")
        if not self.skew.empty:
            lines += ["", f"Skew@{_SKEW_K} (log of a group's share of each vacancy's first {_SKEW_K} people against "
                      "its share of the run; 0 = proportional):"]
            for attribute, part in self.skew.groupby("attribute", sort=False):
                lines.append(f"  {attribute}: " + ", ".join(f"{g} {v:+.2f}" for g, v in zip(part["group"], part["skew"])))
        if not self.overrides.empty:
            lines += ["", "coach overrides by reason: " + ", ".join(
                f"{r} {n}" for r, n in zip(self.overrides["reason"], self.overrides["overrides"]))]
        lines += [""] + ([f"VIOLATION: {v}" for v in self.violations] or ["no violation of the audit thresholds"])
        return "\n".join(lines)


def _key(text: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in str(text).lower()).strip("_") or "_"


def _cell(value: float, low: float, high: float) -> str:
    if value is None or not np.isfinite(value):
        return "-"
    return f"{value:.3g} [{low:.3g}, {high:.3g}]"


# ------------------------------------------------------------------------------------- per person
def person_values(people_ids: Sequence[str], lists: pd.DataFrame, openings: pd.Series) -> pd.DataFrame:
    """Per participant of the run: has_recommendation, list_length, good_exposure and their share of
    the run's expected placements (``openings``: vacancy_id -> openings)."""
    frame = lists[["participant_id", "vacancy_id", "rank", "p_outcome"]].copy()
    chance = frame["p_outcome"].astype(float).fillna(0.0).to_numpy()
    discount = 1.0 / np.log2(1.0 + frame["rank"].to_numpy(dtype=float))
    acted = chance * discount
    load = pd.Series(acted).groupby(frame["vacancy_id"].to_numpy()).sum()
    room = openings.reindex(load.index).fillna(1.0).to_numpy(dtype=float)
    fill = pd.Series(np.minimum(1.0, np.divide(room, load.to_numpy(), out=np.ones_like(room),
                                               where=load.to_numpy() > 0)), index=load.index)
    frame["expected_placements"] = acted * fill.reindex(frame["vacancy_id"]).to_numpy()
    frame["good_exposure"] = np.where(chance >= GOOD_CHANCE, discount, 0.0) * frame["p_outcome"].notna().to_numpy()
    per = frame.groupby("participant_id").agg(list_length=("rank", "size"), good_exposure=("good_exposure", "sum"),
                                              expected_placements=("expected_placements", "sum"))
    per = per.reindex(pd.Index(people_ids, name="participant_id")).fillna(0.0)
    per.insert(0, "has_recommendation", (per["list_length"] > 0).astype(float))
    return per


def _distance_km(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    lat1, lon1, lat2, lon2 = (np.radians(np.asarray(a, dtype=float)) for a in (lat1, lon1, lat2, lon2))
    h = np.sin((lat2 - lat1) / 2) ** 2 + np.cos(lat1) * np.cos(lat2) * np.sin((lon2 - lon1) / 2) ** 2
    return 2 * _EARTH_KM * np.arcsin(np.sqrt(h))


def _pair_characteristics(pairs: pd.DataFrame, people: pd.DataFrame, vacancies: pd.DataFrame) -> pd.DataFrame:
    """hours_per_week, distance_km, shortage_sector (0/1), social_enterprise (0/1) of each pair's vacancy."""
    jobs = vacancies.set_index("vacancy_id").reindex(pairs["vacancy_id"])
    where = people.set_index("participant_id").reindex(pairs["participant_id"])
    return pd.DataFrame({
        "hours_per_week": jobs["hours_per_week"].to_numpy(dtype=float),
        "distance_km": _distance_km(where["lat"], where["lon"], jobs["lat"], jobs["lon"]),
        "shortage_sector": jobs["sector"].isin(SHORTAGE_SECTORS).to_numpy(dtype=float),
        "social_enterprise": (jobs["employer_type"] == "social_enterprise").to_numpy(dtype=float),
    }, index=pairs.index)


# ------------------------------------------------------------------------------------- groupings
@dataclass(frozen=True)
class _Grouping:
    """One attribute or one intersection: each audited person's group label (index participant_id)."""

    name: str
    label: pd.Series  # participant_id -> group label; people with a missing value are not in it


def _groupings(groups: pd.DataFrame, people_ids: pd.Index, settings: AuditSettings) -> list[_Grouping]:
    """The attributes present (at least two groups of min_group_size among the run's people) and, with
    ``intersections``, their pairs."""
    table = groups.drop_duplicates("participant_id").set_index("participant_id").reindex(people_ids)
    present = [c for c in GROUP_COLUMNS if c in table.columns and table[c].notna().any()]
    specs: list[tuple[str, ...]] = [(c,) for c in present]
    if settings.intersections:
        specs += list(itertools.combinations(present, 2))
    out = []
    for columns in specs:
        values = table[list(columns)].dropna()
        label = values.astype(str).agg(" & ".join, axis=1) if len(columns) > 1 else values[columns[0]].astype(str)
        sizes = label.value_counts()
        label = label[label.isin(sizes[sizes >= settings.min_group_size].index)]
        if label.nunique() >= 2:
            out.append(_Grouping(" x ".join(columns), label))
    return out


def _mean(sample: np.ndarray, axis: int = -1) -> np.ndarray:
    return sample.mean(axis=axis)


def _resampled_means(sample: np.ndarray, settings: AuditSettings, seed: int) -> np.ndarray:
    """The bootstrap distribution of a sample's mean (``scipy.stats.bootstrap``; constant samples have none)."""
    if np.ptp(sample) == 0:
        return np.full(settings.bootstrap_rounds, float(sample[0]))
    result = stats.bootstrap((sample,), _mean, n_resamples=settings.bootstrap_rounds, method="percentile",
                             vectorized=True, batch=max(1, min(settings.bootstrap_rounds, 4_000_000 // len(sample))),
                             random_state=seed)
    return np.asarray(result.bootstrap_distribution, dtype=float)


def _interval(distribution: np.ndarray) -> tuple[float, float]:
    with np.errstate(invalid="ignore"):  # a ratio over a group that got nothing is inf
        low, high = np.nanquantile(distribution, _QUANTILES)
    return float(low), float(high)


def _ratio(mine: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """A group's mean over everyone else's (1 when both are 0)."""
    mine, theirs = np.atleast_1d(mine).astype(float), np.atleast_1d(theirs).astype(float)
    fallback = np.where(mine > 0, np.inf, 1.0) * np.ones_like(theirs)
    return np.divide(mine, theirs, out=fallback, where=theirs > 0)


@dataclass(frozen=True)
class _GroupStats:
    """Per-group means of some per-row values (non-finite values left out), with 95 % intervals from a
    stratified percentile bootstrap: each group's mean resampled on its own (``scipy.stats.bootstrap``),
    everyone else's mean and the gaps computed from those resamples."""

    by_group: pd.DataFrame  # group x metric
    low: pd.DataFrame
    high: pd.DataFrame
    to_rest: dict[str, pd.DataFrame]  # metric -> group x (value, low, high): the group's mean / everyone else's
    difference: pd.DataFrame  # metric x (value, low, high): highest group - lowest group

    @classmethod
    def of(cls, values: pd.DataFrame, label: pd.Series, settings: AuditSettings, seed: int) -> _GroupStats:
        labels = label.astype(str).to_numpy()
        numbers = values.astype(float)
        by_group = numbers.where(np.isfinite(numbers)).groupby(pd.Series(labels, name="group", index=values.index)).mean()
        by_group.index = by_group.index.astype(str)
        low, high = by_group.copy(), by_group.copy()
        columns = ["value", "low", "high"]
        to_rest, difference = {}, {}
        for metric in values.columns:
            column = values[metric].to_numpy(dtype=float)
            finite = np.isfinite(column)
            samples = {group: column[(labels == group) & finite] for group in by_group.index}
            samples = {group: sample for group, sample in samples.items() if len(sample) >= 2}
            if len(samples) < 2:
                difference[metric] = (float("nan"),) * 3
                to_rest[metric] = pd.DataFrame(columns=columns, dtype=float)
                continue
            names = list(samples)
            sizes = np.array([len(samples[g]) for g in names], dtype=float)
            means = np.array([samples[g].mean() for g in names])
            resampled = np.stack([_resampled_means(samples[g], settings, seed + i) for i, g in enumerate(names)])
            rows = {}
            for i, group in enumerate(names):
                low.loc[group, metric], high.loc[group, metric] = _interval(resampled[i])
                others = np.arange(len(names)) != i
                rest_point = float((sizes[others] * means[others]).sum() / sizes[others].sum())
                rest = (sizes[others, None] * resampled[others]).sum(axis=0) / sizes[others].sum()
                rows[group] = (float(_ratio(means[i], rest_point)[0]), *_interval(_ratio(resampled[i], rest)))
            to_rest[metric] = pd.DataFrame(rows, index=columns).T
            difference[metric] = (float(means.max() - means.min()),
                                  *_interval(resampled.max(axis=0) - resampled.min(axis=0)))
        return cls(by_group, low, high, to_rest, pd.DataFrame(difference, index=columns).T)


def _group_rows(name: str, stats_: _GroupStats, sizes: pd.Series) -> list[dict[str, Any]]:
    rows = []
    sizes = sizes.rename(index=str)
    for group in stats_.by_group.index:
        for metric in stats_.by_group.columns:
            rows.append({"attribute": name, "group": group, "people": int(sizes.get(group, 0)), "metric": metric,
                         "value": float(stats_.by_group.loc[group, metric]), "low": float(stats_.low.loc[group, metric]),
                         "high": float(stats_.high.loc[group, metric])})
    return rows


def _gap_rows(name: str, stats_: _GroupStats, checked: Sequence[str]) -> list[dict[str, Any]]:
    """Per metric and group: the group's mean over everyone else's, with its interval."""
    rows = []
    for metric in stats_.by_group.columns:
        for group, ratio in stats_.to_rest[metric].iterrows():
            rows.append({"attribute": name, "metric": metric, "group": str(group),
                         "value": float(stats_.by_group.loc[group, metric]), "ratio": float(ratio["value"]),
                         "ratio_low": float(ratio["low"]), "ratio_high": float(ratio["high"]),
                         "checked": metric in checked})
    return rows


def _verdict(hire: tuple[float, float, float], engine: tuple[float, float, float]) -> str:
    """Where the engine's relative value of a group lies against the history's (intervals apart or not)."""
    value, low, high = hire
    e_value, e_low, e_high = engine
    if not all(np.isfinite(x) for x in (*hire, *engine)):
        return "too few hires to tell"
    history_gap, lists_gap = not (low <= 1.0 <= high), not (e_low <= 1.0 <= e_high)
    if e_high < low:  # the lists give the group less than the history did
        if history_gap and value < 1.0:
            return "widens the gap in the history"
        if lists_gap and e_value < 1.0:  # less than everyone, where the history gave as much or more
            return "gives the group less than the history"
        return "narrows the gap in the history"
    if e_low > high:  # more than the history did
        if history_gap and value > 1.0:
            return "widens the gap in the history"
        if lists_gap and e_value > 1.0:
            return "gives the group more than the history"
        return "narrows the gap in the history"
    if history_gap:
        return "about as in the history"
    return "a gap in the lists within the history's interval" if lists_gap else "no gap in the history, none in the lists"


def _gap_verdict(recommended: tuple[float, float, float], hired: tuple[float, float, float]) -> str:
    if not all(np.isfinite(x) for x in (*recommended, *hired)):
        return "too few hires to tell"
    if recommended[1] > hired[2]:
        return "wider than in hires"
    if recommended[2] < hired[1]:
        return "narrower than in hires"
    return "about as in hires"


# ------------------------------------------------------------------------------------- the audit
def audit_run(inputs: AuditInputs, settings: AuditSettings, *, run: str = "", day: str = "", seed: int = 0) -> AuditReport:
    """The audit of one run (module docstring)."""
    people_ids = pd.Index(inputs.people["participant_id"].astype(str).unique(), name="participant_id")
    groupings = _groupings(inputs.groups, people_ids, settings)
    with_groups = int(people_ids.isin(inputs.groups["participant_id"]).sum()) if not inputs.groups.empty else 0
    summary: dict[str, Any] = {"run": run, "day": day, "people": len(people_ids), "with_groups": with_groups,
                               "min_group_size": settings.min_group_size, "bootstrap_rounds": settings.bootstrap_rounds,
                               "attributes": [g.name for g in groupings if " x " not in g.name],
                               "intersections": [g.name for g in groupings if " x " in g.name]}
    openings = inputs.vacancies.set_index("vacancy_id")["openings"].astype(float)
    per_person = person_values(people_ids, inputs.lists, openings)
    if inputs.overrides is not None and not inputs.overrides.empty:
        overridden = set(inputs.overrides["participant_id"])
        per_person["overridden"] = per_person.index.isin(overridden).astype(float)
    hires = _history(inputs.history, people_ids)
    rec_pairs = inputs.lists[["participant_id", "vacancy_id"]].reset_index(drop=True)
    rec_traits = _pair_characteristics(rec_pairs, inputs.people, inputs.vacancies)
    hired_pairs = hires["pairs"]
    hired_traits = _pair_characteristics(hired_pairs, inputs.people, inputs.vacancies)

    group_rows: list[dict[str, Any]] = []
    gap_rows: list[dict[str, Any]] = []
    history_rows: list[dict[str, Any]] = []
    trait_rows: list[dict[str, Any]] = []
    skew_rows: list[dict[str, Any]] = []
    for number, grouping in enumerate(groupings):
        label = grouping.label
        sizes = label.value_counts()
        values = per_person.reindex(label.index)
        frame = _GroupStats.of(values, label, settings, seed + number)
        group_rows += _group_rows(grouping.name, frame, sizes)
        gap_rows += _gap_rows(grouping.name, frame, settings.checked_metrics)
        if inputs.ndcg is not None and len(inputs.ndcg):
            judged = label[label.index.isin(inputs.ndcg.index)]
            judged = judged[judged.isin(judged.value_counts()[lambda c: c >= settings.min_group_size].index)]
            if judged.nunique() >= 2:
                ndcg = pd.DataFrame({"ndcg_at_10": inputs.ndcg.reindex(judged.index).to_numpy(dtype=float)})
                ndcg_frame = _GroupStats.of(ndcg, judged, settings, seed + 1000 + number)
                group_rows += _group_rows(grouping.name, ndcg_frame, judged.value_counts())
                gap_rows += _gap_rows(grouping.name, ndcg_frame, settings.checked_metrics)
        history_rows += _history_rows(grouping, hires["people"], per_person, settings, seed + 2000 + number)
        trait_rows += _trait_rows(grouping, rec_pairs, rec_traits, hired_pairs, hired_traits, settings,
                                  seed + 3000 + number)
        skew_rows += _skew_rows(grouping, inputs.lists)
    overrides = (inputs.overrides.groupby("reason").size().rename("overrides").reset_index()
                 if inputs.overrides is not None and not inputs.overrides.empty
                 else pd.DataFrame({"reason": pd.Series(dtype=str), "overrides": pd.Series(dtype=int)}))
    report = AuditReport(summary, pd.DataFrame(group_rows, columns=["attribute", "group", "people", "metric", "value",
                                                                     "low", "high"]),
                         pd.DataFrame(gap_rows, columns=["attribute", "metric", "group", "value", "ratio", "ratio_low",
                                                         "ratio_high", "checked"]),
                         pd.DataFrame(history_rows, columns=_HISTORY_COLUMNS),
                         pd.DataFrame(trait_rows, columns=_TRAIT_COLUMNS),
                         pd.DataFrame(skew_rows, columns=["attribute", "group", "share_of_run", "share_of_top", "skew"]),
                         overrides)
    return AuditReport(summary, report.groups, report.gaps, report.history, report.characteristics, report.skew,
                       report.overrides, tuple(_violations(report, settings)))


_WIDENING = ("widens the gap in the history", "gives the group less than the history")
_HISTORY_COLUMNS = ["attribute", "group", "people", "met", "hire_rate", "hire_relative", "hire_low", "hire_high",
                    "engine_relative", "engine_low", "engine_high", "verdict"]
_TRAIT_COLUMNS = ["attribute", "characteristic", "recommended_gap", "recommended_low", "recommended_high",
                  "hired_gap", "hired_low", "hired_high", "hires", "verdict"]


def _history(history: pd.DataFrame, people_ids: pd.Index) -> dict[str, Any]:
    """The people of the run who met vacancies in the history (hired or not) and the pairs hired."""
    known = history[history["participant_id"].isin(people_ids)]
    met = known.groupby("participant_id")["event"].agg(lambda events: bool(set(events) & HIRED_EVENTS))
    pairs = known[known["event"].isin(HIRED_EVENTS)][["participant_id", "vacancy_id"]].drop_duplicates()
    return {"people": met.astype(float).rename("hired"), "pairs": pairs.reset_index(drop=True)}


def _history_rows(grouping: _Grouping, hired: pd.Series, per_person: pd.DataFrame, settings: AuditSettings,
                  seed: int) -> list[dict[str, Any]]:
    """Each group's hire rate in the history and its share of the expected placements, relative to everyone."""
    label = grouping.label
    met = label[label.index.isin(hired.index)]
    met = met[met.isin(met.value_counts()[lambda c: c >= settings.min_group_size].index)]
    if met.nunique() < 2 or hired.reindex(met.index).sum() == 0:
        return []
    hire_frame = _GroupStats.of(pd.DataFrame({"hired": hired.reindex(met.index).to_numpy()}), met, settings, seed)
    engine_values = per_person.reindex(label.index)[["expected_placements"]]
    engine_frame = _GroupStats.of(engine_values, label, settings, seed + 1)
    hire_all = float(hired.reindex(met.index).mean())
    engine_all = float(engine_values["expected_placements"].mean())
    h_low, h_high = hire_frame.low, hire_frame.high
    e_low, e_high = engine_frame.low, engine_frame.high
    rows = []
    for group in hire_frame.by_group.index:
        if group not in engine_frame.by_group.index or engine_all <= 0:
            continue
        hire = tuple(float(x) / hire_all for x in (hire_frame.by_group.loc[group, "hired"], h_low.loc[group, "hired"],
                                                   h_high.loc[group, "hired"]))
        engine = tuple(float(x) / engine_all for x in (engine_frame.by_group.loc[group, "expected_placements"],
                                                       e_low.loc[group, "expected_placements"],
                                                       e_high.loc[group, "expected_placements"]))
        rows.append({"attribute": grouping.name, "group": group, "people": int((label.astype(str) == group).sum()),
                     "met": int((met.astype(str) == group).sum()), "hire_rate": float(hire_frame.by_group.loc[group, "hired"]),
                     "hire_relative": hire[0], "hire_low": hire[1], "hire_high": hire[2],
                     "engine_relative": engine[0], "engine_low": engine[1], "engine_high": engine[2],
                     "verdict": _verdict(hire, engine)})  # type: ignore[arg-type]
    return rows


def _trait_rows(grouping: _Grouping, rec_pairs: pd.DataFrame, rec_traits: pd.DataFrame, hired_pairs: pd.DataFrame,
                hired_traits: pd.DataFrame, settings: AuditSettings, seed: int) -> list[dict[str, Any]]:
    """The largest gap between groups in each characteristic of the recommended vacancies and of the hires."""
    label = grouping.label

    def frame_of(pairs: pd.DataFrame, traits: pd.DataFrame) -> _GroupStats | None:
        groups = pairs["participant_id"].map(label)
        keep = groups.notna().to_numpy()
        groups = groups[keep]
        sizes = groups.value_counts()
        keep_groups = sizes[sizes >= settings.min_group_size].index
        inside = groups.isin(keep_groups).to_numpy()
        if len(keep_groups) < 2:
            return None
        return _GroupStats.of(traits[keep][inside].reset_index(drop=True), groups[inside].reset_index(drop=True),
                              settings, seed)

    recommended = frame_of(rec_pairs, rec_traits)
    hired = frame_of(hired_pairs, hired_traits)
    if recommended is None:
        return []
    rows = []
    for trait in _CHARACTERISTICS:
        rec = tuple(float(x) for x in recommended.difference.loc[trait])
        if hired is not None:
            hire = tuple(float(x) for x in hired.difference.loc[trait])
        else:
            hire = (float("nan"),) * 3
        if not np.isfinite(rec[0]):
            continue
        rows.append({"attribute": grouping.name, "characteristic": trait, "recommended_gap": rec[0],
                     "recommended_low": rec[1], "recommended_high": rec[2], "hired_gap": hire[0], "hired_low": hire[1],
                     "hired_high": hire[2], "hires": int(hired_pairs["participant_id"].isin(label.index).sum()),
                     "verdict": _gap_verdict(rec, hire)})
    return rows


def _skew_rows(grouping: _Grouping, lists: pd.DataFrame) -> list[dict[str, Any]]:
    """Skew@k: for each vacancy, the people it is recommended to ordered by chance (then score); a group's
    share of the first k against its share of the run."""
    label = grouping.label
    share_run = label.value_counts(normalize=True)
    listed = lists[lists["participant_id"].isin(label.index)]
    if listed.empty:
        return []
    order = listed.assign(chance=listed["p_outcome"].astype(float).fillna(-1.0)).sort_values(
        ["vacancy_id", "chance", "score", "participant_id"], ascending=[True, False, False, True], kind="stable")
    top = order[order.groupby("vacancy_id").cumcount() < _SKEW_K]
    share_top = top["participant_id"].map(label).value_counts(normalize=True)
    rows = []
    for group, share in share_run.items():
        found = float(share_top.get(group, 0.0))
        rows.append({"attribute": grouping.name, "group": str(group), "share_of_run": float(share),
                     "share_of_top": found, "skew": float(np.log(max(found, 1e-6) / share))})
    return rows


def _violations(report: AuditReport, settings: AuditSettings) -> list[str]:
    """What breaks the thresholds, each naming the attribute, group and metric."""
    out = []

    def checked(attribute: str) -> bool:
        return all(part in settings.checked_attributes for part in attribute.split(" x "))

    sizes = report.groups.drop_duplicates(["attribute", "group", "metric"]).set_index(["attribute", "group", "metric"])["people"]

    def large(attribute: str, group: str, metric: str) -> bool:
        return int(sizes.get((attribute, group, metric), 0)) >= settings.min_check_size

    for row in report.gaps.itertuples():
        if row.checked and checked(row.attribute) and large(row.attribute, row.group, row.metric) and row.ratio < settings.min_ratio and row.ratio_high < settings.min_ratio:
            out.append(f"{row.attribute} = {row.group}: {row.metric} is {row.ratio:.2f}x that of everyone else "
                       f"[95% {row.ratio_low:.2f}-{row.ratio_high:.2f}], below audit.min_ratio {settings.min_ratio}")
    if settings.block_widening:
        for row in report.history.itertuples():
            if (checked(row.attribute) and row.people >= settings.min_check_size and row.engine_high < 1.0
                    and row.verdict in _WIDENING):
                out.append(f"{row.attribute} = {row.group}: expected_placements {row.engine_relative:.2f}x everyone's "
                           f"[95% {row.engine_low:.2f}-{row.engine_high:.2f}] widens the hiring history's "
                           f"{row.hire_relative:.2f}x [{row.hire_low:.2f}-{row.hire_high:.2f}] ({row.verdict}; audit.block_widening)")
    return out
