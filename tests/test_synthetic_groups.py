"""Group attributes (``participant_groups``) and a planted hiring bias in both synthetic world families."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ilona_match.cli import main
from ilona_match.contract import spec
from ilona_match.synthetic import WorldConfig, generate_world
from ilona_match.synthetic.groups import (
    AGE_BANDS,
    CAPACITY_CATEGORIES,
    GENDERS,
    MOTHER_TONGUE_GROUPS,
    REGIONS,
    parse_bias_rule,
)
from ilona_match.synthetic.market import MarketConfig, generate_market_world
from ilona_match.synthetic.truth import load_truth

COLUMNS = ["participant_id", "age_band", "gender", "mother_tongue_group", "capacity_category", "region"]
OLD = (("age_band", "55+", 0.2),)
# big enough for a few dozen hires of people aged 55+, small enough for about a second per world
SIZE = {"coach": {"participants": 1500, "vacancies": 600}, "market": {"participants": 1500, "vacancies": 1500}}
FAMILIES = ("coach", "market")


def _generate(family: str, out: Path, **kwargs: object) -> object:
    generate = generate_world if family == "coach" else generate_market_world
    return generate(out, **kwargs)


@dataclass(frozen=True)
class Pair:
    """One family's world drawn twice: without a bias and with employers hiring 55+ people at a fifth of the rate."""

    plain: Path
    biased: Path


@pytest.fixture(scope="module", params=FAMILIES)
def worlds(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Pair]:
    family = request.param
    root = tmp_path_factory.mktemp(family)
    _generate(family, root / "plain", seed=3, **SIZE[family])
    _generate(family, root / "biased", seed=3, hire_bias=OLD, **SIZE[family])
    return family, Pair(root / "plain", root / "biased")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def test_groups_table_has_the_contract_columns_and_one_row_per_participant(worlds: tuple[str, Pair]) -> None:
    family, pair = worlds
    groups, people = _read(pair.plain / "participant_groups.csv"), _read(pair.plain / "participants.csv")
    assert list(groups.columns) == COLUMNS
    assert groups.participant_id.tolist() == people.participant_id.tolist()
    allowed = {"age_band": AGE_BANDS, "gender": GENDERS, "mother_tongue_group": MOTHER_TONGUE_GROUPS,
               "capacity_category": CAPACITY_CATEGORIES, "region": tuple(set(REGIONS.values()))}
    for column, values in allowed.items():
        written = groups[column]
        assert set(written) <= {*values, ""}, column
        assert 0.003 <= (written == "").mean() <= 0.1, column  # a few percent missing, as real records are
    shares = groups.age_band[groups.age_band != ""].value_counts(normalize=True)
    assert 0.05 <= shares["<25"] <= 0.15 and 0.15 <= shares["55+"] <= 0.3
    assert 0.4 <= (groups.gender == "female").mean() <= 0.56 and (groups.gender == "other").mean() < 0.05
    # the mother tongue follows the language the person writes in
    tongue = pd.crosstab(people.language, groups.mother_tongue_group, normalize="index")
    assert tongue.loc["fi", "fi"] > 0.85 and tongue.loc["sv", "sv"] > 0.8 and tongue.loc["en", "other"] > 0.8
    # the capacity category follows the true physical capacity; the region the home municipality
    light = people.physical_capacity.isin(["sedentary", "light"])
    assert (groups.capacity_category[light] == "musculoskeletal").mean() > 0.5
    assert (groups.capacity_category[~light] == "none_recorded").mean() > 0.5
    both = (people.municipality != "") & (groups.region != "")
    assert (people.municipality[both].map(REGIONS) == groups.region[both]).all()
    # the long-term unemployed are older
    months = pd.to_numeric(people.unemployment_months, errors="coerce")
    old = groups.age_band == "55+"
    assert old[months >= 24].mean() > old[months < 12].mean() + 0.08


def test_groups_table_passes_the_contract_when_it_knows_the_table(worlds: tuple[str, Pair]) -> None:
    if "participant_groups" not in getattr(spec, "ALL_TABLES", ()):
        pytest.skip("the contract does not know participant_groups yet")
    from ilona_match.contract import load_data

    _, pair = worlds
    bundle = load_data(pair.plain, tables=spec.ALL_TABLES, on_error="continue")
    assert bundle.rejects.empty
    assert len(bundle.participant_groups) == len(bundle.participants)
    contract = {column.name: column for column in spec.PARTICIPANT_GROUP_COLUMNS}
    assert list(contract) == COLUMNS
    for column, values in (("age_band", AGE_BANDS), ("gender", GENDERS), ("mother_tongue_group", MOTHER_TONGUE_GROUPS)):
        assert tuple(contract[column].allowed) == values


