"""The fairness audit on tiny synthetic runs with known answers (learning.audit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ilona_match.config import AuditSettings
from ilona_match.contract import ContractError, load_data
from ilona_match.learning.audit import AuditInputs, AuditReport, audit_run, person_values

SETTINGS = AuditSettings(bootstrap_rounds=100, min_group_size=20)
EXAMPLE = Path(__file__).parent / "data" / "example"  # the contract's hand-written example


def _run(chance_of: dict[str, float], hire_rate_of: dict[str, float], n: int = 400, seed: int = 0,
         ndcg: bool = False) -> AuditInputs:
    """n people in age bands A ("<25") and B ("55+"), ten vacancies each with a chance set by the band,
    and a history in which each person met one vacancy and was hired at the band's rate."""
    rng = np.random.default_rng(seed)
    ids = [f"p{i}" for i in range(n)]
    band = np.where(np.arange(n) % 2 == 0, "<25", "55+")
    gender = np.where(np.arange(n) % 4 < 2, "female", "male")
    m = 200
    vacancies = pd.DataFrame({
        "vacancy_id": [f"v{j}" for j in range(m)], "openings": 50, "hours_per_week": 30.0,
        "lat": 60.2, "lon": 24.9, "sector": "retail", "employer_type": "private"})
    rows = []
    for i in range(n):
        for rank, j in enumerate(rng.choice(m, 10, replace=False), start=1):
            rows.append((ids[i], rank, f"v{j}", chance_of[band[i]] * rng.uniform(0.8, 1.2), -float(rank)))
    lists = pd.DataFrame(rows, columns=["participant_id", "rank", "vacancy_id", "p_outcome", "score"])
    history = pd.DataFrame([(ids[i], f"v{rng.integers(m)}", "hired" if rng.random() < hire_rate_of[band[i]] else "applied")
                            for i in range(n)], columns=["participant_id", "vacancy_id", "event"])
    people = pd.DataFrame({"participant_id": ids, "lat": 60.2, "lon": 24.9})
    groups = pd.DataFrame({"participant_id": ids, "age_band": band, "gender": gender, "mother_tongue_group": None,
                           "capacity_category": None, "region": None})
    scores = pd.Series(rng.uniform(0.3, 0.7, n), index=ids) if ndcg else None
    return AuditInputs(people, groups, vacancies, lists, history, ndcg=scores)


def test_person_values_split_expected_placements_by_openings() -> None:
    # two people send 1.0 + 0.5 acted-on chance to one opening: it fills once, shared 2:1
    lists = pd.DataFrame({"participant_id": ["a", "b"], "vacancy_id": ["v", "v"], "rank": [1, 1], "p_outcome": [1.0, 0.5]})
    values = person_values(["a", "b", "c"], lists, pd.Series({"v": 1.0}))
    assert values.loc["a", "expected_placements"] == pytest.approx(2 / 3)
    assert values.loc["b", "expected_placements"] == pytest.approx(1 / 3)
    assert values.loc["c", "has_recommendation"] == 0.0 and values.loc["c", "list_length"] == 0
    assert values.loc["a", "good_exposure"] == pytest.approx(1.0) and values.loc["b", "good_exposure"] == pytest.approx(1.0)


def test_a_group_served_half_as_well_is_a_violation_naming_group_and_metric() -> None:
    report = audit_run(_run({"<25": 0.3, "55+": 0.15}, {"<25": 0.2, "55+": 0.2}, n=1600), SETTINGS)
    row = report.gaps.query("attribute == 'age_band' and metric == 'expected_placements' and group == '55+'").iloc[0]
    assert row["ratio"] == pytest.approx(0.5, abs=0.06) and row["ratio_high"] < 0.8
    assert any(v.startswith("age_band = 55+: expected_placements is 0.") for v in report.violations)
    # the history shows no gap; the lists open one: the audit says so and (block_widening) flags it
    history = report.history.query("attribute == 'age_band' and group == '55+'").iloc[0]
    assert history["hire_low"] <= 1.0 <= history["hire_high"]
    assert history["verdict"] == "gives the group less than the history"
    assert any(v.startswith("age_band = 55+: expected_placements 0.") and "block_widening" in v for v in report.violations)


