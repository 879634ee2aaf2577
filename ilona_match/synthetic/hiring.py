"""The hidden hiring process: what really happens after a participant and a vacancy meet.

This is the synthetic world's ground truth. The engine must learn it from the outcomes table and
never import this module; its weights are deliberately kept here only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from ilona_match.synthetic.arrays import sigmoid

__all__ = ["EVENTS", "HiringWeights", "PairFacts", "hidden_outcomes", "hire_probability"]

# Contract events, weakest to strongest; also the column order of hidden_outcomes' result.
EVENTS: tuple[str, ...] = (
    "viewed", "recommended", "declined", "applied", "rejected", "interview", "work_trial", "hired", "retained_6m",
)
RETENTION_DAYS = 183


@dataclass(frozen=True)
class HiringWeights:
    """Weights of the hidden process (logits). Secret from the engine; change them to make harder worlds."""

    # the participant: decline a recommendation, or apply (to a recommended or a browsed vacancy)
    decline_intercept: float = -1.4
    apply_recommended: float = 0.0
    apply_viewed: float = -1.2
    appeal_preferred_sector: float = 0.9
    appeal_own_occupation: float = 0.7
    appeal_commute: float = 1.0  # per log(1 + commute beyond the preference, in preference lengths)
    appeal_visible_conflict: float = 2.5
    appeal_person: float = 0.3
    appeal_noise: float = 0.7
    # the employer: interview, work trial, hire
    interview_intercept: float = -0.5
    hire_intercept: float = 1.0
    essential_coverage: float = 4.0
    optional_coverage: float = 1.0
    own_occupation: float = 0.8
    related_occupation: float = 0.4  # same ISCO-08 minor group
    missing_language: float = -2.5
    unemployment: float = -0.5  # per log(1 + years unemployed)
    wage_subsidy: float = 0.6  # the person is eligible and the employer accepts it
    job_coach_social_enterprise: float = 1.0  # needs_job_coach at a social enterprise
    job_coach_private: float = -0.7
    quiet_customer_work: float = -0.6  # quiet_environment and customer contact
    person: float = 0.8
    vacancy: float = 0.5
    noise: float = 0.8
    work_trial_share: float = 0.7  # interviews that go through a work trial when both sides allow one
    work_trial_bonus: float = 0.7
    rejection_notice: float = 0.75  # unsuccessful applicants who are told so
    # staying six months
    retain_intercept: float = 0.2
    retain_hours_margin: float = 1.2  # per share of the person's hours left unused
    retain_physical_margin: float = 0.5  # per load level below the person's capacity
    retain_commute: float = 0.8
    retain_job_coach_social_enterprise: float = 0.9
    retain_supported_employment: float = 0.5
    retain_person: float = 0.6

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if not isinstance(value, int | float) or not np.isfinite(value):
                raise ValueError(f"HiringWeights.{field.name} must be a finite number, got {value!r}")
        for name in ("work_trial_share", "rejection_notice"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"HiringWeights.{name} must be a share in [0, 1]")


@dataclass(frozen=True)
class PairFacts:
    """Everything the hidden process reads about logged pairs (one array element per pair)."""

    recommended: np.ndarray  # bool: a coach recommended it (else the participant viewed it)
    start: np.ndarray  # day of the first event
    last_open: np.ndarray  # the vacancy's last open day
    preferred_sector: np.ndarray
    own_occupation: np.ndarray
    related_occupation: np.ndarray
    commute_excess: np.ndarray  # log(1 + max(0, distance - preference) / preference)
    visible_conflict: np.ndarray  # breaks a hard constraint on the written values
    hidden_conflict: np.ndarray  # breaks a hard constraint on the true values
    essential_coverage: np.ndarray
    optional_coverage: np.ndarray
    missing_language: np.ndarray
    unemployment: np.ndarray  # log(1 + years)
    wage_subsidy: np.ndarray
    work_trial: np.ndarray
    supported_employment: np.ndarray
    job_coach_social_enterprise: np.ndarray
    job_coach_private: np.ndarray
    quiet_customer_work: np.ndarray
    hours_margin: np.ndarray  # (max hours - hours) / max hours
    physical_margin: np.ndarray  # capacity rank - load rank
    person: np.ndarray  # latent traits
    vacancy: np.ndarray
    # a planted bias (``groups.py``): the employer's chance to hire is multiplied by it; None = no bias
    hire_factor: np.ndarray | None = None


def hidden_outcomes(facts: PairFacts, w: HiringWeights, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Day of each event per pair (columns in EVENTS order, -1 where it does not happen) and each
    hire's priority: how far its logit cleared the random threshold (positive for hires).

    Dates rise along each pair's sequence; views, recommendations, declines and applications fall
    inside the vacancy's open period. No pair whose true values break a hard constraint is hired.
    An employer with fewer openings than hires keeps those with the highest priority (world.py).
    A planted bias (``facts.hire_factor``) multiplies the hire step's chance: hired iff the same
    uniform draw lies below ``factor * sigmoid(hire_logit)``, so no other draw changes.
    """
    n = facts.start.size
    u = rng.random((n, 9))
    noise = rng.normal(size=(n, 3))
    lag = rng.random((n, 7))

    appeal = (w.appeal_preferred_sector * facts.preferred_sector + w.appeal_own_occupation * facts.own_occupation
              - w.appeal_commute * facts.commute_excess - w.appeal_visible_conflict * facts.visible_conflict
              + w.appeal_person * facts.person + w.appeal_noise * noise[:, 0])
    declined = facts.recommended & (u[:, 0] < sigmoid(w.decline_intercept - appeal))
    apply_intercept = np.where(facts.recommended, w.apply_recommended, w.apply_viewed)
    applied = ~declined & (u[:, 1] < sigmoid(apply_intercept + appeal))

    fit = (w.essential_coverage * facts.essential_coverage + w.optional_coverage * facts.optional_coverage
           + w.own_occupation * facts.own_occupation + w.related_occupation * facts.related_occupation
           + w.missing_language * facts.missing_language + w.unemployment * facts.unemployment
           + w.wage_subsidy * facts.wage_subsidy + w.job_coach_social_enterprise * facts.job_coach_social_enterprise
           + w.job_coach_private * facts.job_coach_private + w.quiet_customer_work * facts.quiet_customer_work
           + w.person * facts.person + w.vacancy * facts.vacancy + w.noise * noise[:, 1])
    interview = applied & ~facts.visible_conflict & (u[:, 2] < sigmoid(w.interview_intercept + fit))
    trial = interview & facts.work_trial & (u[:, 3] < w.work_trial_share)
    hire_logit = w.hire_intercept + fit + w.work_trial_bonus * trial
    draw = u[:, 4]
    turned_down = np.zeros(n, dtype=bool)
    if facts.hire_factor is not None:  # u < f * sigmoid(logit)  <=>  u / f < 1 and u / f < sigmoid(logit)
        draw = draw / facts.hire_factor
        turned_down = draw >= 1.0
    draw = np.clip(draw, 1e-12, 1 - 1e-12)
    threshold = np.log(draw) - np.log1p(-draw)  # u < sigmoid(logit)  <=>  logit > logit(u)
    hired = interview & ~facts.hidden_conflict & ~turned_down & (hire_logit > threshold)
    told_early = applied & ~interview & (u[:, 5] < w.rejection_notice)
    told_late = interview & ~hired & (u[:, 6] < w.rejection_notice)
    stay = (w.retain_intercept + w.retain_hours_margin * facts.hours_margin
            + w.retain_physical_margin * facts.physical_margin - w.retain_commute * facts.commute_excess
            + w.retain_job_coach_social_enterprise * facts.job_coach_social_enterprise
            + w.retain_supported_employment * facts.supported_employment
            + w.retain_person * facts.person + noise[:, 2])
    retained = hired & (u[:, 7] < sigmoid(stay))

    def after(day: np.ndarray, low: int, high: int, column: int) -> np.ndarray:
        return day + low + (lag[:, column] * (high - low)).astype(np.int64)

    start = facts.start.astype(np.int64)
    last_open = facts.last_open.astype(np.int64)
    applied_day = np.minimum(after(start, 0, 11, 0), last_open)
    interview_day = after(applied_day, 3, 21, 1)
    trial_day = after(interview_day, 5, 21, 2)
    hired_day = np.where(trial, after(trial_day, 20, 41, 3), after(interview_day, 3, 16, 3))
    rejected_day = np.where(interview, np.where(trial, after(trial_day, 14, 35, 4), after(interview_day, 3, 15, 4)),
                            after(applied_day, 5, 41, 4))

    days = np.full((n, len(EVENTS)), -1, dtype=np.int64)
    days[:, 0] = np.where(facts.recommended, -1, start)
    days[:, 1] = np.where(facts.recommended, start, -1)
    days[:, 2] = np.where(declined, np.minimum(after(start, 0, 8, 5), last_open), -1)
    days[:, 3] = np.where(applied, applied_day, -1)
    days[:, 4] = np.where(told_early | told_late, rejected_day, -1)
    days[:, 5] = np.where(interview, interview_day, -1)
    days[:, 6] = np.where(trial, trial_day, -1)
    days[:, 7] = np.where(hired, hired_day, -1)
    days[:, 8] = np.where(retained, hired_day + RETENTION_DAYS, -1)
    return days, hire_logit - threshold


