"""predict_with: plain JSON-ready rows, even for inputs the model never saw."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from modelyard.training.trainer import predict_with, train

from . import frames


def _native(value) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _native(v) for k, v in value.items())
    return type(value) in (str, int, float, bool)


def test_classification_rows_carry_label_confidence_and_probabilities(churn_result):
    rows = predict_with(churn_result.pipeline, churn_result.task, churn_result.classes,
                        frames.churn(5, seed=9).drop(columns="churned"))
    assert len(rows) == 5
    for row in rows:
        assert set(row) == {"prediction", "confidence", "probabilities"}
        assert row["prediction"] in ("no", "yes")
        assert set(row["probabilities"]) == {"no", "yes"}
        assert sum(row["probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
        assert row["confidence"] == max(row["probabilities"].values())
        assert row["probabilities"][row["prediction"]] == row["confidence"]
        assert _native(row)
    assert json.loads(json.dumps(rows)) == rows


def test_the_learned_rule_shows_in_single_predictions(churn_result):
    rich = {"customer_id": "new", "income": 90.0, "age": 30, "plan": "pro", "region": "north",
            "newsletter": True, "signup": "2024-01-01 00:00:00"}
    poor = {**rich, "income": 10.0, "plan": "basic"}
    rows = predict_with(churn_result.pipeline, churn_result.task, churn_result.classes, pd.DataFrame([rich, poor]))
    assert [r["prediction"] for r in rows] == ["yes", "no"]


def test_unseen_categories_missing_values_and_missing_columns_still_predict(churn_result):
    odd = pd.DataFrame([
        {"customer_id": "x", "income": None, "age": None, "plan": "platinum", "region": "mars",
         "newsletter": None, "signup": None},
        {"customer_id": None, "income": "n/a", "age": "42", "plan": None, "region": "",
         "newsletter": "true", "signup": "not a date"},
        {"income": 70, "extra column": 1},  # most columns absent altogether
    ])
    rows = predict_with(churn_result.pipeline, churn_result.task, churn_result.classes, odd)
    assert len(rows) == 3
    assert all(r["prediction"] in ("no", "yes") and 0.5 <= r["confidence"] <= 1 for r in rows)


def test_regression_rows_are_plain_floats(price_result):
    features = frames.prices(4, seed=5).drop(columns="price")
    features.loc[0, "region"] = "atlantis"
    features.loc[1, "size"] = np.nan
    rows = predict_with(price_result.pipeline, price_result.task, price_result.classes, features)
    assert len(rows) == 4
    assert all(set(r) == {"prediction"} and type(r["prediction"]) is float for r in rows)


def test_an_empty_frame_predicts_nothing(price_result):
    assert predict_with(price_result.pipeline, "regression", None, pd.DataFrame()) == []


def test_boolean_and_integer_labels_come_back_as_python_values():
    frame = frames.churn(200)
    frame["churned"] = frame["churned"] == "yes"
    result = train(frame, target="churned", time_budget=30)
    assert result.classes == [False, True]
    rows = predict_with(result.pipeline, result.task, result.classes, frame.head(3))
    assert all(type(r["prediction"]) is bool for r in rows)
    assert all(set(r["probabilities"]) == {"False", "True"} for r in rows)
