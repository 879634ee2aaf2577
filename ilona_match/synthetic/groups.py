"""Group attributes of synthetic participants and an optional planted hiring bias, for the fairness audit.

Every participant has hidden group attributes (age band, gender, mother tongue group, the kind of
partial work capacity the service records, region), drawn from a random stream of their own after
the person's true state, so drawing them changes no other table. The written ``participant_groups``
table holds them with a few percent of cells missing, as real records are; the engine never reads it
(only the fairness audit does).

A *planted bias* is a tuple of rules ``(column, value, factor)``: employers hire a person of that
group ``factor`` times as often (the hidden hire step's chance is multiplied by it; factors of several
rules that hit one person multiply). It acts on the person's true attributes, also where the written
cell is missing, in the hiring that produces the logged outcomes and in the hidden truth alike.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from ilona_match.synthetic.catalogue import LOADS, RESTRICTIONS, Catalogue

if TYPE_CHECKING:
    from ilona_match.synthetic.people import People

__all__ = ["AGE_BANDS", "CAPACITY_CATEGORIES", "GENDERS", "GROUP_COLUMNS", "GROUP_VALUES", "MOTHER_TONGUE_GROUPS",
           "REGIONS", "BiasRule", "Groups", "check_bias", "draw_groups", "parse_bias_rule"]

AGE_BANDS: tuple[str, ...] = ("<25", "25-34", "35-44", "45-54", "55+")
GENDERS: tuple[str, ...] = ("female", "male", "other")
MOTHER_TONGUE_GROUPS: tuple[str, ...] = ("fi", "sv", "other")
CAPACITY_CATEGORIES: tuple[str, ...] = ("musculoskeletal", "mental_health", "intellectual", "none_recorded")
# the region (maakunta) of every municipality in catalogue.yaml
REGIONS: dict[str, str] = {
    "Helsinki": "Uusimaa", "Espoo": "Uusimaa", "Tampere": "Pirkanmaa", "Vantaa": "Uusimaa",
    "Oulu": "Pohjois-Pohjanmaa", "Turku": "Varsinais-Suomi", "Jyväskylä": "Keski-Suomi", "Kuopio": "Pohjois-Savo",
    "Lahti": "Päijät-Häme", "Pori": "Satakunta", "Kouvola": "Kymenlaakso", "Joensuu": "Pohjois-Karjala",
    "Lappeenranta": "Etelä-Karjala", "Hämeenlinna": "Kanta-Häme", "Vaasa": "Pohjanmaa", "Seinäjoki": "Etelä-Pohjanmaa",
    "Rovaniemi": "Lappi", "Mikkeli": "Etelä-Savo", "Porvoo": "Uusimaa", "Salo": "Varsinais-Suomi",
    "Kotka": "Kymenlaakso", "Kokkola": "Keski-Pohjanmaa", "Hyvinkää": "Uusimaa", "Lohja": "Uusimaa",
    "Järvenpää": "Uusimaa", "Nurmijärvi": "Uusimaa", "Kirkkonummi": "Uusimaa", "Rauma": "Satakunta",
    "Tuusula": "Uusimaa", "Kerava": "Uusimaa", "Kajaani": "Kainuu", "Kaarina": "Varsinais-Suomi",
    "Nokia": "Pirkanmaa", "Ylöjärvi": "Pirkanmaa", "Kangasala": "Pirkanmaa", "Savonlinna": "Etelä-Savo",
    "Riihimäki": "Kanta-Häme", "Raasepori": "Uusimaa", "Imatra": "Etelä-Karjala", "Raisio": "Varsinais-Suomi",
    "Lempäälä": "Pirkanmaa", "Sastamala": "Pirkanmaa", "Raahe": "Pohjois-Pohjanmaa", "Hollola": "Päijät-Häme",
    "Sipoo": "Uusimaa", "Iisalmi": "Pohjois-Savo", "Tornio": "Lappi", "Siilinjärvi": "Pohjois-Savo",
    "Pirkkala": "Pirkanmaa", "Kemi": "Lappi", "Varkaus": "Pohjois-Savo", "Mustasaari": "Pohjanmaa",
    "Pietarsaari": "Pohjanmaa", "Forssa": "Kanta-Häme", "Parainen": "Varsinais-Suomi", "Loviisa": "Uusimaa",
    "Maarianhamina": "Ahvenanmaa", "Närpiö": "Pohjanmaa", "Hanko": "Uusimaa", "Uusikaarlepyy": "Pohjanmaa",
    "Kemiönsaari": "Varsinais-Suomi", "Kristiinankaupunki": "Pohjanmaa", "Inkoo": "Uusimaa",
}
REGION_NAMES: tuple[str, ...] = tuple(sorted(set(REGIONS.values())))
GROUP_COLUMNS: tuple[str, ...] = ("age_band", "gender", "mother_tongue_group", "capacity_category", "region")
GROUP_VALUES: dict[str, tuple[str, ...]] = dict(zip(
    GROUP_COLUMNS, (AGE_BANDS, GENDERS, MOTHER_TONGUE_GROUPS, CAPACITY_CATEGORIES, REGION_NAMES), strict=True))

BiasRule = tuple[str, str, float]

# age bands by months out of work (under 12, 12-23, 24 and more): the long-term unemployed are older;
# over the world's mix of months about 10/22/22/24/22 %
_AGE_BY_MONTHS = np.array([[0.14, 0.27, 0.23, 0.20, 0.16],
                           [0.09, 0.22, 0.23, 0.25, 0.21],
                           [0.04, 0.14, 0.20, 0.29, 0.33]])
_GENDER = np.array([0.48, 0.50, 0.02])
# mother tongue group (fi, sv, other) by the language the person writes in (fi, sv, en)
_TONGUE_BY_LANGUAGE = np.array([[0.96, 0.01, 0.03],
                                [0.08, 0.90, 0.02],
                                [0.05, 0.03, 0.92]])
_MISSING = np.array([0.02, 0.03, 0.04, 0.06, 0.02])  # per column of GROUP_COLUMNS


def _categorical(rng: np.random.Generator, weights: np.ndarray) -> np.ndarray:
    """One draw per row of ``weights`` (rows need not sum to 1)."""
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random(len(weights)) * cumulative[:, -1]
    return np.minimum((cumulative < u[:, None]).sum(axis=1), weights.shape[1] - 1)


@dataclass(frozen=True)
class Groups:
    """One block of participants' group attributes: true values and which of them the record holds."""

    codes: np.ndarray  # (n, len(GROUP_COLUMNS)) position of the true value in GROUP_VALUES[column]
    recorded: np.ndarray  # (n, len(GROUP_COLUMNS)) bool: False where the written cell is missing

    def __len__(self) -> int:
        return int(self.codes.shape[0])

    def values(self, column: str) -> np.ndarray:
        """The true values of one column as strings."""
        return np.array(GROUP_VALUES[column], dtype=object)[self.codes[:, GROUP_COLUMNS.index(column)]]

    def table(self, ids: pa.Array) -> pa.Table:
        """The ``participant_groups`` rows of these people (missing cells are nulls)."""
        columns = {"participant_id": ids}
        for k, column in enumerate(GROUP_COLUMNS):
            columns[column] = pa.array(self.values(column).tolist(), pa.string(), mask=~self.recorded[:, k])
        return pa.table(columns)

    def hire_factor(self, rules: tuple[BiasRule, ...]) -> np.ndarray:
        """Per person, the product of the factors of the bias rules their true attributes hit (1 where none)."""
        factor = np.ones(len(self))
        for column, value, by in rules:
            hit = self.codes[:, GROUP_COLUMNS.index(column)] == GROUP_VALUES[column].index(value)
            factor[hit] *= by
        return factor


