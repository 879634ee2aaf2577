"""The interaction history: profiles, channels and features read only the past; weak grades train
a views-only feed; the taste world; leave-last-interaction-out."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from ilona_match.config import load_settings
from ilona_match.contract import load_data
from ilona_match.contract.constraints import feasible, open_on
from ilona_match.contract.exclusion import ExclusionConfig, acted_pairs
from ilona_match.learning.leave_last_out import evaluate_leave_last_out, last_interactions
from ilona_match.matching.features import FEATURE_NAMES
from ilona_match.matching.history import HISTORY_FEATURES, HistoryConfig, HistoryItems, InteractionHistory
from ilona_match.matching.persistence import load_vacancy_state, save_vacancy_state
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig, TrainingConfig
from ilona_match.matching.ranker import RankerConfig
from ilona_match.synthetic.taste import TasteConfig, TasteOracle, generate_taste_world, taste_truth
from ilona_match.training import train
from tests.conftest import TEST_EMBEDDER

DAY0 = date(2026, 1, 1)


def _items(n: int, sectors: list[str] | None = None, employers: list[str] | None = None) -> HistoryItems:
    """n vacancies V0..V(n-1) whose vectors are orthogonal (each its own content neighbour only)."""
    eye = np.eye(n, dtype=np.float32)
    return HistoryItems(np.array([f"V{i}" for i in range(n)], object),
                        np.array(sectors or ["care"] * n, object), np.array(employers or [f"E{i}" for i in range(n)], object),
                        eye, eye.copy())


def _events(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame({"participant_id": [r[0] for r in rows], "vacancy_id": [r[1] for r in rows],
                         "event": [r[2] for r in rows],
                         "event_date": [pd.Timestamp(DAY0 + timedelta(days=r[3])) for r in rows]})


def test_every_history_answer_reads_only_events_before_its_day() -> None:
    """Features of a pair as of day d are the same whether or not the log holds events on or after d
    (the pair's own outcome included): training rows see what a nightly run that day saw."""
    rng = np.random.default_rng(0)
    n_items, people = 30, [f"P{i}" for i in range(12)]
    vectors = rng.normal(size=(n_items, 8)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    items = HistoryItems(np.array([f"V{i}" for i in range(n_items)], object),
                         np.array(rng.choice(["care", "retail"], n_items), object),
                         np.array(rng.choice(["E1", "E2", "E3"], n_items), object), vectors, vectors[:, ::-1].copy())
    rows = [(str(rng.choice(people)), f"V{rng.integers(n_items)}", str(rng.choice(["viewed", "applied", "hired"])),
             int(rng.integers(0, 120))) for _ in range(400)]
    events = _events(rows)
    towns = pd.Series(rng.choice(["Espoo", "Vantaa"], len(people)), index=people)
    config = HistoryConfig(snapshot_days=3, window_days=10)
    whole = InteractionHistory(config).fit(events, items, towns)
    person_ids = np.array(people, object)
    p = rng.integers(0, len(people), 300)
    v = rng.integers(0, n_items, 300)
    days = (np.datetime64(DAY0, "D") + rng.integers(1, 130, 300)).astype("datetime64[D]")
    got = whole.features(person_ids, towns.to_numpy(object), items.ids, vectors, items.concept, p, v, days)
    for i in rng.choice(300, 40, replace=False):
        past = InteractionHistory(config).fit(events[events["event_date"] < pd.Timestamp(days[i])], items, towns)
        one = past.features(person_ids, towns.to_numpy(object), items.ids, vectors, items.concept, p[i:i + 1],
                            v[i:i + 1], days[i:i + 1])
        for name in HISTORY_FEATURES:
            np.testing.assert_allclose(one[name], got[name][i:i + 1], rtol=1e-5, atol=1e-6, err_msg=name)
    assert np.isfinite(got["co_interaction"]).any() and (got["co_interaction"] > 0).any()


def test_the_history_profile_follows_strong_and_recent_events() -> None:
    items = _items(3)
    history = InteractionHistory(HistoryConfig(half_life_days=10)).fit(
        _events([("P1", "V0", "viewed", 0), ("P1", "V1", "hired", 50), ("P2", "V2", "declined", 5)]), items)
    dense, _ = history.profiles(np.array(["P1", "P2", "P9"], object), DAY0 + timedelta(days=60))
    assert dense[0, 1] > 0.99 and dense[0, 0] < 0.05  # the recent hire outweighs an old view
    assert not dense[1].any() and not dense[2].any()  # a decline says nothing wanted; an unknown person has no history
    before, _ = history.profiles(np.array(["P1"], object), DAY0 + timedelta(days=50))
    assert before[0, 0] > 0.99  # on the hire's own day only the view is known


def test_collaborative_channel_proposes_what_people_with_overlapping_histories_engaged_with() -> None:
    """P1 and P2 both engaged with V0 and V1; P3 only with V0: V1 is P3's first co-interaction proposal,
    and the engagement features count the window's events, by town."""
    items = _items(4)
    events = _events([("P1", "V0", "viewed", 1), ("P1", "V1", "applied", 2), ("P2", "V0", "viewed", 3),
                      ("P2", "V1", "viewed", 4), ("P3", "V0", "viewed", 5), ("P4", "V3", "viewed", 6)])
    towns = pd.Series({"P1": "Espoo", "P2": "Espoo", "P3": "Espoo", "P4": "Turku"})
    history = InteractionHistory(HistoryConfig(snapshot_days=1)).fit(events, items, towns)
    rows, found = history.collaborative(np.array(["P3"], object), DAY0 + timedelta(days=10), items.dense, k=2)
    assert rows.tolist() == [0] and found.tolist() == [1]
    features = history.features(np.array(["P3"], object), np.array(["espoo"], object), items.ids, items.dense,
                                items.concept, np.zeros(3, np.int64), np.array([1, 2, 3]),
                                DAY0 + timedelta(days=10))
    assert features["co_interaction"][0] > 0 and features["co_interaction"][1] == 0
    np.testing.assert_allclose(features["recent_engagement"], np.log1p([2, 0, 1]))
    np.testing.assert_allclose(features["local_engagement"], np.log1p([2, 0, 0]))  # V3's viewer lives in Turku
    rows, found = history.popular(np.array(["espoo", "turku", ""], object), DAY0 + timedelta(days=10), items.ids, k=1)
    assert dict(zip(rows.tolist(), found.tolist())) == {0: 0, 1: 3, 2: 0}  # Espoo's most viewed; Turku's; everyone's


def test_history_settings_reject_unknown_events() -> None:
    with pytest.raises(ValidationError, match="unknown events \\['clicked'\\] in event_weights"):
        HistoryConfig(event_weights={"clicked": 1.0})
    with pytest.raises(ValidationError, match="unknown events \\['clicked'\\] in weak_grades"):
        TrainingConfig(weak_grades={"clicked": 1})
    with pytest.raises(ValidationError, match="weak_grades must lie in 0..4"):
        TrainingConfig(weak_grades={"viewed": 9})
    with pytest.raises(ValidationError, match="extra"):
        HistoryConfig(neighbors=5)


@pytest.fixture(scope="module")
def taste(tmp_path_factory: pytest.TempPathFactory):
    """A small taste world with views only, and its pipeline fitted before the last 60 days."""
    root = tmp_path_factory.mktemp("taste")
    generate_taste_world(root / "views", participants=500, vacancies=900, seed=4, views_only=True)
    bundle = load_data(root / "views")
    end = (bundle.outcomes["event_date"].max() + pd.Timedelta(days=1)).date()
    split = end - timedelta(days=60)
    config = PipelineConfig(embedder=TEST_EMBEDDER, ranker=RankerConfig(num_threads=1, n_estimators=80))
    pipeline = MatchingPipeline(config, cache_dir=root / "cache").fit(
        bundle.participants, bundle.vacancies, bundle.outcomes, split)
    return bundle, pipeline, split, end, root / "views"


def test_the_taste_world_draws_views_from_a_hidden_taste(tmp_path) -> None:
    summary = generate_taste_world(tmp_path / "w", participants=300, vacancies=400, seed=2)
    counts = dict(summary.event_counts)
    assert counts["viewed"] > 1000 and counts["hired"] > 0 and "recommended" not in counts
    bundle = load_data(tmp_path / "w")
    truth = taste_truth(TasteConfig(participants=300, vacancies=400, seed=2))
    p = bundle.participants.reset_index().set_index("participant_id")["index"]
    v = bundle.vacancies.reset_index().set_index("vacancy_id")["index"]
    viewed = bundle.outcomes[bundle.outcomes["event"] == "viewed"]
    appeal = truth.appeal(p[viewed["participant_id"]].to_numpy(), v[viewed["vacancy_id"]].to_numpy())
    rng = np.random.default_rng(0)
    random_appeal = truth.appeal(rng.integers(0, 300, 5000), rng.integers(0, 400, 5000))
    assert appeal.mean() > random_appeal.mean() + 0.5
    with pytest.raises(ValueError, match="taste must be within"):
        TasteConfig(taste=9.0)


def test_a_views_only_feed_trains_on_weak_grades(taste) -> None:
    bundle, pipeline, *_ = taste
    assert set(bundle.outcomes["event"]) == {"viewed"}
    summary = pipeline.training_summary_
    assert summary["grades"] == "weak (no success in the log)" and pipeline.ranker_ is not None
    gains = dict(zip(FEATURE_NAMES, pipeline.ranker_.booster_.feature_importance("gain")))
    assert sum(gains[name] for name in HISTORY_FEATURES) > 0  # the history features are used


def test_every_channel_keeps_hard_constraints_openness_and_no_repeat(taste) -> None:
    bundle, pipeline, split, end, _ = taste
    day = split + timedelta(days=10)
    known = bundle.outcomes[bundle.outcomes["event_date"] < pd.Timestamp(day)]
    state = pipeline.prepare_vacancies(bundle.vacancies).with_history(
        pipeline.prepare_history(known, bundle.vacancies, day, bundle.participants))
    exclude = acted_pairs(known, day, ExclusionConfig(events=("viewed",)))  # a board that never shows a seen ad again
    scored = pipeline.score_candidates(bundle.participants, state, day, exclude=exclude)
    pairs = scored.features.pairs
    for channel in ("history", "collaborative", "popular"):
        assert scored.proposed_by[channel].sum() > 0, channel
    assert feasible(scored.people.limits, state.jobs.demands, pairs.participant, pairs.vacancy, day).all()
    assert open_on(state.jobs.demands, day)[pairs.vacancy].all()
    keys = exclude.keys(pd.Index(scored.people.ids), state.jobs.id_index)
    assert len(keys) and not np.isin(pairs.participant * len(state.jobs) + pairs.vacancy, keys).any()
    # the vacancy side with its history is saved and loaded for a distributed run and scores the same
    loaded = load_vacancy_state(save_vacancy_state(state, pipeline.cache_dir.parent / "state"))
    again = pipeline.score_candidates(bundle.participants, loaded, day, exclude=exclude)
    np.testing.assert_array_equal(again.scores, scored.scores)


def test_last_interactions_hold_out_each_persons_latest_new_vacancy() -> None:
    events = _events([("P1", "V0", "viewed", 1), ("P1", "V1", "viewed", 70), ("P1", "V1", "applied", 75),
                      ("P2", "V2", "viewed", 70), ("P3", "V0", "viewed", 10), ("P3", "V2", "viewed", 20),
                      ("P4", "V0", "viewed", 65), ("P4", "V3", "viewed", 65)])
    held = last_interactions(events, DAY0 + timedelta(days=60), DAY0 + timedelta(days=90))
    # P2 has nothing before; P3's last is before the window; P4's two vacancies came the same day
    assert held.to_dict("records") == [{"participant_id": "P1", "vacancy_id": "V1", "day": DAY0 + timedelta(days=70)}]


def test_leave_last_out_ranks_the_held_out_view_better_than_the_baselines(taste) -> None:
    bundle, pipeline, split, end, _ = taste
    result = evaluate_leave_last_out(pipeline, bundle.participants, bundle.vacancies, bundle.outcomes, split, end)
    table = result.table
    assert table["judged"].iloc[0] >= 30
    best_baseline = table.loc[["popularity", "local popularity", "tf-idf + filters"], "hit@10"].max()
    assert table.loc["full pipeline", "hit@10"] > best_baseline
    assert table.loc["full pipeline", "hit@10"] > table.loc["without the interaction channels", "hit@10"]


def test_further_scorers_rank_the_same_candidates_and_the_hidden_appeal_beats_local_popularity(taste) -> None:
    """A scorer that knows the held-out vacancy ranks it first for everyone; the taste world's hidden
    appeal finds more held-out views than local popularity; unknown ids and other folders raise."""
    bundle, pipeline, split, end, data_dir = taste
    held = last_interactions(bundle.outcomes, split, end).set_index("participant_id")["vacancy_id"]

    def knows(participant_ids: np.ndarray, vacancy_ids: np.ndarray, day: date) -> np.ndarray:
        return (held.reindex(participant_ids).to_numpy() == vacancy_ids).astype(float)

    oracle = TasteOracle.from_folder(data_dir)
    result = evaluate_leave_last_out(pipeline, bundle.participants, bundle.vacancies, bundle.outcomes, split, end,
                                     engines=(), scorers={"knows": knows, "hidden appeal": oracle})
    table = result.table
    assert table.loc["knows", "hit@10"] == 1.0 and table.loc["knows", "ndcg@10"] == 1.0
    assert table.loc["hidden appeal", "hit@10"] > table.loc["local popularity", "hit@10"]
    with pytest.raises(KeyError, match="ids not in this taste world: P9999999"):
        oracle(np.array(["P9999999"], object), bundle.vacancies["vacancy_id"].to_numpy()[:1])
    with pytest.raises(ValueError, match="not a taste world's file"):
        TasteOracle.from_folder(data_dir.parent)


def test_train_judges_a_views_only_ranker_on_the_last_interactions(taste, tmp_path) -> None:
    """A log with no success has no window of successes: ``train`` keeps the ranker trained on weak grades
    only when it finds the held-out last interactions better than no ranker, and says so."""
    _, _, _, end, data_dir = taste
    settings = load_settings(None, {"workdir": tmp_path / "work", "matching": {"ranker": {"num_threads": 1, "n_estimators": 80}},
                                    "evaluation": {"bootstrap_rounds": 200}})
    result = train(data_dir, as_of=end, config=settings)
    assert result.promoted  # the first model
    assert result.ranker.startswith("trained ranker: the trained ranker beats no ranker; on the last interactions"), result.ranker


def test_the_command_line_generates_a_taste_world_and_evaluates_leaving_the_last_out(taste, tmp_path, monkeypatch,
                                                                                     capsys) -> None:
    from ilona_match.cli import main

    assert main(["generate", "--out", str(tmp_path / "w"), "--participants", "20", "--views-only"]) == 1
    assert "--views-only applies to --family taste" in capsys.readouterr().err
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ILONA_MATCH_MATCHING__RANKER__N_ESTIMATORS", "60")
    *_, data_dir = taste
    assert main(["evaluate", "--data", str(data_dir), "--leave-last-out"]) == 0
    out = capsys.readouterr().out
    assert "people whose last interaction entered the log" in out
    for system in ("full pipeline", "without popular channel", "local popularity", "tf-idf + filters"):
        assert system in out
