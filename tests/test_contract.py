"""Tests of the data contract module: reading, checking, rejecting and writing the three tables."""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import string
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilona_match.contract import (
    COLUMNS,
    EVENT_STRENGTH,
    EVENTS,
    LANGUAGES,
    PHYSICAL_LEVELS,
    RESTRICTIONS,
    SUPPORTS,
    ColumnSpec,
    ContractError,
    Fault,
    frame_to_records,
    load_data,
    neutralise_formula,
    read_table,
    records_to_frame,
    validate_data,
    write_rejects,
    write_table,
)
from ilona_match.contract.checking import check_plain_records, check_table

EXAMPLE = Path(__file__).parent / "data" / "example"


@pytest.fixture
def data(tmp_path: Path) -> Path:
    """A writable copy of the contract's example folder."""
    return Path(shutil.copytree(EXAMPLE, tmp_path / "data"))


def edit(folder: Path, table: str, row: int, column: str, value: str) -> None:
    """Set one raw CSV cell; ``row`` is the 1-based data row, as in faults."""
    path = folder / f"{table}.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    frame.loc[row - 1, column] = value
    frame.to_csv(path, index=False)


def drop_column(folder: Path, table: str, column: str) -> None:
    path = folder / f"{table}.csv"
    pd.read_csv(path, dtype=str, keep_default_na=False).drop(columns=column).to_csv(path, index=False)


def messages(faults: list[Fault]) -> list[str]:
    return [str(fault) for fault in faults]


# ---------------------------------------------------------------- constants and the example


def test_events_are_ordered_weakest_to_strongest() -> None:
    assert EVENTS[0] == "viewed" and EVENTS[-1] == "retained_6m"
    assert EVENT_STRENGTH["declined"] < EVENT_STRENGTH["applied"] < EVENT_STRENGTH["hired"]
    assert PHYSICAL_LEVELS == ("sedentary", "light", "medium", "heavy")


def test_example_folder_loads_clean_with_normalised_dtypes() -> None:
    assert validate_data(EXAMPLE) == []
    bundle = load_data(EXAMPLE)
    participants, vacancies, outcomes = bundle.participants, bundle.vacancies, bundle.outcomes
    assert (len(participants), len(vacancies), len(outcomes)) == (4, 5, 8)
    assert bundle.rejects.empty and list(bundle.rejects.columns) == ["file", "row", "column", "reason", "record_id"]
    assert set(bundle.source_files) == {"participants", "vacancies", "outcomes"}
    assert participants["max_hours_per_week"].dtype == "float64"
    assert participants["unemployment_months"].dtype == "float64"
    assert participants["remote_ok"].dtype == "boolean"
    assert participants["available_from"].dtype == "datetime64[us]"
    assert vacancies["closes_at"].dtype == "datetime64[us]"
    assert participants.loc[0, "skills"] == (
        "huolehtia vanhuksista", "pestä pyykkiä",
        "http://data.europa.eu/esco/skill/634865e0-2ec2-4b7f-bb7f-c196637f0f7b",
    )
    assert participants.loc[2, "skills"] == ()  # empty list cell
    assert participants.loc[3, "profile_text"] == ""  # required column, value may be empty
    assert pd.isna(participants.loc[3, "lat"]) and pd.isna(participants.loc[1, "available_from"])
    assert participants.loc[1, "available_from"] is pd.NaT
    assert participants.loc[0, "available_from"] == pd.Timestamp("2026-08-15")
    assert pd.isna(vacancies.loc[2, "physical_load"]) and pd.isna(vacancies.loc[2, "heavy_lifting"])
    assert vacancies.loc[0, "weekend_work"] is np.True_ or vacancies.loc[0, "weekend_work"] == True  # noqa: E712
    assert outcomes["event"].isin(EVENTS).all()


def test_absent_optional_columns_get_contract_defaults(data: Path) -> None:
    for column in ("language", "max_commute_km", "remote_ok", "skills", "lat"):
        drop_column(data, "participants", column)
    for column in ("remote", "openings", "closes_at"):
        drop_column(data, "vacancies", column)
    edit(data, "vacancies", 2, "language", "")
    bundle = load_data(data)
    participants, vacancies = bundle.participants, bundle.vacancies
    assert participants["language"].tolist() == ["fi"] * 4
    assert participants["max_commute_km"].tolist() == [30.0] * 4
    assert participants["remote_ok"].tolist() == [False] * 4
    assert participants["skills"].tolist() == [()] * 4
    assert participants["lat"].isna().all() and participants["lat"].dtype == "float64"
    assert vacancies["remote"].tolist() == [False] * 5 and vacancies["openings"].tolist() == [1.0] * 5
    assert vacancies.loc[1, "language"] == "fi"
    assert vacancies["closes_at"].dtype == "datetime64[us]"


