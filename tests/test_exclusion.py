"""Nothing already done comes back: the rule on hand-made events, then on real lists of the served world."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from ilona_match.contract import load_data
from ilona_match.contract.constraints import ParticipantLimits, VacancyDemands, feasible
from ilona_match.contract.exclusion import ExclusionConfig, acted_pairs
from ilona_match.learning.tracking import load_champion
from ilona_match.serving.batch import run_batch
from tests.conftest import ServedWorld

DAY = date(2026, 6, 1)


def _events(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["participant_id", "vacancy_id", "event", "event_date"])
    return frame.assign(event_date=pd.to_datetime(frame["event_date"]))


def test_done_and_rested_pairs_follow_the_rule() -> None:
    events = _events(
        ("P1", "V1", "recommended", "2026-05-01"), ("P1", "V1", "declined", "2026-05-02"),  # said no
        ("P1", "V2", "applied", "2026-05-03"), ("P1", "V2", "rejected", "2026-05-20"),  # employer said no
        ("P1", "V3", "hired", "2026-05-25"),
        ("P1", "V4", "work_trial", "2026-05-26"),
        ("P2", "V1", "recommended", "2026-05-10"), ("P2", "V1", "recommended", "2026-05-24"),  # twice, no reaction
        ("P2", "V2", "recommended", "2026-04-01"), ("P2", "V2", "recommended", "2026-04-10"),  # rested, then over
        ("P2", "V3", "recommended", "2026-05-30"),  # once: may come again
        ("P2", "V4", "viewed", "2026-05-30"), ("P2", "V4", "viewed", "2026-05-31"),  # views are no reaction either
        ("P3", "V1", "declined", "2026-06-02"),  # after the day: not known yet
    )
    got = acted_pairs(events, DAY).frame().set_index(["participant_id", "vacancy_id"])["reason"]
    assert got.to_dict() == {("P1", "V1"): "done", ("P1", "V2"): "done", ("P1", "V3"): "done",
                             ("P1", "V4"): "done", ("P2", "V1"): "rested"}
    # a longer rest keeps P2/V2 out too; rest_after 0 rests nothing
    longer = acted_pairs(events, DAY, ExclusionConfig(rest_days=90)).frame()
    assert {("P2", "V2"), ("P2", "V1")} <= set(zip(longer["participant_id"], longer["vacancy_id"]))
    never = acted_pairs(events, DAY, ExclusionConfig(rest_after=0)).frame()
    assert set(never["reason"]) == {"done"}
    assert len(acted_pairs(events.iloc[:0], DAY)) == 0


def test_a_reaction_after_recommendations_makes_the_pair_done_or_keeps_it_in() -> None:
    events = _events(("P1", "V1", "recommended", "2026-05-20"), ("P1", "V1", "recommended", "2026-05-25"),
                     ("P1", "V1", "applied", "2026-05-26"))
    assert acted_pairs(events, DAY).frame()["reason"].tolist() == ["done"]
    only_applied_counts = acted_pairs(events, DAY, ExclusionConfig(events=("hired",))).frame()
    assert only_applied_counts.empty  # applied is not done under this setting, and it is a reaction: not rested


def test_unknown_events_in_the_setting_raise() -> None:
    with pytest.raises(ValidationError, match="unknown events.*'promoted'"):
        ExclusionConfig(events=("hired", "promoted"))
    with pytest.raises(ValidationError, match="rest_days"):
        ExclusionConfig(rest_days=-1)


def test_served_lists_never_repeat_a_pair_already_acted_on(served_world: ServedWorld) -> None:
    """The served world's own history: every pair declined, rejected, hired or tried before the day is
    out of the nightly lists; without the rule some of them would be listed (the test has teeth)."""
    bundle = load_data(served_world.data_dir)
    pipeline, _ = load_champion(served_world.workdir)
    as_of = served_world.as_of
    history = bundle.outcomes[bundle.outcomes["event_date"] <= pd.Timestamp(as_of)]
    people = bundle.participants[bundle.participants["participant_id"].isin(history["participant_id"])]
    exclude = acted_pairs(bundle.outcomes, as_of)
    done = set(zip(exclude.participant_ids, exclude.vacancy_ids))
    listed = run_batch(pipeline, people, bundle.vacancies, as_of, k=20, exclude=exclude).frame
    assert not done & set(zip(listed["participant_id"], listed["vacancy_id"]))
    unfiltered = run_batch(pipeline, people, bundle.vacancies, as_of, k=20).frame
    assert done & set(zip(unfiltered["participant_id"], unfiltered["vacancy_id"]))
    # everyone still gets a full list where enough other vacancies fit: the fill looks past excluded pairs
    limits, demands = ParticipantLimits.from_frame(people.reset_index(drop=True)), VacancyDemands.from_frame(bundle.vacancies)
    p = np.repeat(np.arange(len(people)), len(bundle.vacancies))
    v = np.tile(np.arange(len(bundle.vacancies)), len(people))
    ok = feasible(limits, demands, p, v, as_of)
    ids, vacancy_ids = people["participant_id"].to_numpy(), bundle.vacancies["vacancy_id"].to_numpy()
    left = pd.Series([(a, b) not in done for a, b in zip(ids[p[ok]], vacancy_ids[v[ok]])]).groupby(ids[p[ok]]).sum()
    sizes = listed.groupby("participant_id").size().reindex(left.index, fill_value=0)
    assert (sizes == left.clip(upper=20)).all()


def test_a_rested_pair_comes_back_after_its_rest(served_world: ServedWorld) -> None:
    bundle = load_data(served_world.data_dir)
    pipeline, _ = load_champion(served_world.workdir)
    as_of = served_world.as_of
    person = bundle.participants.iloc[[0]]
    top = run_batch(pipeline, person, bundle.vacancies, as_of, k=3).frame.iloc[0]
    shown = _events((top.participant_id, top.vacancy_id, "recommended", str(as_of - timedelta(days=40))),
                    (top.participant_id, top.vacancy_id, "recommended", str(as_of - timedelta(days=35))))

    def listed(config: ExclusionConfig) -> set[str]:
        exclude = acted_pairs(shown, as_of, config)
        return set(run_batch(pipeline, person, bundle.vacancies, as_of, k=3, exclude=exclude).frame["vacancy_id"])

    assert top.vacancy_id in listed(ExclusionConfig())  # last shown 35 days ago: the 30-day rest is over
    assert top.vacancy_id not in listed(ExclusionConfig(rest_days=60))  # still resting
    assert top.vacancy_id in listed(ExclusionConfig(rest_days=60, rest_after=3))  # shown only twice
