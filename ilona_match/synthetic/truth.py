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
import pandas as pd

__all__ = ["WORLD_FILE", "Truth", "hidden_ndcg", "hidden_ndcg_by_participant", "hidden_placements", "judged_pairs",
           "list_ranks", "load_truth", "start_world_folder", "top_lists", "write_world_file"]

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


def start_world_folder(out_dir: str | Path, family: str, config: Any) -> Path:
    """The folder a world is written to, emptied of any earlier world's tables (either format), with
    this world's ``world.json``: the folder holds exactly one world."""
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for name in ("participants", "participant_groups", "vacancies", "services", "outcomes"):
        for fmt in ("csv", "parquet"):
            (directory / f"{name}.{fmt}").unlink(missing_ok=True)
    write_world_file(directory, family, config)
    return directory


def _tuples(value: Any) -> Any:
    return tuple(_tuples(item) for item in value) if isinstance(value, list) else value


def load_truth(data_dir: str | Path) -> Truth:
    """The hidden truth of the world in ``data_dir`` (written by a world generator)."""
    path = Path(data_dir) / WORLD_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no world file; only generated worlds carry their truth")
    spec = json.loads(path.read_text(encoding="utf-8"))
    family, raw = spec["family"], {"services": 0, **spec["config"]}  # worlds written before services had none
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


def judged_pairs(truth: Truth, participants: pd.DataFrame, vacancies: pd.DataFrame, as_of: date,
                 excluded: set[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Every pair an engine may list on ``as_of`` (open that day, no hard constraint broken, not in
    ``excluded``) with its hidden hire probability: participant, vacancy, truth."""
    from ilona_match.contract.constraints import ParticipantLimits, VacancyDemands, feasible, open_on

    limits, demands = ParticipantLimits.from_frame(participants), VacancyDemands.from_frame(vacancies)
    open_rows = np.flatnonzero(open_on(demands, as_of))
    p = np.repeat(np.arange(len(participants)), len(open_rows))
    v = np.tile(open_rows, len(participants))
    ok = feasible(limits, demands, p, v, as_of)
    frame = pd.DataFrame({"participant": participants["participant_id"].to_numpy()[p[ok]],
                          "vacancy": vacancies["vacancy_id"].to_numpy()[v[ok]]})
    if excluded:
        frame = frame[[pair not in excluded for pair in zip(frame["participant"], frame["vacancy"])]]
    frame = frame.reset_index(drop=True)
    frame["truth"] = truth.hire_probability(frame["participant"].to_numpy(), frame["vacancy"].to_numpy())
    return frame


def list_ranks(frame: pd.DataFrame, recs: pd.DataFrame, k: int = 10) -> np.ndarray:
    """A score per row of ``judged_pairs`` that orders them as ``recs`` (participant_id, vacancy_id, rank)
    lists them; pairs not listed come after the list."""
    ranks = recs.set_index(["participant_id", "vacancy_id"])["rank"]
    listed = ranks.reindex(pd.MultiIndex.from_arrays([frame["participant"], frame["vacancy"]]))
    return -listed.fillna(k + 1).to_numpy(dtype=np.float64)


def _top(frame: pd.DataFrame, score: np.ndarray, k: int) -> pd.DataFrame:
    """Each person's k best rows of ``frame`` by ``score`` (ties by vacancy id), with their rank."""
    ranked = frame.assign(score=score).sort_values(["participant", "score", "vacancy"], ascending=[True, False, True],
                                                    kind="stable")
    ranked["rank"] = ranked.groupby("participant").cumcount() + 1
    return ranked[ranked["rank"] <= k]


def top_lists(frame: pd.DataFrame, score: np.ndarray, k: int = 10) -> pd.DataFrame:
    """Each person's k best ``judged_pairs`` by ``score`` (ties by vacancy id): participant_id, vacancy_id, rank."""
    top = _top(frame, score, k)
    return pd.DataFrame({"participant_id": top["participant"].to_numpy(), "vacancy_id": top["vacancy"].to_numpy(),
                         "rank": top["rank"].to_numpy()})


def hidden_placements(frame: pd.DataFrame, recs: pd.DataFrame, openings: pd.Series) -> float:
    """Expected placements with competition (``learning.metrics.expected_placements``) of the lists in
    ``recs`` (participant_id, vacancy_id, rank), with the pairs' hidden hire probability (from the
    ``judged_pairs`` frame; a listed pair outside it counts 0) as the chance; ``openings`` by vacancy id."""
    from ilona_match.learning.metrics import expected_placements

    truth = frame.set_index(["participant", "vacancy"])["truth"]
    chance = truth.reindex(pd.MultiIndex.from_arrays([recs["participant_id"], recs["vacancy_id"]])).fillna(0.0)
    positions = pd.Index(openings.index).get_indexer(recs["vacancy_id"])
    return expected_placements(positions, recs["rank"].to_numpy(), chance.to_numpy(), openings.to_numpy())


def hidden_ndcg_by_participant(frame: pd.DataFrame, score: np.ndarray, k: int = 10) -> pd.Series:
    """Each judged participant's NDCG@k of ordering their ``judged_pairs`` by ``score`` (ties by vacancy
    id), with the hidden hire probability as gain and the k best possible pairs as the ideal; people
    whose best pairs all have chance 0 are not judged. Indexed by participant id."""
    top = _top(frame, score, k)
    dcg = (top["truth"] / np.log2(top["rank"] + 1.0)).groupby(top["participant"]).sum()
    ideal = frame.sort_values(["participant", "truth"], ascending=[True, False], kind="stable")
    ideal = ideal.assign(rank=ideal.groupby("participant").cumcount() + 1)
    ideal = ideal[ideal["rank"] <= k]
    idcg = (ideal["truth"] / np.log2(ideal["rank"] + 1.0)).groupby(ideal["participant"]).sum()
    judged = idcg[idcg > 0].index
    return dcg.reindex(judged, fill_value=0.0) / idcg[judged]


def hidden_ndcg(frame: pd.DataFrame, score: np.ndarray, k: int = 10) -> float:
    """Mean over judged participants of ``hidden_ndcg_by_participant``."""
    return float(hidden_ndcg_by_participant(frame, score, k).mean())