def test_unknown_extra_columns_are_kept(data: Path) -> None:
    edit(data, "participants", 1, "case_worker_note_code", "X7")
    participants = load_data(data).participants
    assert participants.loc[0, "case_worker_note_code"] == "X7"
    assert list(participants.columns)[-1] == "case_worker_note_code"


def test_list_cells_with_stray_spaces_and_empty_items_are_normalised(data: Path) -> None:
    edit(data, "participants", 1, "languages_spoken", " fi | |en|")
    edit(data, "participants", 2, "restrictions", "|quiet_environment || needs_job_coach ")
    participants = load_data(data).participants
    assert participants.loc[0, "languages_spoken"] == ("fi", "en")
    assert participants.loc[1, "restrictions"] == ("quiet_environment", "needs_job_coach")


def test_csv_with_byte_order_mark_and_mixed_case_booleans(data: Path) -> None:
    path = data / "participants.csv"
    edit(data, "participants", 1, "remote_ok", "TRUE")
    edit(data, "participants", 2, "remote_ok", "0")
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    participants = load_data(data).participants
    assert participants["participant_id"].tolist()[0] == "P001"
    assert participants["remote_ok"].tolist() == [True, False, False, True]


# ---------------------------------------------------------------- fatal faults


def test_missing_file_is_fatal(data: Path) -> None:
    (data / "vacancies.csv").unlink()
    with pytest.raises(ContractError, match=r"vacancies: no vacancies\.csv or vacancies\.parquet in "):
        load_data(data, on_error="continue")


def test_both_csv_and_parquet_is_fatal(data: Path) -> None:
    write_table(load_data(data).outcomes, data / "outcomes.parquet")
    with pytest.raises(ContractError, match=r"outcomes: both outcomes\.csv and outcomes\.parquet exist"):
        load_data(data)


def test_non_utf8_file_is_fatal(data: Path) -> None:
    path = data / "participants.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("latin-1"))
    with pytest.raises(ContractError, match=r"participants\.csv: file is not UTF-8 \(cannot decode byte 0x"):
        load_data(data, on_error="continue")


def test_unreadable_parquet_is_fatal(data: Path) -> None:
    (data / "participants.csv").unlink()
    (data / "participants.parquet").write_bytes(b"this is not parquet at all")
    with pytest.raises(ContractError, match=r"participants\.parquet: cannot read file: "):
        read_table(data / "participants.parquet")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("participant_id,vacancy_id,event,event_date\nP001,V101,viewed,2026-08-01\nP001,V101,hired,2026-08-09,extra\n",
         r"outcomes\.csv: malformed CSV: Error tokenizing data\. C error: Expected 4 fields in line 3, saw 5"),
        ("participant_id,vacancy_id,event,event_date\nP001,V101,viewed,2026-08-01,x\nP001,V101,hired,2026-08-09,y\n",
         r"outcomes\.csv: malformed CSV: data rows have more fields than the header"),
    ],
)
def test_malformed_csv_is_fatal(data: Path, body: str, message: str) -> None:
    (data / "outcomes.csv").write_text(body, encoding="utf-8")
    with pytest.raises(ContractError, match=message):
        load_data(data, on_error="continue")


def test_read_table_refuses_other_extensions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"notes\.txt: expected a \.csv or \.parquet file"):
        read_table(tmp_path / "notes.txt")


def test_zero_byte_file_is_fatal(data: Path) -> None:
    (data / "outcomes.csv").write_bytes(b"")
    with pytest.raises(ContractError, match=r"outcomes\.csv: file is empty \(no header row\)"):
        load_data(data)


