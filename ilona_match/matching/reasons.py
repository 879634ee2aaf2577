"""Plain-language reasons in the participant's language (fi / sv / en), from the ranker's
feature contributions and the matched and missing ESCO skills.

Only features that count in the pair's favour become reasons, strongest first, and only when the
pair's own value supports the sentence (``REASON_SUPPORT``: "close by" only within 10 km, "the
opening is recent" only within two weeks, "several openings" only from two): a model can credit a
feature whose value says otherwise, and a reason must be true of the pair. When nothing the model
credits is true, the (at most two) true facts it weighs most are told instead. Reasons use only facts
the coach already entered or the vacancy states: no health details are spelled out beyond "fits
your hours" / "fits your physical capacity". Unknown constraint values go to ``to_check``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ilona_match.contract.constraints import to_check_items
from ilona_match.matching.features import FEATURE_NAMES

__all__ = ["CHECK_TEXT", "Explanation", "FeatureContributions", "REASON_SUPPORT", "REASON_TEXT", "explain_rows",
           "supports_reason"]

# feature -> reason text per language; {skills} is filled with matched skill labels
REASON_TEXT: dict[str, dict[str, str]] = {
    "required_coverage": {"fi": "Sinulla on työn vaatimia taitoja: {skills}", "sv": "Du har färdigheter som jobbet kräver: {skills}", "en": "You have skills the job asks for: {skills}"},
    "occupation_skill_coverage": {"fi": "Osaamisesi sopii ammattiin", "sv": "Din kompetens passar yrket", "en": "Your skills fit the occupation"},
    "occupation_match": {"fi": "Olet tehnyt samaa työtä aiemmin", "sv": "Du har gjort samma arbete tidigare", "en": "You have done this work before"},
    "isco4_match": {"fi": "Työ on samalta alalta kuin aiempi työsi", "sv": "Jobbet är inom samma område som ditt tidigare arbete", "en": "The job is in the same field as your past work"},
    "isco2_match": {"fi": "Työ on lähellä aiempaa työtäsi", "sv": "Jobbet ligger nära ditt tidigare arbete", "en": "The job is close to your past work"},
    "dense_text": {"fi": "Työn kuvaus vastaa profiiliasi", "sv": "Arbetsbeskrivningen motsvarar din profil", "en": "The job description matches your profile"},
    "dense_concept": {"fi": "Työn kuvaus vastaa profiiliasi", "sv": "Arbetsbeskrivningen motsvarar din profil", "en": "The job description matches your profile"},
    "lexical": {"fi": "Ilmoituksessa on samoja asioita kuin profiilissasi", "sv": "Annonsen nämner samma saker som din profil", "en": "The ad mentions the same things as your profile"},
    "distance_ratio": {"fi": "Työpaikka on kohtuullisen matkan päässä", "sv": "Arbetsplatsen ligger inom rimligt avstånd", "en": "The workplace is within a reasonable distance"},
    "distance_km": {"fi": "Työpaikka on lähellä", "sv": "Arbetsplatsen ligger nära", "en": "The workplace is close by"},
    "same_municipality": {"fi": "Työpaikka on kotikunnassasi", "sv": "Arbetsplatsen ligger i din hemkommun", "en": "The job is in your home municipality"},
    "remote_fit": {"fi": "Työtä voi tehdä etänä", "sv": "Arbetet kan göras på distans", "en": "The work can be done remotely"},
    "hours_margin": {"fi": "Työaika sopii sinulle", "sv": "Arbetstiden passar dig", "en": "The working hours suit you"},
    "hours_share": {"fi": "Työaika sopii sinulle", "sv": "Arbetstiden passar dig", "en": "The working hours suit you"},
    "physical_margin": {"fi": "Työn fyysinen kuormitus sopii sinulle", "sv": "Arbetets fysiska belastning passar dig", "en": "The physical load suits you"},
    "sector_preferred": {"fi": "Ala on toivomasi", "sv": "Branschen är en du önskar", "en": "It is a sector you want to work in"},
    "supports_overlap": {"fi": "Työnantaja hyväksyy sinulle sopivan tuen", "sv": "Arbetsgivaren tar emot ett stöd som passar dig", "en": "The employer accepts a support you are eligible for"},
    "job_coach_fit": {"fi": "Yhteiskunnallinen yritys tukee työhönvalmennusta", "sv": "Ett socialt företag stöder arbetscoachning", "en": "A social enterprise that supports job coaching"},
    "social_enterprise": {"fi": "Työnantaja on yhteiskunnallinen yritys", "sv": "Arbetsgivaren är ett socialt företag", "en": "The employer is a social enterprise"},
    "language_fit": {"fi": "Puhut työssä tarvittavia kieliä", "sv": "Du talar de språk som behövs", "en": "You speak the languages the job needs"},
    "vacancy_age_days": {"fi": "Paikka on avattu äskettäin", "sv": "Platsen har nyss öppnats", "en": "The opening is recent"},
    "openings": {"fi": "Paikkoja on useita", "sv": "Det finns flera platser", "en": "There are several openings"},
    "history_similarity": {"fi": "Työ muistuttaa paikkoja, joista olet ollut kiinnostunut", "sv": "Jobbet liknar platser du har visat intresse för", "en": "The job is like ones you have shown interest in"},
    "history_concept_similarity": {"fi": "Työ muistuttaa paikkoja, joista olet ollut kiinnostunut", "sv": "Jobbet liknar platser du har visat intresse för", "en": "The job is like ones you have shown interest in"},
    "history_sector_share": {"fi": "Olet ollut kiinnostunut tämän alan paikoista", "sv": "Du har visat intresse för platser inom branschen", "en": "You have shown interest in jobs in this sector"},
    "history_employer_share": {"fi": "Olet ollut kiinnostunut tämän työnantajan paikoista", "sv": "Du har visat intresse för den här arbetsgivarens platser", "en": "You have shown interest in this employer's jobs"},
    "co_interaction": {"fi": "Samoista paikoista kiinnostuneet ovat katsoneet tätä", "sv": "Personer med liknande intressen har tittat på den här", "en": "People with interests like yours looked at this one"},
}
# feature -> (comparison, threshold): the pair's value must satisfy it for the reason to be told
# (a missing value never does). Text similarities are cosines; 0.35 (dense) and 0.10 (lexical) sit
# above what unrelated texts reach with the default embedder and TF-IDF.
REASON_SUPPORT: dict[str, tuple[str, float]] = {
    "required_coverage": (">", 0.0),  # and at least one matched skill to name
    "occupation_skill_coverage": (">=", 0.3),
    "occupation_match": (">=", 1.0),
    "isco4_match": (">=", 1.0),
    "isco2_match": (">=", 1.0),
    "dense_text": (">=", 0.35),
    "dense_concept": (">=", 0.35),
    "lexical": (">=", 0.10),
    "distance_ratio": ("<=", 1.0),  # within the person's own commuting range
    "distance_km": ("<=", 10.0),
    "same_municipality": (">=", 1.0),
    "remote_fit": (">=", 1.0),
    "hours_margin": (">=", 0.0),  # hours stated and within the person's limit
    "hours_share": ("<=", 1.0),
    "physical_margin": (">=", 0.0),  # load stated and within the person's capacity
    "sector_preferred": (">=", 1.0),
    "supports_overlap": (">=", 1.0),
    "job_coach_fit": (">=", 1.0),
    "social_enterprise": (">=", 1.0),
    "language_fit": (">=", 1.0),  # every language the job needs
    "vacancy_age_days": ("<=", 14.0),
    "openings": (">=", 2.0),
    "history_similarity": (">=", 0.5),  # closer to the person's history profile than unrelated ads reach
    "history_concept_similarity": (">=", 0.5),
    "history_sector_share": (">=", 0.5),  # at least half of what the person engaged with
    "history_employer_share": (">", 0.0),
    "co_interaction": (">", 0.0),
}


def supports_reason(name: str, value: float) -> bool:
    """Whether a pair's feature value makes the feature's reason true (``REASON_SUPPORT``)."""
    comparison, threshold = REASON_SUPPORT[name]
    if value is None or not np.isfinite(value):
        return False
    return bool(value >= threshold if comparison == ">=" else value <= threshold if comparison == "<=" else value > threshold)


CHECK_TEXT: dict[str, dict[str, str]] = {
    "hours_per_week": {"fi": "työaika ei tiedossa", "sv": "arbetstiden är okänd", "en": "hours not stated"},
    "physical_load": {"fi": "fyysinen kuormitus ei tiedossa", "sv": "fysisk belastning okänd", "en": "physical load not stated"},
    "night_shifts": {"fi": "yövuorot ei tiedossa", "sv": "nattskift okänt", "en": "night shifts not stated"},
    "weekend_work": {"fi": "viikonlopputyö ei tiedossa", "sv": "helgarbete okänt", "en": "weekend work not stated"},
    "customer_contact": {"fi": "asiakaskontaktit ei tiedossa", "sv": "kundkontakt okänd", "en": "customer contact not stated"},
    "heavy_lifting": {"fi": "raskaat nostot ei tiedossa", "sv": "tunga lyft okända", "en": "heavy lifting not stated"},
    "driving": {"fi": "ajaminen ei tiedossa", "sv": "körning okänd", "en": "driving not stated"},
    "listed_names": {"fi": "profiilin ammatti- tai taitonimeä ei tunnistettu varmasti",
                     "sv": "ett yrkes- eller färdighetsnamn i profilen känns inte igen säkert",
                     "en": "a job or skill name in the profile was not recognised for sure"},
}
_MISSING = {"fi": "Puuttuvia taitoja: {skills}", "sv": "Färdigheter som saknas: {skills}", "en": "Missing skills: {skills}"}
# features whose contribution is about the same thing: only the strongest of a family is told
_FAMILY = {"dense_concept": "dense_text", "hours_share": "hours_margin", "distance_km": "distance_ratio",
           "same_municipality": "distance_ratio", "isco2_match": "isco4_match",
           "history_concept_similarity": "history_similarity"}


_FEATURE_POSITION = {name: i for i, name in enumerate(FEATURE_NAMES)}


class FeatureContributions(Mapping[str, float]):
    """Feature name -> contribution to the score, read from one row of a run's contribution block.

    A view, not a dict per recommendation: a dict of 32 floats costs ~2 KB, and a run keeps every
    recommendation's explanation until it is written (1,000,000 people x 20 would need ~45 GB).
    """

    __slots__ = ("_row",)

    def __init__(self, row: np.ndarray) -> None:
        if row.shape != (len(FEATURE_NAMES),):
            raise ValueError(f"a contribution row has {len(FEATURE_NAMES)} values, got shape {row.shape}")
        self._row = row

    def __getitem__(self, name: str) -> float:
        return float(self._row[_FEATURE_POSITION[name]])

    def __iter__(self) -> Iterator[str]:
        return iter(FEATURE_NAMES)

    def __len__(self) -> int:
        return len(FEATURE_NAMES)

    def __repr__(self) -> str:
        return f"FeatureContributions({dict(self)!r})"


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one vacancy was recommended to one participant: data and text."""

    participant_id: str
    vacancy_id: str
    language: str
    reasons: tuple[str, ...]
    reason_features: tuple[str, ...]
    matched_skills: tuple[str, ...]  # labels in the participant's language
    missing_skills: tuple[str, ...]
    to_check: tuple[str, ...]  # CHECK_ITEMS keys
    to_check_text: tuple[str, ...]
    contributions: Mapping[str, float]  # per feature; the bias is left out

    @property
    def text(self) -> str:
        parts = list(self.reasons)
        if self.to_check_text:
            parts.append({"fi": "Tarkista: ", "sv": "Kontrollera: ", "en": "Check: "}[self.language] + ", ".join(self.to_check_text))
        return ". ".join(parts)


