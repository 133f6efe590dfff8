"""What a trained result contains and how good it is, on generated data with a learnable rule."""
from __future__ import annotations

import json

import pytest


def test_binary_classification_learns_the_rule_with_missing_values(churn_result):
    assert churn_result.task == "classification"
    assert churn_result.metrics["accuracy"] > 0.9
    assert churn_result.metrics["roc_auc"] > 0.9


def test_binary_scores_take_the_second_sorted_class_as_positive(churn_result):
    assert churn_result.classes == ["no", "yes"]
    (tn, fp), (fn, tp) = churn_result.metrics["confusion_matrix"]
    assert tn + fp + fn + tp == churn_result.test_rows
    assert churn_result.metrics["recall"] == round(tp / (tp + fn), 4)
    assert churn_result.metrics["precision"] == round(tp / (tp + fp), 4)


def test_rows_with_an_empty_target_are_dropped_and_counted(churn_result):
    assert churn_result.dropped_rows == 3
    assert churn_result.train_rows + churn_result.test_rows == 600
    assert churn_result.test_rows == 120


def test_regression_reaches_r2_above_0_8(price_result):
    assert price_result.task == "regression"
    assert price_result.classes is None
    assert price_result.metrics["r2"] > 0.8
    assert set(price_result.metrics) == {"rmse", "mae", "r2", "cv_score", "cv_metric"}
    assert price_result.metrics["cv_metric"] == "r2"


def test_multiclass_reports_macro_scores_and_a_square_confusion_matrix(tier_result):
    assert tier_result.classes == ["bronze", "gold", "silver"]
    matrix = tier_result.metrics["confusion_matrix"]
    assert len(matrix) == 3 and all(len(row) == 3 for row in matrix)
    assert sum(map(sum, matrix)) == tier_result.test_rows
    assert "roc_auc" not in tier_result.metrics
    assert tier_result.metrics["accuracy"] > 0.85
    assert tier_result.metrics["f1_score"] > 0.8


def test_metrics_are_plain_floats_rounded_to_four_places(churn_result, price_result):
    for result in (churn_result, price_result):
        for name, value in result.metrics.items():
            if name in ("confusion_matrix", "cv_metric"):
                continue
            assert type(value) is float, name
            assert value == round(value, 4)
    assert all(type(cell) is int for row in churn_result.metrics["confusion_matrix"] for cell in row)


def test_every_candidate_is_reported_and_the_chosen_one_scored_best(churn_result):
    names = [c["algorithm"] for c in churn_result.candidates]
    assert names == ["LogisticRegression", "LGBMClassifier", "RandomForestClassifier",
                     "HistGradientBoostingClassifier"]
    assert all(c["status"] == "ok" and c["fit_seconds"] > 0 for c in churn_result.candidates)
    chosen = next(c for c in churn_result.candidates if c["algorithm"] == churn_result.algorithm)
    assert chosen["cv_score"] == max(c["cv_score"] for c in churn_result.candidates)
    assert churn_result.metrics["cv_score"] == chosen["cv_score"]
    assert churn_result.metrics["cv_metric"] == "f1_macro"


def test_signature_keeps_every_input_in_order_with_inferred_types(churn_result):
    assert churn_result.features == [
        {"name": "customer_id", "type": "string"},
        {"name": "income", "type": "number"},
        {"name": "age", "type": "integer"},
        {"name": "plan", "type": "string"},
        {"name": "region", "type": "string"},
        {"name": "newsletter", "type": "boolean"},
        {"name": "signup", "type": "datetime"},
    ]
    assert churn_result.target == "churned"
    assert churn_result.ignored_features == {"customer_id": "unique per row"}


def test_feature_importances_cover_every_input_and_rank_the_rule_first(churn_result):
    importances = churn_result.feature_importances
    assert set(importances) == {f["name"] for f in churn_result.features}
    assert sum(importances.values()) == pytest.approx(1.0, abs=1e-3)
    assert set(list(importances)[:2]) == {"income", "plan"}
    assert importances["customer_id"] == 0.0


def test_the_result_is_json_safe_apart_from_the_pipeline(churn_result, tier_result):
    for result in (churn_result, tier_result):
        fields = {k: v for k, v in vars(result).items() if k != "pipeline"}
        assert json.loads(json.dumps(fields)) == fields
