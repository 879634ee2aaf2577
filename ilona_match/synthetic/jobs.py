"""Vacancies of the synthetic world: the contract table plus the true values the hidden process sees.

Some constraint columns are written as unknown (missing), but every vacancy has a true value behind
them; the hidden hiring process judges the true one, as a real employer would.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ilona_match.synthetic.arrays import categorical, id_strings, list_column, sample_rows
from ilona_match.synthetic.catalogue import (
    EMPLOYER_TYPES,
    FLAGS,
    LANGUAGES,
    LOADS,
    SPOKEN_LANGUAGES,
    SUPPORTS,
    Catalogue,
)
from ilona_match.synthetic.text import TemplateSet, assemble, join_list

__all__ = [
    "CONSTRAINTS", "Vacancies", "day_strings", "hours_strings", "make_vacancies", "skill_vocabulary",
    "text_language",
]

# (vacancy column, participant restriction) pairs that are hard constraints in the contract.
CONSTRAINTS: tuple[tuple[str, str], ...] = (
    ("night_shifts", "no_night_shifts"),
    ("weekend_work", "no_weekend_work"),
    ("customer_contact", "no_customer_contact"),
    ("heavy_lifting", "no_heavy_lifting"),
    ("driving", "no_driving"),
)
_MISSING = {"hours": 0.10, "load": 0.12, "night_shifts": 0.15, "weekend_work": 0.12, "customer_contact": 0.07,
            "heavy_lifting": 0.18, "driving": 0.10}
_LIFTING_BY_LOAD = np.array([0.0, 0.05, 0.45, 0.9])
_SUPPORT_ACCEPTANCE = np.array([  # rows in EMPLOYER_TYPES order, columns in SUPPORTS order
    [0.9, 0.85, 0.3, 0.7],
    [0.4, 0.4, 0.2, 0.1],
    [0.5, 0.55, 0.3, 0.2],
    [0.75, 0.65, 0.15, 0.45],
])
_OPEN_DAYS = (np.array([14, 21, 28, 30, 42, 56]), np.array([0.15, 0.25, 0.25, 0.15, 0.1, 0.1]))
_MONTH_ACTIVITY = np.array([1.2, 1.2, 1.15, 1.1, 1.0, 0.8, 0.5, 1.2, 1.15, 1.1, 1.0, 0.6])
_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class Vacancies:
    """The vacancy table and, row for row, the true values behind it (held in memory)."""

    table: pa.Table
    ids: pa.Array
    sector: np.ndarray
    occupation: np.ndarray
    employer_type: np.ndarray
    town: np.ndarray  # municipality position
    lat: np.ndarray
    lon: np.ndarray
    remote: np.ndarray
    hours: np.ndarray
    load: np.ndarray
    constraints: np.ndarray  # (n, 5) bool in CONSTRAINTS order
    seen_hours: np.ndarray  # NaN = unknown
    seen_load: np.ndarray  # -1 = unknown
    seen_constraints: np.ndarray  # int8 -1 unknown / 0 / 1
    published: np.ndarray  # days since 1970-01-01
    closes: np.ndarray  # the day it stops being open (true; the written closes_at may be missing)
    required: np.ndarray  # padded skill positions
    optional: np.ndarray
    languages: np.ndarray  # (n, len(SPOKEN_LANGUAGES)) bool
    supports: np.ndarray  # (n, 4) bool in SUPPORTS order
    openings: np.ndarray
    latent: np.ndarray

    def __len__(self) -> int:
        return int(self.sector.size)


def skill_vocabulary(catalogue: Catalogue) -> pa.Array:
    """Every way a skill is written: URI, then fi, sv and en names; index = form * n_skills + skill."""
    return pa.array(np.concatenate([catalogue.skill_uri, *catalogue.skill_labels.T]).tolist(), pa.string())


def day_strings(days: np.ndarray, language: np.ndarray) -> pa.Array:
    """Dates as written in text: 1.10.2026 in Finnish and Swedish, 2026-10-01 in English."""
    dates = _EPOCH + days.astype("timedelta64[D]")
    months = dates.astype("datetime64[M]")
    parts = [
        pc.cast(pa.array((dates - months).astype(np.int64) + 1), pa.string()),
        pc.cast(pa.array(months.astype(np.int64) % 12 + 1), pa.string()),
        pc.cast(pa.array(dates.astype("datetime64[Y]").astype(np.int64) + 1970), pa.string()),
    ]
    nordic = pc.binary_join_element_wise(*parts, ".")
    iso = pc.cast(pa.array(days.astype(np.int32), pa.date32()), pa.string())
    return pc.if_else(pa.array(language == LANGUAGES.index("en")), iso, nordic)


def hours_strings(hours: np.ndarray, language: np.ndarray) -> pa.Array:
    """Hours as written in text (37,5 in Finnish and Swedish); NaN gives null."""
    written = pc.cast(pa.array(hours, from_pandas=True), pa.string())
    return pc.if_else(pa.array(language == LANGUAGES.index("en")), written, pc.replace_substring(written, ".", ","))


def _dates_by_season(rng: np.random.Generator, first: int, span: int, n: int) -> np.ndarray:
    days = first + np.arange(span)
    month = (_EPOCH + days.astype("timedelta64[D]")).astype("datetime64[M]").astype(np.int64) % 12
    weight = _MONTH_ACTIVITY[month]
    return days[np.minimum(np.searchsorted(np.cumsum(weight), rng.random(n) * weight.sum()), span - 1)]


def text_language(rng: np.random.Generator, swedish_share: np.ndarray, english: float) -> np.ndarray:
    """Text language per row (0 fi, 1 sv, 2 en): Swedish follows the municipality's Swedish speakers."""
    u = rng.random(swedish_share.size)
    p_sv = np.clip(0.035 + 1.6 * swedish_share, 0.0, 0.85)
    return np.where(u < english, 2, np.where(u < english + p_sv, 1, 0))


