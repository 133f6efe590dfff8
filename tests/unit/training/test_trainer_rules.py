"""Task detection and the refusals a user sees as TRAINING_FAILED."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelyard.training.features import plan_columns, signature
from modelyard.training.targets import prepare_target
from modelyard.training.trainer import TrainingError, train

from . import frames


def _with_target(values, n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"x": rng.normal(size=n), "y": np.resize(np.asarray(values, dtype=object), n)})


@pytest.mark.parametrize(("values", "task"), [
    (["cat", "dog"], "classification"),
    ([True, False], "classification"),
    ([0, 1, 2, 3, 4], "classification"),
    (["1", "2", "3"], "classification"),
    (list(range(15)), "regression"),      # 15 distinct values > max(10, 5% of 200 rows)
    (list(range(8)) + [7.5], "regression"),  # not whole numbers
    (np.linspace(0, 1, 200), "regression"),
    (list(range(40)), "regression"),      # more than 20 distinct values
])
def test_auto_task_follows_the_documented_rule(values, task):
    frame = _with_target(values)
    assert prepare_target(frame, "y", "auto")[2] == task


def test_auto_task_counts_few_integers_in_many_rows_as_classes():
    frame = _with_target(list(range(15)), n=400)  # 15 <= 20 and <= 5% of 400 = 20
    assert prepare_target(frame, "y", "auto")[2] == "classification"


def test_auto_picks_classification_end_to_end_for_an_integer_rating():
    frame = frames.tiers(200)
    frame["tier"] = frame["tier"].map({"bronze": 1, "silver": 2, "gold": 3})
    result = train(frame, target="tier", time_budget=30)
    assert result.task == "classification"
    assert result.classes == [1, 2, 3]


def test_an_explicit_task_overrides_detection():
    frame = _with_target([0, 1, 2, 3, 4])
    assert prepare_target(frame, "y", "regression")[2] == "regression"


def _refusal(frame: pd.DataFrame, **kwargs) -> str:
    with pytest.raises(TrainingError) as caught:
        train(frame, **{"target": "churned", "time_budget": 30, **kwargs})
    return str(caught.value)


def test_a_missing_target_column_is_refused_naming_the_available_ones():
    message = _refusal(frames.churn(50), target="churn")
    assert "'churn' not found" in message
    assert "customer_id, income, age, plan, region, newsletter, signup, churned" in message


def test_an_entirely_empty_target_is_refused():
    assert "entirely empty" in _refusal(frames.churn(50).assign(churned=None))


def test_a_target_with_a_single_class_is_refused():
    assert "only one class ('yes')" in _refusal(frames.churn(50).assign(churned="yes"))


def test_fewer_than_ten_labelled_rows_are_refused():
    frame = frames.churn(50)
    frame.loc[9:, "churned"] = np.nan
    message = _refusal(frame)
    assert "Only 9 rows" in message and "41 dropped" in message


def test_a_class_with_fewer_than_two_rows_is_refused_by_name():
    frame = frames.churn(50)
    frame.loc[0, "churned"] = "maybe"
    message = _refusal(frame)
    assert "'maybe' (1 row)" in message


def test_a_table_without_usable_features_is_refused():
    frame = frames.churn(50)[["customer_id", "churned"]].assign(blank=None)
    message = _refusal(frame)
    assert "No usable feature columns" in message
    assert "'customer_id' is unique per row" in message and "'blank' is empty" in message


def test_a_table_with_only_the_target_is_refused():
    assert "No usable feature columns" in _refusal(frames.churn(50)[["churned"]])


@pytest.mark.parametrize("split", [0, 0.9, 1.5, -0.1])
def test_a_test_split_outside_zero_to_0_9_is_refused(split):
    assert "test_split must be between 0 and 0.9" in _refusal(frames.churn(50), test_split=split)


def test_regression_on_a_text_target_is_refused():
    message = _refusal(frames.churn(50), task="regression")
    assert "not numeric" in message


def test_an_unknown_task_is_refused():
    assert "task must be one of" in _refusal(frames.churn(50), task="clustering")


def test_id_like_columns_stay_in_the_signature_but_the_model_ignores_them():
    n = 50
    frame = pd.DataFrame({
        "user_id": np.arange(n), "orderId": np.arange(n) + 100, "paid": np.arange(n) * 3,
        "ticket": [f"T-{i}" for i in range(n)], "colour": ["red", "blue"] * (n // 2),
        "empty": [None] * n,
    })
    plan = plan_columns(frame, signature(frame))
    assert plan.ignored == {"user_id": "unique per row", "orderId": "unique per row",
                            "ticket": "unique per row", "empty": "empty"}
    assert plan.used == ["paid", "colour"]
