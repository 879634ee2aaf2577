"""Pathways (contract v1.1): when no vacancy fits yet, routes through training, work trials and social
enterprises to the work a person can reach — targets, skill gaps, steps and the vacancies they lead to."""

from ilona_match.pathways.effects import KIND_PRIOR, EffectsConfig, ServiceEffects
from ilona_match.pathways.planner import PATHWAY_FIELDS, Market, PathwayConfig, plan_pathways
from ilona_match.pathways.services import ServiceProfiles, build_services, seats_taken

__all__ = ["KIND_PRIOR", "PATHWAY_FIELDS", "EffectsConfig", "Market", "PathwayConfig", "ServiceEffects",
           "ServiceProfiles", "build_services", "plan_pathways", "seats_taken"]
