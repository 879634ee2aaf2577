"""The market world's tables, written the way people and job boards write them.

Titles and tasks are everyday names (``names.yaml``), not ESCO labels; most people list no skills
and many no occupations; a vacancy's occupation and skills columns are mostly empty and its hours
or limits are often only in the text, or nowhere. A tenth of the texts are typed in lower case
without Finnish or Swedish letters, as on a phone. The constraint columns that are written are the
true values the coach or employer knows (the coach world's ``seen_*`` values).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import yaml

from ilona_match.synthetic.catalogue import (
    EMPLOYER_TYPES,
    LANGUAGES,
    LOADS,
    RESTRICTIONS,
    SPOKEN_LANGUAGES,
    SUPPORTS,
)
from ilona_match.synthetic.jobs import CONSTRAINTS
from ilona_match.synthetic.output import SCHEMAS

if TYPE_CHECKING:
    from ilona_match.synthetic.market.world import Market

__all__ = ["MarketTables", "market_tables"]

NAMES_PATH = Path(__file__).resolve().parent / "names.yaml"
_EPOCH = np.datetime64("1970-01-01", "D")


@lru_cache(maxsize=1)
def load_names() -> dict[str, dict[str, dict[str, list[str]]]]:
    with open(NAMES_PATH, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@dataclass(frozen=True)
class MarketTables:
    participants: pa.Table
    vacancies: pa.Table
    titles: list[str]  # per vacancy: its title (what a job board matches keywords on)
    search_words: list[str]  # per person: what they type into a job board search


def _plain(text: str) -> str:
    """Lower case without diacritics, as typed on a phone."""
    folded = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def _sentence_list(items: list[str], language: str) -> str:
    if len(items) < 2:
        return "".join(items)
    word = {"fi": "ja", "sv": "och", "en": "and"}[language]
    return f"{', '.join(items[:-1])} {word} {items[-1]}"


_P = {
    "fi": {
        "town": ["Kotikunta: {town}.", "Paikkakunta {town}.", "Asuinpaikka {town}."],
        "jobs": ["Työhistoria: {jobs}.", "Olen ollut töissä: {jobs}.", "Aiemmat työt: {jobs}."],
        "last": ["Viimeisin työ: {name}.", "Viimeksi olin {name}."],
        "tasks": ["Aiemmissa töissä mm. {tasks}.", "Osaan hommat kuten {tasks}."],
        "none": ["Ei paljon työkokemusta, mutta olen oppivainen.", "Työkokemusta on vähän."],
        "hours": ["Jaksan tehdä {h} tuntia viikossa.", "Osa-aikatyö, max {h} h/vko.", "Työaika korkeintaan {h} h viikossa."],
        "back": ["Selän takia en voi nostaa raskaita.", "Kevyet työt sopivat minulle.", "Fyysisesti raskas työ ei käy."],
        "wish": ["Kiinnostaa {sector}.", "Haluaisin töihin alalle: {sector}."],
        "car": ["Minulla on auto.", "Autoilen töihin."],
        "bus": ["Ei autoa, kuljen bussilla.", "Liikun julkisilla."],
        "coach": ["Tarvitsen alkuun tukea työhön.", "Työvalmentaja olisi hyvä apu."],
    },
    "sv": {
        "town": ["Hemort: {town}.", "Bor i {town}."],
        "jobs": ["Arbetslivserfarenhet: {jobs}.", "Tidigare jobb: {jobs}."],
        "last": ["Senaste jobb: {name}.", "Har jobbat som {name}."],
        "tasks": ["Har erfarenhet av att {tasks}."],
        "none": ["Inte så mycket arbetserfarenhet men lär mig snabbt."],
        "hours": ["Kan jobba {h} timmar i veckan.", "Deltid, max {h} h/v."],
        "back": ["Klarar inte tunga lyft.", "Lätta arbeten passar mig."],
        "wish": ["Intresserad av {sector}."],
        "car": ["Har bil."],
        "bus": ["Har ingen bil, åker buss."],
        "coach": ["Behöver stöd i början."],
    },
    "en": {
        "town": ["Based in {town}.", "Living in {town}."],
        "jobs": ["Experience: {jobs}.", "Previous jobs: {jobs}."],
        "last": ["Last job: {name}.", "Worked as {name}."],
        "tasks": ["Experience in {tasks}."],
        "none": ["Not much work experience yet, keen to learn."],
        "hours": ["Can work up to {h} hours a week.", "Part-time, max {h} h/week."],
        "back": ["No heavy lifting because of my back.", "Light work suits me."],
        "wish": ["Interested in {sector}."],
        "car": ["I have a car."],
        "bus": ["No car, I take the bus."],
        "coach": ["I need some support at the start."],
    },
}
_V = {
    "fi": {
        "employer": {"social_enterprise": "sosiaalinen yritys", "private": "yritys", "public": "kunta",
                     "third_sector": "järjestö"},
        "who": ["Työnantaja: {employer}, {town}.", "Toimipaikka {town}."],
        "tasks": ["Työhön kuuluu {tasks}.", "Tehtäviä: {tasks}."],
        "hours": ["Työaika {h} h/vko.", "Viikkotunnit {h}."],
        "heavy": ["Työ on fyysisesti raskasta.", "Työ vaatii hyvää fyysistä kuntoa."],
        "night": ["Työ on kolmivuorotyötä."],
        "weekend": ["Työtä myös viikonloppuisin."],
        "drive": ["B-ajokortti vaaditaan."],
        "fi": ["Hyvä suomen kielen taito on välttämätön.", "Suomen kieli sujuvasti."],
        "experience": ["Aiempi kokemus alalta on eduksi.", "Alan kokemus plussaa."],
        "subsidy": ["Palkkatuki mahdollinen.", "Työkokeilu mahdollinen."],
        "close": ["Hae pian!", "Lisätietoja puhelimitse."],
        "title": ["{Name}", "{Name}, {town}", "{Name} (osa-aikainen)", "{Name} / {Name2}", "Haemme: {name}"],
    },
    "sv": {
        "employer": {"social_enterprise": "socialt företag", "private": "företag", "public": "kommun",
                     "third_sector": "förening"},
        "who": ["Arbetsgivare: {employer}, {town}.", "Arbetsplats {town}."],
        "tasks": ["Arbetet innebär att {tasks}."],
        "hours": ["Arbetstid {h} h/v."],
        "heavy": ["Arbetet är fysiskt tungt."],
        "night": ["Treskiftsarbete."],
        "weekend": ["Även helgarbete."],
        "drive": ["B-körkort krävs."],
        "fi": ["Goda kunskaper i finska krävs."],
        "experience": ["Tidigare erfarenhet är meriterande."],
        "subsidy": ["Lönesubvention möjlig.", "Arbetsprövning möjlig."],
        "close": ["Sök snabbt!"],
        "title": ["{Name}", "{Name}, {town}", "{Name} (deltid)", "Vi söker {name}"],
    },
    "en": {
        "employer": {"social_enterprise": "social enterprise", "private": "company", "public": "municipality",
                     "third_sector": "charity"},
        "who": ["Employer: {employer}, {town}.", "Workplace in {town}."],
        "tasks": ["The job includes {tasks}."],
        "hours": ["{h} hours a week."],
        "heavy": ["Physically demanding work."],
        "night": ["Shift work including nights."],
        "weekend": ["Weekend work required."],
        "drive": ["Driving licence required."],
        "fi": ["Fluent Finnish is a must."],
        "experience": ["Previous experience is an advantage."],
        "subsidy": ["Wage subsidy possible.", "Work trial possible."],
        "close": ["Apply now!"],
        "title": ["{Name}", "{Name}, {town}", "{Name} (part-time)", "We are hiring: {name}"],
    },
}


def _hours(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def _list_cell(values: list[str]) -> list[str] | None:
    return values or None


def market_tables(market: Market, rng: np.random.Generator) -> MarketTables:
    """The participants and vacancies tables, and the words a job board matches on."""
    names = load_names()
    c, people, jobs = market.catalogue, market.people, market.jobs
    codes = c.occupation_code

    def name_of(occupation: int, language: str) -> str:
        options = names[codes[occupation]][language]["names"]
        return options[rng.integers(len(options))]

    def tasks_of(occupation: int, language: str, k: int) -> list[str]:
        options = names[codes[occupation]][language]["tasks"]
        return [options[i] for i in rng.permutation(len(options))[:k]]

    def pick(options: list[str]) -> str:
        return options[rng.integers(len(options))]

    # ------------------------------------------------------------------------------ participants
    rows: dict[str, list] = {field.name: [] for field in SCHEMAS["participants"]}
    search_words: list[str] = []
    sector_labels = c.sector_labels
    for i in range(len(people)):
        language = LANGUAGES[int(people.language[i])]
        text = _P[language]
        town = c.municipality_names[people.town[i], 1 if language == "sv" else 0]
        history = [int(h) for h in people.history[i] if h >= 0]
        said = [name_of(h, language) for h in history]
        sentences = []
        if rng.random() < 0.5:
            sentences.append(pick(text["town"]).format(town=town))
        if history and rng.random() < 0.85:
            if rng.random() < 0.5:
                years = market.experience[i, : len(history)]
                jobs_text = ", ".join(f"{n} ({max(1, round(y))} v)" if language == "fi" else n for n, y in zip(said, years))
                sentences.append(pick(text["jobs"]).format(jobs=jobs_text))
            else:
                sentences.append(pick(text["last"]).format(name=said[0]))
            if rng.random() < 0.6:
                tasks = tasks_of(history[0], language, int(rng.integers(1, 3)))
                sentences.append(pick(text["tasks"]).format(tasks=_sentence_list(tasks, language)))
        elif not history:
            sentences.append(pick(text["none"]))
        if rng.random() < 0.55 and people.max_hours[i] < 37.5:
            sentences.append(pick(text["hours"]).format(h=_hours(people.max_hours[i])))
        if people.capacity[i] <= 1 and rng.random() < 0.5:
            sentences.append(pick(text["back"]))
        wished = np.flatnonzero(people.prefers[i])
        if len(wished) and rng.random() < 0.5:
            sentences.append(pick(text["wish"]).format(sector=sector_labels[wished[0], LANGUAGES.index(language)]))
        if rng.random() < 0.3:
            sentences.append(pick(text["car"] if market.car[i] else text["bus"]))
        if people.restrictions[i, RESTRICTIONS.index("needs_job_coach")] and rng.random() < 0.4:
            sentences.append(pick(text["coach"]))
        order = rng.permutation(len(sentences)) if rng.random() < 0.3 else np.arange(len(sentences))
        profile = " ".join(sentences[j] for j in order)
        if rng.random() < 0.1:
            profile = _plain(profile)
        if rng.random() < 0.04:
            profile = ""

        skills: list[str] = []
        if rng.random() < 0.35:
            if history and rng.random() < 0.7:
                skills = tasks_of(history[0], language, int(rng.integers(1, 4)))
            else:
                true = [int(s) for s in people.skills[i] if s >= 0][:3]
                skills = [c.skill_labels[s, LANGUAGES.index(language)] for s in true]
        occupations: list[str] = []
        for h, name in zip(history, said):
            form = rng.random()
            if form < 0.45:
                occupations.append(name)
            elif form < 0.6:
                occupations.append(c.occupation_isco[h])
            elif form < 0.7:
                occupations.append(c.occupation_labels[h, LANGUAGES.index(language)])
        search_words.append(" ".join(said + [name_of(h, language) for h in history]))

        restrictions = [r for k, r in enumerate(RESTRICTIONS) if people.restrictions[i, k]]
        if restrictions and rng.random() < 0.1:  # one limit the coach never wrote down
            restrictions.pop(int(rng.integers(len(restrictions))))
        rows["participant_id"].append(people.ids[i].as_py())
        rows["coach_id"].append(f"C{market.coach[i] + 1:04d}")
        rows["language"].append(language)
        rows["profile_text"].append(profile)
        rows["skills"].append(_list_cell(skills))
        rows["occupations"].append(_list_cell(occupations))
        rows["languages_spoken"].append(_list_cell([SPOKEN_LANGUAGES[k] for k in np.flatnonzero(people.languages[i])]))
        rows["max_hours_per_week"].append(float(people.max_hours[i]))
        rows["physical_capacity"].append(LOADS[int(people.capacity[i])])
        rows["restrictions"].append(_list_cell(restrictions))
        rows["municipality"].append(c.municipality_names[people.town[i], 0] if rng.random() < 0.9 else None)
        known = rng.random() < 0.6
        rows["lat"].append(float(people.lat[i]) if known else None)
        rows["lon"].append(float(people.lon[i]) if known else None)
        rows["max_commute_km"].append(float(people.commute_km[i]) if rng.random() < 0.7 else None)
        rows["remote_ok"].append(bool(people.remote_ok[i]))
        rows["preferred_sectors"].append(_list_cell([c.sectors[s] for s in wished]) if rng.random() < 0.6 else None)
        rows["supports"].append(_list_cell([s for k, s in enumerate(SUPPORTS) if people.supports[i, k]]))
        rows["unemployment_months"].append(int(people.unemployment_months[i]) if rng.random() < 0.85 else None)
        rows["available_from"].append(int(people.active_from[i]) if rng.random() < 0.4 else None)
    participants = _table("participants", rows)

    # ---------------------------------------------------------------------------------- vacancies
    rows = {field.name: [] for field in SCHEMAS["vacancies"]}
    titles: list[str] = []
    for j in range(len(jobs)):
        language = LANGUAGES[int(_vacancy_language(market, j))]
        text = _V[language]
        occupation = int(jobs.occupation[j])
        town = c.municipality_names[jobs.town[j], 1 if language == "sv" else 0]
        choices = names[codes[occupation]][language]["names"]
        first, second = rng.permutation(len(choices))[:2] if len(choices) > 1 else (0, 0)
        name, other = choices[first], choices[second]
        title = pick(text["title"]).format(Name=name[:1].upper() + name[1:], name=name, Name2=other, town=town)
        etype = EMPLOYER_TYPES[int(jobs.employer_type[j])]
        seen_hours, seen_load, seen = jobs.seen_hours[j], int(jobs.seen_load[j]), jobs.seen_constraints[j]
        sentences = []
        if rng.random() < 0.6:
            sentences.append(pick(text["who"]).format(employer=text["employer"][etype], town=town))
        if rng.random() < 0.85:
            sentences.append(pick(text["tasks"]).format(
                tasks=_sentence_list(tasks_of(occupation, language, int(rng.integers(1, 4))), language)))
        hours_written = rng.random() < 0.65
        if (not hours_written or rng.random() < 0.4) and rng.random() < 0.6:
            sentences.append(pick(text["hours"]).format(h=_hours(jobs.hours[j])))
        if jobs.load[j] >= 2 and rng.random() < 0.4:
            sentences.append(pick(text["heavy"]))
        for flag, key in ((0, "night"), (1, "weekend"), (4, "drive")):
            if jobs.constraints[j, flag] and rng.random() < 0.4:
                sentences.append(pick(text[key]))
        if market.fi_need[j] > 0.6 and rng.random() < 0.4:
            sentences.append(pick(text["fi"]))
        if market.values_experience[j] > 0.6 and rng.random() < 0.5:
            sentences.append(pick(text["experience"]))
        if (jobs.supports[j, 0] or jobs.supports[j, 1]) and rng.random() < 0.3:
            sentences.append(pick(text["subsidy"]))
        if rng.random() < 0.3:
            sentences.append(pick(text["close"]))
        description = " ".join(sentences)
        if rng.random() < 0.1:
            description = _plain(description)
        if rng.random() < 0.06:
            description = ""
        titles.append(title)

        occupation_form = rng.random()
        occupation_cell = (None if occupation_form < 0.5 else name if occupation_form < 0.7
                           else c.occupation_isco[occupation] if occupation_form < 0.9 else c.occupation_uri[occupation])
        required: list[str] = []
        if rng.random() < 0.25:
            required = (tasks_of(occupation, language, 2) if rng.random() < 0.6 else
                        [c.skill_labels[s, LANGUAGES.index(language)] for s in jobs.required[j] if s >= 0][:4])

        rows["vacancy_id"].append(jobs.ids[j].as_py())
        rows["employer_id"].append(f"E{j // 3 + 1:06d}" if rng.random() < 0.5 else f"E{j + 1:06d}")
        rows["employer_type"].append(etype if rng.random() < 0.9 else None)
        rows["sector"].append(c.sectors[int(jobs.sector[j])])
        rows["occupation"].append(occupation_cell)
        rows["title"].append(title)
        rows["description"].append(description)
        rows["language"].append(language)
        rows["required_skills"].append(_list_cell(required))
        rows["optional_skills"].append(None)
        spoken = [SPOKEN_LANGUAGES[k] for k in np.flatnonzero(jobs.languages[j])]
        rows["languages_required"].append(_list_cell(spoken) if rng.random() < 0.6 else None)
        rows["hours_per_week"].append(float(seen_hours) if hours_written and not np.isnan(seen_hours) else None)
        rows["physical_load"].append(LOADS[seen_load] if seen_load >= 0 and rng.random() < 0.75 else None)
        for column, (name_, _) in enumerate(CONSTRAINTS):
            value = int(seen[column])  # written as the feed knows it, and left out of three in ten ads
            rows[name_].append(None if value < 0 or rng.random() < 0.3 else bool(value))
        rows["municipality"].append(c.municipality_names[jobs.town[j], 0] if rng.random() < 0.95 else None)
        known = rng.random() < 0.85
        rows["lat"].append(float(jobs.lat[j]) if known else None)
        rows["lon"].append(float(jobs.lon[j]) if known else None)
        rows["remote"].append(bool(jobs.remote[j]))
        rows["openings"].append(int(jobs.openings[j]) if rng.random() < 0.8 else None)
        rows["supports_accepted"].append(
            _list_cell([s for k, s in enumerate(SUPPORTS) if jobs.supports[j, k]]) if rng.random() < 0.5 else None)
        rows["published_at"].append(int(jobs.published[j]))
        rows["closes_at"].append(int(jobs.closes[j]) if rng.random() < 0.8 else None)
    vacancies = _table("vacancies", rows)
    return MarketTables(participants, vacancies, titles, search_words)


def _table(name: str, rows: dict[str, list]) -> pa.Table:
    """Rows as the contract table ``name`` (dates given as days since 1970-01-01)."""
    schema = SCHEMAS[name]
    columns = {}
    for field in schema:
        values = rows[field.name]
        if field.type == pa.date32():
            columns[field.name] = pa.array(values, pa.int32()).cast(pa.date32())
        else:
            columns[field.name] = pa.array(values, field.type)
    return pa.table(columns, schema=schema)


def _vacancy_language(market: Market, j: int) -> int:
    """The language the coach world's draw gave the vacancy (its written table's ``language``)."""
    return LANGUAGES.index(market.jobs.table.column("language")[j].as_py())
