"""The matching pipeline end to end on a small generated world: learns, beats baselines, never
recommends an infeasible vacancy, is deterministic, and explains itself in the person's language."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from ilona_match.contract import load_data, write_table
from ilona_match.contract.constraints import ParticipantLimits, VacancyDemands, feasible, open_on
from ilona_match.contract.events import strongest_outcomes
from ilona_match.contract.exclusion import acted_pairs
from ilona_match.contract.output import RECOMMENDATION_COLUMNS
from ilona_match.matching import retrieval
from ilona_match.matching.features import FEATURE_NAMES
from ilona_match.matching.pipeline import MatchingPipeline, PipelineConfig, TrainingConfig
from ilona_match.matching.ranker import RankerConfig
from ilona_match.matching.reasons import REASON_TEXT, FeatureContributions
from ilona_match.serving.batch import run_batch
from ilona_match.serving.matcher import Matcher
from ilona_match.synthetic import generate_world
from ilona_match.synthetic.market import generate_market_world
from ilona_match.synthetic.truth import (
    hidden_ndcg,
    hidden_ndcg_by_participant,
    judged_pairs,
    list_ranks,
    load_truth,
)
from ilona_match.text import embedding
from ilona_match.text.taxonomy import Taxonomy
from tests.conftest import TEST_EMBEDDER

SPLIT = date(2026, 6, 1)
WORLD_DATA: Path  # set by the world fixture


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    global WORLD_DATA
    root = tmp_path_factory.mktemp("pipeline")
    WORLD_DATA = root / "data"
    generate_world(root / "data", participants=700, vacancies=280, seed=101)
    bundle = load_data(root / "data")
    config = PipelineConfig(embedder=TEST_EMBEDDER, ranker=RankerConfig(num_threads=1, n_estimators=200))
    pipeline = MatchingPipeline(config, cache_dir=root / "cache").fit(
        bundle.participants, bundle.vacancies, bundle.outcomes, SPLIT
    )
    return bundle, pipeline


@pytest.fixture(scope="module")
def market_world(tmp_path_factory: pytest.TempPathFactory):
    """A small market world (the second family), its pipeline learned before SPLIT."""
    root = tmp_path_factory.mktemp("market")
    generate_market_world(root / "data", participants=600, vacancies=400, seed=5)
    bundle = load_data(root / "data")
    config = PipelineConfig(embedder=TEST_EMBEDDER, ranker=RankerConfig(num_threads=1, n_estimators=100))
    pipeline = MatchingPipeline(config, cache_dir=root / "cache").fit(
        bundle.participants, bundle.vacancies, bundle.outcomes, SPLIT)
    return bundle, pipeline, root / "data", SPLIT


def test_strongest_outcome_wins_per_pair() -> None:
    outcomes = pd.DataFrame(
        {
            "participant_id": ["P1", "P1", "P1", "P2"],
            "vacancy_id": ["V1", "V1", "V1", "V1"],
            "event": ["recommended", "hired", "interview", "declined"],
            "event_date": pd.to_datetime(["2026-01-01", "2026-02-01", "2026-01-15", "2026-01-03"]),
        }
    )
    pairs = strongest_outcomes(outcomes).set_index("participant_id")
    assert pairs.loc["P1", "event"] == "hired" and pairs.loc["P1", "grade"] == 3
    assert pairs.loc["P1", "first_date"] == pd.Timestamp("2026-01-01")
    assert pairs.loc["P2", "grade"] == 0


def _text_baseline_scores(bundle, frame: pd.DataFrame, pipeline: MatchingPipeline, as_of: date) -> dict[str, np.ndarray]:
    """Character n-gram TF-IDF and the engine's embedding model over each side's written text and lists,
    each fitted on the vacancies published before ``as_of`` (what the engine itself can know)."""
    def text(table: pd.DataFrame, columns: list[str]) -> list[str]:
        cells = [table[c].map(lambda x: " ".join(x) if isinstance(x, tuple) else ("" if pd.isna(x) else str(x)))
                 for c in columns]
        return [" ".join(parts) for parts in zip(*cells)]

    people = text(bundle.participants, ["profile_text", "skills", "occupations"])
    jobs = text(bundle.vacancies, ["title", "description", "occupation", "required_skills", "optional_skills"])
    known = (bundle.vacancies["published_at"] < pd.Timestamp(as_of)).to_numpy()
    tfidf = TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True).fit(np.asarray(jobs)[known])
    p = pd.Index(bundle.participants["participant_id"]).get_indexer(frame["participant"])
    v = pd.Index(bundle.vacancies["vacancy_id"]).get_indexer(frame["vacancy"])
    tp, tv = tfidf.transform(people), tfidf.transform(jobs)
    ep, ev = pipeline.embedder.encode(people, role="query"), pipeline.embedder.encode(jobs, role="passage")
    return {"tf-idf": np.asarray(tp[p].multiply(tv[v]).sum(axis=1)).ravel(),
            "embedding": np.einsum("ij,ij->i", ep[p], ev[v])}


@pytest.mark.parametrize("family", ["coach", "market"])
def test_nightly_lists_beat_text_baselines_on_the_hidden_truth(family: str, world, market_world) -> None:
    """What a coach's people would get: the nightly lists (pairs already acted on left out, as the
    baselines' are) scored on the world's hidden hire probabilities, NDCG@10, against character n-gram
    TF-IDF + the same filters and the embedding + the same filters. Both world families: the market
    world's hiring process was not written around the engine's features."""
    bundle, pipeline, data, as_of = (*world, WORLD_DATA, SPLIT) if family == "coach" else market_world
    acted = acted_pairs(bundle.outcomes, as_of)
    frame = judged_pairs(load_truth(data), bundle.participants, bundle.vacancies, as_of,
                         set(zip(acted.participant_ids, acted.vacancy_ids)))
    recs = run_batch(pipeline, bundle.participants, bundle.vacancies, as_of, k=10, exclude=acted).frame
    engine = hidden_ndcg(frame, list_ranks(frame, recs))
    baselines = {name: hidden_ndcg(frame, score) for name, score in
                 _text_baseline_scores(bundle, frame, pipeline, as_of).items()}
    assert engine > 1.1 * max(baselines.values()), (engine, baselines)
    assert engine > hidden_ndcg(frame, np.random.default_rng(0).random(len(frame))) + 0.1  # few open: random is high


def test_hidden_ndcg_per_participant_known_answer() -> None:
    """A lists its best pair second (DCG 0.5/log2 3 + 0.2 against the ideal 0.5 + 0.2/log2 3); B lists its
    best first (1.0); C's pairs all have chance 0, so C is not judged; the mean is their mean."""
    frame = pd.DataFrame({"participant": ["A", "A", "B", "B", "C"], "vacancy": ["v1", "v2", "v1", "v2", "v1"],
                          "truth": [0.5, 0.2, 0.1, 0.0, 0.0]})
    score = np.array([1.0, 2.0, 2.0, 1.0, 1.0])
    by_person = hidden_ndcg_by_participant(frame, score, k=2)
    expected_a = (0.5 / np.log2(3) + 0.2) / (0.5 + 0.2 / np.log2(3))
    assert list(by_person.index) == ["A", "B"]
    assert by_person.to_numpy() == pytest.approx([expected_a, 1.0])
    assert hidden_ndcg(frame, score, k=2) == pytest.approx((expected_a + 1.0) / 2)


