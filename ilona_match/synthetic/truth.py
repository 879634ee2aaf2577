"""What a synthetic world really holds, for scoring recommendations: the hidden hire probability of
any (participant, vacancy) pair. Bench scripts and tests read it; the engine never imports it.

``generate_world`` writes ``world.json`` beside the tables (the world family and every setting it
was drawn with, no data); ``load_truth(DATA)`` draws the same world's hidden state again from it.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import date
from pathlib import Path
from typing import Any, Protocol

import numpy as np

__all__ = ["WORLD_FILE", "Truth", "load_truth", "write_world_file"]

WORLD_FILE = "world.json"


class Truth(Protocol):
    """The hidden chance that recommending a pair ends in a hire (0 where a true limit is broken)."""

    def hire_probability(self, participant_ids: np.ndarray, vacancy_ids: np.ndarray) -> np.ndarray: ...


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_jsonable(item) for item in value]
    if isinstance(value, date):
        return value.isoformat()
    return value


def write_world_file(directory: Path, family: str, config: Any) -> Path:
    """``world.json``: the family and the settings that draw this world again (no rows, no texts; not
    how it was written in chunks, which never changes the world)."""
    path = Path(directory) / WORLD_FILE
    settings = {key: value for key, value in _jsonable(config).items() if key != "chunk_size"}
    path.write_text(json.dumps({"family": family, "config": settings}, indent=1) + "\n", encoding="utf-8")
    return path


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def load_truth(data_dir: str | Path) -> Truth:
    """The hidden truth of the world in ``data_dir`` (written by a world generator)."""
    path = Path(data_dir) / WORLD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no world file; only generated worlds carry their truth")
    spec = json.loads(path.read_text(encoding="utf-8"))
    family, raw = spec["family"], spec["config"]
    if family == "coach":
        from ilona_match.synthetic.hiring import HiringWeights
        from ilona_match.synthetic.history import Heuristic, LoggingPolicy
        from ilona_match.synthetic.world import WorldConfig, world_truth

        policy = {key: Heuristic(**value) if isinstance(value, dict) else _tuples(value)
                  for key, value in raw.pop("policy").items()}
        config = WorldConfig(**{**raw, "start": date.fromisoformat(raw["start"]),
                                "hiring": HiringWeights(**raw["hiring"]), "policy": LoggingPolicy(**policy)})
        return world_truth(config)
    if family == "market":
        from ilona_match.synthetic.market import MarketConfig, market_truth

        return market_truth(MarketConfig.from_json(raw))
    raise ValueError(f"{path}: unknown world family {family!r}")
