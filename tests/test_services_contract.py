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