def test_training_rows_are_computed_as_of_the_day_each_pair_was_met(world) -> None:
    """A pair met on day D is one row computed on D (its vacancy's age that day, never negative, never
    after it closed); a person met on several days has rows on several days."""
    bundle, pipeline = world
    history = bundle.outcomes[bundle.outcomes["event_date"] < pd.Timestamp(SPLIT)]
    pairs = strongest_outcomes(history)
    known = bundle.vacancies[bundle.vacancies["published_at"] < pd.Timestamp(SPLIT)]
    pairs = pairs[pairs["vacancy_id"].isin(known["vacancy_id"])]
    examples = pipeline.training_examples(bundle.participants, known, pairs)
    rows = pd.DataFrame({"participant_id": examples.participant_ids, "vacancy_id": examples.vacancy_ids,
                         "day": examples.day.astype("datetime64[ns]"),
                         "age": examples.matrix[:, FEATURE_NAMES.index("vacancy_age_days")],
                         "grade": examples.grade})
    # by default no never-logged rows (a vacancy nobody showed is no evidence), and no pair a list may never
    # show: one that breaks a hard constraint of the person
    people = bundle.participants.reset_index(drop=True)
    p = pd.Index(people["participant_id"]).get_indexer(pairs["participant_id"])
    v = pd.Index(known["vacancy_id"]).get_indexer(pairs["vacancy_id"])
    listable = feasible(ParticipantLimits.from_frame(people), VacancyDemands.from_frame(known), p, v)
    assert 0 < listable.sum() < len(pairs) and len(rows) == listable.sum()
    pairs = pairs[listable]
    merged = rows.merge(pairs, on=["participant_id", "vacancy_id"], validate="one_to_one")
    assert (merged["day"] == merged["first_date"]).all() and (merged["grade_x"] == merged["grade_y"]).all()
    published = known.set_index("vacancy_id")["published_at"].reindex(merged["vacancy_id"]).to_numpy()
    np.testing.assert_array_equal(merged["age"].to_numpy(), (merged["day"].to_numpy() - published) / np.timedelta64(1, "D"))
    assert (merged["age"] >= 0).all()
    days_per_person = merged.groupby("participant_id")["day"].nunique()
    assert (days_per_person > 1).mean() > 0.3
    # with never-logged rows asked for, each is dated on one of its person's logged days, open that day
    sampled = MatchingPipeline(pipeline.config.model_copy(update={"training": TrainingConfig(negatives_per_participant=5)}),
                               cache_dir=pipeline.cache_dir)
    sampled.lexical_ = pipeline.lexical_
    more = sampled.training_examples(bundle.participants, known, pairs)
    extra = pd.DataFrame({"participant_id": more.participant_ids, "vacancy_id": more.vacancy_ids,
                          "day": more.day.astype("datetime64[ns]"), "grade": more.grade, "weight": more.weight})
    extra = extra.merge(strongest_outcomes(history)[["participant_id", "vacancy_id"]], how="left", indicator=True)
    extra = extra[extra["_merge"] == "left_only"]
    assert len(extra) > 0 and (extra["grade"] == 0).all()
    logged_days = merged.groupby("participant_id")["day"].apply(set)
    assert all(day in logged_days[person] for person, day in zip(extra["participant_id"], extra["day"]))
    closes = known.set_index("vacancy_id")["closes_at"].reindex(extra["vacancy_id"]).to_numpy()
    opened = known.set_index("vacancy_id")["published_at"].reindex(extra["vacancy_id"]).to_numpy()
    day = extra["day"].to_numpy()
    assert ((opened <= day) & (pd.isna(closes) | (day < closes))).all()