def test_header_only_participants_is_fatal_but_header_only_outcomes_is_a_cold_start(data: Path) -> None:
    outcomes = data / "outcomes.csv"
    outcomes.write_text(outcomes.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    bundle = load_data(data)
    assert bundle.outcomes.empty and list(bundle.outcomes.columns) == ["participant_id", "vacancy_id", "event", "event_date"]
    participants = data / "participants.csv"
    participants.write_text(participants.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    with pytest.raises(ContractError, match=r"participants\.csv: table has a header but no rows"):
        load_data(data, on_error="continue")


def test_duplicated_header_column_is_fatal(data: Path) -> None:
    path = data / "outcomes.csv"
    lines = path.read_text(encoding="utf-8").splitlines()
    path.write_text("\n".join(line + "," + line.split(",")[-1] for line in lines) + "\n", encoding="utf-8")
    with pytest.raises(ContractError, match=r"outcomes\.csv, column event_date: appears more than once in the header"):
        load_data(data)


def test_missing_required_column_is_fatal_and_other_tables_are_still_checked(data: Path) -> None:
    drop_column(data, "participants", "coach_id")
    edit(data, "vacancies", 4, "hours_per_week", "lots")  # V104 has no outcomes
    faults = validate_data(data)
    assert messages(faults) == [
        "participants.csv, column coach_id: required column is missing",
        "vacancies.csv row 4, column hours_per_week: 'lots' is not a number",
    ]
    assert [fault.fatal for fault in faults] == [True, False]
    with pytest.raises(ContractError, match=r"participants\.csv, column coach_id: required column is missing"):
        load_data(data, on_error="continue")


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "message"),
    [
        ("participants", 2, "physical_capacity", "very heavy",
         r"participants\.csv row 2, column physical_capacity: unknown value 'very heavy' "
         r"\(allowed: sedentary, light, medium, heavy\)"),
        ("participants", 1, "restrictions", "no_heavy_lifting|no_nights",
         r"participants\.csv row 1, column restrictions: unknown value 'no_nights' \(allowed: no_night_shifts, "),
        ("participants", 3, "supports", "wage_subsidy|pay", r"participants\.csv row 3, column supports: unknown value 'pay'"),
        ("vacancies", 4, "employer_type", "ngo", r"vacancies\.csv row 4, column employer_type: unknown value 'ngo'"),
        ("vacancies", 1, "language", "de", r"vacancies\.csv row 1, column language: unknown value 'de' \(allowed: fi, sv, en\)"),
        ("outcomes", 3, "event", "ghosted", r"outcomes\.csv row 3, column event: unknown value 'ghosted'"),
    ],
)
def test_unknown_enum_value_is_fatal(data: Path, table: str, row: int, column: str, value: str, message: str) -> None:
    edit(data, table, row, column, value)
    with pytest.raises(ContractError, match=message) as caught:
        load_data(data, on_error="continue")
    assert [fault.fatal for fault in caught.value.faults] == [True]


def test_fatal_fault_names_the_first_offending_rows(data: Path) -> None:
    for row in (1, 2, 3, 4):
        edit(data, "participants", row, "language", "FI")
    with pytest.raises(ContractError, match=r"participants\.csv row 1, column language.*\n.*participants\.csv row 2"):
        load_data(data)


def test_long_values_are_quoted_at_most_40_characters(data: Path) -> None:
    edit(data, "participants", 1, "physical_capacity", "x" * 100)
    (fault,) = validate_data(data)
    assert str(fault).startswith(f"participants.csv row 1, column physical_capacity: unknown value '{'x' * 40}'…")
    assert "x" * 41 not in str(fault)


# ---------------------------------------------------------------- row-level faults


@pytest.mark.parametrize(
    ("table", "row", "column", "value", "reason"),
    [
        ("participants", 1, "max_hours_per_week", "75", "75 is above the maximum 60"),
        ("participants", 2, "max_hours_per_week", "-1", "-1 is below the minimum 0"),
        ("participants", 1, "max_hours_per_week", "25h", "'25h' is not a number"),
        ("participants", 1, "max_hours_per_week", "", "required value is missing"),
        ("participants", 3, "max_commute_km", "0", "0 must be above 0"),
        ("participants", 1, "lat", "91", "91 is above the maximum 90"),
        ("participants", 1, "lon", "-180.5", "-180.5 is below the minimum -180"),
        ("participants", 2, "unemployment_months", "2.5", "2.5 is not a whole number"),
        ("participants", 2, "unemployment_months", "inf", "'inf' is not a number"),
        ("participants", 1, "remote_ok", "yes", "'yes' is not a boolean (true/false/1/0)"),
        ("participants", 2, "available_from", "2026-02-30", "'2026-02-30' is not an ISO 8601 date (YYYY-MM-DD)"),
        ("participants", 4, "coach_id", " ", "required value is missing"),
        ("participants", 1, "languages_spoken", "fi|FI|eng", "not a 2-letter lowercase ISO 639-1 code: 'FI', 'eng'"),
        ("vacancies", 1, "published_at", "01.09.2026", "'01.09.2026' is not an ISO 8601 date (YYYY-MM-DD)"),
        ("vacancies", 2, "openings", "0", "0 is below the minimum 1"),
        ("vacancies", 3, "title", "", "required value is missing"),
        ("vacancies", 3, "night_shifts", "maybe", "'maybe' is not a boolean (true/false/1/0)"),
        ("outcomes", 2, "event_date", "tomorrow", "'tomorrow' is not an ISO 8601 date (YYYY-MM-DD)"),
    ],
)
def test_row_level_fault_names_file_row_and_column(data: Path, table: str, row: int, column: str, value: str,
                                                    reason: str) -> None:
    edit(data, table, row, column, value)
    expected = f"{table}.csv row {row}, column {column}: {reason}"
    assert messages(validate_data(data, tables=(table,))) == [expected]  # alone: no outcomes that follow the row
    with pytest.raises(ContractError, match=f"^1 fault.*\n{re.escape(expected)}$"):
        load_data(data, tables=(table,))


