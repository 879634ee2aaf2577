"""Participants of the synthetic world, one block at a time: the contract table plus their true state.

What a coach records is partial: skills may be listed, only told in the profile text, or not written
at all; coordinates, commute preferences and sector wishes are sometimes missing. The hidden process
judges the true values behind them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ilona_match.synthetic.arrays import categorical, compact_rows, id_strings, list_column, sample_rows
from ilona_match.synthetic.catalogue import (
    LANGUAGES,
    LOADS,
    RESTRICTIONS,
    SPOKEN_LANGUAGES,
    SUPPORTS,
    Catalogue,
)
from ilona_match.synthetic.jobs import hours_strings, skill_vocabulary, text_language
from ilona_match.synthetic.text import TemplateSet, assemble, join_list

if TYPE_CHECKING:
    from ilona_match.synthetic.groups import Groups

__all__ = ["MAX_SKILLS", "People", "make_people"]

MAX_SKILLS = 10
_CAPACITY = np.array([0.15, 0.4, 0.35, 0.1])
_RESTRICTION_P = {"no_night_shifts": 0.4, "no_weekend_work": 0.2, "no_customer_contact": 0.08,
                  "quiet_environment": 0.12, "needs_job_coach": 0.2, "no_driving": 0.3}
_NO_LIFTING_BY_CAPACITY = np.array([0.85, 0.7, 0.25, 0.02])
_COMMUTE = (np.array([5, 10, 15, 20, 30, 40, 50], dtype=np.float64), np.array([0.07, 0.18, 0.2, 0.2, 0.2, 0.08, 0.07]))
_SHORTAGE = ("social_health", "elderly_care", "circular_economy")


@dataclass(frozen=True)
class People:
    """One block of participants: their true state and, when recorded, the table rows a coach wrote."""

    table: pa.Table | None  # None when only the state was drawn
    first_number: int
    ids: pa.Array
    sector: np.ndarray  # main sector of the work history
    prefers: np.ndarray  # (n, sectors) bool, true wishes
    history: np.ndarray  # (n, 3) occupation positions, -1 = none
    skills: np.ndarray  # (n, MAX_SKILLS) true skill positions, -1 = none
    town: np.ndarray  # municipality position
    lat: np.ndarray
    lon: np.ndarray
    max_hours: np.ndarray
    capacity: np.ndarray  # rank in LOADS
    restrictions: np.ndarray  # (n, 7) bool in RESTRICTIONS order
    commute_km: np.ndarray
    remote_ok: np.ndarray
    supports: np.ndarray  # (n, 4) bool in SUPPORTS order
    unemployment_months: np.ndarray
    languages: np.ndarray  # (n, len(SPOKEN_LANGUAGES)) bool
    language: np.ndarray  # position in LANGUAGES of the language the person writes in
    latent: np.ndarray
    active_from: np.ndarray  # day numbers of the person's time with a coach
    active_until: np.ndarray
    groups: Groups | None = None  # group attributes (``groups.py``), drawn from their own stream afterwards

    def __len__(self) -> int:
        return int(self.sector.size)


def _histories(c: Catalogue, rng: np.random.Generator, sector: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Up to three past occupations (first in the main sector) and the true skills they gave."""
    n, n_sectors = sector.size, len(c.sectors)
    n_jobs = rng.choice(4, n, p=[0.12, 0.4, 0.33, 0.15])
    other = rng.choice(n_sectors, (n, 3), p=c.sector_participant_weight)
    job_sector = np.where((np.arange(3)[None, :] == 0) | (rng.random((n, 3)) < 0.5), sector[:, None], other)
    weights = (c.entry_sector[None, :] == job_sector.reshape(-1, 1)) * c.entry_weight[None, :]
    occupation = c.entry_occupation[categorical(rng, weights)].reshape(n, 3).astype(np.int32)
    occupation = np.where(np.arange(3)[None, :] < n_jobs[:, None], occupation, -1)
    history = compact_rows(occupation)

    pieces = []
    for slot in range(3):
        occ = np.maximum(history[:, slot], 0)
        held = history[:, slot] >= 0
        pieces.append(np.where(held[:, None], sample_rows(rng, c.occupation_essential[occ], rng.integers(2, 6, n), 0.25), -1))
        pieces.append(np.where(held[:, None], sample_rows(rng, c.occupation_optional[occ], rng.integers(0, 3, n), 0.25), -1))
    # people without a work history still know a little of their field (home, studies, volunteering)
    first = np.maximum(occupation[:, 0], 0)
    pieces.append(np.where((n_jobs == 0)[:, None], sample_rows(rng, c.occupation_essential[first], rng.integers(0, 3, n)), -1))
    skills = compact_rows(np.concatenate(pieces, axis=1))[:, :MAX_SKILLS]
    return history, skills