def test_batch_is_feasible_complete_and_deterministic(world, tmp_path) -> None:
    bundle, pipeline = world
    people = bundle.participants.head(120)
    first = run_batch(pipeline, people, bundle.vacancies, SPLIT, k=10, model_version="7", chunk_size=50).frame
    second = run_batch(pipeline, people, bundle.vacancies, SPLIT, k=10, model_version="7", chunk_size=33).frame
    assert tuple(first.columns) == RECOMMENDATION_COLUMNS
    write_table(first, tmp_path / "a.csv")
    write_table(second, tmp_path / "b.csv")
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    # never a pair that breaks a hard constraint or a closed vacancy
    limits = ParticipantLimits.from_frame(people)
    demands = VacancyDemands.from_frame(bundle.vacancies)
    p = pd.Series(np.arange(len(people)), index=people["participant_id"])[first["participant_id"]].to_numpy()
    v = pd.Series(np.arange(len(bundle.vacancies)), index=bundle.vacancies["vacancy_id"])[first["vacancy_id"]].to_numpy()
    assert feasible(limits, demands, p, v, SPLIT).all()
    # k results for everyone who has at least k feasible open vacancies
    all_p = np.repeat(np.arange(len(people)), len(bundle.vacancies))
    all_v = np.tile(np.arange(len(bundle.vacancies)), len(people))
    counts = np.bincount(all_p[feasible(limits, demands, all_p, all_v, SPLIT)], minlength=len(people))
    got = first.groupby("participant_id").size().reindex(people["participant_id"]).fillna(0).to_numpy()
    np.testing.assert_array_equal(got, np.minimum(counts, 10))
    # ranks are 1..n with scores non-increasing inside each participant
    for _, rows in first.groupby("participant_id"):
        assert rows["rank"].tolist() == list(range(1, len(rows) + 1))
        assert (np.diff(rows["score"].to_numpy()) <= 1e-12).all()


