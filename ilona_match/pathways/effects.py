"""How much a service step helps: its chance of being completed and the gain in the chance of a hire
after completing it, learned from service outcomes when they exist, from a documented prior when not.

**The prior** (``KIND_PRIOR``) is per kind of step: the share of starters who complete, and the gain
in the chance of a hire within ``outcome_days`` after completing a step that teaches what the
target work asks. The orders of magnitude follow Card, Kluve and Weber's meta-analysis of active
labour-market programmes (J. Eur. Econ. Assoc. 16(3), 2018: job-search help has small effects;
training and work-based programmes — work trials, subsidised and supported employment — larger
ones, more so for the long-term unemployed), kept conservative: they only order the steps until
outcomes say more.

**Learning** (``ServiceEffects.fit``), from the outcome rows that name a service (offered / started /
completed / dropped_out) and the hires in the vacancy outcomes, first per kind of step (all its
providers together), then per provider and kind:
- completion = completed / (completed + dropped out);
- gain = the share of completers hired within ``outcome_days`` of completing, minus the share of
  comparable people who did not complete — offered a step of the same kind, not completed — hired
  within the same days after the step would have ended; never below 0. Only people whose
  ``outcome_days`` ended before the as-of date count.
Each estimate is shrunk toward the level above (``prior_strength`` pseudo-people): a kind's toward
its prior, a provider's toward its kind's learned value. So a kind that works in the data lifts all
its providers, and one provider's few participants move its own estimate only a little.

A general step (coaching, rehabilitation) is not about particular skills: its gain applies to every
target, so its prior is the whole effect; a skill step's prior is the effect of one that teaches all
of a target's gap (the planner scales it by the share it teaches).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

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
                                   kind=info["kind"].reindex(finished["service_id"]).to_numpy(),
                                   completed=finished["event"].eq("completed").astype(np.float64))
        control = per_pair.loc[~per_pair["completed_it"]]
        baseline = control.groupby("kind")["hired"].agg(["sum", "size"])
        pooled_rate = float(control["hired"].mean()) if len(control) else np.nan
        treated = per_pair[per_pair["completed_it"]]

        # kind level: learned from every provider of the kind, shrunk toward the documented prior
        kinds = prior.index
        done_k = finished.groupby("kind")["completed"].agg(["sum", "size"]).reindex(kinds, fill_value=0.0)
        completion_k = _shrunk(done_k["sum"], done_k["size"], prior["completion"], m)
        base = baseline.reindex(kinds)
        rate = pd.Series(np.where(base["size"].fillna(0) >= 5, base["sum"] / base["size"].clip(lower=1), pooled_rate),
                         index=kinds)
        hired_k = treated.groupby("kind")["hired"].agg(["sum", "size"]).reindex(kinds, fill_value=0.0)
        gain_k = _shrunk(hired_k["sum"] - rate.fillna(0) * hired_k["size"], hired_k["size"].where(rate.notna(), 0),
                         prior["gain"], m)

        # provider level: shrunk toward its kind's learned values
        keys = pd.MultiIndex.from_frame(info[["provider_id", "kind"]].drop_duplicates()).sort_values()
        kind = keys.get_level_values("kind")
        done = finished.groupby(["provider_id", "kind"])["completed"].agg(["sum", "size"]).reindex(keys, fill_value=0.0)
        hired = treated.groupby(["provider_id", "kind"])["hired"].agg(["sum", "size"]).reindex(keys, fill_value=0.0)
        provider_rate = rate.reindex(kind).to_numpy()
        judged = np.where(np.isnan(provider_rate), 0.0, hired["size"].to_numpy())
        frame = pd.DataFrame(index=keys)
        frame["completion"] = _shrunk(done["sum"].to_numpy(), done["size"].to_numpy(), completion_k.reindex(kind).to_numpy(), m)
        frame["gain"] = _shrunk(hired["sum"].to_numpy() - np.nan_to_num(provider_rate) * hired["size"].to_numpy(),
                                judged, gain_k.reindex(kind).to_numpy(), m)
        frame["completed_n"] = done["sum"].to_numpy().astype(int)
        frame["ended_n"] = done["size"].to_numpy().astype(int)
        frame["judged_n"] = judged.astype(int)
        self.kind_effects_ = pd.DataFrame({"completion": completion_k, "gain": gain_k,
                                           "judged_n": hired_k["size"].where(rate.notna(), 0).astype(int)})
        self.effects_ = frame
        self.learned_pairs_ = int(len(per_pair))
        return self

    def predict(self, services: ServiceProfiles) -> tuple[np.ndarray, np.ndarray]:
        """(completion, gain) per service row; its kind's learned values for a provider not seen in ``fit``."""
        if not hasattr(self, "effects_"):
            raise NotFittedError("ServiceEffects is not fitted: call fit(...) first")
        found = self.effects_.reindex(pd.MultiIndex.from_arrays([services.provider_ids, services.kind]))
        kind = self.kind_effects_.reindex(services.kind)
        completion = np.where(found["completion"].isna(), kind["completion"], found["completion"])
        gain = np.where(found["gain"].isna(), kind["gain"], found["gain"])
        return completion.astype(np.float64), gain.astype(np.float64)

    def evidence(self, services: ServiceProfiles) -> tuple[np.ndarray, np.ndarray]:
        """(completed, ended) counts behind each service row's provider and kind (0 when unseen)."""
        if not hasattr(self, "effects_"):
            raise NotFittedError("ServiceEffects is not fitted: call fit(...) first")
        found = self.effects_.reindex(pd.MultiIndex.from_arrays([services.provider_ids, services.kind]))
        return (found["completed_n"].fillna(0).to_numpy(dtype=np.int64),
                found["ended_n"].fillna(0).to_numpy(dtype=np.int64))


def _shrunk(total: Any, n: Any, toward: Any, strength: float) -> Any:
    """(total + strength * toward) / (n + strength), clipped to [0, 1]: ``n`` observations pulled toward
    ``toward`` as if ``strength`` more had shown it (empirical-Bayes shrinkage of a rate)."""
    return np.clip((total + strength * toward) / (n + strength), 0.0, 1.0)


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

