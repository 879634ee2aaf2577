"""Pathways from contract tables: the one function the nightly job, the Python API and the HTTP API
call, so every route a coach or a system sees comes from the same steps."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd

from ilona_match.contract.constraints import VacancyDemands, open_on
from ilona_match.matching.profiles import build_participants, build_vacancies
from ilona_match.pathways.effects import HIRE_EVENTS, ServiceEffects
from ilona_match.pathways.planner import Market, PathwayConfig, plan_pathways, steps_open_to
from ilona_match.pathways.services import build_services, seats_taken
from ilona_match.text.linking import LinksNames
from ilona_match.text.taxonomy import ExtractMentions, Taxonomy

__all__ = ["PathwayInputs", "pathways_table"]


class PathwayInputs:
    """The participant-independent side of pathways, prepared once per run: the market (open
    vacancies and recent hires), the services and their learned effects.

    ``vacancy_outcomes`` and ``service_outcomes`` are contract outcome frames; only events before
    ``as_of`` are read.
    """

    def __init__(self, vacancies: pd.DataFrame, vacancy_outcomes: pd.DataFrame, services: pd.DataFrame,
                 service_outcomes: pd.DataFrame | None, as_of: date, taxonomy: Taxonomy,
                 config: PathwayConfig | None = None, extract: ExtractMentions | None = None,
                 linker: LinksNames | None = None) -> None:
        self.config = config or PathwayConfig()
        self.as_of = as_of
        self.taxonomy = taxonomy
        self.extract = extract
        self.linker = linker
        day = pd.Timestamp(as_of)
        since = day - timedelta(days=self.config.demand_days)
        hires = vacancy_outcomes[vacancy_outcomes["event"].isin(HIRE_EVENTS) & (vacancy_outcomes["event_date"] < day)
                                 & (vacancy_outcomes["event_date"] >= since)]
        hire_counts = hires.drop_duplicates(["participant_id", "vacancy_id"])["vacancy_id"].value_counts()
        is_open = open_on(VacancyDemands.from_frame(vacancies), as_of) if len(vacancies) else np.zeros(0, bool)
        keep = is_open | vacancies["vacancy_id"].isin(hire_counts.index).to_numpy()
        market_rows = vacancies[keep].reset_index(drop=True)
        self.market = Market(build_vacancies(market_rows, taxonomy, extract, linker), is_open[keep],
                             hire_counts.reindex(market_rows["vacancy_id"]).fillna(0).to_numpy(dtype=np.float64))
        self.services = build_services(services.reset_index(drop=True), taxonomy, linker)
        self.effects = ServiceEffects(self.config.effects).fit(service_outcomes, vacancy_outcomes, services, as_of)
        self.seats_taken = seats_taken(self.services, service_outcomes, as_of)

    def plan(self, participants: pd.DataFrame, per_participant: int | None = None) -> pd.DataFrame:
        """The pathways of these participants (``PATHWAY_FIELDS``), ``per_participant`` routes each
        (default: the configured number)."""
        config = self.config if per_participant is None else self.config.model_copy(
            update={"per_participant": per_participant})
        people = build_participants(participants.reset_index(drop=True), self.taxonomy, self.extract, self.linker)
        return plan_pathways(people, self.market, self.services, self.effects, self.taxonomy, self.as_of,
                             config, self.seats_taken)


    def steps_open_to(self, participants: pd.DataFrame) -> np.ndarray:
        """(people x services) bool: the steps each person could take now — what every route is built
        from; benchmarks draw their baselines from the same set."""
        people = build_participants(participants.reset_index(drop=True), self.taxonomy, self.extract, self.linker)
        joinable = self.services.joinable(self.as_of, self.config.horizon_days, self.services.seats - self.seats_taken)
        return steps_open_to(people, np.arange(len(people)), self.services, joinable)[0]


def pathways_table(participants: pd.DataFrame, vacancies: pd.DataFrame, vacancy_outcomes: pd.DataFrame,
                   services: pd.DataFrame, service_outcomes: pd.DataFrame | None, as_of: date, taxonomy: Taxonomy,
                   config: PathwayConfig | None = None) -> pd.DataFrame:
    """Every participant's pathways as of ``as_of`` (contract frames in, ``PATHWAY_FIELDS`` out)."""
    inputs = PathwayInputs(vacancies, vacancy_outcomes, services, service_outcomes, as_of, taxonomy, config)
    return inputs.plan(participants)
