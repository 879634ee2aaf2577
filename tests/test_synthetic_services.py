"""Services in the synthetic worlds: the written tables, their offers and outcomes, and the hidden effect."""

from __future__ import annotations

import json
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ilona_match.contract import PHYSICAL_LEVELS, DataBundle, load_data
from ilona_match.synthetic import generate_world
from ilona_match.synthetic.market import generate_market_world
from ilona_match.synthetic.services import (
    NOTHING_LACKING,
    compound,
    hire_chance,
    lifted,
    load_service_truth,
    relevance,
)
from ilona_match.synthetic.truth import judged_pairs, load_truth
from ilona_match.synthetic.world import BLOCK

START, DAYS = date(2025, 9, 1), 365
LAST = pd.Timestamp(START + timedelta(days=DAYS - 1))
GENERATORS = {"coach": generate_world, "market": generate_market_world}


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, object, DataBundle]]:
    """A mid-sized world of each family (enough completions to compare), written as CSV and loaded."""
    out = {}
    for family, generate in GENERATORS.items():
        directory = tmp_path_factory.mktemp(family)
        summary = generate(directory, participants=1500, vacancies=800, seed=0)
        out[family] = directory, summary, load_data(directory)
    return out


@pytest.mark.parametrize("family", ["coach", "market"])
def test_both_formats_load_under_the_contract_with_services(tmp_path: Path, family: str) -> None:
    for fmt in ("csv", "parquet"):
        summary = GENERATORS[family](tmp_path / fmt, participants=300, vacancies=200, seed=3, fmt=fmt)
        bundle = load_data(tmp_path / fmt)
        assert bundle.rejects.empty
        assert (tmp_path / fmt / f"services.{fmt}").is_file()
        assert len(bundle.services) == summary.services == 20  # max(20, 200 // 10)
        assert set(bundle.service_outcomes["event"]) <= {"offered", "started", "completed", "dropped_out"}
        assert len(bundle.service_outcomes) == sum(count for _, count in summary.service_event_counts) > 0
        assert len(bundle.outcomes) + len(bundle.service_outcomes) == summary.outcomes
        assert json.loads((tmp_path / fmt / "world.json").read_text())["config"]["services"] == 20


def test_the_services_table_reads_like_a_providers_catalogue(worlds: dict) -> None:
    services = worlds["coach"][2].services
    assert len(services) == 80 and services["service_id"].str.fullmatch(r"S\d{6}").all()
    kinds = {"training_provider": {"course", "apprenticeship"}, "social_enterprise": {"work_trial", "supported_employment"},
             "employer": {"apprenticeship", "work_trial"}, "public_service": {"coaching", "rehabilitation", "course"},
             "ngo": {"coaching", "rehabilitation"}}
    for provider_type, kind in zip(services["provider_type"], services["kind"], strict=True):
        assert kind in kinds[provider_type]
    assert services.groupby("provider_id")["provider_type"].nunique().eq(1).all()
    general = services["kind"].isin(["coaching", "rehabilitation"])
    assert (services.loc[general, "occupations_toward"].map(len) == 0).all()
    assert (services.loc[~general, "occupations_toward"].map(len) == 1).all()
    taught = services.loc[~general, "skills_taught"].map(len)
    assert taught.between(2, 5).all()
    items = pd.Series([item for row in services["skills_taught"] for item in row])
    assert 0.5 < items.str.startswith("http://data.europa.eu/esco/skill/").mean() < 0.95
    assert services["seats"].between(4, 20).all() and set(services["language"]) <= {"fi", "sv", "en"}
    assert services["starts_at"].max() > LAST and services["starts_at"].min() >= pd.Timestamp(START)
    closes = services.dropna(subset=["closes_at"])
    assert ((closes["starts_at"] - closes["closes_at"]).dt.days.between(0, 3)).all()
    courses = services[services["kind"] == "course"]["physical_load"].dropna()
    assert courses.isin(PHYSICAL_LEVELS[:2]).mean() > 0.8
    assert services["hours_per_week"].isna().any() and services["remote"].any()
    weeks = {"course": (6, 20), "apprenticeship": (26, 52), "work_trial": (4, 12), "supported_employment": (12, 40),
             "rehabilitation": (4, 16), "coaching": (4, 12)}
    for kind, (low, high) in weeks.items():
        assert services.loc[services["kind"] == kind, "duration_weeks"].between(low, high).all()
    supports = dict(zip(services["kind"], services["supports_accepted"], strict=True))
    assert supports.get("work_trial", ("work_trial",)) == ("work_trial",) and supports.get("coaching", ()) == ()