def make_people(c: Catalogue, t: dict[str, TemplateSet], rng: np.random.Generator, first_number: int, n: int,
                first_day: int, days: int, coach_offset: np.ndarray, coach_count: np.ndarray,
                record_rng: np.random.Generator | None = None, other_languages: float = 1.0) -> People:
    """Draw ``n`` participants numbered from ``first_number``; coaches are assigned by home town.

    The true state comes from ``rng``; the written records (texts, gaps, forms of skills) from
    ``record_rng``, and only when it is given, so the state can be redrawn cheaply.
    """
    n_sectors, n_towns = len(c.sectors), c.municipality_lat.size
    town = rng.choice(n_towns, n, p=c.municipality_population / c.municipality_population.sum())
    lat = np.round(c.municipality_lat[town] + rng.normal(0, 0.03, n), 4)
    lon = np.round(c.municipality_lon[town] + rng.normal(0, 0.06, n), 4)
    language = text_language(rng, c.municipality_swedish[town] * other_languages, english=0.08 * other_languages)

    sector = rng.choice(n_sectors, n, p=c.sector_participant_weight)
    history, skills = _histories(c, rng, sector)
    shortage = np.array([2.0 if name in _SHORTAGE else 1.0 for name in c.sectors]) * c.sector_participant_weight
    second = rng.choice(n_sectors, n, p=shortage / shortage.sum())
    prefers = np.zeros((n, n_sectors), dtype=bool)
    keeps_main = rng.random(n) < 0.8
    prefers[np.arange(n), sector] = keeps_main
    prefers[np.arange(n), second] |= rng.random(n) < 0.35
    prefers[np.arange(n), sector] |= ~prefers.any(axis=1)

    max_hours = rng.choice(c.participant_hours, n, p=c.participant_hours_weight)
    capacity = rng.choice(len(LOADS), n, p=_CAPACITY).astype(np.int8)
    restrictions = np.stack([
        rng.random(n) < (_NO_LIFTING_BY_CAPACITY[capacity] if name == "no_heavy_lifting" else _RESTRICTION_P[name])
        for name in RESTRICTIONS], axis=1)
    months = np.minimum(240, np.floor(rng.lognormal(np.log(13.0), 1.0, n))).astype(np.int64)
    coach_needed = restrictions[:, RESTRICTIONS.index("needs_job_coach")]
    support_p = np.stack([0.35 + 0.3 * (months >= 12), np.full(n, 0.5), np.full(n, 0.12), 0.1 + 0.45 * coach_needed], axis=1)
    supports = rng.random((n, len(SUPPORTS))) < support_p
    commute = rng.choice(_COMMUTE[0], n, p=_COMMUTE[1])
    remote_ok = rng.random(n) < 0.18

    languages = np.zeros((n, len(SPOKEN_LANGUAGES)), dtype=bool)
    languages[np.arange(n), language] = True
    u = rng.random((n, 4))
    languages[:, 0] |= (language == 1) & (u[:, 0] < 0.7) | (language == 2) & (u[:, 0] < 0.25)
    languages[:, 1] |= (language == 0) & (u[:, 1] < 0.1 + 0.5 * c.municipality_swedish[town])
    languages[:, 2] |= (language < 2) & (u[:, 2] < np.where(language == 0, 0.45, 0.5))
    other = rng.integers(3, len(SPOKEN_LANGUAGES), n)
    languages[np.arange(n), other] |= (language == 2) & (u[:, 3] < 0.7)

    last_day = first_day + days - 1
    active_from = np.where(rng.random(n) < 0.55, first_day, first_day + rng.integers(0, max(days - 20, 1), n))
    active_until = np.minimum(active_from + rng.lognormal(np.log(150.0), 0.6, n).astype(np.int64), last_day)
    coach = coach_offset[town] + np.minimum((rng.random(n) * coach_count[town]).astype(np.int64), coach_count[town] - 1)
    latent = rng.normal(size=n)

    ids = id_strings("P", np.arange(first_number, first_number + n), 7)
    table = None if record_rng is None else _table(
        c, t, record_rng, ids, coach, town, lat, lon, language, prefers, history, skills, max_hours, capacity,
        restrictions, commute, remote_ok, supports, months, languages, active_from)
    return People(
        table=table, first_number=first_number, ids=ids, sector=sector, prefers=prefers,
        history=history, skills=skills, town=town, lat=lat, lon=lon, max_hours=max_hours, capacity=capacity,
        restrictions=restrictions, commute_km=commute, remote_ok=remote_ok, supports=supports,
        unemployment_months=months, languages=languages, language=language, latent=latent,
        active_from=active_from.astype(np.int32), active_until=active_until.astype(np.int32),
    )


