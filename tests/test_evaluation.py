"""The honest time split on hand-made histories: what is judged, what is set aside, what baselines know."""

from __future__ import annotations

from datetime import date

import pandas as pd

from ilona_match.learning.evaluation import held_out, text_baseline

SPLIT, END = date(2026, 5, 1), date(2026, 7, 1)


def _events(*rows: tuple[str, str, str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["participant_id", "vacancy_id", "event", "event_date"])
    return frame.assign(event_date=pd.to_datetime(frame["event_date"]))


def _vacancies(*rows: tuple[str, str, str | None]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["vacancy_id", "published_at", "closes_at"])
    return frame.assign(published_at=pd.to_datetime(frame["published_at"]), closes_at=pd.to_datetime(frame["closes_at"]))


def test_only_pairs_first_met_in_the_window_are_judged_and_successes_are_what_coaches_count() -> None:
    vacancies = _vacancies(("V1", "2026-03-01", None), ("V2", "2026-04-20", None), ("V3", "2026-05-10", None),
                           ("V4", "2026-05-10", "2026-05-20"), ("V5", "2026-05-01", None))
    events = _events(
        ("P1", "V1", "applied", "2026-04-25"), ("P1", "V1", "interview", "2026-05-05"),  # in progress before: set aside
        ("P1", "V2", "recommended", "2026-05-12"), ("P1", "V2", "interview", "2026-05-20"),  # new, a success
        ("P1", "V3", "recommended", "2026-05-12"), ("P1", "V3", "rejected", "2026-05-30"),  # new, same day: grade 0
        ("P2", "V3", "applied", "2026-05-15"), ("P2", "V3", "rejected", "2026-05-25"),  # no success that day: unjudged
        ("P3", "V4", "recommended", "2026-05-25"), ("P3", "V4", "hired", "2026-06-10"),  # met after it closed: not open
        ("P4", "V5", "viewed", "2026-05-02"), ("P4", "V5", "hired", "2026-07-02"),  # the success comes after the window
        ("P5", "V2", "recommended", "2026-05-03"), ("P5", "V2", "applied", "2026-05-04"),
        ("P5", "V5", "recommended", "2026-05-20"), ("P5", "V5", "work_trial", "2026-06-01"),  # two days, one judged
    )
    window = held_out(events, vacancies, SPLIT, END)
    assert window.set_aside == 1
    judged = window.relevance.set_index(["query_id", "item_id"])["grade"].to_dict()
    assert judged == {("P1@2026-05-12", "V2"): 1, ("P1@2026-05-12", "V3"): 0, ("P5@2026-05-20", "V5"): 2}
    assert window.days == [date(2026, 5, 12), date(2026, 5, 20)]
    people, leave_out = window.on(date(2026, 5, 20))
    assert people == ["P5"]  # P5's pair of another day (V2, met 05-03) is out of that day's list
    assert list(zip(leave_out.participant_ids, leave_out.vacancy_ids)) == [("P5", "V2")]
    people, leave_out = window.on(date(2026, 5, 12))
    assert people == ["P1"] and set(zip(leave_out.participant_ids, leave_out.vacancy_ids)) == {("P1", "V1")}


def test_the_text_baseline_knows_only_vacancies_published_before_the_split() -> None:
    vacancies = _vacancies(("V1", "2026-04-01", None), ("V2", "2026-05-02", None))
    baseline = text_baseline(vacancies, ["siivooja koulu", "zorblaxer tehdas"], SPLIT)
    assert " si" in baseline.vocabulary_ and "zor" not in baseline.vocabulary_
