"""The synthetic world's catalogue as arrays: sectors, ESCO occupations with ad-worthy skills, municipalities.

The sector and municipality facts live in ``catalogue.yaml``; occupation URIs, labels and skills come
from the shipped ESCO tables, so every URI the generator writes is a real ESCO v1.1.1 concept.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ilona_match.text.esco import load_esco_tables

__all__ = [
    "CATALOGUE_PATH",
    "EMPLOYER_TYPES",
    "FLAGS",
    "LANGUAGES",
    "LOADS",
    "RESTRICTIONS",
    "SPOKEN_LANGUAGES",
    "SUPPORTS",
    "Catalogue",
    "load_catalogue",
]

CATALOGUE_PATH = Path(__file__).resolve().parent / "catalogue.yaml"
LANGUAGES: tuple[str, ...] = ("fi", "sv", "en")
LOADS: tuple[str, ...] = ("sedentary", "light", "medium", "heavy")
EMPLOYER_TYPES: tuple[str, ...] = ("social_enterprise", "private", "public", "third_sector")
FLAGS: tuple[str, ...] = ("night", "weekend", "customer", "driving", "remote")
SUPPORTS: tuple[str, ...] = ("wage_subsidy", "work_trial", "apprenticeship", "supported_employment")
RESTRICTIONS: tuple[str, ...] = (
    "no_night_shifts", "no_weekend_work", "no_heavy_lifting", "no_customer_contact",
    "quiet_environment", "needs_job_coach", "no_driving",
)
# ISO 639-1 codes used in languages_spoken / languages_required: the three text languages first.
SPOKEN_LANGUAGES: tuple[str, ...] = ("fi", "sv", "en", "ar", "so", "ru", "et", "fa", "uk", "ku", "vi", "es", "th")


@dataclass(frozen=True)
class Catalogue:
    """Everything the generator draws from, as read-only arrays indexed by position.

    An *entry* is one occupation within one sector (an occupation may appear in several sectors);
    vacancies and work histories are drawn over entries.
    """

    sectors: tuple[str, ...]
    sector_labels: np.ndarray  # (sectors, 3) names in fi/sv/en
    sector_participant_weight: np.ndarray
    sector_vacancy_weight: np.ndarray
    sector_employer_types: np.ndarray  # (sectors, 4) probabilities in EMPLOYER_TYPES order
    sector_hours: np.ndarray  # (sectors, len(vacancy_hours)) probabilities
    vacancy_hours: np.ndarray
    participant_hours: np.ndarray
    participant_hours_weight: np.ndarray
    entry_sector: np.ndarray
    entry_occupation: np.ndarray
    entry_weight: np.ndarray  # within its sector, sums to 1
    entry_load: np.ndarray  # rank in LOADS
    entry_flags: np.ndarray  # (entries, 5) probabilities in FLAGS order
    occupation_code: np.ndarray  # the catalogue's ESCO occupation codes
    occupation_uri: np.ndarray
    occupation_isco: np.ndarray
    occupation_labels: np.ndarray  # (occupations, 3)
    occupation_essential: np.ndarray  # (occupations, k) skill positions, -1 = none
    occupation_optional: np.ndarray
    skill_uri: np.ndarray
    skill_labels: np.ndarray  # (skills, 3)
    municipality_names: np.ndarray  # (municipalities, 2) Finnish and Swedish name
    municipality_lat: np.ndarray
    municipality_lon: np.ndarray
    municipality_population: np.ndarray
    municipality_swedish: np.ndarray

    @property
    def n_skills(self) -> int:
        """Size of the world's skill vocabulary."""
        return int(self.skill_uri.size)


def _readonly(values: Any, dtype: Any = None) -> np.ndarray:
    array = np.array(values, dtype=dtype)
    array.flags.writeable = False
    return array


def _normalised(weights: Any) -> np.ndarray:
    array = np.asarray(weights, dtype=np.float64)
    return array / array.sum()


def _ad_skills(
    concepts: pd.DataFrame, links: pd.DataFrame, spread: pd.Series, exclude: re.Pattern[str],
    n_essential: int, n_optional: int,
) -> tuple[list[int], list[int]]:
    """The essential and optional skills a job ad for this occupation would name (concept rows).

    Concrete skills beat knowledge, sector/occupation-specific beat cross-sector, short labels beat
    long ones, and skills shared by many occupations (generic boilerplate) rank lower.
    """
    skills = concepts.loc[links.skill.to_numpy()].assign(essential=links.essential.to_numpy())
    skills = skills[~skills.label_en.str.contains(exclude)]
    shared_by = spread.reindex(skills.index).to_numpy()
    score = (
        2.0 * (skills.skill_type == "skill/competence").to_numpy()
        + skills.reuse_level.map({"occupation-specific": 1.5, "sector-specific": 1.5, "cross-sector": 0.7})
        .fillna(0.0).to_numpy()
        - 0.03 * skills.label_fi.str.len().to_numpy()
        - 0.3 * np.log(shared_by)
    )
    ranked = skills.assign(score=score).sort_values(["score", "uri"], ascending=[False, True], kind="stable")
    essential = ranked[ranked.essential].index[:n_essential].tolist()
    optional = ranked[~ranked.essential].index[:n_optional].tolist()
    return essential, optional


