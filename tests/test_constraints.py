"""Hard constraints: the contract's example answers, and a property test against a plain oracle."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ilona_match.contract import HARD_RESTRICTIONS, PHYSICAL_LEVELS, RESTRICTIONS, load_data
from ilona_match.contract.constraints import (
    CHECK_ITEMS,
    ParticipantLimits,
    VacancyDemands,
    feasible,
    open_on,
    to_check_items,
    to_check_mask,
)

EXAMPLE = Path(__file__).parent / "data" / "example"
AS_OF = date(2026, 9, 1)


def _all_pairs(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    p, v = np.meshgrid(np.arange(n), np.arange(m), indexing="ij")
    return p.ravel(), v.ravel()


def test_example_folder_gives_the_documented_answers() -> None:
    bundle = load_data(EXAMPLE)
    people, jobs = bundle.participants, bundle.vacancies
    limits, demands = ParticipantLimits.from_frame(people), VacancyDemands.from_frame(jobs)
    p, v = _all_pairs(len(people), len(jobs))
    ok = feasible(limits, demands, p, v, as_of=AS_OF)
    allowed = {
        (people.participant_id.iloc[i], jobs.vacancy_id.iloc[j]) for i, j in zip(p[ok], v[ok])
    }
    pid = people.participant_id.tolist()
    vid = jobs.vacancy_id.tolist()
    assert not any(vacancy == "V105" for _, vacancy in allowed)  # closed on 2026-08-01
    assert ("P001", "V101") in allowed and ("P001", "V102") not in allowed
    assert {vacancy for person, vacancy in allowed if person == "P004"} == {"V104"}
    # V103: physical load and heavy lifting unknown -> recommendable, both "to check" for P001
    masks = to_check_mask(limits, demands, np.array([pid.index("P001")]), np.array([vid.index("V103")]))
    assert to_check_items(int(masks[0])) == ("physical_load", "heavy_lifting")
    assert ("P001", "V103") in allowed


def test_open_on_uses_half_open_window() -> None:
    frame = pd.DataFrame(
        {
            "published_at": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-02"]),
            "closes_at": pd.to_datetime(["2026-01-02", None, None]),
            "hours_per_week": [10.0, 10.0, 10.0],
            "physical_load": ["light"] * 3,
        }
    )
    demands = VacancyDemands.from_frame(frame)
    assert open_on(demands, date(2026, 1, 1)).tolist() == [True, True, False]
    assert open_on(demands, date(2026, 1, 2)).tolist() == [False, True, True]


def test_participant_without_required_limits_raises() -> None:
    frame = pd.DataFrame({"max_hours_per_week": [np.nan], "physical_capacity": ["light"], "restrictions": [()]})
    with pytest.raises(ValueError, match="max_hours_per_week and physical_capacity"):
        ParticipantLimits.from_frame(frame)


# ---------------------------------------------------------------- property test

maybe_bool = st.sampled_from([True, False, None])
participants_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "max_hours_per_week": st.floats(0, 60),
            "physical_capacity": st.sampled_from(PHYSICAL_LEVELS),
            "restrictions": st.lists(st.sampled_from(RESTRICTIONS), unique=True).map(tuple),
        }
    ),
    min_size=1,
    max_size=8,
)
vacancies_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "hours_per_week": st.one_of(st.none(), st.floats(0, 80)),
            "physical_load": st.sampled_from([*PHYSICAL_LEVELS, None]),
            **{flag: maybe_bool for flag in HARD_RESTRICTIONS.values()},
            "published_at": st.dates(date(2026, 1, 1), date(2026, 3, 1)),
            "open_days": st.one_of(st.none(), st.integers(1, 90)),
        }
    ),
    min_size=1,
    max_size=8,
)


def _breaks(person: dict, job: dict, as_of: date) -> bool:
    """The contract's hard constraints, written out plainly, one pair at a time."""
    if job["physical_load"] is not None and PHYSICAL_LEVELS.index(job["physical_load"]) > PHYSICAL_LEVELS.index(
        person["physical_capacity"]
    ):
        return True
    if job["hours_per_week"] is not None and job["hours_per_week"] > person["max_hours_per_week"]:
        return True
    for restriction, flag in HARD_RESTRICTIONS.items():
        if restriction in person["restrictions"] and job[flag] is True:
            return True
    closes = None if job["open_days"] is None else job["published_at"] + timedelta(days=job["open_days"])
    return not (job["published_at"] <= as_of and (closes is None or as_of < closes))


def _vacancy_frame(jobs: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "hours_per_week": pd.array([j["hours_per_week"] for j in jobs], dtype="Float64").astype("float64"),
            "physical_load": [j["physical_load"] for j in jobs],
            **{flag: pd.array([j[flag] for j in jobs], dtype="boolean") for flag in HARD_RESTRICTIONS.values()},
            "published_at": pd.to_datetime([j["published_at"] for j in jobs]),
            "closes_at": pd.to_datetime(
                [None if j["open_days"] is None else j["published_at"] + timedelta(days=j["open_days"]) for j in jobs]
            ),
        }
    )
    return frame


@settings(max_examples=200, deadline=None)
@given(participants_strategy, vacancies_strategy, st.dates(date(2025, 12, 1), date(2026, 6, 1)))
def test_feasible_matches_the_contract_exactly(people: list[dict], jobs: list[dict], as_of: date) -> None:
    limits = ParticipantLimits.from_frame(pd.DataFrame(people))
    demands = VacancyDemands.from_frame(_vacancy_frame(jobs))
    p, v = _all_pairs(len(people), len(jobs))
    ok = feasible(limits, demands, p, v, as_of=as_of)
    expected = np.array([not _breaks(people[i], jobs[j], as_of) for i, j in zip(p, v)])
    np.testing.assert_array_equal(ok, expected)
    # the same pairs as a broadcast grid (the exhaustive fill's form): row i, column j
    grid = feasible(limits, demands, np.arange(len(people))[:, None], np.arange(len(jobs))[None, :], as_of=as_of)
    np.testing.assert_array_equal(grid, expected.reshape(len(people), len(jobs)))
    # every unknown value that could hide a break is flagged for the coach
    masks = to_check_mask(limits, demands, p, v)
    for i, j, mask in zip(p, v, masks):
        items = to_check_items(int(mask))
        person, job = people[i], jobs[j]
        assert ("hours_per_week" in items) == (job["hours_per_week"] is None)
        assert ("physical_load" in items) == (job["physical_load"] is None and person["physical_capacity"] != "heavy")
        for restriction, flag in HARD_RESTRICTIONS.items():
            assert (flag in items) == (job[flag] is None and restriction in person["restrictions"])
        assert set(items) <= set(CHECK_ITEMS)
