"""The contract's vocabulary: enums, column specs of the tables, and the fault types.

``TABLES`` are the three every data folder has; ``OPTIONAL_TABLES`` (contract v1.1) are read when
their file is present and are empty otherwise."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

__all__ = [
    "ACTOR_NAME", "AGE_BANDS", "ALL_TABLES", "AUDIT_TABLES", "COLUMNS", "DATE_DTYPE", "EMPLOYER_TYPES", "EVENTS", "EVENT_STRENGTH", "GENDERS", "GROUP_COLUMNS", "HARD_RESTRICTIONS",
    "ISO_639_1", "LANGUAGES", "MOTHER_TONGUE_GROUPS", "OPTIONAL_TABLES", "OUTCOME_COLUMNS", "PARTICIPANT_COLUMNS",
    "PARTICIPANT_GROUP_COLUMNS", "PHYSICAL_LEVELS", "SECTOR_NAMES",
    "PROVIDER_TYPES", "RECORD_LABELS", "RESTRICTIONS", "SERVICE_COLUMNS", "SERVICE_EVENTS", "SERVICE_KINDS",
    "SHOWN_ROWS", "SUPPORTS",
    "TABLES", "VACANCY_COLUMNS", "VACANCY_OUTCOME_FIELDS", "ColumnSpec", "ContractError", "DataBundle", "Fault", "Kind",
]

TABLES: tuple[str, ...] = ("participants", "vacancies", "outcomes")
OPTIONAL_TABLES: tuple[str, ...] = ("services", "participant_groups")
# the order tables are read in: a table that refers to others comes after them
ALL_TABLES: tuple[str, ...] = ("participants", "participant_groups", "vacancies", "services", "outcomes")
# read by the fairness audit only (``learning.audit``): never a model input
AUDIT_TABLES: tuple[str, ...] = ("participant_groups",)
EVENTS: tuple[str, ...] = (
    "viewed", "recommended", "declined", "applied", "rejected", "interview", "work_trial", "hired", "retained_6m",
)
EVENT_STRENGTH: dict[str, int] = {event: strength for strength, event in enumerate(EVENTS)}
# contract v1.1: events of a person and a service (an outcome row names a service_id instead of a vacancy_id)
SERVICE_EVENTS: tuple[str, ...] = ("offered", "started", "completed", "dropped_out")
PHYSICAL_LEVELS: tuple[str, ...] = ("sedentary", "light", "medium", "heavy")
RESTRICTIONS: tuple[str, ...] = (
    "no_night_shifts", "no_weekend_work", "no_heavy_lifting", "no_customer_contact",
    "quiet_environment", "needs_job_coach", "no_driving",
)
# restriction -> the vacancy bool column that breaks it (the contract's hard constraints)
HARD_RESTRICTIONS: dict[str, str] = {
    "no_night_shifts": "night_shifts",
    "no_weekend_work": "weekend_work",
    "no_customer_contact": "customer_contact",
    "no_heavy_lifting": "heavy_lifting",
    "no_driving": "driving",
}
AGE_BANDS: tuple[str, ...] = ("<25", "25-34", "35-44", "45-54", "55+")
GENDERS: tuple[str, ...] = ("female", "male", "other")
MOTHER_TONGUE_GROUPS: tuple[str, ...] = ("fi", "sv", "other")
SUPPORTS: tuple[str, ...] = ("wage_subsidy", "work_trial", "apprenticeship", "supported_employment")
# the sectors the data contract names (vacancies.sector and preferred_sectors may hold others), with
# their names in fi / sv / en: what the coach page shows, and what a profile text says it wishes
SECTOR_NAMES: dict[str, tuple[str, str, str]] = {
    "social_health": ("sosiaali- ja terveysala", "vård och omsorg", "health and social care"),
    "elderly_care": ("vanhustyö", "äldreomsorg", "elderly care"),
    "circular_economy": ("kiertotalous", "cirkulär ekonomi", "circular economy"),
    "cleaning": ("siivous", "städning", "cleaning"),
    "food_service": ("ravintola- ja keittiötyö", "restaurang och kök", "food service"),
    "logistics": ("logistiikka ja varasto", "logistik och lager", "logistics and warehousing"),
    "retail": ("kauppa", "handel", "retail"),
    "office": ("toimistotyö", "kontorsarbete", "office work"),
}
EMPLOYER_TYPES: tuple[str, ...] = ("social_enterprise", "private", "public", "third_sector")
LANGUAGES: tuple[str, ...] = ("fi", "sv", "en")
PROVIDER_TYPES: tuple[str, ...] = ("training_provider", "social_enterprise", "employer", "public_service", "ngo")
SERVICE_KINDS: tuple[str, ...] = (
    "course", "apprenticeship", "work_trial", "supported_employment", "rehabilitation", "coaching",
)
_ISO_639_1_CODES = (
    "aa ab ae af ak am an ar as av ay az ba be bg bh bi bm bn bo br bs ca ce ch co cr cs cu cv cy da de dv dz "
    "ee el en eo es et eu fa ff fi fj fo fr fy ga gd gl gn gu gv ha he hi ho hr ht hu hy hz ia id ie ig ii ik "
    "io is it iu ja jv ka kg ki kj kk kl km kn ko kr ks ku kv kw ky la lb lg li ln lo lt lu lv mg mh mi mk ml "
    "mn mr ms mt my na nb nd ne ng nl nn no nr nv ny oc oj om or os pa pi pl ps pt qu rm rn ro ru rw sa sc sd "
    "se sg si sk sl sm sn so sq sr ss st su sv sw ta te tg th ti tk tl tn to tr ts tt tw ty ug uk ur uz ve vi "
    "vo wa wo xh yi yo za zh zu"
)
ISO_639_1: frozenset[str] = frozenset(_ISO_639_1_CODES.split())
ACTOR_NAME = r"^[A-Za-z0-9_.-]{1,64}$"  # who acted, as the audit log keeps it: an API key's name, a reviewer, "batch"
DATE_DTYPE = "datetime64[us]"  # dates are midnight timestamps; us covers years 1..9999 (e.g. 9999-12-31)

Kind = Literal["string", "text", "enum", "list", "number", "integer", "bool", "date"]
SHOWN_ROWS = 10  # rows a message names before "and N more"


@dataclass(frozen=True)
class ColumnSpec:
    """One contract column. ``required`` means the column must be present; a required column with a
    ``default`` may hold missing values (the default fills them), one without may not.

    kind: string (stripped), text (free text, kept as written, never quoted in faults), enum
    (one of ``allowed``), list (tuple of str; items limited to ``allowed`` when given, or to ISO
    639-1 codes when ``language_codes``), number / integer (float64 within the bounds), bool, date.
    """

    name: str
    kind: Kind
    required: bool = False
    default: Any = None
    allowed: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    above: float | None = None  # exclusive lower bound
    language_codes: bool = False
    unique: bool = False
    references: str | None = None  # table whose id this column must name


def _col(name: str, kind: Kind, **options: Any) -> ColumnSpec:
    return ColumnSpec(name, kind, **options)


# what a job or a service step asks of a person, and where: the hard constraints apply to both
_WORK_DEMANDS: tuple[ColumnSpec, ...] = (
    _col("hours_per_week", "number"),
    _col("physical_load", "enum", allowed=PHYSICAL_LEVELS),
    *(_col(flag, "bool") for flag in ("night_shifts", "weekend_work", "customer_contact", "heavy_lifting", "driving")),
    _col("municipality", "string"),
    _col("lat", "number", minimum=-90, maximum=90),
    _col("lon", "number", minimum=-180, maximum=180),
    _col("remote", "bool", default=False),
)
PARTICIPANT_COLUMNS: tuple[ColumnSpec, ...] = (
    _col("participant_id", "string", required=True, unique=True),
    _col("coach_id", "string", required=True),
    _col("language", "enum", default="fi", allowed=LANGUAGES),
    _col("profile_text", "text", required=True, default=""),
    _col("skills", "list"),
    _col("occupations", "list"),
    _col("languages_spoken", "list", language_codes=True),
    _col("max_hours_per_week", "number", required=True, minimum=0, maximum=60),
    _col("physical_capacity", "enum", required=True, allowed=PHYSICAL_LEVELS),
    _col("restrictions", "list", allowed=RESTRICTIONS),
    _col("municipality", "string"),
    _col("lat", "number", minimum=-90, maximum=90),
    _col("lon", "number", minimum=-180, maximum=180),
    _col("max_commute_km", "number", default=30.0, above=0),
    _col("remote_ok", "bool", default=False),
    _col("preferred_sectors", "list"),
    _col("supports", "list", allowed=SUPPORTS),
    _col("unemployment_months", "integer", minimum=0),
    _col("available_from", "date"),
)
VACANCY_COLUMNS: tuple[ColumnSpec, ...] = (
    _col("vacancy_id", "string", required=True, unique=True),
    _col("employer_id", "string", required=True),
    _col("employer_type", "enum", allowed=EMPLOYER_TYPES),
    _col("sector", "string", required=True),
    _col("occupation", "string"),
    _col("title", "text", required=True),
    _col("description", "text", required=True, default=""),
    _col("language", "enum", default="fi", allowed=LANGUAGES),
    _col("required_skills", "list"),
    _col("optional_skills", "list"),
    _col("languages_required", "list", language_codes=True),
    *_WORK_DEMANDS,
    _col("openings", "integer", default=1.0, minimum=1),
    _col("supports_accepted", "list", allowed=SUPPORTS),
    _col("published_at", "date", required=True),
    _col("closes_at", "date"),
)
SERVICE_COLUMNS: tuple[ColumnSpec, ...] = (
    _col("service_id", "string", required=True, unique=True),
    _col("provider_id", "string", required=True),
    _col("provider_type", "enum", required=True, allowed=PROVIDER_TYPES),
    _col("kind", "enum", required=True, allowed=SERVICE_KINDS),
    _col("title", "text", required=True),
    _col("description", "text", required=True, default=""),
    _col("language", "enum", default="fi", allowed=LANGUAGES),
    _col("skills_taught", "list"),
    _col("occupations_toward", "list"),
    *_WORK_DEMANDS,
    _col("seats", "integer", default=1.0, minimum=1),
    _col("starts_at", "date", required=True),
    _col("closes_at", "date"),
    _col("duration_weeks", "number", above=0),
    _col("supports_accepted", "list", allowed=SUPPORTS),
)
PARTICIPANT_GROUP_COLUMNS: tuple[ColumnSpec, ...] = (
    _col("participant_id", "string", required=True, unique=True, references="participants"),
    _col("age_band", "enum", allowed=AGE_BANDS),
    _col("gender", "enum", allowed=GENDERS),
    _col("mother_tongue_group", "enum", allowed=MOTHER_TONGUE_GROUPS),
    _col("capacity_category", "string"),
    _col("region", "string"),
)
GROUP_COLUMNS: tuple[str, ...] = tuple(spec.name for spec in PARTICIPANT_GROUP_COLUMNS[1:])
OUTCOME_COLUMNS: tuple[ColumnSpec, ...] = (
    _col("participant_id", "string", required=True, references="participants"),
    _col("vacancy_id", "string", required=True, references="vacancies"),
    _col("event", "enum", required=True, allowed=EVENTS + SERVICE_EVENTS),
    _col("event_date", "date", required=True),
    _col("service_id", "string", references="services"),  # v1.1: instead of vacancy_id
)
# the columns of the outcomes a vacancy ranking reads (``DataBundle.outcomes``, feedback, the API)
VACANCY_OUTCOME_FIELDS: tuple[str, ...] = ("participant_id", "vacancy_id", "event", "event_date")
COLUMNS: dict[str, tuple[ColumnSpec, ...]] = {
    "participants": PARTICIPANT_COLUMNS,
    "vacancies": VACANCY_COLUMNS,
    "outcomes": OUTCOME_COLUMNS,
    "services": SERVICE_COLUMNS,
    "participant_groups": PARTICIPANT_GROUP_COLUMNS,
}
RECORD_LABELS = {"participants": "participant", "vacancies": "vacancy", "outcomes": "outcome", "services": "service",
                 "participant_groups": "participant group"}


@dataclass(frozen=True)
class Fault:
    """One problem in the input. ``row`` is the 1-based data row (header excluded), None for
    file- or column-level faults; ``fatal`` faults stop a run even when asked to continue."""

    file: str
    column: str | None
    row: int | None
    reason: str
    fatal: bool

    def __str__(self) -> str:
        where = self.file if self.row is None else f"{self.file} row {self.row}"
        if self.column is not None:
            where += f", column {self.column}"
        return f"{where}: {self.reason}"


class ContractError(Exception):
    """Input that breaks the data contract; ``faults`` holds every fault found."""

    def __init__(self, faults: Sequence[Fault]) -> None:
        self.faults: list[Fault] = list(faults)
        ordered = sorted(self.faults, key=lambda fault: not fault.fatal)
        lines = [str(fault) for fault in ordered[:SHOWN_ROWS * 2]]
        if len(ordered) > len(lines):
            lines.append(f"... and {len(ordered) - len(lines)} more")
        fatal = sum(fault.fatal for fault in self.faults)
        super().__init__(f"{len(self.faults)} fault(s) in the data ({fatal} fatal):\n" + "\n".join(lines))


@dataclass(frozen=True)
class DataBundle:
    """The checked tables. Tables not asked for are empty frames with the contract columns.
    ``rejects`` (file, row, column, reason, record_id) lists the rows set aside in continue mode."""

    participants: pd.DataFrame
    vacancies: pd.DataFrame
    outcomes: pd.DataFrame
    rejects: pd.DataFrame
    source_files: dict[str, Path] = field(default_factory=dict)
    services: pd.DataFrame | None = None  # contract v1.1; ``load_data`` gives an empty frame when absent
    service_outcomes: pd.DataFrame | None = None  # v1.1: outcome rows naming a service_id (participant_id,
    # service_id, event, event_date); ``outcomes`` then holds the rows naming a vacancy_id only
    participant_groups: pd.DataFrame | None = None  # v1.1, for the fairness audit only: loaded when asked for


