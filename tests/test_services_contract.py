"""The optional services table (contract v1.1): read when its file is there, checked by the same rules
and with the same bad-input behaviour as the other tables, an empty frame when absent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ilona_match.contract import SERVICE_COLUMNS, ContractError, load_data, records_to_frame, validate_data

EXAMPLE = Path(__file__).parent / "data" / "example"
HEADER = ("service_id,provider_id,provider_type,kind,title,description,language,skills_taught,occupations_toward,"
          "seats,starts_at,closes_at,duration_weeks,municipality,physical_load,night_shifts,supports_accepted")
GOOD = [
    "S1,T1,training_provider,course,Hygieniapassi,,fi,käsitellä elintarvikkeita,9412,12,2026-09-01,2026-08-25,1,"
    "Tampere,light,,",
    "S2,SE1,social_enterprise,work_trial,Työkokeilu kierrätyskeskuksessa,Lajittelu ja myymälä,fi,"
    "lajitella jätteitä|asiakaspalvelu,,,2026-08-15,,12,Tampere,medium,false,work_trial",
]


def _folder(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    folder = tmp_path / "data"
    shutil.copytree(EXAMPLE, folder)
    (folder / "services.csv").write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return folder


def test_a_folder_without_services_loads_with_an_empty_table() -> None:
    bundle = load_data(EXAMPLE)
    assert bundle.services is not None and bundle.services.empty
    assert list(bundle.services.columns) == [spec.name for spec in SERVICE_COLUMNS]
    assert validate_data(EXAMPLE) == []


def test_services_are_read_typed_with_their_defaults(tmp_path: Path) -> None:
    bundle = load_data(_folder(tmp_path, *GOOD))
    services = bundle.services.set_index("service_id")
    assert services.loc["S1", "skills_taught"] == ("käsitellä elintarvikkeita",)
    assert services.loc["S2", "skills_taught"] == ("lajitella jätteitä", "asiakaspalvelu")
    assert services.loc["S1", "seats"] == 12 and services.loc["S2", "seats"] == 1  # seats default to 1
    assert services.loc["S2", "starts_at"] == pd.Timestamp("2026-08-15") and pd.isna(services.loc["S2", "closes_at"])
    assert services.loc["S2", "night_shifts"] == False and pd.isna(services.loc["S1", "night_shifts"])  # noqa: E712
    assert services.loc["S2", "supports_accepted"] == ("work_trial",) and not services.loc["S1", "remote"]
    assert bundle.source_files["services"].name == "services.csv"
    one = records_to_frame("service", [{"service_id": "S9", "provider_id": "P", "provider_type": "ngo",
                                        "kind": "coaching", "title": "Valmennus", "description": "",
                                        "starts_at": "2026-09-01"}])
    assert one.loc[0, "kind"] == "coaching" and one.loc[0, "seats"] == 1


@pytest.mark.parametrize(
    ("rows", "header", "match"),
    [
        ([GOOD[0].replace(",course,", ",lecture,")], HEADER,
         r"services.csv row 1, column kind: unknown value 'lecture' \(allowed: course, apprenticeship"),
        ([GOOD[0].replace("training_provider", "school")], HEADER, r"row 1, column provider_type: unknown value 'school'"),
        ([GOOD[0].replace(",2026-09-01,", ",", 1)], HEADER.replace("starts_at,", ""),
         "services.csv, column starts_at: required column is missing"),
    ],
)
def test_fatal_faults_name_the_file_column_and_row(tmp_path: Path, rows: list[str], header: str, match: str) -> None:
    with pytest.raises(ContractError, match=match):
        load_data(_folder(tmp_path, *rows, header=header), on_error="continue")


def test_row_faults_set_the_service_aside_and_keep_every_valid_row(tmp_path: Path) -> None:
    zero_seats = GOOD[0].replace(",12,2026-09-01", ",0,2026-09-01")
    duplicate = GOOD[1].replace("S2,", "S1,", 1)
    folder = _folder(tmp_path, zero_seats, GOOD[1], duplicate)
    with pytest.raises(ContractError, match=r"services.csv row 1, column seats: 0 is below the minimum 1"):
        load_data(folder)
    bundle = load_data(folder, on_error="continue")
    assert bundle.services["service_id"].tolist() == ["S2"]  # the valid row stays
    rejected = bundle.rejects[bundle.rejects["file"] == "services.csv"]
    assert set(rejected["record_id"]) == {"S1"} and "seats" in set(rejected["column"])
    assert "service_id" in set(rejected["column"])  # the duplicate id, named
    assert len(bundle.participants) and len(bundle.vacancies)  # the other tables are untouched


def test_two_files_for_one_optional_table_are_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, *GOOD)
    pd.DataFrame({"service_id": ["S1"]}).to_parquet(folder / "services.parquet")
    with pytest.raises(ContractError, match="both services.csv and services.parquet exist; keep one"):
        load_data(folder)


def _with_outcomes(folder: Path, *rows: str) -> Path:
    """Outcome rows appended to the example's outcomes with a service_id column (empty for the old rows)."""
    path = folder / "outcomes.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    lines = [lines[0] + ",service_id", *(line + "," for line in lines[1:]), *rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_outcome_rows_may_name_a_service_instead_of_a_vacancy(tmp_path: Path) -> None:
    person = load_data(EXAMPLE).participants["participant_id"].iloc[0]
    before = load_data(EXAMPLE).outcomes
    folder = _with_outcomes(_folder(tmp_path, *GOOD), f"{person},,started,2026-08-16,S2",
                            f"{person},,completed,2026-11-01,S2")
    bundle = load_data(folder)
    pd.testing.assert_frame_equal(bundle.outcomes, before)  # the vacancy outcomes, as the ranking reads them
    assert bundle.service_outcomes.to_dict("list") == {
        "participant_id": [person, person], "service_id": ["S2", "S2"], "event": ["started", "completed"],
        "event_date": [pd.Timestamp("2026-08-16"), pd.Timestamp("2026-11-01")]}