def _flag_sentences(t: dict[str, TemplateSet], rng: np.random.Generator, language: np.ndarray,
                    seen: np.ndarray) -> list[pa.Array]:
    sentences = []
    for column, kind in zip(range(seen.shape[1]), ("night", "weekend", "customer", "lifting", "driving"), strict=True):
        known = seen[:, column] >= 0
        mention = known & (rng.random(seen.shape[0]) < np.where(seen[:, column] == 1, 0.75, 0.45))
        category = np.where(seen[:, column] == 1, 0, 1)  # templates list "yes" before "no"
        sentences.append(t[kind].render(t[kind].choose(rng, language, category, mention)))
    return sentences


def make_vacancies(catalogue: Catalogue, templates: dict[str, TemplateSet], n: int, rng: np.random.Generator,
                   first_day: int, days: int, other_languages: float = 1.0) -> Vacancies:
    """Draw ``n`` vacancies published over the world's year (and up to 45 days before it)."""
    c = catalogue
    n_sectors, n_towns = len(c.sectors), c.municipality_lat.size

    # employers: a sector, a type, a home town and an inclusiveness trait; a few post many vacancies
    n_employers = max(1, n // 3)
    employer_sector = rng.choice(n_sectors, n_employers, p=c.sector_vacancy_weight)
    employer_type = categorical(rng, c.sector_employer_types[employer_sector])
    town_weight = c.municipality_population**1.1 / (c.municipality_population**1.1).sum()
    employer_town = rng.choice(n_towns, n_employers, p=town_weight)
    employer_trait = rng.normal(size=n_employers)
    size = 1.0 / (1.0 + rng.permutation(n_employers)) ** 0.7
    employer = rng.choice(n_employers, n, p=size / size.sum())

    sector = employer_sector[employer]
    etype = employer_type[employer]
    in_sector = (c.entry_sector[None, :] == sector[:, None]) * c.entry_weight[None, :]
    entry = categorical(rng, in_sector)
    occupation = c.entry_occupation[entry].astype(np.int32)
    town = np.where(rng.random(n) < 0.8, employer_town[employer], rng.choice(n_towns, n, p=town_weight))
    lat = np.round(c.municipality_lat[town] + rng.normal(0, 0.02, n), 4)
    lon = np.round(c.municipality_lon[town] + rng.normal(0, 0.04, n), 4)

    hours = c.vacancy_hours[categorical(rng, c.sector_hours[sector])]
    load = np.clip(c.entry_load[entry] + rng.choice([-1, 0, 1], n, p=[0.15, 0.7, 0.15]), 0, 3).astype(np.int8)
    flag_p = c.entry_flags[entry]
    night, weekend, customer, driving, remote = (rng.random((n, len(FLAGS))) < flag_p).T
    lifting = rng.random(n) < _LIFTING_BY_LOAD[load]
    constraints = np.stack([night, weekend, customer, lifting, driving], axis=1)

    seen_hours = np.where(rng.random(n) < _MISSING["hours"], np.nan, hours)
    seen_load = np.where(rng.random(n) < _MISSING["load"], -1, load).astype(np.int8)
    unknown = rng.random((n, len(CONSTRAINTS))) < np.array([_MISSING[col] for col, _ in CONSTRAINTS])
    seen_constraints = np.where(unknown, -1, constraints).astype(np.int8)

    language = text_language(rng, c.municipality_swedish[town] * other_languages, english=0.08 * other_languages)
    spoken = np.zeros((n, len(SPOKEN_LANGUAGES)), dtype=bool)
    spoken[np.arange(n), language] = True
    u = rng.random((n, 2))
    spoken[:, 0] |= (language > 0) & (u[:, 0] < np.where(language == 1, 0.6, 0.35))
    spoken[:, 1] |= (language == 0) & (c.municipality_swedish[town] > 0.2) & (u[:, 1] < 0.5)
    supports = rng.random((n, len(SUPPORTS))) < _SUPPORT_ACCEPTANCE[etype]
    openings = rng.choice([1, 2, 3, 4, 5], n, p=[0.6, 0.2, 0.1, 0.05, 0.05])

    published = _dates_by_season(rng, first_day - 45, days + 45 - 14, n).astype(np.int32)
    open_days = rng.choice(_OPEN_DAYS[0], n, p=_OPEN_DAYS[1])
    closes_missing = rng.random(n) < 0.12
    closes = (published + np.where(closes_missing, rng.integers(30, 76, n), open_days)).astype(np.int32)

    required = sample_rows(rng, c.occupation_essential[occupation], rng.integers(3, 7, n), rank_decay=0.25)
    optional = sample_rows(rng, c.occupation_optional[occupation], rng.integers(0, 5, n), rank_decay=0.25)
    latent = 0.6 * employer_trait[employer] + 0.8 * rng.normal(size=n)

    ids = id_strings("V", np.arange(1, n + 1), 6)
    table = _table(c, templates, rng, ids, employer, etype, sector, occupation, town, lat, lon, remote, language,
                   seen_hours, seen_load, seen_constraints, required, optional, spoken, supports, openings,
                   published, np.where(closes_missing, -1, closes))
    return Vacancies(
        table=table, ids=ids, sector=sector.astype(np.int16), occupation=occupation, employer_type=etype,
        town=town, lat=lat, lon=lon, remote=remote, hours=hours, load=load, constraints=constraints,
        seen_hours=seen_hours, seen_load=seen_load, seen_constraints=seen_constraints,
        published=published, closes=closes, required=required, optional=optional, languages=spoken,
        supports=supports, openings=openings, latent=latent,
    )


def _table(c: Catalogue, t: dict[str, TemplateSet], rng: np.random.Generator, ids: pa.Array, employer: np.ndarray,
           etype: np.ndarray, sector: np.ndarray, occupation: np.ndarray, town: np.ndarray, lat: np.ndarray,
           lon: np.ndarray, remote: np.ndarray, language: np.ndarray, seen_hours: np.ndarray,
           seen_load: np.ndarray, seen_constraints: np.ndarray, required: np.ndarray, optional: np.ndarray,
           spoken: np.ndarray, supports: np.ndarray, openings: np.ndarray, published: np.ndarray,
           closes: np.ndarray) -> pa.Table:
    """Write the vacancies as a job feed would: skills as URIs or names, texts from templates."""
    n, n_skills = sector.size, c.n_skills
    vocabulary = skill_vocabulary(c)

    # how the feed writes skills: 0 URIs, 1 names in the text language, 2 mixed, 3 only in the text
    style = rng.choice(4, n, p=[0.4, 0.4, 0.08, 0.12])
    name_language = np.where(rng.random((n, 1)) < 0.95, language[:, None] + 1, rng.integers(1, 4, (n, 1)))

    def written(skills: np.ndarray) -> np.ndarray:
        uri = (style[:, None] == 0) | ((style[:, None] == 2) & (rng.random(skills.shape) < 0.5))
        return np.where(skills >= 0, np.where(uri, 0, name_language) * n_skills + skills, -1)

    occupation_form = rng.choice(4, n, p=[0.5, 0.2, 0.2, 0.1])  # URI, ISCO code, name, missing
    occupation_names = np.concatenate([c.occupation_uri, c.occupation_isco, *c.occupation_labels.T])
    n_occ = c.occupation_uri.size
    occupation_index = np.where(occupation_form == 2, (2 + language) * n_occ + occupation,
                                occupation_form * n_occ + occupation)
    occupation_column = pa.array(occupation_names[occupation_index].tolist(), pa.string(), mask=occupation_form == 3)

    label = pa.array(c.occupation_labels[occupation, language].tolist(), pa.string())
    town_text = pa.array(c.municipality_names[town, (language == 1).astype(int)].tolist(), pa.string())
    hours_text = hours_strings(seen_hours, language)
    title_kind = np.where(np.isnan(seen_hours), 2, np.where(seen_hours < 37.5, 0, 1))
    title = t["title"].render(t["title"].choose(rng, language, title_kind), {
        "Occupation": pc.utf8_capitalize(label), "occupation": label, "hours": hours_text,
        "municipality": town_text})
    title = pc.coalesce(title, pc.utf8_capitalize(label))

    skill_text_vocabulary = pa.array(c.skill_labels.T.ravel().tolist(), pa.string())
    language_items = language[:, None] * n_skills
    required_text = join_list(list_column(np.where(required >= 0, language_items + required, -1),
                                          skill_text_vocabulary))
    optional_text = join_list(list_column(np.where(optional >= 0, language_items + optional, -1),
                                          skill_text_vocabulary))
    only_text = style == 3
    fields = {"occupation": label, "municipality": town_text, "hours": hours_text,
              "closes": day_strings(closes - 1, language)}
    sentences = [
        t["intro"].render(t["intro"].choose(rng, language), fields),
        t["location"].render(t["location"].choose(rng, language, present=rng.random(n) < 0.6), fields),
        t["employer"].render(t["employer"].choose(rng, language, etype, rng.random(n) < 0.7)),
        t["required"].render(t["required"].choose(rng, language, present=only_text | (rng.random(n) < 0.7)),
                             {"skills": required_text}),
        t["optional"].render(t["optional"].choose(rng, language, present=only_text | (rng.random(n) < 0.5)),
                             {"skills": optional_text}),
        t["hours"].render(t["hours"].choose(rng, language, present=rng.random(n) < 0.75), fields),
        t["physical"].render(t["physical"].choose(rng, language, np.maximum(seen_load, 0),
                                                  (seen_load >= 0) & (rng.random(n) < 0.6))),
        *_flag_sentences(t, rng, language, seen_constraints),
        *[t["support"].render(t["support"].choose(rng, language, np.full(n, s), supports[:, s] & (rng.random(n) < 0.55)))
          for s in range(len(SUPPORTS))],
        t["closing"].render(t["closing"].choose(rng, language, (closes < 0).astype(int), rng.random(n) < 0.85), fields),
    ]
    middle = list(range(1, len(sentences) - 1))
    orders = [[0, *middle, len(sentences) - 1],
              [0, 2, 1, *middle[2:], len(sentences) - 1],
              [0, 3, 4, 1, 2, *middle[4:], len(sentences) - 1],
              [2, 0, *[m for m in middle if m != 2], len(sentences) - 1]]
    description = assemble(sentences, orders, rng.integers(0, len(orders), n))
    description = pc.if_else(pa.array(rng.random(n) < 0.03), pa.scalar(""), description)

    spoken_vocabulary = pa.array(list(SPOKEN_LANGUAGES), pa.string())
    spoken_items = np.where(spoken, np.arange(spoken.shape[1])[None, :], -1)
    supports_items = np.where(supports, np.arange(len(SUPPORTS))[None, :], -1)
    town_known = rng.random(n) >= 0.03
    coords_known = rng.random(n) >= 0.05
    type_known = rng.random(n) >= 0.05

    def flag(column: int) -> pa.Array:
        values = seen_constraints[:, column]
        return pa.array(values == 1, mask=values < 0)

    return pa.table({
        "vacancy_id": ids,
        "employer_id": id_strings("E", employer + 1, 6),
        "employer_type": pa.array(np.array(EMPLOYER_TYPES, dtype=object)[etype].tolist(), mask=~type_known),
        "sector": pa.array(np.array(c.sectors, dtype=object)[sector].tolist()),
        "occupation": occupation_column,
        "title": title,
        "description": description,
        "language": pa.array(np.array(LANGUAGES, dtype=object)[language].tolist()),
        "required_skills": list_column(written(required), vocabulary, ~only_text),
        "optional_skills": list_column(written(optional), vocabulary, ~only_text),
        "languages_required": list_column(spoken_items, spoken_vocabulary, rng.random(n) >= 0.08),
        "hours_per_week": pa.array(seen_hours, from_pandas=True),
        "physical_load": pa.array(np.array(LOADS, dtype=object)[np.maximum(seen_load, 0)].tolist(), mask=seen_load < 0),
        "night_shifts": flag(0),
        "weekend_work": flag(1),
        "customer_contact": flag(2),
        "heavy_lifting": flag(3),
        "driving": flag(4),
        "municipality": pa.array(c.municipality_names[town, 0].tolist(), mask=~town_known),
        "lat": pa.array(lat, mask=~coords_known),
        "lon": pa.array(lon, mask=~coords_known),
        "remote": pa.array(remote),
        "openings": pa.array(openings, pa.int64()),
        "supports_accepted": list_column(supports_items, pa.array(list(SUPPORTS), pa.string())),
        "published_at": pa.array(published, pa.date32()),
        "closes_at": pa.array(closes.astype(np.int32), pa.date32(), mask=closes < 0),
    })