def test_no_gap_reports_intervals_around_one_and_no_violation() -> None:
    report = audit_run(_run({"<25": 0.2, "55+": 0.2}, {"<25": 0.2, "55+": 0.2}, ndcg=True), SETTINGS)
    assert report.violations == ()
    for row in report.gaps.query("metric in ['expected_placements', 'ndcg_at_10']").itertuples():
        assert row.ratio_low <= 1.0 <= row.ratio_high, row
    assert set(report.history["verdict"]) == {"no gap in the history, none in the lists"}
    assert "no violation of the audit thresholds" in report.text()


def test_lists_that_keep_the_history_gap_are_not_widening_and_narrower_lists_say_so() -> None:
    same = audit_run(_run({"<25": 0.3, "55+": 0.15}, {"<25": 0.3, "55+": 0.15}, n=800), SETTINGS)
    row = same.history.query("attribute == 'age_band' and group == '55+'").iloc[0]
    assert row["hire_high"] < 1.0 and row["verdict"] == "about as in the history"
    narrower = audit_run(_run({"<25": 0.2, "55+": 0.2}, {"<25": 0.3, "55+": 0.1}, n=800), SETTINGS)
    row = narrower.history.query("attribute == 'age_band' and group == '55+'").iloc[0]
    assert row["verdict"] == "narrows the gap in the history"
    assert not any("widens" in v for v in narrower.violations)


def test_small_groups_and_unchecked_attributes_are_reported_but_never_block() -> None:
    inputs = _run({"<25": 0.3, "55+": 0.15}, {"<25": 0.2, "55+": 0.2})
    groups = inputs.groups.copy()
    groups["capacity_category"] = np.where(groups["age_band"] == "55+", "mental_health", "none_recorded")
    groups.loc[:4, "region"] = "Lappi"  # five people: below min_group_size
    report = audit_run(AuditInputs(inputs.people, groups, inputs.vacancies, inputs.lists, inputs.history), SETTINGS)
    assert "Lappi" not in set(report.groups["group"])
    assert "region" not in report.summary["attributes"]
    assert report.gaps.query("attribute == 'capacity_category' and group == 'mental_health' and "
                             "metric == 'expected_placements'")["ratio"].iloc[0] < 0.8
    assert not any(v.startswith("capacity_category") for v in report.violations)
    assert any(v.startswith("age_band = 55+") for v in report.violations)


def test_skew_at_k_is_positive_for_a_group_placed_first_in_vacancies_lists() -> None:
    report = audit_run(_run({"<25": 0.3, "55+": 0.1}, {"<25": 0.2, "55+": 0.2}), SETTINGS)
    skew = report.skew.query("attribute == 'age_band'").set_index("group")["skew"]
    assert skew["<25"] > 0 > skew["55+"]


def test_report_round_trips_through_json_and_flat_metrics_are_finite() -> None:
    report = audit_run(_run({"<25": 0.3, "55+": 0.15}, {"<25": 0.2, "55+": 0.2}), SETTINGS, run="r1", day="2026-01-01")
    again = AuditReport.from_json(report.to_json())
    assert again.text() == report.text() and again.violations == report.violations
    metrics = report.metrics()
    assert metrics["audit.violations"] == len(report.violations)
    assert metrics["audit.age_band.expected_placements.lowest_ratio"] == pytest.approx(0.5, abs=0.06)
    assert all(np.isfinite(v) for v in metrics.values())


def test_without_group_attributes_the_report_says_there_is_nothing_to_audit() -> None:
    inputs = _run({"<25": 0.2, "55+": 0.2}, {"<25": 0.2, "55+": 0.2})
    empty = inputs.groups.iloc[0:0]
    report = audit_run(AuditInputs(inputs.people, empty, inputs.vacancies, inputs.lists, inputs.history), SETTINGS)
    assert report.groups.empty and report.violations == ()
    assert "nothing to audit" in report.text()