def test_same_arguments_give_identical_bytes_for_any_chunk_size(tmp_path: Path) -> None:
    size = {"participants": BLOCK + 150, "vacancies": 300, "seed": 5}
    generate_world(tmp_path / "a", chunk_size=BLOCK, **size)
    generate_world(tmp_path / "b", chunk_size=50_000, **size)
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert "services.csv" in _files(tmp_path / "a")
    generate_market_world(tmp_path / "c", participants=300, vacancies=200, seed=5)
    generate_market_world(tmp_path / "d", participants=300, vacancies=200, seed=5)
    assert _files(tmp_path / "c") == _files(tmp_path / "d")


@pytest.mark.parametrize("family", ["coach", "market"])
def test_services_change_no_participant_or_vacancy_row_and_no_hidden_hire_probability(tmp_path: Path,
                                                                                     family: str) -> None:
    GENERATORS[family](tmp_path / "none", participants=600, vacancies=300, seed=7, services=0)
    GENERATORS[family](tmp_path / "with", participants=600, vacancies=300, seed=7)
    none, with_ = _files(tmp_path / "none"), _files(tmp_path / "with")
    assert "services.csv" not in none and "services.csv" in with_
    assert none["participants.csv"] == with_["participants.csv"] and none["vacancies.csv"] == with_["vacancies.csv"]
    plain, served = load_data(tmp_path / "none"), load_data(tmp_path / "with")
    assert plain.services.empty and plain.service_outcomes.empty and not served.service_outcomes.empty
    as_of = date(2026, 3, 1)
    frames = [judged_pairs(load_truth(tmp_path / name), plain.participants, plain.vacancies, as_of)
              for name in ("none", "with")]
    pd.testing.assert_frame_equal(*frames)
    # the vacancy log is the same, except the rows of hires after a completion and the rows a person hired
    # that way would have had later
    key = ["participant_id", "vacancy_id", "event", "event_date"]
    rows = served.outcomes.merge(plain.outcomes, on=key, how="left", indicator=True)
    added = rows[rows["_merge"] == "left_only"]
    completed = served.service_outcomes[served.service_outcomes["event"] == "completed"]
    first_completion = completed.groupby("participant_id")["event_date"].min()
    assert (added["event_date"] > added["participant_id"].map(first_completion)).all()
    lost = plain.outcomes.merge(served.outcomes, on=key, how="left", indicator=True)
    lost = lost[lost["_merge"] == "left_only"]
    service_hired = set(added.loc[added["event"] == "hired", "participant_id"])
    assert set(lost["participant_id"]) <= service_hired


@pytest.mark.parametrize("family", ["coach", "market"])
def test_seats_dates_and_event_order_hold(worlds: dict, family: str) -> None:
    _, summary, bundle = worlds[family]
    events, services = bundle.service_outcomes, bundle.services.set_index("service_id")
    assert events["event_date"].max() <= LAST and bundle.outcomes["event_date"].max() <= LAST
    started = events[events["event"] == "started"]
    per_service = started.groupby("service_id").size()
    assert (per_service <= services["seats"].reindex(per_service.index)).all()
    assert (started["event_date"] == started["service_id"].map(services["starts_at"])).all()
    wide = events.pivot_table(index=["participant_id", "service_id"], columns="event", values="event_date",
                              aggfunc="min")
    assert wide["offered"].notna().all()  # every service row follows an offer
    began = wide.dropna(subset=["started"])
    assert (began["offered"] < began["started"]).all()
    done = wide.dropna(subset=["completed"])
    weeks = done.index.get_level_values("service_id").map(services["duration_weeks"]).to_numpy()
    assert ((done["completed"] - done["started"]).dt.days.to_numpy() == 7 * weeks).all()
    assert ((wide["dropped_out"] > wide["started"]) | wide["dropped_out"].isna()).all()
    still_in = wide["started"].notna() & wide["completed"].isna() & wide["dropped_out"].isna()
    assert still_in.any()  # in a course when the world ends: stays started
    assert not (wide["completed"].notna() & wide["dropped_out"].notna()).any()
    assert summary.service_hires > 0
    if family == "coach":  # the coach world's own log keeps to openings and hires a person once; so do services
        hires = bundle.outcomes[bundle.outcomes["event"] == "hired"]
        per_vacancy = hires.groupby("vacancy_id").size()
        assert (per_vacancy <= bundle.vacancies.set_index("vacancy_id")["openings"].reindex(per_vacancy.index)).all()
        assert not hires.duplicated("participant_id").any()


