"""Comparing two versions of a model on the same held-out rows (retraining)."""
from __future__ import annotations

import numpy as np
import pandas as pd


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