@pytest.mark.parametrize(("family", "fmt"), [("coach", "csv"), ("coach", "parquet"), ("market", "csv"),
                                             ("market", "parquet")])
def test_other_tables_are_byte_identical_with_or_without_group_attributes(tmp_path: Path, family: str, fmt: str) -> None:
    # coach: two blocks of people, so each block's own group stream is exercised
    size = {"participants": 1100, "vacancies": 200} if family == "coach" else {"participants": 300, "vacancies": 300}
    _generate(family, tmp_path / "with", seed=5, fmt=fmt, **size)
    _generate(family, tmp_path / "without", seed=5, fmt=fmt, groups=False, **size)
    written = sorted(path.name for path in (tmp_path / "with").iterdir())
    assert f"participant_groups.{fmt}" in written
    assert sorted(path.name for path in (tmp_path / "without").iterdir()) == \
        [name for name in written if not name.startswith("participant_groups")]
    for name in written:
        if name.startswith(("participants", "vacancies", "services", "outcomes")):
            assert (tmp_path / "with" / name).read_bytes() == (tmp_path / "without" / name).read_bytes(), name
    with_config = json.loads((tmp_path / "with" / "world.json").read_text())["config"]
    without_config = json.loads((tmp_path / "without" / "world.json").read_text())["config"]
    assert {**with_config, "groups": False} == without_config and with_config["hire_bias"] == []


def _hired_share(directory: Path, band: str) -> tuple[int, float]:
    """People of the age band (as written) and the share of them the logged outcomes show hired."""
    groups, outcomes = _read(directory / "participant_groups.csv"), _read(directory / "outcomes.csv")
    people = set(groups.participant_id[groups.age_band == band])
    hired = set(outcomes.participant_id[(outcomes.event == "hired") & (outcomes.vacancy_id != "")])
    return len(people), len(people & hired) / len(people)


def test_a_planted_bias_lowers_the_groups_hire_rate_in_the_logged_outcomes(worlds: tuple[str, Pair]) -> None:
    family, pair = worlds
    people, plain = _hired_share(pair.plain, "55+")
    _, biased = _hired_share(pair.biased, "55+")
    _, others_plain = _hired_share(pair.plain, "35-44")
    _, others_biased = _hired_share(pair.biased, "35-44")
    assert people > 250 and plain > 0.05
    assert biased < 0.6 * plain, (family, plain, biased)
    assert biased / others_biased < 0.6 * plain / others_plain
    # the bias changes what happened, not who the people and vacancies are
    for name in ("participants.csv", "vacancies.csv", "participant_groups.csv"):
        assert (pair.plain / name).read_bytes() == (pair.biased / name).read_bytes(), name
    assert (pair.plain / "outcomes.csv").read_bytes() != (pair.biased / "outcomes.csv").read_bytes()


