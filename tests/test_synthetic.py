"""Tests of the synthetic world generator: contract validity, constraints, dates, mixes and determinism."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ilona_match.contract import EVENT_STRENGTH, HARD_RESTRICTIONS, PHYSICAL_LEVELS, DataBundle, load_data
from ilona_match.synthetic import HiringWeights, LoggingPolicy, WorldConfig, generate_world
from ilona_match.synthetic.catalogue import load_catalogue
from ilona_match.synthetic.history import Heuristic
from ilona_match.synthetic.text import join_present, load_templates
from ilona_match.synthetic.world import BLOCK

START = date(2025, 9, 1)
DAYS = 365


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object, DataBundle]:
    """The default-sized world (2,000 participants, 800 vacancies), written as CSV and loaded by the contract."""
    directory = tmp_path_factory.mktemp("world")
    summary = generate_world(directory, seed=11)
    return directory, summary, load_data(directory)


def _files(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.iterdir())}


def test_world_loads_under_the_contract_without_faults(world: tuple[Path, object, DataBundle]) -> None:
    directory, summary, bundle = world
    assert sorted(path.name for path in directory.iterdir()) == ["outcomes.csv", "participant_groups.csv",
                                                                 "participants.csv", "services.csv", "vacancies.csv",
                                                                 "world.json"]
    assert bundle.rejects.empty
    assert (len(bundle.participants), len(bundle.vacancies)) == (2000, 800)
    assert len(bundle.outcomes) + len(bundle.service_outcomes) == summary.outcomes  # the table holds both kinds
    assert summary.participants_path == directory / "participants.csv"
    assert "2000 participants, 800 vacancies" in summary.describe()


def test_hire_rate_and_events_per_participant_are_realistic(world: tuple[Path, object, DataBundle]) -> None:
    _, summary, bundle = world
    outcomes = bundle.outcomes
    pairs = outcomes.groupby(["participant_id", "vacancy_id"]).size()
    hires = (outcomes.event == "hired").sum()
    assert summary.pairs == len(pairs)
    assert summary.hires == hires
    assert 0.03 <= hires / len(pairs) <= 0.08
    per_person = outcomes.groupby("participant_id").size()
    assert 2 <= per_person.median() <= 30
    assert per_person.max() <= 80
    assert (pairs <= 6).all()  # at most: recommended, applied, interview, work_trial, hired, retained_6m


def test_no_hired_pair_breaks_a_hard_constraint(world: tuple[Path, object, DataBundle]) -> None:
    _, _, bundle = world
    hired = bundle.outcomes[bundle.outcomes.event == "hired"]
    pairs = hired.merge(bundle.participants, on="participant_id").merge(bundle.vacancies, on="vacancy_id")
    assert len(pairs) == len(hired) > 0
    rank = {level: i for i, level in enumerate(PHYSICAL_LEVELS)}
    load = pairs.physical_load.map(rank)
    assert not (load > pairs.physical_capacity.map(rank)).any()
    assert not (pairs.hours_per_week > pairs.max_hours_per_week).any()
    for restriction, column in HARD_RESTRICTIONS.items():
        restricted = pairs.restrictions.map(lambda items, r=restriction: r in items)
        assert not (restricted & pairs[column].fillna(False).astype(bool)).any(), column


def test_no_vacancy_hires_more_people_than_its_openings(world: tuple[Path, object, DataBundle]) -> None:
    _, _, bundle = world
    hires = bundle.outcomes[bundle.outcomes.event == "hired"].groupby("vacancy_id").size()
    openings = bundle.vacancies.set_index("vacancy_id").openings.reindex(hires.index)
    assert (hires <= openings).all()
    assert (hires == openings).any()  # the cap binds somewhere, so it is not vacuous


def test_outcomes_reference_known_ids_and_keep_to_the_vacancy_window(world: tuple[Path, object, DataBundle]) -> None:
    _, _, bundle = world
    events = bundle.outcomes.merge(bundle.vacancies[["vacancy_id", "published_at", "closes_at"]], on="vacancy_id")
    assert len(events) == len(bundle.outcomes)
    assert bundle.outcomes.participant_id.isin(bundle.participants.participant_id).all()
    assert events.event_date.max() <= pd.Timestamp(START + timedelta(days=DAYS - 1))
    while_open = events[events.event.isin(["viewed", "recommended", "declined", "applied"])]
    assert (while_open.event_date >= while_open.published_at).all()
    closing = while_open.closes_at.notna()
    assert (while_open.event_date[closing] < while_open.closes_at[closing]).all()

    strength = events.event.map(EVENT_STRENGTH)
    ordered = events.assign(strength=strength).sort_values(["participant_id", "vacancy_id", "strength"])
    first = ordered.groupby(["participant_id", "vacancy_id"]).first()
    assert first.event.isin(["viewed", "recommended"]).all()
    steps = ordered[~ordered.event.isin(["rejected", "declined"])]
    assert (steps.groupby(["participant_id", "vacancy_id"]).event_date.diff().dropna() >= pd.Timedelta(0)).all()
    hired = ordered[ordered.event == "hired"].set_index(["participant_id", "vacancy_id"]).event_date
    retained = ordered[ordered.event == "retained_6m"].set_index(["participant_id", "vacancy_id"]).event_date
    assert ((retained - hired.reindex(retained.index)) == pd.Timedelta(days=183)).all()
    assert not ordered.duplicated(["participant_id", "vacancy_id", "event"]).any()


def test_text_languages_follow_the_target_mix(world: tuple[Path, object, DataBundle]) -> None:
    _, _, bundle = world
    for table in (bundle.participants, bundle.vacancies):
        share = table.language.value_counts(normalize=True)
        assert share["fi"] == pytest.approx(0.80, abs=0.06)
        assert share["sv"] == pytest.approx(0.12, abs=0.05)
        assert share["en"] == pytest.approx(0.08, abs=0.04)
    by_town = bundle.participants.groupby("municipality").language.apply(lambda s: (s == "sv").mean())
    assert by_town[["Raasepori", "Mustasaari", "Pietarsaari"]].mean() > 0.5 > by_town[["Tampere", "Oulu"]].max()


def test_skills_are_written_as_uris_names_and_only_in_text(world: tuple[Path, object, DataBundle]) -> None:
    _, _, bundle = world
    catalogue = load_catalogue()
    names = set(catalogue.skill_labels.ravel())
    items = pd.Series([item for row in bundle.participants.skills for item in row])
    uris = items.str.startswith("http://data.europa.eu/esco/skill/")
    assert 0.2 < uris.mean() < 0.5
    assert items[~uris].isin(names).all()
    assert set(items[~uris]) & set(catalogue.skill_labels[:, 1])  # Swedish names too
    unlisted = bundle.participants[bundle.participants.skills.map(len) == 0]
    told = unlisted.profile_text.map(lambda text: any(name in text for name in names if len(name) > 12))
    assert told.sum() >= 50
    required = pd.Series([item for row in bundle.vacancies.required_skills for item in row])
    assert required.str.startswith("http").any() and required.isin(names).any()
    assert (bundle.participants.profile_text == "").mean() == pytest.approx(0.06, abs=0.03)


def test_written_values_have_realistic_gaps_and_ranges(world: tuple[Path, object, DataBundle]) -> None:
    _, _, bundle = world
    vacancies, participants = bundle.vacancies, bundle.participants
    for column in ("hours_per_week", "physical_load", "night_shifts", "weekend_work", "customer_contact",
                   "heavy_lifting", "driving"):
        assert 0.04 <= vacancies[column].isna().mean() <= 0.22, column
    assert 0.05 <= vacancies.closes_at.isna().mean() <= 0.2
    assert (participants.max_hours_per_week < 37.5).mean() > 0.6
    assert participants.municipality.nunique() >= 40
    assert 0.03 <= participants.lat.isna().mean() <= 0.12
    assert participants.unemployment_months.quantile(0.95) > 3 * participants.unemployment_months.median()
    assert set(vacancies.employer_type.dropna()) == {"social_enterprise", "private", "public", "third_sector"}
    assert {"social_health", "elderly_care", "circular_economy", "cleaning"} <= set(vacancies.sector)


def test_listed_skill_overlap_predicts_hiring(world: tuple[Path, object, DataBundle]) -> None:
    """The signal is learnable from the written data: pairs sharing listed skills get hired more often."""
    _, _, bundle = world
    catalogue = load_catalogue()
    to_uri = {name: uri for uri, labels in zip(catalogue.skill_uri, catalogue.skill_labels, strict=True)
              for name in labels} | {uri: uri for uri in catalogue.skill_uri}
    outcome = bundle.outcomes.assign(strength=bundle.outcomes.event.map(EVENT_STRENGTH))
    pairs = outcome.groupby(["participant_id", "vacancy_id"]).strength.max().reset_index()
    pairs = pairs.merge(bundle.participants[["participant_id", "skills"]], on="participant_id")
    pairs = pairs.merge(bundle.vacancies[["vacancy_id", "required_skills"]], on="vacancy_id")
    shared = [len({to_uri[s] for s in a} & {to_uri[s] for s in b}) for a, b in zip(pairs.skills, pairs.required_skills, strict=True)]
    hired = pairs.strength >= EVENT_STRENGTH["hired"]
    overlap = np.array(shared) > 0
    assert hired[overlap].mean() > 1.5 * hired[~overlap].mean()


def test_same_seed_gives_identical_bytes_for_any_chunk_size(tmp_path: Path) -> None:
    size = {"participants": BLOCK + 150, "vacancies": 150, "seed": 5}
    first = generate_world(tmp_path / "a", chunk_size=BLOCK, **size)
    generate_world(tmp_path / "b", chunk_size=BLOCK, **size)
    generate_world(tmp_path / "c", chunk_size=50_000, **size)
    generate_world(tmp_path / "d", chunk_size=BLOCK, **{**size, "seed": 6})
    assert first.outcomes > 0
    assert _files(tmp_path / "a") == _files(tmp_path / "b") == _files(tmp_path / "c")
    assert _files(tmp_path / "a") != _files(tmp_path / "d")


def test_parquet_world_uses_native_types_and_replaces_a_csv_world(tmp_path: Path) -> None:
    generate_world(tmp_path, participants=300, vacancies=100, seed=2)
    calls: list[int] = []
    summary = generate_world(tmp_path, participants=300, vacancies=100, seed=2, fmt="parquet", chunk_size=100,
                             progress=calls.append)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outcomes.parquet", "participant_groups.parquet",
                                                          "participants.parquet", "services.parquet",
                                                          "vacancies.parquet", "world.json"]
    assert sum(calls) == 300
    schema = pq.read_schema(tmp_path / "vacancies.parquet")
    assert schema.field("required_skills").type == pa.list_(pa.string())
    assert schema.field("night_shifts").type == pa.bool_()
    assert schema.field("published_at").type == pa.date32()
    bundle = load_data(tmp_path)
    assert bundle.rejects.empty and len(bundle.outcomes) + len(bundle.service_outcomes) == summary.outcomes


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"participants": -5}, "participants must be a whole number >= 1"),
        ({"vacancies": 0}, "vacancies must be a whole number >= 1"),
        ({"participants": True}, "participants must be a whole number"),
        ({"seed": -1}, "seed must be a whole number >= 0"),
        ({"chunk_size": 0}, "chunk_size must be a whole number >= 1"),
        ({"days": 7}, "days must be a whole number >= 28"),
        ({"fmt": "xlsx"}, "unknown format 'xlsx'"),
        ({"start": "2025-09-01"}, "start must be a datetime.date"),
    ],
)
def test_bad_arguments_raise(tmp_path: Path, arguments: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        generate_world(tmp_path / "never", **arguments)
    assert not (tmp_path / "never").exists()


def test_bad_weights_and_policies_raise() -> None:
    with pytest.raises(ValueError, match="work_trial_share must be a share"):
        HiringWeights(work_trial_share=1.5)
    with pytest.raises(ValueError, match="essential_coverage must be a finite number"):
        HiringWeights(essential_coverage=float("nan"))
    with pytest.raises(ValueError, match="session_interval_days"):
        LoggingPolicy(session_interval_days=(30.0, 10.0))
    with pytest.raises(ValueError, match="far_factor must be above 1"):
        Heuristic(own_occupation=1, preferred_sector=1, commute=1, conflict=1, overlook_conflict=0.1,
                  far_factor=0.5, overlook_far=0.1)
    with pytest.raises(ValueError, match="hiring must be a HiringWeights"):
        WorldConfig(hiring="strict")  # type: ignore[arg-type]


def test_templates_fill_fields_and_drop_missing_sentences() -> None:
    intro = load_templates()["participant"]["intro"]
    rng = np.random.default_rng(0)
    language = np.array([0, 1, 2, 0])
    choice = intro.choose(rng, language, present=np.array([True, True, True, False]))
    text = intro.render(choice, {"municipality": pa.array(["Vantaa", "Vasa", "Espoo", "Oulu"])}).to_pylist()
    assert "Vantaa" in text[0] and "Vasa" in text[1] and "Espoo" in text[2] and text[3] is None
    joined = join_present([pa.array(["A.", None, None]), pa.array(["B.", "C.", None])]).to_pylist()
    assert joined == ["A. B.", "C.", ""]


def test_other_languages_scale_gives_an_almost_all_finnish_world(tmp_path: Path) -> None:
    from ilona_match.contract import load_data

    generate_world(tmp_path / "fi", participants=600, vacancies=300, seed=4, other_languages=0.1)
    bundle = load_data(tmp_path / "fi")
    assert (bundle.participants["language"] == "fi").mean() > 0.9
    assert (bundle.vacancies["language"] == "fi").mean() > 0.9
    with pytest.raises(ValueError, match="other_languages must be within"):
        generate_world(tmp_path / "bad", participants=10, vacancies=5, other_languages=1.5)
