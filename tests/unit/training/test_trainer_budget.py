"""The time budget is a hard ceiling; runs are reproducible; progress only moves forward."""
from __future__ import annotations

import time

import pytest

from modelyard.training.trainer import train

from . import frames


@pytest.fixture(scope="module")
def big_table():
    return frames.wide(200_000)


def test_a_5_second_budget_on_200k_rows_returns_in_time(big_table):
    started = time.perf_counter()
    result = train(big_table, target="label", time_budget=5)
    elapsed = time.perf_counter() - started
    assert elapsed < 5 + 3, f"took {elapsed:.1f}s"
    assert result.seconds <= elapsed + 0.0005  # result.seconds is rounded to the millisecond
    assert result.metrics["accuracy"] > 0.9
    assert result.test_rows == 40_000
    assert any("training rows" in note for note in result.notes)
    assert {c["status"] for c in result.candidates} <= {"ok", "skipped: time budget"}


def test_a_tiny_budget_falls_back_to_the_linear_model_instead_of_failing(big_table):
    started = time.perf_counter()
    result = train(big_table, target="label", time_budget=0.5)
    assert time.perf_counter() - started < 0.5 + 3
    assert result.algorithm == "LogisticRegression"
    assert result.metrics["cv_score"] is None
    assert any("fell back" in note for note in result.notes)


def test_same_data_and_seed_give_the_same_model_and_metrics():
    first, second = (train(frames.tiers(240), target="tier", random_state=7, time_budget=60) for _ in range(2))
    assert first.algorithm == second.algorithm
    assert first.metrics == second.metrics
    assert first.feature_importances == second.feature_importances
    assert [c["cv_score"] for c in first.candidates] == [c["cv_score"] for c in second.candidates]


def test_progress_runs_from_0_to_100_without_going_back():
    calls: list[tuple[float, str]] = []
    train(frames.prices(200), target="price", time_budget=60, progress=lambda pct, step: calls.append((pct, step)))
    percents = [pct for pct, _ in calls]
    assert percents[0] == 0 and percents[-1] == 100
    assert percents == sorted(percents)
    steps = [step for _, step in calls]
    assert steps[0] == "Preparing data"
    assert "Cross-validating LGBMRegressor (2/4)" in steps
    assert steps.index("Evaluating on held-out data") < steps.index("Computing feature importances")
