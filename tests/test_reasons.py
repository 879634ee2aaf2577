"""Reasons are true of the pair: each reason is told only when the pair's own value supports it
(``REASON_SUPPORT``), however much the model credits the feature; one case per reason."""

from __future__ import annotations

import numpy as np
import pytest

from ilona_match.matching.features import FEATURE_NAMES
from ilona_match.matching.reasons import REASON_SUPPORT, REASON_TEXT, explain_rows, supports_reason

COLUMN = {name: i for i, name in enumerate(FEATURE_NAMES)}


def _values(name: str) -> tuple[float, float]:
    """A value that supports the reason and one just on the wrong side of its threshold."""
    comparison, threshold = REASON_SUPPORT[name]
    if comparison == ">=":
        return threshold, threshold - 0.01
    if comparison == "<=":
        return threshold, threshold + 0.01
    return threshold + 0.01, threshold


def _reasons(name: str, value: float, lang: str = "en") -> tuple[str, ...]:
    """The reasons of one pair whose only positive contribution is ``name`` (at ``value``)."""
    contributions = np.full((1, len(FEATURE_NAMES) + 1), -0.1)
    contributions[0, COLUMN[name]] = 2.0
    features = np.full((1, len(FEATURE_NAMES)), np.nan, dtype=np.float32)  # nothing else is known
    features[0, COLUMN[name]] = value
    matched = (("cleaning",),) if name == "required_coverage" else ((),)
    (explained,) = explain_rows(contributions, features, [lang], matched, ((),), np.zeros(1, dtype=np.int64),
                                [("P1", "V1")])
    return explained.reasons


def test_every_reason_has_a_support_rule() -> None:
    assert set(REASON_SUPPORT) == set(REASON_TEXT)
    assert set(REASON_SUPPORT) <= set(FEATURE_NAMES)


@pytest.mark.parametrize("name", sorted(REASON_SUPPORT))
def test_a_reason_is_told_only_when_the_pairs_value_supports_it(name: str) -> None:
    supported, contradicted = _values(name)
    text = REASON_TEXT[name]["en"].format(skills="cleaning")
    assert text in _reasons(name, supported)
    assert text not in _reasons(name, contradicted)
    assert text not in _reasons(name, float("nan"))  # an unknown value supports nothing


@pytest.mark.parametrize(
    ("name", "value", "told"),
    [
        ("distance_km", 9.5, True), ("distance_km", 42.0, False),  # "close by"
        ("vacancy_age_days", 3.0, True), ("vacancy_age_days", 60.0, False),  # "the opening is recent"
        ("openings", 3.0, True), ("openings", 1.0, False),  # "there are several openings"
        ("hours_margin", 0.0, True), ("hours_margin", -5.0, False),  # "the working hours suit you"
        ("physical_margin", 0.0, True),  # the load equals the person's capacity: it fits
    ],
)
def test_the_reasons_coaches_met_untrue_now_follow_the_value(name: str, value: float, told: bool) -> None:
    assert supports_reason(name, value) is told
    assert (REASON_TEXT[name]["fi"] in _reasons(name, value, "fi")) is told


def test_when_nothing_credited_is_true_the_true_facts_weighed_most_are_told() -> None:
    """The model credits only "close by" (42 km: untrue); the hours fit and the sector is wanted,
    though the model weighs them slightly against: those two true facts are told, the untrue one not."""
    contributions = np.full((1, len(FEATURE_NAMES) + 1), -0.5)
    contributions[0, COLUMN["distance_km"]] = 2.0
    contributions[0, COLUMN["hours_margin"]] = -0.01
    contributions[0, COLUMN["sector_preferred"]] = -0.02
    features = np.full((1, len(FEATURE_NAMES)), np.nan, dtype=np.float32)
    features[0, [COLUMN["distance_km"], COLUMN["hours_margin"], COLUMN["sector_preferred"]]] = [42.0, 5.0, 1.0]
    (explained,) = explain_rows(contributions, features, ["en"], ((),), ((),), np.zeros(1, dtype=np.int64), [("P", "V")])
    assert explained.reason_features == ("hours_margin", "sector_preferred")
