"""Lists for people and systems: the one serving path (batch.serve_lists) and the nightly table, the
allocation across the run, the nightly job, the results database, coach pages, the HTTP API, the
Python API (Matcher) and the MLflow model."""

from __future__ import annotations

from ilona_match._lazy import lazy_exports

__all__, __getattr__ = lazy_exports(__name__, {
    "serve_lists": "batch", "run_batch": "batch", "BatchResult": "batch",
    "AllocationConfig": "allocation", "allocate": "allocation",
    "run_nightly": "nightly",
    "ResultStore": "store",
    "render_coach_reports": "report",
    "create_app": "api", "serve": "api",
    "Matcher": "matcher",
    "MatchingModel": "mlflow_model",
})