def test_duplicate_id_rejects_every_row_sharing_it(data: Path) -> None:
    edit(data, "participants", 3, "participant_id", "P001")
    edit(data, "participants", 4, "participant_id", "P001")
    assert messages(validate_data(data, tables=("participants",))) == [
        "participants.csv row 1, column participant_id: duplicate participant_id 'P001' (also in rows 3, 4)",
        "participants.csv row 3, column participant_id: duplicate participant_id 'P001' (also in rows 1, 4)",
        "participants.csv row 4, column participant_id: duplicate participant_id 'P001' (also in rows 1, 3)",
    ]


def test_outcome_pointing_at_unknown_participant_or_vacancy(data: Path) -> None:
    edit(data, "outcomes", 2, "participant_id", "P999")
    edit(data, "outcomes", 4, "vacancy_id", "V999")
    assert messages(validate_data(data)) == [
        "outcomes.csv row 2, column participant_id: unknown participant 'P999' (not in participants)",
        "outcomes.csv row 4, column vacancy_id: unknown vacancy 'V999' (not in vacancies)",
    ]


def test_outcome_pointing_at_a_rejected_participant_says_so(data: Path) -> None:
    edit(data, "participants", 2, "max_hours_per_week", "80")  # P002, referred to by outcomes rows 4-5
    faults = messages(validate_data(data))
    assert faults[0] == "participants.csv row 2, column max_hours_per_week: 80 is above the maximum 60"
    assert "outcomes.csv row 4, column participant_id: participant 'P002' was itself rejected" in faults


def test_megabyte_text_cell_is_a_fault_that_never_shows_the_text(data: Path) -> None:
    secret = "Terveydentila " * 75_000  # about 1 MB of free text
    edit(data, "participants", 1, "profile_text", secret)
    edit(data, "vacancies", 2, "required_skills", "a" * 30_000 + "|b")
    faults = messages(validate_data(data, tables=("participants", "vacancies")))
    assert faults == [
        f"participants.csv row 1, column profile_text: cell has {len(secret):,} characters, above the limit 20,000",
        "vacancies.csv row 2, column required_skills: cell has 30,001 characters, above the limit 20,000",
    ]
    assert "Terveydentila" not in "".join(faults)
    assert len(load_data(data, max_text_chars=2_000_000).participants.loc[0, "profile_text"]) == len(secret)


def test_continue_mode_keeps_every_valid_row_and_writes_rejects(data: Path, tmp_path: Path) -> None:
    edit(data, "participants", 2, "max_hours_per_week", "75")  # P002 out: its 2 outcome rows follow it
    edit(data, "vacancies", 4, "vacancy_id", "V101")  # duplicate: both V101 rows out, and their 3 outcome rows
    edit(data, "outcomes", 8, "event_date", "soon")
    with pytest.raises(ContractError, match=r"participants\.csv row 2, column max_hours_per_week: 75 is above"):
        load_data(data)
    bundle = load_data(data, on_error="continue")
    assert bundle.participants["participant_id"].tolist() == ["P001", "P003", "P004"]
    assert bundle.vacancies["vacancy_id"].tolist() == ["V102", "V103", "V105"]
    outcomes = pd.read_csv(data / "outcomes.csv", dtype=str)
    kept = outcomes[~outcomes["participant_id"].eq("P002") & ~outcomes["vacancy_id"].eq("V101")].iloc[:-1]
    assert bundle.outcomes[["participant_id", "vacancy_id", "event"]].values.tolist() == (
        kept[["participant_id", "vacancy_id", "event"]].values.tolist())
    rejects = bundle.rejects
    assert rejects[["file", "row", "record_id"]].values.tolist()[:3] == [
        ["participants.csv", 2, "P002"], ["vacancies.csv", 1, "V101"], ["vacancies.csv", 4, "V101"]]
    assert set(rejects.loc[rejects["file"] == "outcomes.csv", "row"]) == set(range(1, 9)) - set(kept.index + 1)
    write_rejects(rejects, tmp_path / "rejects.csv")
    written = pd.read_csv(tmp_path / "rejects.csv", dtype={"row": int})
    assert written["reason"].tolist() == rejects["reason"].tolist()
    assert written["record_id"].tolist()[-1] == "P003/V103"


