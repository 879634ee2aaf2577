"""Judging and keeping models: the held-out window (evaluation), ranking metrics, the rule for what
ships (model selection), and MLflow runs, the registry and the champion alias (tracking)."""

from __future__ import annotations

from ilona_match._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "EvaluationResult": "evaluation", "evaluate_systems": "evaluation", "held_out": "evaluation",
    "ndcg_at_k": "metrics", "evaluate_rankings": "metrics",
    "compare": "model_selection", "judge": "model_selection",
    "load_champion": "tracking", "log_training_run": "tracking", "promote": "tracking",
})
