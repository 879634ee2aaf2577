"""How much a service step helps: its chance of being completed and the gain in the chance of a hire
after completing it, learned from service outcomes when they exist, from a documented prior when not.

**The prior** (``KIND_PRIOR``) is per kind of step: the share of starters who complete, and the gain
in the chance of a hire within ``outcome_days`` after completing a step that teaches what the
target work asks. The orders of magnitude follow Card, Kluve and Weber's meta-analysis of active
labour-market programmes (J. Eur. Econ. Assoc. 16(3), 2018: job-search help has small effects;
training and work-based programmes — work trials, subsidised and supported employment — larger
ones, more so for the long-term unemployed), kept conservative: they only order the steps until
outcomes say more.

**Learning** (``ServiceEffects.fit``), per provider and kind of step, from the outcome rows that name
a service (offered / started / completed / dropped_out) and the hires in the vacancy outcomes:
- completion = completed / (completed + dropped out), shrunk toward the kind's prior;
- gain = the share of completers hired within ``outcome_days`` of completing, minus the share of
  comparable people who did not complete — offered a step of the same kind, not completed — hired
  within the same days after the step would have ended; shrunk toward the prior (``prior_strength``
  pseudo-people), never below 0. Only people whose ``outcome_days`` ended before the as-of date count.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field
from sklearn.exceptions import NotFittedError

from ilona_match.pathways.services import ServiceProfiles

__all__ = ["HIRE_EVENTS", "KIND_PRIOR", "EffectsConfig", "ServiceEffects"]

# kind -> (share of starters who complete, gain in the chance of a hire after completing a relevant step)
KIND_PRIOR: dict[str, tuple[float, float]] = {
    "course": (0.70, 0.10),
    "apprenticeship": (0.60, 0.20),
    "work_trial": (0.75, 0.15),
    "supported_employment": (0.70, 0.15),
    "rehabilitation": (0.70, 0.05),
    "coaching": (0.80, 0.04),
}
HIRE_EVENTS: tuple[str, ...] = ("hired", "retained_6m")
_DEFAULT_WEEKS = 12.0  # a step without a stated duration is taken to last this long


class EffectsConfig(BaseModel):
    """How service outcomes are read (part of the ``pathways`` settings)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome_days: int = Field(180, gt=0, description="a hire this many days after a step counts as its outcome")
    prior_strength: float = Field(10.0, gt=0, description="pseudo-people of the kind's prior behind each estimate")