def test_reasons_are_in_the_participants_language(world) -> None:
    bundle, pipeline = world
    people = bundle.participants.groupby("language").head(3)
    frame = run_batch(pipeline, people, bundle.vacancies, SPLIT, k=3).frame
    language = people.set_index("participant_id")["language"]
    for row in frame.itertuples():
        reasons = row.reasons.split("|")
        assert 1 <= len(reasons) <= 4
        lang = language[row.participant_id]
        known = {text.split("{")[0] for texts in REASON_TEXT.values() for text in [texts[lang]]}
        assert any(reason.startswith(prefix) for reason in reasons for prefix in known if prefix)


def test_matcher_lists_a_person_as_the_batch_does_and_explains(world) -> None:
    bundle, pipeline = world
    matcher = Matcher(pipeline, "7").use_vacancies(bundle.vacancies, SPLIT)
    person = bundle.participants.iloc[5].to_dict()
    batch = run_batch(pipeline, bundle.participants.iloc[[5]], bundle.vacancies, SPLIT, k=5, model_version="7").frame
    single = matcher.recommend(person, k=5)
    assert [r["vacancy_id"] for r in single] == batch["vacancy_id"].tolist()
    np.testing.assert_array_equal([r["score"] for r in single], batch["score"].to_numpy())
    assert [r["reasons"] for r in single] == [cell.split("|") for cell in batch["reasons"]]
    assert [r["to_check"] for r in single] == [cell.split("|") if cell else [] for cell in batch["to_check"]]
    with pytest.raises(ValueError, match="k must be at least 1"):
        matcher.recommend(person, k=0)
    why = matcher.explain(person, single[0]["vacancy_id"])
    assert why.vacancy_id == single[0]["vacancy_id"] and why.reasons
    assert set(why.contributions) >= {"required_coverage", "distance_ratio"}
    with pytest.raises(ValueError, match="unknown vacancy_id"):
        matcher.explain(person, "NOPE")


def test_a_listed_name_the_engine_cannot_read_is_flagged_for_the_coach(world) -> None:
    """A name with no label and no confident link is no silent guess: it stays out of the profile and
    every item of the person's list says "check the profile's names" (to_check listed_names)."""
    bundle, pipeline = world
    matcher = Matcher(pipeline, "7").use_vacancies(bundle.vacancies, SPLIT)
    person = bundle.participants.iloc[5].to_dict()
    assert all("listed_names" not in r["to_check"] for r in matcher.recommend(person, k=3))
    person["occupations"] = (*person["occupations"], "qwxz blorptyö")
    flagged = matcher.recommend(person, k=3)
    assert flagged and all("listed_names" in r["to_check"] for r in flagged)
    why = matcher.explain(person, flagged[0]["vacancy_id"])
    assert "listed_names" in why.to_check and any("nimeä" in text or "name" in text for text in why.to_check_text)