def _profile_texts(c: Catalogue, t: dict[str, TemplateSet], rng: np.random.Generator, language: np.ndarray,
                   town: np.ndarray, history: np.ndarray, skills: np.ndarray, text_skills: np.ndarray,
                   max_hours: np.ndarray, capacity: np.ndarray, restrictions: np.ndarray, prefers: np.ndarray,
                   months: np.ndarray) -> pa.Array:
    """Profile texts in the person's language that agree with the structured columns."""
    n, n_skills, n_occ = language.size, c.n_skills, c.occupation_uri.size
    skill_names = pa.array(c.skill_labels.T.ravel().tolist(), pa.string())
    occupation_names = pa.array(c.occupation_labels.T.ravel().tolist(), pa.string())
    lang = language[:, None]
    mentioned = sample_rows(rng, skills, np.where(text_skills, 4, 0))[:, :4]
    wished = np.argmax(np.where(prefers, rng.random(prefers.shape), -1.0), axis=1)
    fields = {
        "municipality": pa.array(c.municipality_names[town, (language == 1).astype(int)].tolist(), pa.string()),
        "months": pc.cast(pa.array(months), pa.string()),
        "years": pc.cast(pa.array(months // 12), pa.string()),
        "occupations": join_list(list_column(np.where(history >= 0, lang * n_occ + history, -1), occupation_names), "; "),
        "skills": join_list(list_column(np.where(mentioned >= 0, lang * n_skills + mentioned, -1), skill_names)),
        "hours": hours_strings(max_hours, language),
        "sector": pa.array(c.sector_labels[wished, language].tolist(), pa.string()),
    }
    has_history = history[:, 0] >= 0
    chance = rng.random((n, 8))
    restriction_sentences = [
        t["restriction"].render(t["restriction"].choose(rng, language, np.full(n, r), restrictions[:, r] & (chance[:, 7] < 0.6)))
        for r in range(len(RESTRICTIONS))]
    sentences = [
        t["intro"].render(t["intro"].choose(rng, language, present=chance[:, 0] < 0.55), fields),
        t["unemployment"].render(t["unemployment"].choose(
            rng, language, np.select([months < 2, months < 24], [0, 1], 2), chance[:, 1] < 0.5), fields),
        t["history"].render(t["history"].choose(rng, language, present=has_history & (chance[:, 2] < 0.8)), fields),
        t["no_history"].render(t["no_history"].choose(rng, language, present=~has_history & (chance[:, 2] < 0.7))),
        t["skills"].render(t["skills"].choose(rng, language, present=text_skills), fields),
        t["hours"].render(t["hours"].choose(rng, language, (max_hours >= 37.5).astype(int), chance[:, 3] < 0.7), fields),
        t["physical"].render(t["physical"].choose(rng, language, capacity, chance[:, 4] < 0.6)),
        t["wish"].render(t["wish"].choose(rng, language, present=chance[:, 5] < 0.5), fields),
        t["extra"].render(t["extra"].choose(rng, language, present=chance[:, 6] < 0.4)),
        *restriction_sentences,
    ]
    intro, unemployment, work, no_work, skill, hours, physical, wish, extra = range(9)
    restricted = list(range(9, 9 + len(RESTRICTIONS)))
    orders = [
        [intro, unemployment, work, no_work, skill, hours, physical, *restricted, wish, extra],
        [work, no_work, skill, intro, unemployment, wish, hours, physical, *restricted, extra],
        [intro, work, no_work, wish, skill, physical, *restricted, hours, unemployment, extra],
        [unemployment, work, no_work, skill, physical, hours, *restricted, intro, wish, extra],
        [wish, work, no_work, skill, hours, physical, *restricted, extra, intro, unemployment],
    ]
    text = assemble(sentences, orders, rng.integers(0, len(orders), n))
    return pc.if_else(pa.array(rng.random(n) < 0.06), pa.scalar(""), text)


def _table(c: Catalogue, t: dict[str, TemplateSet], rng: np.random.Generator, ids: pa.Array, coach: np.ndarray,
           town: np.ndarray, lat: np.ndarray, lon: np.ndarray, language: np.ndarray, prefers: np.ndarray, history: np.ndarray, skills: np.ndarray, max_hours: np.ndarray,
           capacity: np.ndarray, restrictions: np.ndarray, commute: np.ndarray, remote_ok: np.ndarray,
           supports: np.ndarray, months: np.ndarray, languages: np.ndarray, active_from: np.ndarray) -> pa.Table:
    """Write the block as a coach's case system would, with the gaps such systems have."""
    n, n_skills, n_occ = len(ids), c.n_skills, c.occupation_uri.size
    lang = language[:, None]
    # skills: 0 listed in the skills column, 1 told only in the profile text, 2 not recorded
    mode = rng.choice(3, n, p=[0.7, 0.14, 0.16])
    listed = np.where((mode[:, None] == 0) & (rng.random(skills.shape) < 0.85), skills, -1)
    name_language = np.where(rng.random(skills.shape) < 0.85, lang, rng.integers(0, 3, skills.shape))
    form = np.where(rng.random(skills.shape) < 0.35, 0, name_language + 1)
    text_skills = (mode == 1) | ((mode == 0) & (rng.random(n) < 0.35))

    occupation_names = pa.array(np.concatenate([c.occupation_uri, c.occupation_isco, *c.occupation_labels.T]).tolist())
    occupation_form = rng.choice(3, history.shape, p=[0.4, 0.2, 0.4])
    occupation_items = np.where(occupation_form == 2, (2 + lang) * n_occ + history, occupation_form * n_occ + history)

    profile = _profile_texts(c, t, rng, language, town, history, skills, text_skills, max_hours, capacity,
                             restrictions, prefers, months)
    town_known = rng.random(n) >= 0.03
    coords_known = rng.random(n) >= 0.07
    commute_known = rng.random(n) >= 0.3
    remote_known = rng.random(n) >= 0.1
    sectors_known = rng.random(n) >= 0.25
    languages_known = rng.random(n) >= 0.05
    available_known = rng.random(n) < 0.3
    available = active_from + rng.integers(0, 15, n)

    def flags(matrix: np.ndarray, names: tuple[str, ...], present: np.ndarray | None = None) -> pa.Array:
        return list_column(np.where(matrix, np.arange(matrix.shape[1])[None, :], -1), pa.array(list(names)), present)

    return pa.table({
        "participant_id": ids,
        "coach_id": id_strings("C", coach + 1, 5),
        "language": pa.array(np.array(LANGUAGES, dtype=object)[language].tolist()),
        "profile_text": profile,
        "skills": list_column(np.where(listed >= 0, form * n_skills + listed, -1), skill_vocabulary(c)),
        "occupations": list_column(np.where(history >= 0, occupation_items, -1), occupation_names, rng.random(n) >= 0.1),
        "languages_spoken": flags(languages, SPOKEN_LANGUAGES, languages_known),
        "max_hours_per_week": pa.array(max_hours),
        "physical_capacity": pa.array(np.array(LOADS, dtype=object)[capacity].tolist()),
        "restrictions": flags(restrictions, RESTRICTIONS),
        "municipality": pa.array(c.municipality_names[town, 0].tolist(), mask=~town_known),
        "lat": pa.array(lat, mask=~coords_known),
        "lon": pa.array(lon, mask=~coords_known),
        "max_commute_km": pa.array(commute, mask=~commute_known),
        "remote_ok": pa.array(remote_ok, mask=~remote_known),
        "preferred_sectors": flags(prefers, c.sectors, sectors_known),
        "supports": flags(supports, SUPPORTS),
        "unemployment_months": pa.array(months, pa.int64()),
        "available_from": pa.array(available.astype(np.int32), pa.date32(), mask=~available_known),
    })