class ServiceEffects:
    """Completion and gain per (provider, kind); ``fit`` learns them, ``predict`` gives them per service."""

    def __init__(self, config: EffectsConfig | None = None) -> None:
        self.config = config or EffectsConfig()

    def fit(self, service_outcomes: pd.DataFrame | None, vacancy_outcomes: pd.DataFrame, services: pd.DataFrame,
            as_of: date) -> ServiceEffects:
        """Learn from the events dated before ``as_of`` (``services``: the contract frame, for each
        service's provider, kind, start and duration)."""
        day = pd.Timestamp(as_of)
        events = (service_outcomes if service_outcomes is not None else pd.DataFrame(
            columns=["participant_id", "service_id", "event", "event_date"]))
        events = events[events["event_date"] < day]
        info = services.set_index("service_id")
        events = events[events["service_id"].isin(info.index)]
        per_pair = events.pivot_table(index=["participant_id", "service_id"], columns="event", values="event_date",
                                      aggfunc="min")
        for name in ("offered", "started", "completed", "dropped_out"):
            if name not in per_pair:
                per_pair[name] = pd.NaT
        per_pair = per_pair.reset_index()
        meta = info.reindex(per_pair["service_id"])
        per_pair["provider_id"] = meta["provider_id"].to_numpy()
        per_pair["kind"] = meta["kind"].to_numpy()
        weeks = meta["duration_weeks"].fillna(_DEFAULT_WEEKS).to_numpy() if "duration_weeks" in meta else _DEFAULT_WEEKS
        planned_end = meta["starts_at"].to_numpy() + pd.to_timedelta(np.ceil(np.asarray(weeks) * 7), unit="D")
        per_pair["index_date"] = per_pair["completed"].fillna(pd.Series(planned_end, index=per_pair.index))
        per_pair["completed_it"] = per_pair["completed"].notna()

        window = timedelta(days=self.config.outcome_days)
        per_pair = per_pair[per_pair["index_date"] + window < day]  # outcomes known in full
        hires = vacancy_outcomes[vacancy_outcomes["event"].isin(HIRE_EVENTS) & (vacancy_outcomes["event_date"] < day)]
        hired_after = _hired_within(per_pair, hires[["participant_id", "event_date"]], window)
        per_pair = per_pair.assign(hired=hired_after)

        m = self.config.prior_strength
        prior = pd.DataFrame(KIND_PRIOR, index=["completion", "gain"]).T
        finished = events[events["event"].isin(["completed", "dropped_out"])].drop_duplicates(
            ["participant_id", "service_id", "event"])
        finished = finished.assign(provider_id=info["provider_id"].reindex(finished["service_id"]).to_numpy(),
                                   kind=info["kind"].reindex(finished["service_id"]).to_numpy())
        counts = finished.groupby(["provider_id", "kind"])["event"].agg(
            completed=lambda e: int((e == "completed").sum()), ended="size")
        baseline = per_pair[~per_pair["completed_it"]].groupby("kind")["hired"].agg(["sum", "size"])
        pooled = per_pair.loc[~per_pair["completed_it"], "hired"]
        treated = per_pair[per_pair["completed_it"]].groupby(["provider_id", "kind"])["hired"].agg(["sum", "size"])

        keys = pd.MultiIndex.from_frame(info[["provider_id", "kind"]].drop_duplicates()).sort_values()
        frame = pd.DataFrame(index=keys)
        kind = frame.index.get_level_values("kind")
        prior_completion = prior["completion"].reindex(kind).to_numpy()
        prior_gain = prior["gain"].reindex(kind).to_numpy()
        counts = counts.astype(np.float64).reindex(keys, fill_value=0.0)
        frame["completion"] = (counts["completed"].to_numpy() + m * prior_completion) / (counts["ended"].to_numpy() + m)
        base_rate = baseline.reindex(kind)
        pooled_rate = float(pooled.mean()) if len(pooled) else np.nan
        rate = np.where(base_rate["size"].fillna(0).to_numpy() >= 5,
                        base_rate["sum"].to_numpy() / np.maximum(base_rate["size"].fillna(0).to_numpy(), 1), pooled_rate)
        treated = treated.astype(np.float64).reindex(keys, fill_value=0.0)
        raw = treated["sum"].to_numpy() / np.maximum(treated["size"].to_numpy(), 1) - rate
        raw = np.where(np.isnan(raw) | (treated["size"].to_numpy() == 0), 0.0, raw)
        n = np.where(np.isnan(rate), 0, treated["size"].to_numpy())
        frame["gain"] = np.clip((n * raw + m * prior_gain) / (n + m), 0.0, 1.0)
        frame["completed_n"] = counts["completed"].to_numpy().astype(int)
        frame["ended_n"] = counts["ended"].to_numpy().astype(int)
        frame["judged_n"] = n.astype(int)
        self.effects_ = frame
        self.learned_pairs_ = int(len(per_pair))
        return self

    def predict(self, services: ServiceProfiles) -> tuple[np.ndarray, np.ndarray]:
        """(completion, gain) per service row; the kind's prior for a provider not seen in ``fit``."""
        if not hasattr(self, "effects_"):
            raise NotFittedError("ServiceEffects is not fitted: call fit(...) first")
        keys = pd.MultiIndex.from_arrays([services.provider_ids, services.kind])
        found = self.effects_.reindex(keys)
        prior = np.array([KIND_PRIOR[k] for k in services.kind], dtype=np.float64).reshape(-1, 2)
        completion = found["completion"].fillna(pd.Series(prior[:, 0], index=found.index)).to_numpy(dtype=np.float64)
        gain = found["gain"].fillna(pd.Series(prior[:, 1], index=found.index)).to_numpy(dtype=np.float64)
        return completion, gain

    def evidence(self, services: ServiceProfiles) -> tuple[np.ndarray, np.ndarray]:
        """(completed, ended) counts behind each service row's provider and kind (0 when unseen)."""
        if not hasattr(self, "effects_"):
            raise NotFittedError("ServiceEffects is not fitted: call fit(...) first")
        found = self.effects_.reindex(pd.MultiIndex.from_arrays([services.provider_ids, services.kind]))
        return (found["completed_n"].fillna(0).to_numpy(dtype=np.int64),
                found["ended_n"].fillna(0).to_numpy(dtype=np.int64))


def _hired_within(pairs: pd.DataFrame, hires: pd.DataFrame, window: timedelta) -> np.ndarray:
    """For each pair row, whether its person has a hire in (index_date, index_date + window]."""
    if pairs.empty or hires.empty:
        return np.zeros(len(pairs), dtype=bool)
    merged = pairs[["participant_id", "index_date"]].reset_index(drop=True).reset_index().merge(
        hires, on="participant_id", how="inner")
    inside = (merged["event_date"] > merged["index_date"]) & (merged["event_date"] <= merged["index_date"] + window)
    hit = np.zeros(len(pairs), dtype=bool)
    hit[merged.loc[inside, "index"].to_numpy()] = True
    return hit

