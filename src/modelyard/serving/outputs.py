"""What a model answers, in one shape for every predictor, and its JSON rows (the one place for labels).

Classification: ``proba`` (rows × classes) and ``labels`` (the class labels, JSON values, in column
order); the prediction of a row is the label with the highest probability. Regression: ``values``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Outputs:
    task: str
    values: np.ndarray | None = None  # regression values (or labels of a classifier without probabilities)
    proba: np.ndarray | None = None  # classification
    labels: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.values if self.proba is None else self.proba)

    @property
    def predictions(self) -> np.ndarray:
        if self.proba is None:
            return np.asarray(self.values, dtype=float if self.task == "regression" else object)
        return np.asarray(self.labels, dtype=object)[self.proba.argmax(axis=1)]

    @property
    def label_names(self) -> list[str]:
        return [str(label) for label in self.labels or []]

    def rows(self, *, complete: bool = False) -> list[dict[str, Any]]:
        """JSON-ready rows: {prediction, confidence, probabilities} or {prediction} (with `complete`, the
        last two as null rather than absent)."""
        if self.proba is None:
            values = np.asarray(self.values, dtype=float).tolist() if self.task == "regression" else self.values
            read = _finite if self.task == "regression" else plain_value
            if complete:
                return [{"prediction": read(v), "confidence": None, "probabilities": None} for v in values]
            return [{"prediction": read(v)} for v in values]
        labels, keys = self.labels or [], self.label_names
        rows = []
        for row in self.proba.tolist():
            best = max(range(len(row)), key=row.__getitem__)
            rows.append({"prediction": labels[best], "confidence": round(row[best], 6),
                         "probabilities": {k: round(p, 6) for k, p in zip(keys, row)}})
        return rows


def _finite(value: float) -> float | None:
    return value if value == value and value not in (float("inf"), float("-inf")) else None


def plain_value(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _relabeled(classes: list[Any] | None, estimator: Any, predicted: Any) -> np.ndarray:
    """Predicted labels of a classifier without probabilities, relabeled as its probabilities would be."""
    own = getattr(estimator, "classes_", None)
    own = [plain_value(c) for c in own] if own is not None else None
    relabel = dict(zip(own, classes)) if own is not None and classes is not None and len(own) == len(classes) else {}
    values = [relabel.get(plain_value(v), plain_value(v)) for v in np.asarray(predicted).reshape(-1)]
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def class_labels(classes: list[Any] | None, estimator: Any, width: int) -> list[Any]:
    """The version's own labels when they fit the output; else the estimator's (as JSON values)."""
    if classes is not None and len(classes) == width:
        return list(classes)
    found = getattr(estimator, "classes_", None)
    found = list(found) if found is not None and len(found) == width else list(range(width))
    return [v.item() if isinstance(v, np.generic) else v for v in found]


def run_estimator(estimator: Any, task: str, classes: list[Any] | None, X: Any) -> Outputs:
    """Call a fitted estimator (or adapter) on X, which it reads as it was fitted (frame or array)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task == "regression":
            return Outputs(task, values=np.asarray(estimator.predict(X), dtype=float).reshape(-1))
        if not hasattr(estimator, "predict_proba"):  # LinearSVC, RidgeClassifier, SVC without probabilities
            return Outputs(task, values=_relabeled(classes, estimator, estimator.predict(X)))
        proba = np.asarray(estimator.predict_proba(X), dtype=float)
    return Outputs("classification", proba=proba, labels=class_labels(classes, estimator, proba.shape[1]))