def test_the_first_request_after_use_vacancies_loads_and_builds_nothing(world, monkeypatch) -> None:
    """Once the vacancies' text analysis comes from the cache, preparing them loads no model, lemmatiser
    or label index; use_vacancies warms these up, so a coach's first request does not wait seconds."""
    bundle, pipeline = world
    Matcher(pipeline).use_vacancies(bundle.vacancies, SPLIT)  # the cache holds every vacancy's analysis now
    pipeline.taxonomy._languages.clear()  # as in a new process
    pipeline._embedder = pipeline._analysis = None
    matcher = Matcher(pipeline).use_vacancies(bundle.vacancies, SPLIT)

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("loaded or built while answering a request")

    monkeypatch.setattr(Taxonomy, "_build_language", refuse)
    monkeypatch.setattr(embedding._SentenceTransformerBackend, "__init__", refuse)
    monkeypatch.setattr(retrieval, "_OpenVacancies", refuse)
    for language, text in (("fi", "Olen kokki"), ("sv", "Jag är kock"), ("en", "I am a cook")):
        person = {**bundle.participants.iloc[0].to_dict(), "language": language, "profile_text": text}
        assert matcher.recommend(person, k=3)


def test_feature_contributions_read_one_row_of_the_block_by_feature_name() -> None:
    block = np.arange(3 * (len(FEATURE_NAMES) + 1), dtype=np.float64).reshape(3, -1)
    parts = FeatureContributions(block[1, : len(FEATURE_NAMES)])
    assert list(parts) == list(FEATURE_NAMES) and len(parts) == len(FEATURE_NAMES)
    assert parts == {name: float(block[1, i]) for i, name in enumerate(FEATURE_NAMES)}
    assert parts[FEATURE_NAMES[-1]] == block[1, len(FEATURE_NAMES) - 1]
    with pytest.raises(KeyError, match="bias"):
        parts["bias"]
    with pytest.raises(ValueError, match=f"a contribution row has {len(FEATURE_NAMES)} values"):
        FeatureContributions(block[1])


def test_batch_prepares_only_open_vacancies_and_recommends_the_same(world, monkeypatch) -> None:
    """Closed vacancies (a feed's history) are not profiled or indexed: the table is the same as
    when only the open ones are given, and the run id still covers every input vacancy."""
    bundle, pipeline = world
    is_open = open_on(VacancyDemands.from_frame(bundle.vacancies), SPLIT)
    assert 0 < is_open.sum() < len(bundle.vacancies)
    prepared: list[int] = []
    prepare = pipeline.prepare_vacancies
    monkeypatch.setattr(pipeline, "prepare_vacancies", lambda frame: prepared.append(len(frame)) or prepare(frame))
    people = bundle.participants.head(40)
    everything = run_batch(pipeline, people, bundle.vacancies, SPLIT, k=5).frame
    assert prepared == [int(is_open.sum())]
    only_open = run_batch(pipeline, people, bundle.vacancies[is_open], SPLIT, k=5).frame
    assert not everything.empty
    pd.testing.assert_frame_equal(everything.drop(columns="run_id"), only_open.drop(columns="run_id"))
    assert everything["run_id"].iloc[0] != only_open["run_id"].iloc[0]


def test_unfitted_and_bad_arguments_raise(world) -> None:
    from sklearn.exceptions import NotFittedError

    bundle, pipeline = world
    with pytest.raises(NotFittedError, match="not fitted"):
        MatchingPipeline().prepare_vacancies(bundle.vacancies)
    with pytest.raises(ValueError, match="k must be at least 1"):
        run_batch(pipeline, bundle.participants.head(2), bundle.vacancies, SPLIT, k=0)
    with pytest.raises(ValueError, match="no vacancy was published before"):
        MatchingPipeline().fit(bundle.participants, bundle.vacancies, bundle.outcomes, date(2000, 1, 1))
    with pytest.raises(RuntimeError, match="no vacancies loaded"):
        Matcher(pipeline).recommend(bundle.participants.iloc[0].to_dict())