def _region_of_towns(catalogue: Catalogue) -> np.ndarray:
    names = catalogue.municipality_names[:, 0]
    unknown = [str(name) for name in names if name not in REGIONS]
    if unknown:
        raise ValueError(f"no region for municipalities {', '.join(unknown)} (add them to groups.REGIONS)")
    return np.array([REGION_NAMES.index(REGIONS[name]) for name in names], dtype=np.int64)


def draw_groups(rng: np.random.Generator, catalogue: Catalogue, people: People) -> Groups:
    """The group attributes of a block of people, from their true state and ``rng`` (the groups' own stream).

    Age leans on the months out of work, the mother tongue on the language the person writes in,
    the capacity category on the true physical capacity and restrictions, the region is the home
    municipality's.
    """
    n = len(people)
    months = people.unemployment_months
    age = _categorical(rng, _AGE_BY_MONTHS[np.select([months < 12, months < 24], [0, 1], 2)])
    gender = _categorical(rng, np.broadcast_to(_GENDER, (n, _GENDER.size)))
    tongue = _categorical(rng, _TONGUE_BY_LANGUAGE[people.language])

    r = people.restrictions
    low = people.capacity <= LOADS.index("light")
    needs_coach = r[:, RESTRICTIONS.index("needs_job_coach")]
    capacity_weight = np.stack([
        2.5 * low + 1.0 * r[:, RESTRICTIONS.index("no_heavy_lifting")],
        0.25 + 1.5 * r[:, RESTRICTIONS.index("quiet_environment")] + 1.0 * r[:, RESTRICTIONS.index("no_customer_contact")]
        + 0.6 * needs_coach,
        0.9 * needs_coach,
        0.4 + 2.0 * ~low,
    ], axis=1)
    capacity = _categorical(rng, capacity_weight)
    region = _region_of_towns(catalogue)[people.town]
    recorded = rng.random((n, len(GROUP_COLUMNS))) >= _MISSING[None, :]
    codes = np.stack([age, gender, tongue, capacity, region], axis=1).astype(np.int64)
    return Groups(codes=codes, recorded=recorded)