def test_service_outcome_faults_are_named_and_set_aside(tmp_path: Path) -> None:
    example = load_data(EXAMPLE)
    person, vacancy = example.participants["participant_id"].iloc[0], example.vacancies["vacancy_id"].iloc[0]
    rows = [f"{person},{vacancy},started,2026-08-16,S2",  # names both
            f"{person},{vacancy},completed,2026-08-16,",  # a service event without a service
            f"{person},,started,2026-08-16,S404",  # an unknown service
            f"{person},,offered,2026-08-01,S1"]  # valid
    folder = _with_outcomes(_folder(tmp_path, *GOOD), *rows)
    first = len(example.outcomes) + 1  # the data row of the first added line
    with pytest.raises(ContractError) as raised:
        load_data(folder)
    text = str(raised.value)
    assert f"outcomes.csv row {first}, column service_id: names both a vacancy_id and a service_id" in text
    assert f"outcomes.csv row {first + 1}, column event: 'completed' is an event of a service" in text
    assert f"outcomes.csv row {first + 2}, column service_id: unknown service 'S404' (not in services)" in text
    bundle = load_data(folder, on_error="continue")
    assert bundle.service_outcomes["service_id"].tolist() == ["S1"] and len(bundle.outcomes) == len(example.outcomes)
    rejected = bundle.rejects[bundle.rejects["file"] == "outcomes.csv"]
    assert sorted(rejected["row"]) == [first, first + 1, first + 2]
    assert set(rejected["record_id"]) == {f"{person}/{vacancy}", f"{person}/S404"}
    no_services = tmp_path / "none"
    shutil.copytree(EXAMPLE, no_services)
    _with_outcomes(no_services, f"{person},,offered,2026-08-01,S1")
    with pytest.raises(ContractError, match=r"unknown service 'S1' \(not in services\)"):
        load_data(no_services)  # a service outcome needs the services table


def test_outcome_records_name_a_vacancy() -> None:
    """The API's and the Matcher's outcome records are about vacancies: a service record is refused by name."""
    with pytest.raises(ContractError, match="outcome row 0, column service_id: service outcomes are read from the data"):
        records_to_frame("outcomes", [{"participant_id": "P1", "vacancy_id": None, "service_id": "S1",
                                       "event": "started", "event_date": "2026-08-01"}])
    with pytest.raises(ContractError, match="outcome row 0, column event: 'started' is an event of a service"):
        records_to_frame("outcomes", [{"participant_id": "P1", "vacancy_id": "V1", "event": "started",
                                       "event_date": "2026-08-01"}])
    frame = records_to_frame("outcomes", [{"participant_id": "P1", "vacancy_id": "V1", "event": "applied",
                                           "event_date": "2026-08-01"}])
    assert list(frame.columns) == ["participant_id", "vacancy_id", "event", "event_date"]
