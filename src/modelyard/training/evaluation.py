"""Held-out metrics and permutation feature importances for a fitted training pipeline."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    precision_score,
    r2_score,
    recall_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline

from modelyard.training.search import Budget, score

IMPORTANCE_ROWS = 1000
IMPORTANCE_REPEATS = 3
BATCH_ROWS = 50_000
BATCH_CELLS = 5_000_000


def held_out_metrics(task: str, pipeline: Pipeline, X: pd.DataFrame, y: np.ndarray) -> dict:
    """Classification: accuracy, precision, recall, f1_score, confusion_matrix, roc_auc (binary);
    regression: rmse, mae, r2. Binary scores take the second sorted class as positive; multiclass
    scores are macro averages. Floats are rounded to 4 places."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "regression":
            predicted = pipeline.predict(X)
            return {
                "rmse": _round(np.sqrt(mean_squared_error(y, predicted))),
                "mae": _round(mean_absolute_error(y, predicted)),
                "r2": _round(r2_score(y, predicted)),
            }
        probabilities = pipeline.predict_proba(X)
    # Labels as codes into classes_ (sorted): the metrics then compare integers, not strings.
    labels = pipeline.classes_
    truth = pd.Categorical(y, categories=labels).codes
    predicted = probabilities.argmax(axis=1)
    codes = list(range(len(labels)))
    binary = len(labels) == 2
    averaging = {"average": "binary", "pos_label": 1} if binary else {"average": "macro", "labels": codes}
    metrics = {
        "accuracy": _round(accuracy_score(truth, predicted)),
        "precision": _round(precision_score(truth, predicted, zero_division=0, **averaging)),
        "recall": _round(recall_score(truth, predicted, zero_division=0, **averaging)),
        "f1_score": _round(f1_score(truth, predicted, zero_division=0, **averaging)),
        "confusion_matrix": confusion_matrix(truth, predicted, labels=codes).tolist(),
    }
    if binary:
        both_present = len(np.unique(truth)) == 2
        metrics["roc_auc"] = _round(roc_auc_score(truth, probabilities[:, 1])) if both_present else None
    return metrics


def permutation_importances(pipeline: Pipeline, task: str, X: pd.DataFrame, y: np.ndarray, *,
                            columns: list[str], budget: Budget, random_state: int) -> dict[str, float]:
    """How much the score (f1_macro / r2) drops when one input column is shuffled, per column.

    Measured on up to 1,000 held-out rows with up to 3 shuffles per column; rows and shuffles
    shrink (down to 100 rows, 1 shuffle) when the time left would not cover them. The shuffled
    copies are scored in batches of about 50k rows, so many columns cost few pipeline calls.
    Columns not reached before the budget runs out (very wide data) are left at 0. Drops below zero count as zero; the result is normalised to sum to 1 (an even split when no
    column matters) and lists every input column, unused ones at 0, largest first.
    """
    rng = np.random.default_rng(random_state)
    rows = min(len(X), IMPORTANCE_ROWS)
    started = budget.elapsed()
    sample, truth = _sample(X, y, rows, rng)
    base = score(task, truth, _predict(pipeline, sample))
    per_row = (budget.elapsed() - started) / rows
    repeats, allowed = IMPORTANCE_REPEATS, max(budget.remaining(), 1.0)
    while per_row * rows * repeats * len(columns) > allowed and (repeats > 1 or rows > 100):
        repeats, rows = (repeats - 1, rows) if repeats > 1 else (repeats, max(100, rows // 2))
    if rows < len(sample):
        sample, truth = _sample(sample, truth, rows, rng)
        base = score(task, truth, _predict(pipeline, sample))
    # Batches are bounded in cells as well as rows, so that very wide data cannot exhaust memory.
    per_batch = max(1, min(BATCH_ROWS // (rows * repeats), BATCH_CELLS // (rows * repeats * max(1, X.shape[1]))))
    drops: dict[str, float] = {}
    for first in range(0, len(columns), per_batch):
        if first and budget.remaining() <= 0:
            break  # the time budget is a hard ceiling: columns not reached count as unmeasured (0)
        batch = columns[first:first + per_batch]
        shuffled = []
        for name in batch:
            for _ in range(repeats):
                frame = sample.copy()
                frame[name] = rng.permutation(sample[name].to_numpy())
                shuffled.append(frame)
        predicted = _predict(pipeline, pd.concat(shuffled, ignore_index=True))
        for i, name in enumerate(batch):
            parts = [predicted[(i * repeats + r) * rows:(i * repeats + r + 1) * rows] for r in range(repeats)]
            drops[name] = max(float(np.mean([base - score(task, truth, p) for p in parts])), 0.0)
    total = sum(drops.values())
    shares = {n: (d / total if total > 0 else 1.0 / len(drops)) for n, d in drops.items()}
    everything = {name: round(shares.get(name, 0.0), 4) for name in X.columns}
    return dict(sorted(everything.items(), key=lambda item: -item[1]))


def _sample(X: pd.DataFrame, y: np.ndarray, rows: int, rng: np.random.Generator):
    picked = np.sort(rng.choice(len(X), size=rows, replace=False))
    return X.iloc[picked].reset_index(drop=True), y[picked]


def _predict(pipeline: Pipeline, frame: pd.DataFrame) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipeline.predict(frame)


def _round(value) -> float:
    return round(float(value), 4)
