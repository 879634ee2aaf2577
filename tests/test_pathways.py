"""Pathways on tiny hand-made data with known answers: targets with local demand, the gap, steps that
close it and that the person can take (hard constraints, seats, dates, reach), the effects learned
from service outcomes, reasons in the person's language, and a property test of the hard limits."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.exceptions import NotFittedError

from ilona_match.contract import SERVICE_COLUMNS, records_to_frame
from ilona_match.contract.constraints import ParticipantLimits, VacancyDemands, feasible
from ilona_match.contract.spec import SERVICE_KINDS
from ilona_match.pathways import KIND_PRIOR, EffectsConfig, PathwayConfig, ServiceEffects, build_services
from ilona_match.pathways.tables import PathwayInputs, pathways_table
from ilona_match.text.taxonomy import Taxonomy

AS_OF = date(2026, 9, 1)
HELSINKI = (60.17, 24.94)
OULU = (65.01, 25.47)


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load()


@pytest.fixture(scope="module")
def care(taxonomy: Taxonomy) -> dict:
    """Healthcare assistant: its URI, two essential skills a person lacks, one they have."""
    uri = taxonomy.resolve("5321.1").uri
    skills = taxonomy.essential_skills(uri)
    return {"uri": uri, "lacks": skills[:2], "has": skills[2], "other": taxonomy.essential_skills(
        taxonomy.resolve("9112.1").uri)[:2]}


def _person(**fields) -> dict:
    record = {"participant_id": "P1", "coach_id": "C1", "language": "fi", "profile_text": "",
              "max_hours_per_week": 30, "physical_capacity": "medium", "lat": HELSINKI[0], "lon": HELSINKI[1],
              "max_commute_km": 20, "municipality": "Helsinki"}
    return record | fields


def _vacancy(vacancy_id: str, occupation: str, **fields) -> dict:
    record = {"vacancy_id": vacancy_id, "employer_id": "E1", "sector": "social_health", "occupation": occupation,
              "title": "Lähihoitaja", "description": "", "hours_per_week": 30, "physical_load": "medium",
              "night_shifts": False, "weekend_work": False, "customer_contact": True, "heavy_lifting": False,
              "driving": False, "lat": HELSINKI[0], "lon": HELSINKI[1], "published_at": "2026-08-01"}
    return record | fields


def _service(service_id: str, **fields) -> dict:
    record = {"service_id": service_id, "provider_id": "T1", "provider_type": "training_provider", "kind": "course",
              "title": "Kurssi", "description": "", "hours_per_week": 20, "physical_load": "light",
              "night_shifts": False, "weekend_work": False, "customer_contact": False, "heavy_lifting": False,
              "driving": False, "lat": HELSINKI[0], "lon": HELSINKI[1], "seats": 10,
              "starts_at": (AS_OF + timedelta(days=14)).isoformat(), "duration_weeks": 8}
    return record | fields


def _service_events(rows: list[dict]) -> pd.DataFrame:
    """Outcome rows naming a service, as ``DataBundle.service_outcomes`` holds them."""
    frame = pd.DataFrame(rows, columns=["participant_id", "service_id", "event", "event_date"])
    return frame.assign(event_date=pd.to_datetime(frame["event_date"]))


def _plan(people: list[dict], vacancies: list[dict], services: list[dict], taxonomy: Taxonomy,
          outcomes: pd.DataFrame | None = None, service_outcomes: pd.DataFrame | None = None,
          config: PathwayConfig | None = None) -> pd.DataFrame:
    outcomes = outcomes if outcomes is not None else records_to_frame("outcomes", [])
    return pathways_table(records_to_frame("participants", people), records_to_frame("vacancies", vacancies),
                          outcomes, records_to_frame("services", services), service_outcomes, AS_OF, taxonomy, config)


def test_the_step_that_teaches_the_gap_comes_first_and_leads_to_the_open_job(taxonomy: Taxonomy, care: dict) -> None:
    people = [_person(skills=[care["has"]])]
    vacancies = [_vacancy("V1", care["uri"]), _vacancy("V2", care["uri"], lat=OULU[0], lon=OULU[1])]
    services = [_service("S-gap", skills_taught=list(care["lacks"])),
                _service("S-other", skills_taught=list(care["other"]))]
    routes = _plan(people, vacancies, services, taxonomy, config=PathwayConfig(max_steps=1))
    first = routes.iloc[0]
    assert first["target_occupation"] == care["uri"] and first["steps"] == ("S-gap",)
    assert set(care["lacks"]) <= set(routes["gap_skills"].iloc[0]) or len(first["gap_skills"]) == 5
    assert care["has"] not in first["gap_skills"]
    assert first["leads_to"] == ("V1",)  # the job in Oulu is beyond the 20 km commute
    other = routes[routes["steps"] == ("S-other",)]
    assert other.empty or float(other["p_gain"].iloc[0]) < float(first["p_gain"])
    assert 0 < first["p_gain"] < 1
    assert first["reasons"][0] == f"Avoimia työpaikkoja lähelläsi ammatissa {taxonomy.label(care['uri'], 'fi')}: 1"
    assert any(reason.startswith("Koulutus opettaa työssä tarvittavia taitoja: ") for reason in first["reasons"])


def test_steps_a_person_cannot_take_are_never_proposed(taxonomy: Taxonomy, care: dict) -> None:
    people = [_person(restrictions=["no_night_shifts"])]
    vacancies = [_vacancy("V1", care["uri"])]
    teach = list(care["lacks"])
    services = [
        _service("S-night", skills_taught=teach, night_shifts=True),
        _service("S-hours", skills_taught=teach, hours_per_week=40),
        _service("S-heavy", skills_taught=teach, physical_load="heavy"),
        _service("S-closed", skills_taught=teach, closes_at=(AS_OF - timedelta(days=1)).isoformat()),
        _service("S-late", skills_taught=teach, starts_at=(AS_OF + timedelta(days=200)).isoformat()),
        _service("S-over", skills_taught=teach, starts_at="2026-01-01", duration_weeks=10),
        _service("S-far", skills_taught=teach, lat=OULU[0], lon=OULU[1]),
        _service("S-full", skills_taught=teach, seats=1),
        _service("S-ok", kind="coaching", provider_type="ngo", lat=OULU[0], lon=OULU[1], remote=True),
    ]
    started = _service_events([{"participant_id": "P9", "service_id": "S-full", "event": "started",
                                "event_date": "2026-08-20"}])
    routes = _plan(people, vacancies, services, taxonomy, service_outcomes=started)
    assert {step for steps in routes["steps"] for step in steps} == {"S-ok"}  # remote, so Oulu is no obstacle
    assert any("Voi osallistua etänä" in reason for reason in routes["reasons"].iloc[0])
    assert "Valmennus tukee työhön pääsyä alasta riippumatta" in routes["reasons"].iloc[0]
    assert len(routes) == 1  # one step open to them: one route, not the same step toward every target


def test_unknown_values_and_support_eligibility_are_flagged_in_the_persons_language(taxonomy: Taxonomy,
                                                                                     care: dict) -> None:
    people = [_person(participant_id="P-sv", language="sv", restrictions=["no_night_shifts"])]
    services = [_service("S-trial", kind="work_trial", provider_type="social_enterprise", occupations_toward=[care["uri"]],
                         night_shifts=None, hours_per_week=None, supports_accepted=["work_trial"])]
    routes = _plan(people, [_vacancy("V1", care["uri"])], services, taxonomy)
    route = routes.iloc[0]
    assert route["steps"] == ("S-trial",)
    assert route["to_check"] == ("arbetstiden är okänd", "nattskift okänt", "rätt till stöd (work_trial)")
    assert "Arbetsprövningen leder mot det här arbetet" in route["reasons"]
    assert "Anordnaren är ett socialt företag" in route["reasons"]


def test_a_run_shares_a_steps_seats_and_nobody_loses_a_route(taxonomy: Taxonomy, care: dict) -> None:
    """Four people, the same gap: a course that teaches all of it has one seat left, coaching has ten.
    Planned as if alone, everyone's first route is the course, and each says the coach to check that
    four people's first route has one seat; in one run only one list starts with it, the others start
    with coaching and keep the course second."""
    skills = taxonomy.essential_skills(care["uri"])
    people = [_person(participant_id=f"P{i}", skills=[care["has"]]) for i in range(1, 5)]
    vacancies = [_vacancy("V1", care["uri"]), _vacancy("V2", care["uri"])]
    services = [_service("S-gap", skills_taught=[s for s in skills if s != care["has"]], seats=1),
                _service("S-coach", kind="coaching", provider_type="ngo", seats=10)]
    alone = _plan(people, vacancies, services, taxonomy, config=PathwayConfig(max_steps=1, share_seats=False))
    shared = _plan(people, vacancies, services, taxonomy, config=PathwayConfig(max_steps=1))
    assert (alone[alone["rank"] == 1]["steps"] == ("S-gap",)).all()
    leads = shared[shared["rank"] == 1].set_index("participant_id")["steps"]
    assert sorted(leads.tolist()) == [("S-coach",)] * 3 + [("S-gap",)]
    assert shared.groupby("participant_id").size().tolist() == [2, 2, 2, 2]  # order and value, not deletion
    course = shared[shared["steps"] == ("S-gap",)]
    assert (course["p_gain"] > shared[shared["steps"] == ("S-coach",)]["p_gain"].max()).all()  # its own gain stays
    assert not any(checks for checks in shared["to_check"])
    crowded = alone[alone["steps"] == ("S-gap",)]["to_check"]
    assert len(crowded) == 4 and all(checks == ("paikkoja vapaana 1, ensimmäinen ehdotus 4 henkilölle",)
                                     for checks in crowded)
    one = _plan(people[:1], vacancies, services, taxonomy, config=PathwayConfig(max_steps=1))
    assert one.iloc[0]["steps"] == ("S-gap",) and not one.iloc[0]["to_check"]  # a seat for one: no warning


def test_a_skill_step_then_a_workplace_step_toward_the_target(taxonomy: Taxonomy, care: dict) -> None:
    asked = taxonomy.essential_skills(care["uri"]) + taxonomy.optional_skills(care["uri"])
    people = [_person(language="en", skills=[s for s in asked if s not in care["lacks"]])]  # the course closes the gap
    services = [_service("S-course", skills_taught=list(care["lacks"]), duration_weeks=6),
                _service("S-trial", kind="work_trial", provider_type="employer", occupations_toward=[care["uri"]],
                         starts_at=(AS_OF + timedelta(days=70)).isoformat()),
                _service("S-early-trial", kind="work_trial", provider_type="employer", occupations_toward=[care["uri"]],
                         starts_at=(AS_OF + timedelta(days=1)).isoformat())]
    routes = _plan(people, [_vacancy("V1", care["uri"])], services, taxonomy)
    two = routes[routes["steps"].map(len) == 2]
    assert not two.empty and two["steps"].iloc[0][0] == "S-course"
    assert two["steps"].iloc[0][1] == "S-trial"  # the trial that starts after the course, not before
    single = routes[routes["steps"] == ("S-course",)]
    assert single.empty or float(two["p_gain"].iloc[0]) > float(single["p_gain"].iloc[0])


def test_a_work_trial_opens_a_target_beyond_the_closest_occupations(taxonomy: Taxonomy, care: dict) -> None:
    """Only the closest occupation is a target by closeness (``targets: 1``); an occupation with an open
    job nearby that a work trial open to the person leads toward is a target too, and a course toward
    another such occupation does not make it one."""
    cleaner, kitchen = taxonomy.resolve("9112.1").uri, taxonomy.resolve("9412.1").uri
    people = [_person(skills=[care["has"]])]
    vacancies = [_vacancy("V-care", care["uri"]), _vacancy("V-clean", cleaner), _vacancy("V-kitchen", kitchen)]
    services = [_service("S-trial", kind="work_trial", provider_type="social_enterprise", occupations_toward=[cleaner]),
                _service("S-course", occupations_toward=[kitchen])]
    routes = _plan(people, vacancies, services, taxonomy, config=PathwayConfig(targets=1, max_steps=1))
    assert set(routes["target_occupation"]) == {care["uri"], cleaner}
    trial = routes[routes["target_occupation"] == cleaner].iloc[0]
    assert trial["steps"] == ("S-trial",) and trial["leads_to"] == ("V-clean",)
    assert "Järjestäjä on yhteiskunnallinen yritys" in trial["reasons"]


def test_a_hire_in_recent_months_shows_demand_in_plain_words(taxonomy: Taxonomy, care: dict) -> None:
    closed = _vacancy("V1", care["uri"], published_at="2026-05-01", closes_at="2026-06-01")
    hires = records_to_frame("outcomes", [{"participant_id": "P9", "vacancy_id": "V1", "event": "hired",
                                           "event_date": "2026-05-20"}])
    people = [_person(language="en"), _person(participant_id="P9", language="en")]
    routes = _plan(people, [closed], [_service("S1", skills_taught=list(care["lacks"]))], taxonomy, outcomes=hires)
    first = routes[routes["participant_id"] == "P1"].iloc[0]
    assert first["leads_to"] == ()  # nothing open now
    assert first["reasons"][0] == f"1 person hired as {taxonomy.label(care['uri'], 'en')} near you in recent months"


def test_a_person_with_no_demand_in_reach_still_gets_a_route_flagged_for_the_coach(taxonomy: Taxonomy,
                                                                                  care: dict) -> None:
    people = [_person(language="en")]
    routes = _plan(people, [_vacancy("V1", care["uri"], lat=OULU[0], lon=OULU[1])],
                   [_service("S1", skills_taught=list(care["lacks"]))], taxonomy)
    assert len(routes) >= 1 and routes["leads_to"].iloc[0] == ()
    assert "target jobs beyond travel range" in routes["to_check"].iloc[0]


def test_no_service_no_route_and_the_table_keeps_its_columns(taxonomy: Taxonomy, care: dict) -> None:
    routes = _plan([_person()], [_vacancy("V1", care["uri"])], [_service("S1", hours_per_week=40)], taxonomy)
    assert routes.empty and list(routes.columns)[:3] == ["participant_id", "coach_id", "rank"]


def _offers(service_id: str, people: range, completes: bool, hired: bool, start: date) -> tuple[list, list]:
    services, vacancies = [], []
    for n in people:
        pid = f"P{n}"
        services.append({"participant_id": pid, "service_id": service_id, "event": "offered",
                         "event_date": (start - timedelta(days=10)).isoformat()})
        services.append({"participant_id": pid, "service_id": service_id, "event": "started",
                         "event_date": start.isoformat()})
        end = start + timedelta(days=56)
        services.append({"participant_id": pid, "service_id": service_id,
                         "event": "completed" if completes else "dropped_out", "event_date": end.isoformat()})
        if hired:
            vacancies.append({"participant_id": pid, "vacancy_id": "V1", "event": "hired",
                              "event_date": (end + timedelta(days=30)).isoformat()})
    return services, vacancies


def test_effects_are_learned_from_completers_against_those_who_did_not_complete() -> None:
    start = date(2025, 10, 1)
    rows_good, hires_good = _offers("S-good", range(0, 30), completes=True, hired=True, start=start)
    rows_bad, hires_bad = _offers("S-bad", range(30, 60), completes=True, hired=False, start=start)
    rows_drop, _ = _offers("S-good", range(60, 80), completes=False, hired=False, start=start)
    services = records_to_frame("services", [
        _service("S-good", provider_id="GOOD", starts_at=start.isoformat()),
        _service("S-bad", provider_id="BAD", starts_at=start.isoformat())])
    events = _service_events(rows_good + rows_bad + rows_drop)
    hires = records_to_frame("outcomes", hires_good + hires_bad)
    effects = ServiceEffects(EffectsConfig(prior_strength=10)).fit(events, hires, services, AS_OF)
    completion, gain = effects.predict(build_services(services, Taxonomy.load()))
    prior_completion, prior_gain = KIND_PRIOR["course"]
    # the kind first: 60 of 80 who ended completed; 30 of 60 completers hired, none of the 20 who did not
    kind_completion = (60 + 10 * prior_completion) / (80 + 10)
    kind_gain = (30 - 0.0 * 60 + 10 * prior_gain) / (60 + 10)
    assert effects.kind_effects_.loc["course", ["completion", "gain"]].tolist() == pytest.approx(
        [kind_completion, kind_gain])
    # then each provider, shrunk toward its kind: GOOD 30 of 50 completed, every completer hired;
    # BAD 30 of 30 completed, none hired
    assert completion == pytest.approx([(30 + 10 * kind_completion) / 60, (30 + 10 * kind_completion) / 40])
    assert gain == pytest.approx([(30 + 10 * kind_gain) / 40, (10 * kind_gain) / 40])
    unseen = build_services(records_to_frame("services", [_service("S-new", provider_id="NEW", kind="work_trial",
                                                                   provider_type="employer")]), Taxonomy.load())
    assert effects.predict(unseen)[1] == pytest.approx([KIND_PRIOR["work_trial"][1]])  # no work trial seen: the prior
    with pytest.raises(NotFittedError, match="ServiceEffects is not fitted"):
        ServiceEffects().predict(unseen)


def test_every_kind_of_step_has_a_prior() -> None:
    assert set(KIND_PRIOR) == set(SERVICE_KINDS)
    assert all(0 < completion <= 1 and 0 <= gain < 1 for completion, gain in KIND_PRIOR.values())


def test_unknown_pathway_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="Extra inputs are not permitted"):
        PathwayConfig(per_person=3)
    with pytest.raises(ValueError, match="less than or equal to 2"):
        PathwayConfig(max_steps=3)


# ------------------------------------------------------------------- the hard limits hold for every step
_levels = st.sampled_from(["sedentary", "light", "medium", "heavy"])
_maybe_bool = st.sampled_from([True, False, None])
_restrictions = st.lists(st.sampled_from(["no_night_shifts", "no_weekend_work", "no_heavy_lifting",
                                          "no_customer_contact", "no_driving"]), unique=True, max_size=3)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([10, 20, 30, 40]), _levels, _restrictions), min_size=1, max_size=4),
       st.lists(st.tuples(st.sampled_from([None, 10, 20, 37.5]), st.sampled_from([None, "sedentary", "light",
                                                                                 "medium", "heavy"]),
                          _maybe_bool, _maybe_bool, _maybe_bool, _maybe_bool, _maybe_bool,
                          st.sampled_from(SERVICE_KINDS)), min_size=1, max_size=6))
def test_property_no_step_breaks_a_hard_limit_and_everyone_with_a_step_gets_a_route(people_spec, service_spec) -> None:
    taxonomy = Taxonomy.load()
    care_uri = taxonomy.resolve("5321.1").uri
    people = [_person(participant_id=f"P{i}", max_hours_per_week=hours, physical_capacity=level, restrictions=r)
              for i, (hours, level, r) in enumerate(people_spec)]
    services = [_service(f"S{j}", kind=kind, hours_per_week=hours, physical_load=load, night_shifts=night,
                         weekend_work=weekend, customer_contact=customer, heavy_lifting=lifting, driving=driving,
                         occupations_toward=[care_uri] if kind != "coaching" else [])
                for j, (hours, load, night, weekend, customer, lifting, driving, kind) in enumerate(service_spec)]
    vacancies = [_vacancy("V1", care_uri, hours_per_week=10, physical_load="sedentary", customer_contact=False)]
    participants = records_to_frame("participants", people)
    service_frame = records_to_frame("services", services)
    routes = pathways_table(participants, records_to_frame("vacancies", vacancies), records_to_frame("outcomes", []),
                            service_frame, None, AS_OF, taxonomy)
    limits = ParticipantLimits.from_frame(participants)
    demands = VacancyDemands.from_frame(service_frame.assign(published_at=service_frame["starts_at"]))
    ok = feasible(limits, demands, np.arange(len(people))[:, None], np.arange(len(services))[None, :])
    person_row = {pid: i for i, pid in enumerate(participants["participant_id"])}
    service_row = {sid: j for j, sid in enumerate(service_frame["service_id"])}
    for pid, steps in zip(routes["participant_id"], routes["steps"], strict=True):
        assert all(ok[person_row[pid], service_row[s]] for s in steps), (pid, steps)
    assert not routes.duplicated(["participant_id", "steps"]).any()  # a coach never sees one step twice
    can_take = {pid for pid, i in person_row.items() if ok[i].any()}
    assert set(routes["participant_id"]) == can_take  # whenever a feasible step exists, a route


def test_inputs_are_prepared_once_and_plan_many_people(taxonomy: Taxonomy, care: dict) -> None:
    inputs = PathwayInputs(records_to_frame("vacancies", [_vacancy("V1", care["uri"])]), records_to_frame("outcomes", []),
                           records_to_frame("services", [_service("S1", skills_taught=list(care["lacks"]))]), None,
                           AS_OF, taxonomy, PathwayConfig(per_participant=1))
    people = records_to_frame("participants", [_person(participant_id=f"P{i}") for i in range(3)])
    routes = inputs.plan(people)
    assert routes["participant_id"].tolist() == ["P0", "P1", "P2"] and (routes["rank"] == 1).all()
    assert len(SERVICE_COLUMNS) > 0