def explain_rows(
    contributions: np.ndarray,
    features: np.ndarray,
    languages: Sequence[str],
    matched: Sequence[Sequence[str]],
    missing: Sequence[Sequence[str]],
    to_check: np.ndarray,
    ids: Sequence[tuple[str, str]],
    max_reasons: int = 4,
) -> list[Explanation]:
    """One Explanation per row: 2–4 reasons from the largest positive contributions that have a text."""
    out = []
    per_feature = np.ascontiguousarray(contributions[:, : len(FEATURE_NAMES)], dtype=np.float64)  # bias dropped
    for row, (pid, vid) in enumerate(ids):
        lang = languages[row] if languages[row] in ("fi", "sv", "en") else "fi"
        order = np.argsort(-per_feature[row], kind="stable")
        chosen: list[str] = []
        families: set[str] = set()
        for column in order:
            name = FEATURE_NAMES[column]
            value = features[row, column]
            if contributions[row, column] <= 0 or name not in REASON_TEXT or not supports_reason(name, value):
                continue
            family = _FAMILY.get(name, name)
            if family in families or (name == "required_coverage" and not matched[row]):
                continue
            families.add(family)
            chosen.append(name)
            if len(chosen) == max_reasons:
                break
        if not chosen:  # nothing the model credits is true of the pair: the true facts it weighs most
            for column in order:
                name = FEATURE_NAMES[column]
                family = _FAMILY.get(name, name)
                if name in REASON_TEXT and family not in families and supports_reason(name, features[row, column]) and (
                        name != "required_coverage" or matched[row]):
                    families.add(family)
                    chosen.append(name)
                    if len(chosen) == 2:
                        break
        coverage = features[row, _FEATURE_POSITION["required_coverage"]]
        if len(chosen) < 2 and matched[row] and "required_coverage" not in chosen and supports_reason(
                "required_coverage", coverage):
            chosen.append("required_coverage")
        skills = ", ".join(matched[row][:3])
        reasons = [REASON_TEXT[name][lang].format(skills=skills) for name in chosen]
        if missing[row]:
            reasons.append(_MISSING[lang].format(skills=", ".join(missing[row][:3])))
        checks = to_check_items(int(to_check[row]))
        out.append(
            Explanation(
                participant_id=pid, vacancy_id=vid, language=lang, reasons=tuple(reasons[:max_reasons]),
                reason_features=tuple(chosen), matched_skills=tuple(matched[row]), missing_skills=tuple(missing[row]),
                to_check=checks, to_check_text=tuple(CHECK_TEXT[c][lang] for c in checks),
                contributions=FeatureContributions(per_feature[row]),
            )
        )
    return out