def test_offers_break_no_recorded_limit(worlds: dict) -> None:
    for family in ("coach", "market"):
        bundle = worlds[family][2]
        offered = bundle.service_outcomes[bundle.service_outcomes["event"] == "offered"]
        pairs = offered.merge(bundle.participants, on="participant_id").merge(
            bundle.services, on="service_id", suffixes=("", "_service"))
        rank = {level: i for i, level in enumerate(PHYSICAL_LEVELS)}
        assert not (pairs["physical_load"].map(rank) > pairs["physical_capacity"].map(rank)).any()
        assert not (pairs["hours_per_week"] > pairs["max_hours_per_week"]).any()
        night = pairs["restrictions"].map(lambda items: "no_night_shifts" in items)
        assert not (night & pairs["night_shifts"].fillna(False).astype(bool)).any()


@pytest.mark.parametrize("family", ["coach", "market"])
def test_completers_are_hired_afterwards_more_often_than_those_who_dropped_out(worlds: dict, family: str) -> None:
    _, _, bundle = worlds[family]
    window = pd.Timedelta(days=90)
    ends = bundle.service_outcomes[bundle.service_outcomes["event"].isin(["completed", "dropped_out"])]
    ends = ends[ends["event_date"] <= LAST - window]
    hires = bundle.outcomes.loc[bundle.outcomes["event"] == "hired", ["participant_id", "event_date"]]
    rows = ends.merge(hires.rename(columns={"event_date": "hired"}), on="participant_id", how="left")
    rows["after"] = (rows["hired"] > rows["event_date"]) & (rows["hired"] <= rows["event_date"] + window)
    rate = rows.groupby(["participant_id", "service_id", "event"])["after"].any().groupby("event").mean()
    assert rate["completed"] > rate["dropped_out"] + 0.05


def test_relevance_compounding_and_chance_known_answers() -> None:
    need = np.zeros((2, 6), bool)
    need[0, [0, 1, 2, 3]] = True  # occupation 0 needs skills 0-3
    need[1, [4, 5]] = True
    has = np.array([[True, False, False, True, False, False]] * 3)
    taught = np.zeros((3, 6), bool)
    taught[0, [1, 2]] = True  # exactly what the person lacks for occupation 0
    taught[1, [1, 4]] = True  # half of it, and half of occupation 1's
    has[2, :] = True  # lacks nothing
    rel = relevance(taught, has, need)
    assert rel[0].tolist() == [1.0, 0.0] and rel[1].tolist() == [0.5, 0.5] and rel[2].tolist() == [NOTHING_LACKING] * 2
    assert compound(np.array([0.2, 0.5])) == pytest.approx(0.6)
    assert lifted(np.array([0.0, 0.1]), 0.5).tolist() == pytest.approx([0.0, 0.5])  # 0 stays 0: a broken limit
    h = np.array([0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.05])
    assert hire_chance(h) == pytest.approx(1 - 0.5 * 0.9**4)  # the five best only


@pytest.fixture(scope="module")
def truth(worlds: dict):
    return load_service_truth(worlds["coach"][0])