_NODES, _WEIGHTS = np.polynomial.hermite.hermgauss(24)
_NORMAL = np.sqrt(2.0) * _NODES  # points and weights of E[f(Z)], Z ~ N(0, 1), by Gauss-Hermite
_NORMAL_WEIGHT = _WEIGHTS / np.sqrt(np.pi)


def hire_probability(facts: PairFacts, w: HiringWeights) -> np.ndarray:
    """The chance that recommending each pair ends in a hire under ``hidden_outcomes``' process:
    P(not declined and applied) * P(interview and hired | applied), each integrated over its noise.

    Competition for the openings is left out (it depends on who else applies). A planted bias
    (``facts.hire_factor``) multiplies it. This is the truth a synthetic world scores recommendations
    against; the engine never sees it.
    """
    appeal = (w.appeal_preferred_sector * facts.preferred_sector + w.appeal_own_occupation * facts.own_occupation
              - w.appeal_commute * facts.commute_excess - w.appeal_visible_conflict * facts.visible_conflict
              + w.appeal_person * facts.person)[:, None] + w.appeal_noise * _NORMAL[None, :]
    intercept = np.where(facts.recommended, w.apply_recommended, w.apply_viewed)[:, None]
    decline = np.where(facts.recommended[:, None], sigmoid(w.decline_intercept - appeal), 0.0)
    applies = ((1.0 - decline) * sigmoid(intercept + appeal)) @ _NORMAL_WEIGHT

    fit = (w.essential_coverage * facts.essential_coverage + w.optional_coverage * facts.optional_coverage
           + w.own_occupation * facts.own_occupation + w.related_occupation * facts.related_occupation
           + w.missing_language * facts.missing_language + w.unemployment * facts.unemployment
           + w.wage_subsidy * facts.wage_subsidy + w.job_coach_social_enterprise * facts.job_coach_social_enterprise
           + w.job_coach_private * facts.job_coach_private + w.quiet_customer_work * facts.quiet_customer_work
           + w.person * facts.person + w.vacancy * facts.vacancy)[:, None] + w.noise * _NORMAL[None, :]
    trial = (facts.work_trial * w.work_trial_share)[:, None]
    hired = ((1.0 - trial) * sigmoid(w.hire_intercept + fit) + trial * sigmoid(w.hire_intercept + fit + w.work_trial_bonus))
    hires = (sigmoid(w.interview_intercept + fit) * hired) @ _NORMAL_WEIGHT
    chance = applies * hires * ~facts.visible_conflict * ~facts.hidden_conflict
    return chance if facts.hire_factor is None else chance * facts.hire_factor
