"""Profiles: the text channels read listed ESCO URIs and codes as labels, and names as written."""

from __future__ import annotations

from pathlib import Path

import pytest

from ilona_match.contract import load_data
from ilona_match.matching.profiles import (
    ConceptSpace,
    build_participants,
    build_vacancies,
    sector_matrix,
    wished_sectors,
)
from ilona_match.text.taxonomy import Taxonomy

EXAMPLE = Path(__file__).parent / "data" / "example"
SKILL_URI = "http://data.europa.eu/esco/skill/000bb1e4-89f0-4b86-be05-05ece3641724"  # perform toxicological studies


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return Taxonomy.load()


@pytest.mark.parametrize(("lang", "skill_label", "group_label"), [
    ("sv", "utföra toxikologiska studier", "Hemtjänstassistenter, personliga assistenter m.fl."),
    ("fi", "tehdä toksikologisia tutkimuksia", "Kodinhoitajat (kotipalvelutoiminta)"),
    ("en", "perform toxicological studies", "Home-based personal care workers"),
])
def test_listed_uris_and_codes_enter_the_text_as_labels_in_the_rows_language(taxonomy, lang, skill_label,
                                                                              group_label) -> None:
    people = load_data(EXAMPLE, tables=("participants",)).participants.head(1).copy()
    people["language"] = lang
    people.at[people.index[0], "skills"] = [SKILL_URI, "pestä pyykkiä", "juggling chainsaws"]
    people.at[people.index[0], "occupations"] = ["5322", "5322.1"]
    text = build_participants(people, taxonomy).texts[0]
    assert "http" not in text and "5322" not in text
    home_care_aide = taxonomy.resolve("5322.1").labels[lang]
    listed = text.split(". ")[-5:]
    assert listed == [skill_label, "pestä pyykkiä", "juggling chainsaws", group_label, home_care_aide]


def test_vacancy_texts_write_listed_skill_uris_as_labels(taxonomy) -> None:
    jobs = load_data(EXAMPLE, tables=("vacancies",)).vacancies.head(1).copy()
    jobs["language"] = "fi"
    jobs.at[jobs.index[0], "required_skills"] = [SKILL_URI]
    jobs.at[jobs.index[0], "optional_skills"] = ["huolehtia vanhuksista"]
    text = build_vacancies(jobs, taxonomy).texts[0]
    assert text.endswith(". tehdä toksikologisia tutkimuksia. huolehtia vanhuksista")


def test_a_wish_in_the_profile_text_is_no_skill_but_stays_in_the_text(taxonomy) -> None:
    """"Toiveala: vanhustyö" says what the person wants: the coach must not read it as a skill they
    have ("Sinulla on työn vaatimia taitoja: vanhusten tarpeet"); it is a preferred sector, and the
    text channels still see it."""
    people = load_data(EXAMPLE, tables=("participants",)).participants.head(1).copy()
    people["language"] = "fi"
    people.at[people.index[0], "skills"] = []
    people.at[people.index[0], "occupations"] = []
    people.at[people.index[0], "preferred_sectors"] = []
    people.at[people.index[0], "profile_text"] = "Osaan siivota huoneita. Toiveala: vanhustyö."
    profiles = build_participants(people, taxonomy)
    columns = ConceptSpace.of(taxonomy).skill_column
    skills = {uri for uri, column in columns.items() if profiles.skills[0, column]}
    assert skills == {taxonomy.resolve("siivota huoneita", lang="fi").uri}
    assert taxonomy.resolve("vanhustyö", lang="fi").uri not in skills
    assert "vanhustyö" in profiles.texts[0]
    assert (profiles.preferred_sectors != sector_matrix([("elderly_care",)])).nnz == 0  # a wish, read as one


@pytest.mark.parametrize(("text", "lang", "sectors"), [
    ("Toiveala: siivous.", "fi", ("cleaning",)),
    ("Haluaisin töihin alalle: logistiikka ja varasto.", "fi", ("logistics",)),
    ("Olen kiinnostunut kiertotaloudesta ja vanhustyöstä.", "fi", ("elderly_care", "circular_economy")),
    ("Toiveala: siivous, kauppa tai toimistotyö.", "fi", ("cleaning", "retail", "office")),
    ("Önskad bransch: äldreomsorg.", "sv", ("elderly_care",)),
    ("Jag har arbetat i butik och är intresserad av restaurang och kök.", "sv", ("food_service",)),
    ("I would like to work in elderly care.", "en", ("elderly_care",)),
    ("Preferred field: office work.", "en", ("office",)),
    # no wish of the writer's own, or no sector named
    ("Olen työskennellyt siivoojana ja kaupassa.", "fi", ()),
    ("Haluamme sinut siivoustiimiimme. Kiertotalous on meille tärkeää.", "fi", ()),
    ("Haluaisin töihin kaupungille.", "fi", ()),
    ("Would you like to work in elderly care?", "en", ()),
    ("", "fi", ()),
])
def test_wished_sectors_reads_the_writers_own_wish(text: str, lang: str, sectors: tuple[str, ...]) -> None:
    assert wished_sectors([text], [lang]) == [sectors]