def test_a_route_that_breaks_a_true_limit_gains_nothing(worlds: dict, truth) -> None:
    bundle = worlds["coach"][2]
    people = bundle.participants["participant_id"].to_numpy()[:200]
    services = bundle.services["service_id"].to_numpy()
    grid_p, grid_s = np.repeat(people, len(services)), np.tile(services, len(people))
    broken = truth.breaks_true_limit(grid_p, grid_s)
    assert 0 < broken.mean() < 1
    p, s = grid_p[broken][0], grid_s[broken][0]
    assert truth.completion_probability([p], [s])[0] == 0.0
    ok = grid_s[~broken & (grid_p == p)]
    assert truth.route_gain([p, p, p], [[s], [ok[0], s], []], date(2026, 3, 1)).tolist() == [0.0, 0.0, 0.0]
    chance = truth.completion_probability(grid_p[~broken], grid_s[~broken])
    assert (chance >= 0.05).all() and (chance < 1).all()


def test_two_steps_compound_their_lifts(worlds: dict, truth) -> None:
    bundle, as_of = worlds["coach"][2], date(2026, 3, 1)
    people = bundle.participants["participant_id"].to_numpy()[:300]
    courses = bundle.services.loc[bundle.services["kind"].isin(["course", "work_trial"]), "service_id"].to_numpy()
    gains = truth.route_gain(np.repeat(people, len(courses)), [[s] for s in np.tile(courses, len(people))], as_of)
    best = np.argsort(-gains)
    person = people[best[0] // len(courses)]
    first = courses[best[0] % len(courses)]
    second = next(courses[i % len(courses)] for i in best[1:] if people[i // len(courses)] == person
                  and courses[i % len(courses)] != first)
    h, lifts = truth.step_lifts(person, [first, second], as_of)
    complete = truth.completion_probability([person, person], [first, second]).prod()
    together = 1 - (1 - lifts[0]) * (1 - lifts[1])
    expected = complete * (hire_chance(lifted(h, together)) - hire_chance(h))
    got = truth.route_gain([person, person, person], [[first, second], [first], [second]], as_of)
    assert got[0] == pytest.approx(expected) and got[0] > 0
    one = truth.completion_probability([person], [first])[0] * (hire_chance(lifted(h, lifts[0])) - hire_chance(h))
    assert got[1] == pytest.approx(one)
    assert (together <= lifts[0] + lifts[1] + 1e-12).all() and (together >= lifts.max(axis=0) - 1e-12).all()


def test_route_gain_is_fast_and_unknown_ids_raise(worlds: dict, truth) -> None:
    bundle = worlds["coach"][2]
    people = bundle.participants["participant_id"].to_numpy()
    services = bundle.services["service_id"].to_numpy()
    rng = np.random.default_rng(0)
    routes = [list(rng.choice(services, rng.integers(0, 3), replace=False)) for _ in range(3 * len(people))]
    began = time.perf_counter()
    gains = truth.route_gain(np.repeat(people, 3), routes, date(2026, 5, 1))
    assert time.perf_counter() - began < 10
    assert gains.shape == (3 * len(people),) and (gains >= 0).all() and (gains <= 1).all()
    assert (gains[[len(route) == 0 for route in routes]] == 0).all()
    with pytest.raises(ValueError, match="not one of this world's services"):
        truth.route_gain(["P0000001"], [["S999999"]], date(2026, 5, 1))
    with pytest.raises(ValueError, match="not one of this world's participants"):
        truth.completion_probability(["P9999999"], [services[0]])


def test_a_world_file_without_services_loads_as_none_and_bad_counts_raise(tmp_path: Path) -> None:
    summary = generate_market_world(tmp_path, participants=100, vacancies=80, seed=1)
    assert summary.services == 20
    spec = json.loads((tmp_path / "world.json").read_text())
    del spec["config"]["services"]
    (tmp_path / "world.json").write_text(json.dumps(spec))
    assert len(load_service_truth(tmp_path).services) == 0
    for generate in GENERATORS.values():
        with pytest.raises(ValueError, match="services must be a whole number >= 0"):
            generate(tmp_path / "never", participants=10, vacancies=10, services=-1)
