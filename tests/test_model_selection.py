"""Model selection that protects people: the test on known numbers, then ``train`` end to end on a real
MLflow store: a ranker that loses to no ranker is not shipped, a better model is promoted, a model that
is not better is not."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ilona_match.config import Settings, load_settings
from ilona_match.contract import load_data
from ilona_match.learning.model_selection import compare, judge
from ilona_match.learning.tracking import current_champion, fingerprint_files, load_champion, log_training_run
from ilona_match.matching.pipeline import MatchingPipeline
from ilona_match.synthetic import generate_world
from ilona_match.training import train

AS_OF = date(2026, 6, 1)
SPLIT = AS_OF - timedelta(days=60)


def _series(values: list[float]) -> pd.Series:
    return pd.Series(values, index=[f"P{i}" for i in range(len(values))])


def test_compare_on_known_numbers() -> None:
    rng = np.random.default_rng(0)
    base = _series(list(rng.random(60)))
    better = compare(base + 0.1 + rng.normal(0, 0.02, 60), base)
    assert better.better and better.gain == pytest.approx(0.1, abs=0.01) and better.low > 0.08 and better.participants == 60
    same = compare(base, base)
    assert not same.better and same.gain == same.low == same.high == 0.0
    noisy = compare(base + rng.normal(0, 0.3, 60), base)
    assert noisy.low < 0 < noisy.high and not noisy.better
    assert not compare(base + 0.1, base, min_gain=0.2).better  # better, but not by the margin asked for
    assert not compare(base.iloc[:0], base).better  # no participant in common
    only_common = compare(base.iloc[:30] + 0.5, base)
    assert only_common.participants == 30
    with pytest.raises(ValueError, match="min_gain must be >= 0"):
        compare(base, base, min_gain=-0.1)


def test_judge_on_the_replayed_lists_guarded_by_the_pairs_people_met() -> None:
    rng = np.random.default_rng(1)
    base = _series(list(rng.random(50)))
    up = base + 0.1 + rng.normal(0, 0.01, 50)
    assert judge(base, base, up, base).better  # better lists, the same order of the pairs met
    assert not judge(base - 0.1, base, up, base).better  # better lists, but clearly worse among the pairs met
    assert not judge(up, base, base, base).better  # the pairs met alone do not make better lists
    # a ranker that learned who gets shown must also beat the reference among the pairs people met
    assert not judge(base, base, up, base, learned_who_is_shown=True).better
    assert judge(up, base, up, base, learned_who_is_shown=True).better
    text = judge(up, base, up, base, names=("this model", "champion version 3")).text
    assert text.startswith("this model beats champion version 3; on the replayed lists NDCG@10 +0.09")


# ------------------------------------------------------------------------------- train, for real
@dataclass(frozen=True)
class Worlds:
    true: Path  # a generated world
    inverted: Path  # the same world whose outcomes before the window say the opposite


def _invert_before(outcomes: pd.DataFrame, day: date) -> pd.DataFrame:
    """Before ``day``, successes read as failures and failures as successes; the window is left true."""
    swap = {"hired": "declined", "declined": "hired", "interview": "rejected", "rejected": "interview",
            "retained_6m": "applied", "work_trial": "applied"}
    early = outcomes["event_date"] < day.isoformat()
    outcomes.loc[early, "event"] = outcomes.loc[early, "event"].map(lambda e: swap.get(e, e))
    return outcomes


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> Worlds:
    root = tmp_path_factory.mktemp("selection")
    generate_world(root / "true", participants=900, vacancies=320, seed=42)
    shutil.copytree(root / "true", root / "inverted")
    events = pd.read_csv(root / "true" / "outcomes.csv", dtype=str, keep_default_na=False)
    _invert_before(events, SPLIT).to_csv(root / "inverted" / "outcomes.csv", index=False)
    return Worlds(root / "true", root / "inverted")


@pytest.fixture()
def settings(tmp_path: Path, worlds: Worlds) -> Iterator[Settings]:
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("MLFLOW_TRACKING_URI", raising=False)
        shared_cache = worlds.true.parent / "embedding-cache"
        (tmp_path / "work").mkdir()
        (tmp_path / "work" / "embedding-cache").symlink_to(shared_cache, target_is_directory=True)
        shared_cache.mkdir(exist_ok=True)
        yield load_settings(None, {"workdir": tmp_path / "work", "matching": {"ranker": {"num_threads": 1}}})


# a ranker whose trees start from nothing (not from the prior): taught the inverted history, it ranks the
# window's successes low
LEARNS_HARD = {"ranker": {"prior_weight": 0.0, "num_threads": 1}}


def test_a_ranker_that_loses_to_no_ranker_is_not_shipped(worlds: Worlds, settings: Settings) -> None:
    settings = load_settings(None, {"workdir": settings.workdir, "matching": LEARNS_HARD})
    result = train(worlds.inverted, as_of=AS_OF, config=settings)
    assert result.ranker.startswith("prior: the trained ranker does not beat no ranker")
    table = result.evaluation
    for view in ("met ndcg@10", "ndcg@10"):
        assert table.loc["full pipeline", view] < table.loc["pipeline without ranker", view]
    assert table.loc["shipped model"].equals(table.loc["pipeline without ranker"])
    shipped, version = load_champion(settings.workdir)
    assert version == result.model_version and shipped.ranker_ is None  # the registered model ranks with the prior
    assert shipped.training_summary_["ranker"] == result.ranker


def test_a_better_model_is_promoted_and_one_that_is_not_better_is_not(worlds: Worlds, settings: Settings) -> None:
    """The champion is a ranker learned from the inverted history (registered by hand, as a person may);
    the next run is scored against it on the same window with the current data and replaces it. A
    run on the same data again is not better than that, and the champion stays."""
    inverted = load_data(worlds.inverted)
    hard = load_settings(None, {"workdir": settings.workdir, "matching": LEARNS_HARD}).matching
    bad = MatchingPipeline(hard, cache_dir=Path(settings.workdir) / "embedding-cache")
    bad.fit(inverted.participants, inverted.vacancies, inverted.outcomes, SPLIT)
    assert bad.ranker_ is not None
    log_training_run(bad, data_fingerprint=fingerprint_files(inverted.source_files.values()),
                     settings_dump=settings.model_dump(mode="json"), evaluation=None, workdir=settings.workdir,
                     promoted=True, reason="registered by hand")
    assert current_champion(settings.workdir)[1] == "1"

    better = train(worlds.true, as_of=AS_OF, config=settings)
    assert better.promoted, better.reason
    assert better.reason.startswith("this model beats champion version 1")
    assert current_champion(settings.workdir)[1] == better.model_version == "2"

    again = train(worlds.true, as_of=AS_OF, config=settings)
    assert not again.promoted and again.reason.startswith("this model does not beat champion version 2")
    assert current_champion(settings.workdir)[1] == "2"
