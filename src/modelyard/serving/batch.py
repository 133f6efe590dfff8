"""Vectorised prediction for many rows at once (batch scoring, evaluation): arrays, not dicts."""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

NUMERIC = ("integer", "number")


def coerce(frame: pd.DataFrame, signature: list[dict[str, Any]]) -> pd.DataFrame:
    """Text cells (as read from a CSV) to the types the model's signature names; junk becomes missing."""
    columns = {}
    for field in signature:
        name = field["name"]
        values = frame[name] if name in frame.columns else pd.Series([None] * len(frame), index=frame.index)
        if field.get("type") in NUMERIC:
            columns[name] = pd.to_numeric(values, errors="coerce").astype("float64")
        else:
            columns[name] = values.astype(object).where(values.notna(), None)
    return pd.DataFrame(columns, index=frame.index)


def predict_arrays(estimator: Any, task: str, classes: list[Any] | None,
                   frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """(predictions, class probabilities or None, class names) for a frame in signature order."""
    names = getattr(estimator, "feature_names_in_", None)
    X = frame.reindex(columns=list(names)) if names is not None else frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "regression" or not hasattr(estimator, "predict_proba"):
            return np.asarray(estimator.predict(X)), None, []
        proba = np.asarray(estimator.predict_proba(X))
    labels = list(classes) if classes is not None and len(classes) == proba.shape[1] \
        else list(getattr(estimator, "classes_", range(proba.shape[1])))
    predictions = np.asarray(labels, dtype=object)[proba.argmax(axis=1)]
    return predictions, proba, [str(label) for label in labels]


def score_metrics(task: str, truth: pd.Series, predictions: np.ndarray) -> dict[str, float]:
    """The headline figures used to compare two versions on the same held-out rows."""
    from sklearn import metrics

    if task == "regression":
        y = pd.to_numeric(truth, errors="coerce").to_numpy(dtype=float)
        p = predictions.astype(float)
        return {"r2": round(float(metrics.r2_score(y, p)), 4),
                "rmse": round(float(np.sqrt(metrics.mean_squared_error(y, p))), 4),
                "mae": round(float(metrics.mean_absolute_error(y, p)), 4)}
    y = truth.astype(str).to_numpy()
    p = np.asarray([str(v) for v in predictions])
    return {"accuracy": round(float(metrics.accuracy_score(y, p)), 4),
            "f1_score": round(float(metrics.f1_score(y, p, average="macro", zero_division=0)), 4)}


def headline(task: str, figures: dict[str, float]) -> float:
    return figures["r2"] if task == "regression" else figures["accuracy"]
