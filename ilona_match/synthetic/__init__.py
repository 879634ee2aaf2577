"""Synthetic worlds in the data contract: participants, vacancies and an outcome history.

The outcome history comes from a coach-like logging policy and a hidden hiring process
(``hiring.py``); the engine learns from the written outcomes and must never import this package's
hidden weights. Worlds also hold services (courses, work trials, ...) with a hidden effect on hiring
(``services.py``; ``load_service_truth`` scores routes of services against it). Participants have
hidden group attributes, written to ``participant_groups`` for the fairness audit, and a world may
carry a planted hiring bias against a group (``groups.py``; ``WorldConfig.hire_bias``).
"""

from __future__ import annotations

from ilona_match.synthetic.hiring import HiringWeights
from ilona_match.synthetic.history import Heuristic, LoggingPolicy
from ilona_match.synthetic.services import ServiceTruth, load_service_truth
from ilona_match.synthetic.world import WorldConfig, WorldSummary, generate_world

__all__ = ["Heuristic", "HiringWeights", "LoggingPolicy", "ServiceTruth", "WorldConfig", "WorldSummary",
           "generate_world", "load_service_truth"]
