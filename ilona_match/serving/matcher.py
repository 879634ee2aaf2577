"""The Python API other systems and notebooks call (docs/interfaces.md)::

    matcher = Matcher.load(vacancies=vacancies_df, as_of=date(2026, 9, 1), outcomes=outcomes_df)
    recs = matcher.recommend({"participant_id": "P1", ...}, k=10)
    frame = matcher.recommend_batch(participants_df, vacancies_df, as_of=date(2026, 9, 1), k=10)
    why = matcher.explain({"participant_id": "P1", ...}, "V101")
    routes = matcher.use_services(services_df, service_outcomes_df).pathways({"participant_id": "P1", ...})

Participants given as dicts go through the same contract checks as table rows. Lists come from the
same function as the nightly table (``batch.serve_lists``); the outcome events the matcher knows
(``outcomes=``, ``use_history``, ``add_events``) leave the pairs already acted on out of every list.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ilona_match.contract import records_to_frame
from ilona_match.contract.exclusion import ExcludedPairs, ExclusionConfig, acted_pairs
from ilona_match.contract.spec import VACANCY_OUTCOME_FIELDS
from ilona_match.matching.calibration import level_of
from ilona_match.matching.features import CandidatePairs
from ilona_match.matching.pipeline import MatchingPipeline, VacancyState, explain_top
from ilona_match.matching.reasons import Explanation
from ilona_match.pathways.planner import PathwayConfig
from ilona_match.pathways.tables import PathwayInputs
from ilona_match.serving.batch import in_id_order, run_batch, serve_lists

__all__ = ["Matcher"]

_WARM_UP_REQUEST = {"participant_id": "warm-up", "coach_id": "api", "language": "fi", "profile_text": "Olen hoitaja.",
                    "max_hours_per_week": 40.0, "physical_capacity": "heavy"}
_EVENT_COLUMNS = list(VACANCY_OUTCOME_FIELDS)


def _participant_frame(participant: Mapping[str, Any] | pd.DataFrame) -> pd.DataFrame:
    if isinstance(participant, pd.DataFrame):
        return participant.reset_index(drop=True)
    if not isinstance(participant, Mapping):
        raise TypeError(f"participant must be a dict of contract fields, got {type(participant).__name__}")
    record = dict(participant)
    record.setdefault("coach_id", "api")
    record.setdefault("profile_text", "")
    return records_to_frame("participants", [record])


class Matcher:
    """A loaded model, the vacancies it recommends from and the outcome events it knows."""

    def __init__(self, pipeline: MatchingPipeline, model_version: str = "unregistered",
                 exclusion: ExclusionConfig | None = None, pathways: PathwayConfig | None = None) -> None:
        self.pipeline = pipeline
        self.model_version = model_version
        self.exclusion = exclusion or ExclusionConfig()
        self.pathway_config = pathways or PathwayConfig()
        self._state: VacancyState | None = None
        self._vacancies: pd.DataFrame | None = None
        self._services: tuple[pd.DataFrame, pd.DataFrame | None, pd.DataFrame | None] | None = None
        self._pathway_inputs: PathwayInputs | None = None
        self._as_of: date | None = None
        self._events = pd.DataFrame({name: pd.Series(dtype="datetime64[ns]" if name == "event_date" else object)
                                     for name in _EVENT_COLUMNS})
        self._excluded = ExcludedPairs.none()
        self._history_vacancies: pd.DataFrame | None = None

    @classmethod
    def load(
        cls,
        model: str | Path | None = None,
        *,
        workdir: str | Path = "ilona-work",
        vacancies: pd.DataFrame | None = None,
        as_of: date | None = None,
        outcomes: pd.DataFrame | None = None,
        exclusion: ExclusionConfig | None = None,
        pathways: PathwayConfig | None = None,
        history_vacancies: pd.DataFrame | None = None,
    ) -> Matcher:
        """The registered champion (default), a ``models:/`` URI, or a saved pipeline folder.
        ``history_vacancies``: every vacancy the outcome events may name (closed ones too), whose
        texts form people's history profiles; default ``vacancies``."""
        from ilona_match.learning.tracking import load_champion

        pipeline, version = load_champion(workdir, None if model is None else str(model))
        matcher = cls(pipeline, version, exclusion, pathways)
        if outcomes is not None:
            matcher.use_history(outcomes, history_vacancies)
        if vacancies is not None:
            matcher.use_vacancies(vacancies, as_of or date.today())
        return matcher

    def use_vacancies(self, vacancies: pd.DataFrame, as_of: date) -> Matcher:
        """Prepare the vacancies that ``recommend`` and ``explain`` rank (those open on ``as_of``),
        then warm up: the first request would otherwise wait seconds for what it loads and builds."""
        self._vacancies = in_id_order(vacancies)
        self._state = self.pipeline.prepare_vacancies(self._vacancies)
        self._as_of = as_of
        self._refresh()
        self._warm_up()
        return self

    def use_history(self, events: pd.DataFrame, vacancies: pd.DataFrame | None = None) -> Matcher:
        """The outcome events (contract outcomes form: the table plus stored feedback) that say which
        pairs a person has already acted on and form the interaction history; they replace any the
        matcher had. ``vacancies``: every vacancy they may name (default: the served ones)."""
        self._events = events[_EVENT_COLUMNS].reset_index(drop=True)
        if vacancies is not None:
            self._history_vacancies = vacancies.reset_index(drop=True)
        self._refresh()
        return self

    def add_events(self, events: pd.DataFrame) -> Matcher:
        """Events just reported (e.g. ``POST /feedback``): the next list already leaves their pairs out."""
        self._events = pd.concat([self._events, events[_EVENT_COLUMNS]], ignore_index=True)
        self._refresh()
        return self

    def _refresh(self) -> None:
        if self._as_of is not None and self._state is not None:
            self._excluded = acted_pairs(self._events, self._as_of, self.exclusion)
            known = self._history_vacancies if self._history_vacancies is not None else self._vacancies
            self._state = self._state.with_history(self.pipeline.prepare_history(self._events, known, self._as_of))
        self._pathway_inputs = None  # hires count toward local demand

    def use_services(self, services: pd.DataFrame, service_outcomes: pd.DataFrame | None = None,
                     vacancies: pd.DataFrame | None = None) -> Matcher:
        """The services (contract v1.1) that ``pathways`` builds routes from, with their outcome rows
        (``DataBundle.service_outcomes``: seats taken, completion and effects learned from them).
        ``vacancies``: the whole vacancies table, when ``use_vacancies`` got only the open ones — the
        recently filled ones show local demand too."""
        self._services = (services.reset_index(drop=True), service_outcomes, vacancies)
        self._pathway_inputs = None
        return self

    @property
    def has_services(self) -> bool:
        """Whether ``use_services`` gave the services that ``pathways`` needs."""
        return self._services is not None

    def pathways(self, participant: Mapping[str, Any] | pd.DataFrame, n: int | None = None) -> list[dict[str, Any]]:
        """Routes to work for one participant, best first: dicts with rank, target_occupation,
        gap_skills, steps (service ids in order), leads_to (open vacancy ids), p_gain (the estimated
        gain in the chance of a good outcome), reasons (the participant's language) and to_check.
        The same planner as the nightly pathways table; ``n`` routes (default: the configured number)."""
        _, as_of = self._ready()
        if self._services is None:
            raise RuntimeError("no services loaded: call use_services(services_df[, service_outcomes_df])")
        if n is not None and n < 1:
            raise ValueError(f"n must be at least 1, got {n}")
        if self._pathway_inputs is None:
            services, service_outcomes, vacancies = self._services
            self._pathway_inputs = PathwayInputs(
                vacancies if vacancies is not None else self._vacancies, self._events, services, service_outcomes,
                as_of, self.pipeline.taxonomy, self.pathway_config, extract=self.pipeline.extract_mentions(),
                linker=self.pipeline.linker)
        frame = _participant_frame(participant)
        if len(frame) != 1:
            raise ValueError(f"pathways takes one participant, got {len(frame)}")
        planned = self._pathway_inputs.plan(frame, per_participant=n)
        return [
            {"rank": int(r.rank), "target_occupation": r.target_occupation, "gap_skills": list(r.gap_skills),
             "steps": list(r.steps), "leads_to": list(r.leads_to), "p_gain": float(r.p_gain),
             "reasons": list(r.reasons), "to_check": list(r.to_check)}
            for r in planned.itertuples()
        ]

    def _warm_up(self) -> None:
        """Load each language's lemmatiser and label index and the embedding model, bypassing the
        caches (``MatchingPipeline.warm_up``), then answer one made-up request: it builds the inverted
        index of the open vacancies (~1 s at 50,000) and loads the compiled feature kernels. Its
        fixed texts are cached once like any other."""
        self.pipeline.warm_up()
        self.recommend(_WARM_UP_REQUEST, k=1)

    def _ready(self) -> tuple[VacancyState, date]:
        if self._state is None or self._as_of is None:
            raise RuntimeError("no vacancies loaded: pass vacancies= to Matcher.load or call use_vacancies(df, as_of)")
        return self._state, self._as_of

    def recommend(self, participant: Mapping[str, Any] | pd.DataFrame, k: int = 10) -> list[dict[str, Any]]:
        """Ranked vacancies for one participant: dicts with rank, vacancy_id, score, p_outcome (the calibrated
        chance of a success, None when not known), level (its plain level), reasons, to_check.

        The same function and order as a nightly row without allocation (``batch.serve_lists``);
        the API calls this while a coach waits.
        """
        state, as_of = self._ready()
        served = serve_lists(self.pipeline, _participant_frame(participant), state, as_of, k=k, exclude=self._excluded)
        return [
            {"rank": int(r.rank), "vacancy_id": str(r.vacancy_id), "score": float(r.score),
             "p_outcome": None if np.isnan(r.p_outcome) else float(r.p_outcome), "level": level_of(r.p_outcome),
             "reasons": list(e.reasons),
             "to_check": r.to_check.split("|") if r.to_check else []}
            for r, e in zip(served.frame.itertuples(), served.explanations)
        ]

    def recommend_batch(self, participants: pd.DataFrame, vacancies: pd.DataFrame, as_of: date, k: int = 10) -> pd.DataFrame:
        """The recommendations table (contract form) for many participants, leaving out the pairs the
        known events say are done."""
        exclude = acted_pairs(self._events, as_of, self.exclusion)
        known = self._history_vacancies if self._history_vacancies is not None else vacancies
        history = self.pipeline.prepare_history(self._events, pd.concat([known, vacancies]), as_of, participants)
        return run_batch(self.pipeline, participants, vacancies, as_of, k=k, model_version=self.model_version,
                         exclude=exclude, history=history).frame

    def explain(self, participant: Mapping[str, Any] | pd.DataFrame, vacancy_id: str) -> Explanation:
        """Why ``vacancy_id`` ranks where it does for this participant (data and ``.text``).

        Raises ValueError when the vacancy is not a feasible candidate (closed, or it breaks a hard
        constraint of this person): the engine never recommends it, so there is nothing to explain.
        """
        state, as_of = self._ready()
        positions = [i for i, vid in enumerate(state.jobs.ids) if vid == vacancy_id]
        if not positions:
            raise ValueError(f"unknown vacancy_id {vacancy_id!r}")
        frame = _participant_frame(participant)
        if len(frame) != 1:
            raise ValueError(f"explain takes one participant, got {len(frame)}")
        scored = self.pipeline.score_pairs(frame, state, CandidatePairs(np.array([0]), np.array(positions[:1])), as_of)
        top = pd.DataFrame({"participant_id": [scored.people.ids[0]], "vacancy_id": [vacancy_id]})
        return explain_top(self.pipeline, scored, state, top)[0]