# ------------------------------------------------------------------ the participant_groups table (contract v1.1)
def _folder(tmp_path, groups_csv: str):
    from shutil import copytree

    data = copytree(EXAMPLE, tmp_path / "data")
    (data / "participant_groups.csv").write_text(groups_csv, encoding="utf-8")
    return data


def test_groups_table_is_read_only_when_asked_for(tmp_path) -> None:
    first = load_data(EXAMPLE).participants["participant_id"].iloc[0]
    data = _folder(tmp_path, f"participant_id,age_band,gender\n{first},55+,female\n")
    assert load_data(data).participant_groups.empty  # the engine's default read leaves it out
    groups = load_data(data, tables=("participants", "participant_groups")).participant_groups
    assert groups.loc[0, "age_band"] == "55+" and pd.isna(groups.loc[0, "region"])


def test_bad_group_rows_name_file_row_and_column(tmp_path) -> None:
    first = load_data(EXAMPLE).participants["participant_id"].iloc[0]
    data = _folder(tmp_path, f"participant_id,age_band\n{first},55+\nnobody,<25\n")
    with pytest.raises(ContractError, match=r"participant_groups.csv row 2, column participant_id: unknown participant"):
        load_data(data, tables=("participants", "participant_groups"))
    kept = load_data(data, tables=("participants", "participant_groups"), on_error="continue")
    assert list(kept.participant_groups["participant_id"]) == [first]  # nothing valid is lost
    data = _folder(tmp_path / "b", f"participant_id,age_band\n{first},60-65\n")
    with pytest.raises(ContractError, match=r"participant_groups.csv.*column age_band"):
        load_data(data, tables=("participants", "participant_groups"))


@pytest.mark.parametrize(("hire", "engine", "verdict"), [
    ((0.5, 0.4, 0.6), (0.3, 0.25, 0.35), "widens the gap in the history"),
    ((0.5, 0.4, 0.6), (0.5, 0.45, 0.55), "about as in the history"),
    ((0.5, 0.4, 0.6), (0.9, 0.85, 0.95), "narrows the gap in the history"),
    ((1.6, 1.05, 2.3), (0.93, 0.84, 1.04), "narrows the gap in the history"),  # favoured in the history only
    ((1.0, 0.8, 1.2), (0.6, 0.55, 0.65), "gives the group less than the history"),
    ((1.0, 0.8, 1.2), (1.5, 1.4, 1.6), "gives the group more than the history"),
    ((1.0, 0.8, 1.2), (0.95, 0.9, 1.01), "no gap in the history, none in the lists"),
    ((1.0, 0.7, 1.3), (0.8, 0.75, 0.85), "a gap in the lists within the history's interval"),
])
def test_verdicts_place_the_lists_against_the_history(hire: tuple, engine: tuple, verdict: str) -> None:
    from ilona_match.learning.audit import _verdict

    assert _verdict(hire, engine) == verdict


def test_coach_overrides_are_counted_by_reason_and_by_group() -> None:
    inputs = _run({"<25": 0.2, "55+": 0.2}, {"<25": 0.2, "55+": 0.2})
    older = inputs.groups.loc[inputs.groups["age_band"] == "55+", "participant_id"].head(30)
    overrides = pd.DataFrame({"participant_id": list(older), "reason": ["not_suitable_health"] * 20 + ["other"] * 10})
    report = audit_run(AuditInputs(inputs.people, inputs.groups, inputs.vacancies, inputs.lists, inputs.history,
                                   overrides=overrides), SETTINGS)
    assert dict(zip(report.overrides["reason"], report.overrides["overrides"])) == {"not_suitable_health": 20, "other": 10}
    shares = report.groups.query("attribute == 'age_band' and metric == 'overridden'").set_index("group")["value"]
    assert shares["55+"] == pytest.approx(30 / 200) and shares["<25"] == 0.0
    assert "coach overrides by reason: not_suitable_health 20, other 10" in report.text()