def test_the_hidden_truth_falls_by_the_factor_for_the_group_only(worlds: tuple[str, Pair]) -> None:
    family, pair = worlds
    groups = _read(pair.plain / "participant_groups.csv")
    vacancies = _read(pair.plain / "vacancies.csv").vacancy_id.to_numpy()[::30]
    p = np.repeat(groups.participant_id.to_numpy(), len(vacancies))
    v = np.tile(vacancies, len(groups))
    band = np.repeat(groups.age_band.to_numpy(), len(vacancies))
    plain, biased = load_truth(pair.plain).hire_probability(p, v), load_truth(pair.biased).hire_probability(p, v)
    old, other = band == "55+", (band != "55+") & (band != "")  # a missing cell may hide a true 55+
    assert (plain[old] > 0).sum() > 500
    np.testing.assert_allclose(biased[old], 0.2 * plain[old], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(biased[other], plain[other])
    # the config the truth is drawn from says so too
    config = json.loads((pair.biased / "world.json").read_text())["config"]
    assert config["hire_bias"] == [["age_band", "55+", 0.2]]


@pytest.mark.parametrize("family", FAMILIES)
def test_a_world_json_written_before_group_attributes_still_loads(tmp_path: Path, family: str) -> None:
    _generate(family, tmp_path, seed=2, participants=200, vacancies=150)
    p, v = np.array(["P0000001", "P0000150", "P0000200"]), np.array(["V000001", "V000100", "V000150"])
    expected = load_truth(tmp_path).hire_probability(p, v)
    world = json.loads((tmp_path / "world.json").read_text())
    del world["config"]["hire_bias"], world["config"]["groups"]
    (tmp_path / "world.json").write_text(json.dumps(world))
    np.testing.assert_array_equal(load_truth(tmp_path).hire_probability(p, v), expected)


@pytest.mark.parametrize("config", [WorldConfig, MarketConfig])
@pytest.mark.parametrize(("rules", "message"), [
    ((("age", "55+", 0.5),), "unknown column 'age'"),
    ((("age_band", "60+", 0.5),), r"unknown age_band value '60\+'"),
    ((("region", "Stockholm", 0.5),), "unknown region value 'Stockholm'"),
    ((("gender", "other", 0.0),), r"factor for gender=other must be a number in \(0, 1\]"),
    ((("gender", "other", 1.5),), r"factor for gender=other must be a number in \(0, 1\]"),
    ((("gender", "other", math.nan),), r"factor for gender=other must be a number in \(0, 1\]"),
    ((("gender", "other", "0.5"),), r"factor for gender=other must be a number in \(0, 1\]"),
    ((("age_band", "55+", 0.5), ("age_band", "55+", 0.7)), "age_band=55\\+ is named twice"),
    ((("age_band", "55+"),), "is not \\(column, value, factor\\)"),
    ("age_band=55+:0.5", "must be a tuple of"),
])
def test_bad_bias_rules_raise(config: type, rules: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        config(hire_bias=rules)


@pytest.mark.parametrize("config", [WorldConfig, MarketConfig])
def test_a_bias_needs_the_group_attributes(config: type) -> None:
    with pytest.raises(ValueError, match="hire_bias needs the group attributes"):
        config(hire_bias=OLD, groups=False)
    assert config(hire_bias=[["age_band", "55+", 1]]).hire_bias == (("age_band", "55+", 1.0),)


def test_bias_rules_parse_from_the_command_line_form() -> None:
    assert parse_bias_rule("age_band=55+:0.5") == ("age_band", "55+", 0.5)
    assert parse_bias_rule("region=Päijät-Häme:0.8") == ("region", "Päijät-Häme", 0.8)
    assert parse_bias_rule("capacity_category=mental_health:1") == ("capacity_category", "mental_health", 1.0)
    for bad, message in (("age_band55+:0.5", "not column=value:factor"), ("age_band=55+", "not column=value:factor"),
                         ("age_band=55+:half", "'half' is not a number"), ("=55+:0.5", "not column=value:factor")):
        with pytest.raises(ValueError, match=message):
            parse_bias_rule(bad)


@pytest.mark.parametrize("family", FAMILIES)
def test_cli_hire_bias_round_trips_into_world_json(tmp_path: Path, family: str, capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "data"
    code = main(["generate", "--out", str(out), "--family", family, "--participants", "200", "--vacancies", "150",
                 "--hire-bias", "age_band=55+:0.5", "--hire-bias", "gender=other:0.8", "--quiet"])
    assert code == 0
    assert "planted hiring bias: age_band=55+ x0.5, gender=other x0.8" in capsys.readouterr().out
    config = json.loads((out / "world.json").read_text())["config"]
    assert config["hire_bias"] == [["age_band", "55+", 0.5], ["gender", "other", 0.8]]
    assert (out / "participant_groups.csv").is_file()
    truth = load_truth(out)
    assert truth.hire_probability(np.array(["P0000001"]), np.array(["V000001"])).shape == (1,)


@pytest.mark.parametrize(("value", "message"), [("age_band", "is not column=value:factor"),
                                                ("age_band=55+:2", r"must be a number in \(0, 1\]"),
                                                ("colour=blue:0.5", "unknown column 'colour'")])
def test_cli_rejects_a_malformed_hire_bias(tmp_path: Path, capsys: pytest.CaptureFixture, value: str,
                                           message: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["generate", "--out", str(tmp_path), "--hire-bias", value])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "argument --hire-bias" in error
    assert re.search(message, error)
    assert not (tmp_path / "world.json").exists()


@pytest.mark.parametrize("family", FAMILIES)
def test_a_new_world_removes_an_old_groups_table(tmp_path: Path, family: str) -> None:
    _generate(family, tmp_path, seed=1, participants=150, vacancies=100)
    assert (tmp_path / "participant_groups.csv").is_file()
    _generate(family, tmp_path, seed=1, participants=150, vacancies=100, fmt="parquet")
    assert not (tmp_path / "participant_groups.csv").exists() and (tmp_path / "participant_groups.parquet").is_file()
    _generate(family, tmp_path, seed=1, participants=150, vacancies=100, groups=False)
    assert not list(tmp_path.glob("participant_groups.*"))