def test_load_data_refuses_unknown_options(data: Path) -> None:
    with pytest.raises(ValueError, match="on_error must be 'raise' or 'continue', not 'skip'"):
        load_data(data, on_error="skip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"unknown table\(s\) \['applicants'\]"):
        validate_data(data, tables=("applicants",))


def test_tables_not_asked_for_are_empty_frames_with_contract_columns(data: Path) -> None:
    (data / "vacancies.csv").unlink()
    bundle = load_data(data, tables=("participants", "outcomes"))
    assert len(bundle.outcomes) == 8 and bundle.vacancies.empty
    assert "published_at" in bundle.vacancies.columns


# ---------------------------------------------------------------- records (API input)


def participant_record(**changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "participant_id": "P9", "coach_id": "C1", "profile_text": "Haluan töihin keittiöön.",
        "skills": ["valmistaa ruokaa ", ""], "max_hours_per_week": 20, "physical_capacity": "light",
        "remote_ok": True, "available_from": dt.date(2026, 9, 1),
    }
    return {**record, **changes}


def test_records_to_frame_parses_like_a_file() -> None:
    frame = records_to_frame("participant", [participant_record(), participant_record(participant_id="P10", skills="a|b")])
    assert frame["skills"].tolist() == [("valmistaa ruokaa",), ("a", "b")]
    assert frame["max_hours_per_week"].tolist() == [20.0, 20.0]
    assert frame["available_from"].tolist() == [pd.Timestamp("2026-09-01")] * 2
    assert frame["language"].tolist() == ["fi", "fi"] and frame["max_commute_km"].tolist() == [30.0, 30.0]
    assert frame["remote_ok"].dtype == "boolean"


def test_records_to_frame_raises_with_kind_and_index() -> None:
    with pytest.raises(ContractError, match=r"participant row 1, column max_hours_per_week: 75 is above the maximum 60"):
        records_to_frame("participants", [participant_record(), participant_record(participant_id="P2", max_hours_per_week=75)])
    with pytest.raises(ContractError, match=r"participant row 0, column max_hours_per_week: 'True' is not a number"):
        records_to_frame("participant", [participant_record(max_hours_per_week=True)])
    with pytest.raises(ContractError, match=r"outcome, column event_date: required column is missing"):
        records_to_frame("outcome", [{"participant_id": "P1", "vacancy_id": "V1", "event": "hired"}])
    with pytest.raises(ValueError, match="unknown record kind 'person'"):
        records_to_frame("person", [])


def test_records_with_nested_numeric_or_doubled_fields_get_faults_not_crashes() -> None:
    """Found by comparing the value-by-value path with the column path on odd cells."""
    with pytest.raises(ContractError, match=r"participant row 0, column available_from: holds a list or mapping, not one value"):
        records_to_frame("participant", [participant_record(available_from=["2026-09-01"])])
    with pytest.raises(ContractError, match=r"participant row 0, column coach_id: holds a list or mapping, not one value"):
        records_to_frame("participant", [participant_record(coach_id={"id": "C1"})])
    with pytest.raises(ContractError, match=r"participant row 0, column available_from: '20260901' is not an ISO 8601 date"):
        records_to_frame("participant", [participant_record(available_from=20260901)])
    with pytest.raises(ContractError, match=r"participant, column skills: appears more than once \(names are compared"):
        records_to_frame("participant", [participant_record(**{" skills": "a"})])


def test_frame_to_records_round_trips_every_table_of_the_example() -> None:
    bundle = load_data(EXAMPLE)
    for kind, frame in (("participants", bundle.participants), ("vacancies", bundle.vacancies),
                        ("outcomes", bundle.outcomes)):
        records = frame_to_records(frame)
        json.dumps(records)  # plain JSON types only
        pd.testing.assert_frame_equal(records_to_frame(kind, records), frame.reset_index(drop=True), check_dtype=False)


def test_records_to_frame_with_no_records_gives_the_empty_table() -> None:
    frame = records_to_frame("vacancy", [])
    assert frame.empty and frame["published_at"].dtype == "datetime64[us]"


# ------------------------------------------------- records checked value by value (the API path)
_SHORT_LIMIT = 30  # max_text_chars in these tests, so that the length rules are met too
_ODD_CELLS = [
    None, "", " ", "  x ", "x ", "\x1c", "\xa0", "\u3000ab", "abc", "12", " 12 ", "1_000", "1e3", "nan", "inf", "true",
    "0", True, False, 0, -1, 1.5, 59.5, 61, 100, 1e300, float("nan"), float("inf"), 2**60, "2026-02-30", "2026-9-1",
    "2026-09-01T10:00", "0001-01-01", "1899-12-31", "9999-12-31", "2026-09-01", ["a", " b "], ["a", 1], [], [""],
    ["fi", "xx"], ["FI"], "fi|sv", "a||b", "light", "heavy", "no_driving", ["no_driving", "nope"], "x" * 40, ["x" * 40], "x" * 201, ["x" * 201],
    "P1", "P2",
]
_WILD_CELLS = st.sampled_from(_ODD_CELLS)


def _valid_cell(spec: ColumnSpec) -> st.SearchStrategy:
    """Canonical JSON values that break no rule of ``spec`` (ids from a small set, to meet duplicates)."""
    words = st.text(string.ascii_letters + "åäö0123456789", min_size=1, max_size=8)
    if spec.unique:
        return st.sampled_from(["P1", "P2", "P3", "V1", "V2"])
    if spec.kind == "enum":
        return st.sampled_from(spec.allowed)
    if spec.kind == "list":
        items = spec.allowed or (("fi", "sv", "en") if spec.language_codes else ("hoitaa", "siivota lattioita", "x y"))
        return st.one_of(st.lists(st.sampled_from(items), max_size=3).filter(
            lambda chosen: sum(map(len, chosen)) <= _SHORT_LIMIT), st.sampled_from(items))
    if spec.kind in ("number", "integer"):
        low = spec.minimum if spec.minimum is not None else (spec.above + 0.5 if spec.above is not None else -50)
        high = spec.maximum if spec.maximum is not None else 500
        return st.integers(int(np.ceil(low)), int(high)) | (st.floats(low, high) if spec.kind == "number" else st.nothing())
    if spec.kind == "bool":
        return st.booleans()
    if spec.kind == "date":
        return st.dates(dt.date(1950, 1, 1), dt.date(2150, 12, 31)).map(dt.date.isoformat)
    if spec.kind == "text":
        return st.text(string.ascii_letters + "äö .,\n", min_size=1, max_size=_SHORT_LIMIT).filter(
            lambda text: any(map(str.isalnum, text)))
    return words


@st.composite
def _records(draw: st.DrawFn, table: str, wild: bool) -> list[dict]:
    """Valid records; with ``wild``, one or two cells of each are odd, missing or misnamed."""
    specs = COLUMNS[table]
    records = []
    for _ in range(draw(st.integers(1, 3))):
        record = {spec.name: draw(_valid_cell(spec)) for spec in specs
                  if spec.required or draw(st.integers(0, 4))}  # optional columns are sometimes left out
        for name in draw(st.lists(st.sampled_from([spec.name for spec in specs]), min_size=1, max_size=2)) if wild else ():
            if draw(st.integers(0, 9)):
                record[name] = draw(_WILD_CELLS)
            else:
                record.pop(name, None)
                if draw(st.booleans()):
                    record[draw(st.sampled_from(["note", f" {name}", name.title()]))] = "x"
        records.append(record)
    return records


def _compare_the_two_paths(table: str, records: list[dict]) -> pd.DataFrame | None:
    plain = check_plain_records(table, records, _SHORT_LIMIT)
    if plain is not None:  # the plain path may leave a record to the column path, never accept what it rejects
        column_path = check_table(table, pd.DataFrame(records), "record", 0, _SHORT_LIMIT, {})
        assert column_path.faults == []
        pd.testing.assert_frame_equal(plain, column_path.frame, check_exact=True)
    return plain


@pytest.mark.parametrize("table", ["participants", "vacancies", "outcomes"])
def test_every_odd_cell_in_every_column_is_taken_as_the_column_path_takes_it(table: str) -> None:
    """A valid record with one cell replaced by each odd value (or left out), in every column: what
    the value-by-value path accepts, the column path accepts too, into the same frame row."""
    base = frame_to_records(getattr(load_data(EXAMPLE), table).iloc[[0]])[0]
    limit = 200  # above the example's texts, below the longest odd cells
    variants = []
    for spec in COLUMNS[table]:
        for cell in [*_ODD_CELLS, "left out"]:
            record = {**base, spec.name: cell}
            if cell == "left out":
                del record[spec.name]
            variants.append((spec, record))
    # one column-path run over many records (fast), each with its own id, so only the varied cell can fault;
    # the varied ids themselves (" 12 " and "12" are one id) each alone
    id_spec = COLUMNS[table][0]
    together = [{**record, id_spec.name: f"ROW-{n}"} if id_spec.unique else record
                for n, (spec, record) in enumerate(variants) if spec is not id_spec or not id_spec.unique]
    column_path = check_table(table, pd.DataFrame(together), "record", 0, limit, {})
    faulty = {fault.row for fault in column_path.faults}
    assert None not in faulty
    compared = [(record, column_path.frame.iloc[[row]].reset_index(drop=True), row not in faulty)
                for row, record in enumerate(together)]
    for spec, record in variants:
        if spec is id_spec and id_spec.unique:
            alone = check_table(table, pd.DataFrame([record]), "record", 0, limit, {})
            compared.append((record, alone.frame, not alone.faults))
    accepted = 0
    for record, column_frame, column_valid in compared:
        plain = check_plain_records(table, [record], limit)
        if plain is not None:
            assert column_valid, record
            pd.testing.assert_frame_equal(plain, column_frame, check_exact=True)
            accepted += 1
    assert accepted > len(compared) // 5  # the comparison is not vacuous


@pytest.mark.parametrize("table", ["participants", "vacancies", "outcomes"])
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_records_checked_value_by_value_match_the_column_path(table: str, data: st.DataObject) -> None:
    _compare_the_two_paths(table, data.draw(_records(table, wild=True)))


@pytest.mark.parametrize("table", ["participants", "vacancies", "outcomes"])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_plain_valid_records_take_the_value_by_value_path(table: str, data: st.DataObject) -> None:
    records = data.draw(_records(table, wild=False))
    unique = [record[spec.name] for spec in COLUMNS[table] if spec.unique for record in records]
    if len(set(unique)) == len(unique):
        assert _compare_the_two_paths(table, records) is not None


def test_an_api_record_is_checked_without_the_column_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The API's one record (plain JSON) never goes through pandas and pandera: ~1 ms, not ~20."""
    import ilona_match.contract.loading as loading

    record = {**frame_to_records(load_data(EXAMPLE).participants.iloc[[0]])[0], "available_from": "2026-09-01"}
    monkeypatch.setattr(loading, "check_table", lambda *args, **kwargs: pytest.fail("took the column path"))
    frame = records_to_frame("participants", [record])
    assert frame.loc[0, "participant_id"] == record["participant_id"] and frame["available_from"].dtype == "datetime64[us]"


# ---------------------------------------------------------------- writing


@pytest.mark.parametrize(
    ("text", "expected"),
    [("=SUM(A1:A9)", "'=SUM(A1:A9)"), ("+358 40 123", "'+358 40 123"), ("-rm", "'-rm"), ("@cmd", "'@cmd"),
     ("\tx", "'\tx"), ("\rx", "'\rx"), ("-12.5", "-12.5"), ("+5", "+5"), ("a=b", "a=b"), ("", "")],
)
def test_neutralise_formula(text: str, expected: str) -> None:
    assert neutralise_formula(text) == expected


def test_write_table_neutralises_formulas_in_csv_and_leaves_numbers(tmp_path: Path) -> None:
    frame = pd.DataFrame({
        "note": ["=HYPERLINK(\"x\")", "+1 call", "-minus", "@user", "plain", None],
        "items": [("=a", "b"), ("c",), (), ("@d",), ("e", "=f"), ()],
        "value": [-12.5, 1.0, -3.0, 0.0, 2.0, np.nan],
        "text_number": ["-12.5", "1", "-3", "0", "2", "3"],
    })
    write_table(frame, tmp_path / "out.csv")
    back = read_table(tmp_path / "out.csv")
    assert back["note"].tolist()[:5] == ["'=HYPERLINK(\"x\")", "'+1 call", "'-minus", "'@user", "plain"]
    assert pd.isna(back["note"].iloc[5])
    assert back["items"].tolist()[:5] == ["'=a|b", "c", np.nan, "'@d", "e|=f"]
    assert back["value"].tolist()[:5] == ["-12.5", "1.0", "-3.0", "0.0", "2.0"]
    assert back["text_number"].tolist() == ["-12.5", "1", "-3", "0", "2", "3"]


def test_write_table_refuses_other_extensions(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"out\.xlsx: write_table writes \.csv or \.parquet files"):
        write_table(pd.DataFrame({"a": [1]}), tmp_path / "out.xlsx")


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_example_round_trips_through_write_table(tmp_path: Path, suffix: str) -> None:
    bundle = load_data(EXAMPLE)
    folder = tmp_path / "copy"
    folder.mkdir()
    for table in ("participants", "vacancies", "outcomes"):
        write_table(getattr(bundle, table), folder / f"{table}{suffix}")
    again = load_data(folder)
    for table in ("participants", "vacancies", "outcomes"):
        pd.testing.assert_frame_equal(getattr(again, table), getattr(bundle, table))


def test_parquet_written_by_write_table_uses_native_types(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    write_table(load_data(EXAMPLE).vacancies, tmp_path / "vacancies.parquet")
    schema = pq.read_schema(tmp_path / "vacancies.parquet")
    assert str(schema.field("required_skills").type) == "list<element: string>"
    assert str(schema.field("published_at").type) == "date32[day]"
    assert str(schema.field("remote").type) == "bool"


def test_parquet_with_string_encoded_lists_is_tolerated(data: Path) -> None:
    raw = read_table(data / "participants.csv")
    raw.to_parquet(data / "participants.parquet")
    (data / "participants.csv").unlink()
    participants = load_data(data).participants
    assert participants.loc[1, "restrictions"] == ("quiet_environment", "needs_job_coach")
    assert participants.loc[0, "max_hours_per_week"] == 25.0


# ---------------------------------------------------------------- round trip of random valid rows

SAFE_TEXT = string.ascii_letters + string.digits + " åäöÅÄÖ.,;:/'\"()\n"
item = st.text(alphabet=string.ascii_letters + "åäö .:/-", min_size=1, max_size=12).filter(
    lambda text: text.strip() and not text.strip().startswith("-"))
items = st.lists(item, max_size=3)
free_text = st.text(alphabet=SAFE_TEXT + "=+-@|", max_size=60).filter(lambda text: not text.startswith(("=", "+", "-", "@")))
maybe = st.none().__or__
finite = {"allow_nan": False, "allow_infinity": False}


@st.composite
def participant_records(draw: st.DrawFn) -> list[dict[str, object]]:
    count = draw(st.integers(1, 5))
    return [{
        "participant_id": f"P{number}", "coach_id": draw(st.sampled_from(["C1", "C2"])),
        "language": draw(st.sampled_from(LANGUAGES)), "profile_text": draw(free_text),
        "skills": draw(items), "occupations": draw(items),
        "languages_spoken": draw(st.lists(st.sampled_from(["fi", "sv", "en", "so", "ar"]), max_size=3)),
        "max_hours_per_week": draw(st.floats(0, 60, **finite)),
        "physical_capacity": draw(st.sampled_from(PHYSICAL_LEVELS)),
        "restrictions": draw(st.lists(st.sampled_from(RESTRICTIONS), unique=True, max_size=3)),
        "municipality": draw(maybe(st.sampled_from(["Helsinki", "Närpes", "Oulu"]))),
        "lat": draw(maybe(st.floats(-90, 90, **finite))), "lon": draw(maybe(st.floats(-180, 180, **finite))),
        "max_commute_km": draw(maybe(st.floats(0, 1e4, exclude_min=True, **finite))),
        "remote_ok": draw(maybe(st.booleans())), "preferred_sectors": draw(items),
        "supports": draw(st.lists(st.sampled_from(SUPPORTS), unique=True, max_size=2)),
        "unemployment_months": draw(maybe(st.integers(0, 400))),
        "available_from": draw(maybe(st.dates(dt.date(1990, 1, 1), dt.date(2100, 12, 31)))),
    } for number in range(count)]


@st.composite
def vacancy_records(draw: st.DrawFn) -> list[dict[str, object]]:
    count = draw(st.integers(1, 5))
    return [{
        "vacancy_id": f"V{number}", "employer_id": "E1", "employer_type": draw(maybe(st.sampled_from(["private", "public"]))),
        "sector": draw(st.sampled_from(["retail", "cleaning"])), "title": draw(free_text.filter(str.strip)),
        "description": draw(free_text), "required_skills": draw(items),
        "hours_per_week": draw(maybe(st.floats(0, 80, **finite))), "physical_load": draw(maybe(st.sampled_from(PHYSICAL_LEVELS))),
        "night_shifts": draw(maybe(st.booleans())), "driving": draw(maybe(st.booleans())),
        "openings": draw(maybe(st.integers(1, 50))), "supports_accepted": draw(st.lists(st.sampled_from(SUPPORTS), max_size=2)),
        "published_at": draw(st.dates(dt.date(2020, 1, 1), dt.date(2030, 1, 1))),
        "closes_at": draw(maybe(st.dates(dt.date(2020, 1, 1), dt.date(9999, 12, 31)))),
    } for number in range(count)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(participants=participant_records(), vacancies=vacancy_records(), suffix=st.sampled_from([".csv", ".parquet"]))
def test_random_valid_rows_round_trip_unchanged(tmp_path: Path, participants: list, vacancies: list, suffix: str) -> None:
    expected = {"participants": records_to_frame("participant", participants),
                "vacancies": records_to_frame("vacancy", vacancies)}
    folder = tmp_path / f"round_trip{suffix}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir()
    for table, frame in expected.items():
        write_table(frame, folder / f"{table}{suffix}")
    bundle = load_data(folder, tables=("participants", "vacancies"))
    pd.testing.assert_frame_equal(bundle.participants, expected["participants"])
    pd.testing.assert_frame_equal(bundle.vacancies, expected["vacancies"])