def _build(raw: dict[str, Any]) -> Catalogue:
    tables = load_esco_tables()
    relations = tables.relations
    labels = ["label_fi", "label_sv", "label_en"]
    # a few ESCO labels carry stray spaces; a `|` would split a contract list cell
    concepts = tables.concepts.assign(**{label: tables.concepts[label].str.strip() for label in labels})
    if concepts[labels].apply(lambda column: column.str.contains("|", regex=False)).any().any():
        raise ValueError("catalogue: an ESCO label contains '|', which the contract uses to separate list items")
    occupations = concepts[concepts.kind == "occupation"]
    by_code = pd.Series(occupations.index, index=occupations.code)
    exclude = re.compile(raw["skill_label_exclude"], re.IGNORECASE)
    per = raw["skills_per_occupation"]

    sector_names = tuple(raw["sectors"])
    codes: list[str] = []
    entries: list[tuple[int, int, float, int, list[float]]] = []
    for s, name in enumerate(sector_names):
        spec = raw["sectors"][name]
        for occ in spec["occupations"]:
            if occ["code"] not in by_code.index:
                raise ValueError(f"catalogue: ESCO occupation code {occ['code']!r} (sector {name}) is not in {tables}")
            if occ["code"] not in codes:
                codes.append(occ["code"])
            flags = [float(occ.get(flag, spec.get(flag, 0.0))) for flag in FLAGS]
            entries.append((s, codes.index(occ["code"]), float(occ["weight"]), LOADS.index(occ["load"]), flags))

    occupation_rows = [int(by_code[code]) for code in codes]
    spread = relations.skill.value_counts()
    wanted = relations[relations.occupation.isin(occupation_rows)]
    by_occupation = dict(tuple(wanted.groupby("occupation")))
    narrow = concepts[["uri", "skill_type", "reuse_level", "label_en", "label_fi"]]
    picked = [_ad_skills(narrow, by_occupation[row], spread, exclude, per["essential"], per["optional"])
              for row in occupation_rows]
    skill_rows = sorted({row for essential, optional in picked for row in essential + optional})
    position = {row: i for i, row in enumerate(skill_rows)}

    def padded(lists: list[list[int]], width: int) -> np.ndarray:
        out = np.full((len(lists), width), -1, dtype=np.int32)
        for i, rows in enumerate(lists):
            out[i, : len(rows)] = [position[r] for r in rows]
        return _readonly(out)

    entry_sector = np.array([e[0] for e in entries])
    entry_weight = np.array([e[2] for e in entries])
    for s in range(len(sector_names)):
        entry_weight[entry_sector == s] /= entry_weight[entry_sector == s].sum()
    towns = raw["municipalities"]
    return Catalogue(
        sectors=sector_names,
        sector_labels=_readonly([[raw["sectors"][n]["labels"][lang] for lang in LANGUAGES] for n in sector_names], object),
        sector_participant_weight=_readonly(_normalised([raw["sectors"][n]["participant_weight"] for n in sector_names])),
        sector_vacancy_weight=_readonly(_normalised([raw["sectors"][n]["vacancy_weight"] for n in sector_names])),
        sector_employer_types=_readonly(
            [_normalised([raw["sectors"][n]["employer_types"].get(t, 0.0) for t in EMPLOYER_TYPES]) for n in sector_names]
        ),
        sector_hours=_readonly([_normalised(raw["sectors"][n]["hours"]) for n in sector_names]),
        vacancy_hours=_readonly(raw["vacancy_hours"], np.float64),
        participant_hours=_readonly(raw["participant_hours"]["values"], np.float64),
        participant_hours_weight=_readonly(_normalised(raw["participant_hours"]["weights"])),
        entry_sector=_readonly(entry_sector, np.int16),
        entry_occupation=_readonly([e[1] for e in entries], np.int16),
        entry_weight=_readonly(entry_weight),
        entry_load=_readonly([e[3] for e in entries], np.int8),
        entry_flags=_readonly([e[4] for e in entries], np.float64),
        occupation_code=_readonly(codes, object),
        occupation_uri=_readonly(concepts.uri.to_numpy()[occupation_rows], object),
        occupation_isco=_readonly(concepts.isco_group.to_numpy()[occupation_rows], object),
        occupation_labels=_readonly(concepts[labels].to_numpy()[occupation_rows], object),
        occupation_essential=padded([p[0] for p in picked], per["essential"]),
        occupation_optional=padded([p[1] for p in picked], per["optional"]),
        skill_uri=_readonly(concepts.uri.to_numpy()[skill_rows], object),
        skill_labels=_readonly(concepts[labels].to_numpy()[skill_rows], object),
        municipality_names=_readonly([[t["name"], t.get("name_sv", t["name"])] for t in towns], object),
        municipality_lat=_readonly([t["lat"] for t in towns], np.float64),
        municipality_lon=_readonly([t["lon"] for t in towns], np.float64),
        municipality_population=_readonly([t["population"] for t in towns], np.float64),
        municipality_swedish=_readonly([t["swedish"] for t in towns], np.float64),
    )


@lru_cache(maxsize=2)
def load_catalogue(path: Path = CATALOGUE_PATH) -> Catalogue:
    """Read the catalogue YAML and resolve its occupations against the shipped ESCO tables (cached)."""
    with open(path, encoding="utf-8") as handle:
        return _build(yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
