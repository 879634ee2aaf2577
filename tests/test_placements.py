"""Expected placements end to end: `train` measures them and logs them to MLflow beside the
calibration, and the nightly allocation keeps every list as full as plain top-k while raising them."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ilona_match.contract import load_data
from ilona_match.contract.exclusion import acted_pairs
from ilona_match.learning.metrics import expected_placements, filled_openings
from ilona_match.learning.tracking import MODEL_NAME, configure_tracking, load_champion
from ilona_match.serving.allocation import AllocationConfig
from ilona_match.serving.batch import run_batch
from ilona_match.serving.nightly import allocation_summary, run_nightly
from ilona_match.serving.store import ResultStore
from tests.conftest import ServedWorld


def test_expected_placements_known_answer_and_bad_input() -> None:
    """Two people both list vacancy 0 (one opening) first: 0.9 + 0.8 acted on, 1 fills; the second
    person's item at rank 2 (0.5 / log2 3) fills part of vacancy 1."""
    value = expected_placements(np.array([0, 0, 1]), np.array([1, 1, 2]), np.array([0.9, 0.8, 0.5]), np.array([1, 2]))
    assert value == pytest.approx(1.0 + 0.5 / np.log2(3))
    with pytest.raises(ValueError, match="equal lengths, got 2, 1, 2"):
        expected_placements(np.array([0, 1]), np.array([1]), np.array([0.1, 0.2]), np.array([1, 1]))
    with pytest.raises(ValueError, match="rank must be >= 1"):
        expected_placements(np.array([0]), np.array([0]), np.array([0.1]), np.array([1]))
    with pytest.raises(ValueError, match=r"chance must be probabilities in \[0, 1\]"):
        expected_placements(np.array([0]), np.array([1]), np.array([1.2]), np.array([1]))


def test_random_hires_fill_what_a_poisson_count_of_them_fills() -> None:
    """E[min(n, H)], H Poisson with the expected hires, against the sum over its terms, for few
    openings (summed term by term) and many (the incomplete gamma); never above the fluid fill."""
    from scipy.stats import poisson

    assert filled_openings(np.array([1.0]), np.array([1.0]), "poisson")[0] == pytest.approx(1 - np.exp(-1))
    rng = np.random.default_rng(0)
    openings = rng.choice([1, 2, 3, 8, 9, 25], 60).astype(float)
    load = rng.exponential(1.0, 60) * openings
    load[:3] = 0.0
    hires = np.arange(400)
    exact = [(np.minimum(n, hires) * poisson.pmf(hires, mean)).sum() for n, mean in zip(openings, load)]
    np.testing.assert_allclose(filled_openings(openings, load, "poisson"), exact, atol=1e-10)
    assert (filled_openings(openings, load, "poisson") <= filled_openings(openings, load, "fluid") + 1e-12).all()
    np.testing.assert_array_equal(filled_openings(openings, load), np.minimum(openings, load))
    value = expected_placements(np.array([0, 0]), np.array([1, 1]), np.array([0.5, 0.5]), np.array([1]), "poisson")
    assert value == pytest.approx(1 - np.exp(-1.0))
    with pytest.raises(ValueError, match="fill must be 'fluid' or 'poisson', got 'linear'"):
        filled_openings(openings, load, "linear")  # type: ignore[arg-type]


def test_train_measures_expected_placements_and_logs_them_with_the_calibration(served_world: ServedWorld) -> None:
    pipeline, version = load_champion(served_world.workdir)
    summary = pipeline.training_summary_
    assert summary["expected_placements"] >= summary["expected_placements_top_k"] > 0
    assert summary["recommendations_per_participant"] > 0
    client = configure_tracking(served_world.workdir)
    run = client.get_run(client.get_model_version(MODEL_NAME, version).run_id)
    assert run.data.metrics["training.expected_placements"] == pytest.approx(summary["expected_placements"])
    assert run.data.metrics["training.calibration_ece"] == pytest.approx(summary["calibration_ece"])
    assert 0 < run.data.metrics["training.calibration_ece_noise"] < run.data.metrics["training.calibration_ece_noise_95"]
    assert "calibration_reliability.csv" in {a.path for a in client.list_artifacts(run.info.run_id)}


def _nightly(world: ServedWorld, tmp_path: Path, allocation: str) -> tuple[pd.DataFrame, dict]:
    batch = world.settings.batch.model_copy(update={"allocation": allocation,
                                                    "database_url": f"sqlite:///{tmp_path / allocation}.db"})
    settings = world.settings.model_copy(update={"batch": batch})
    out = run_nightly(settings, world.data_dir, world.as_of, tmp_path / f"{allocation}.csv", reports=False)
    table = pd.read_csv(out.table, dtype={"participant_id": str, "vacancy_id": str})
    return table, ResultStore(out.database_url).latest_run().details


