"""ilona-match: job matching for people with partial work capacity.

The public API grows with the engine; everything listed in ``__all__`` is stable.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ContractError": "ilona_match.contract",
    "DataBundle": "ilona_match.contract",
    "Fault": "ilona_match.contract",
    "load_data": "ilona_match.contract",
    "validate_data": "ilona_match.contract",
    "write_table": "ilona_match.contract",
    "Taxonomy": "ilona_match.text.taxonomy",
    "generate_world": "ilona_match.synthetic",
    "Matcher": "ilona_match.serving.matcher",
    "MatchingPipeline": "ilona_match.matching.pipeline",
    "PipelineConfig": "ilona_match.matching.pipeline",
    "train": "ilona_match.training",
    "evaluate": "ilona_match.training",
    "Settings": "ilona_match.config",
    "load_settings": "ilona_match.config",
}
__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    """Import heavy modules only when their names are used (keeps `ilona-match --help` fast)."""
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'ilona_match' has no attribute {name!r}")