def check_bias(rules: Any) -> tuple[BiasRule, ...]:
    """Bias rules as a tuple of ``(column, value, factor)`` (lists, as read from ``world.json``, too).

    Raises ``ValueError`` naming an unknown column or value, a factor outside (0, 1] or a rule given twice.
    """
    if isinstance(rules, str) or not isinstance(rules, tuple | list):
        raise ValueError(f"hire_bias must be a tuple of (column, value, factor) rules, got {rules!r}")
    checked: list[BiasRule] = []
    for rule in rules:
        if isinstance(rule, str) or not isinstance(rule, tuple | list) or len(rule) != 3:
            raise ValueError(f"hire_bias rule {rule!r} is not (column, value, factor)")
        column, value, factor = rule
        if column not in GROUP_COLUMNS:
            raise ValueError(f"hire_bias: unknown column {column!r} (use one of {', '.join(GROUP_COLUMNS)})")
        if value not in GROUP_VALUES[column]:
            raise ValueError(f"hire_bias: unknown {column} value {value!r} "
                             f"(use one of {', '.join(GROUP_VALUES[column])})")
        if isinstance(factor, bool) or not isinstance(factor, int | float) or not math.isfinite(factor) \
                or not 0.0 < factor <= 1.0:
            raise ValueError(f"hire_bias: the factor for {column}={value} must be a number in (0, 1], got {factor!r}")
        if any((column, value) == (c, v) for c, v, _ in checked):
            raise ValueError(f"hire_bias: {column}={value} is named twice")
        checked.append((str(column), str(value), float(factor)))
    return tuple(checked)


def parse_bias_rule(text: str) -> BiasRule:
    """``column=value:factor`` (as on the command line, e.g. ``age_band=55+:0.5``) as a checked rule."""
    column, equals, rest = text.partition("=")
    value, colon, factor = rest.rpartition(":")
    if not equals or not colon or not column or not value:
        raise ValueError(f"{text!r} is not column=value:factor (e.g. age_band=55+:0.5)")
    try:
        number = float(factor)
    except ValueError:
        raise ValueError(f"{text!r}: the factor {factor!r} is not a number") from None
    return check_bias(((column.strip(), value.strip(), number),))[0]