def test_the_nightly_allocation_keeps_lists_full_and_raises_expected_placements(served_world: ServedWorld,
                                                                                 tmp_path: Path) -> None:
    allocated, details = _nightly(served_world, tmp_path, "placements")
    plain, plain_details = _nightly(served_world, tmp_path, "none")
    assert details["allocation"] in ("placements:exact", "placements:greedy") and plain_details["allocation"] == "none"
    # everyone keeps as many recommendations as plain top-k gives them: min(k, their fitting candidates)
    pd.testing.assert_series_equal(allocated.groupby("participant_id").size(), plain.groupby("participant_id").size())
    assert details["participants_short_after"] == details["participants_short_before"]
    openings = load_data(served_world.data_dir).vacancies.set_index("vacancy_id")["openings"].fillna(1)

    def placements(table: pd.DataFrame) -> float:
        return expected_placements(openings.index.get_indexer(table["vacancy_id"]), table["rank"].to_numpy(),
                                   table["p_outcome"].to_numpy(), openings.to_numpy())

    def objective(table: pd.DataFrame) -> float:  # what the default allocation maximises (Poisson fill)
        vacancy, rank, chance = openings.index.get_indexer(table["vacancy_id"]), table["rank"].to_numpy(), \
            table["p_outcome"].to_numpy()
        return expected_placements(vacancy, rank, chance, openings.to_numpy(), "poisson") \
            + AllocationConfig().relevance_weight * float((chance / np.log2(1.0 + rank)).sum())

    assert placements(allocated) == pytest.approx(details["expected_placements_after"], abs=1e-3)
    assert placements(plain) == pytest.approx(details["expected_placements_before"], abs=1e-3)
    assert objective(allocated) > objective(plain)
    assert placements(allocated) >= placements(plain)
    summary = allocation_summary(details)  # what `batch` and `demo` print
    assert f"{details['expected_placements_after']:.1f} with the allocation ({details['allocation']})" in summary
    assert allocation_summary(plain_details) == "allocation: none"
    assert (allocated.groupby("participant_id")["rank"].apply(lambda r: sorted(r) == list(range(1, len(r) + 1)))).all()


def test_the_lists_do_not_depend_on_the_order_of_the_rows_in_the_files(served_world: ServedWorld) -> None:
    """The allocation's local search and equal scores read rows in order; a run reads them in id order,
    so a feed exported in another order gets the same lists (as it gets the same run id)."""
    bundle = load_data(served_world.data_dir)
    pipeline, version = load_champion(served_world.workdir)
    exclude = acted_pairs(bundle.outcomes, served_world.as_of)

    def served(participants: pd.DataFrame, vacancies: pd.DataFrame) -> pd.DataFrame:
        return run_batch(pipeline, participants, vacancies, served_world.as_of, k=5, model_version=version,
                         exclude=exclude, allocation=AllocationConfig(k=5, method="greedy"), chunk_size=64).frame

    as_written = served(bundle.participants, bundle.vacancies)
    reordered = served(bundle.participants.sample(frac=1.0, random_state=3),
                       bundle.vacancies.sample(frac=1.0, random_state=4))
    assert len(as_written) > 0
    key = ["participant_id", "rank"]
    pd.testing.assert_frame_equal(reordered.sort_values(key, ignore_index=True), as_written.sort_values(key, ignore_index=True))
    pd.testing.assert_frame_equal(reordered, as_written)  # and in the same row order


def test_evaluate_prints_the_calibration_its_reliability_and_expected_placements(
        served_world: ServedWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    from ilona_match.cli import main

    monkeypatch.setenv("ILONA_MATCH_WORKDIR", str(tmp_path / "work"))
    monkeypatch.setenv("ILONA_MATCH_MATCHING__RANKER__NUM_THREADS", "1")
    assert main(["evaluate", "--data", str(served_world.data_dir), "--as-of", served_world.as_of.isoformat(),
                 "--quiet"]) == 0
    out = capsys.readouterr().out
    for system in ("random feasible", "popularity", "tf-idf + filters", "embedding + filters",
                   "pipeline without ranker", "full pipeline"):
        assert system in out
    line = re.search(r"^calibration: platt on the score and .*\) on \d+ pairs met in the held-out window \(success rate 0\.\d+\); "
                     r"expected calibration error (0\.\d+) \(a perfectly calibrated chance shows 0\.\d+ on these pairs, "
                     r"95 % of draws below 0\.\d+\), Brier score 0\.\d+, out of fold, the mean over 20 assignments of people to "
                     r"folds \(ECE (0\.\d+)–(0\.\d+)\)$", out, re.MULTILINE)
    assert line, out
    assert float(line.group(2)) <= float(line.group(1)) <= float(line.group(3))  # the mean within its range
    table = out[out.index("reliability (bins of predicted chance, out of fold):"):].splitlines()
    assert table[1].split() == ["pairs", "predicted", "observed"] and len(table) >= 4
    found = re.search(r"^expected placements of the run on \d{4}-\d\d-\d\d: ([\d.]+) with the allocation, "
                      r"([\d.]+) with each person's plain top k", out, re.MULTILINE)
    assert found and float(found.group(1)) >= float(found.group(2)) > 0
