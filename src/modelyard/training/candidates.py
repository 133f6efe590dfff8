"""The candidate estimators the trainer compares, and how one candidate becomes a pipeline.

Four candidates per task, in the order they are tried: a scaled linear model (LogisticRegression /
Ridge), LightGBM, a size-capped RandomForest (at most 20k rows per tree, depth 18) and
HistGradientBoosting. The cheap linear model goes first so that something is scored when the
time budget is tight; HistGradientBoosting, the slowest and closest to LightGBM, goes last.
Hyper-parameters are fixed (no inner search); minimum leaf sizes shrink for tiny data.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelyard.training.features import ColumnPlan, preprocessor

N_JOBS = 2
FOREST_ROWS = 20_000
_KEY_PARAMS = (
    "C", "alpha", "max_iter", "n_estimators", "learning_rate", "num_leaves", "min_child_samples",
    "max_depth", "min_samples_leaf", "max_features", "max_samples", "early_stopping", "random_state",
)


@dataclass(frozen=True)
class Candidate:
    """One algorithm to try: its name, whether inputs are scaled, an estimator factory, and
    ``growth``, the exponent of how its fit time grows with rows (measured here on 2k-150k rows,
    rounded up: fixed per-tree costs make the tree models grow slower than linearly)."""

    algorithm: str
    scaled: bool
    make: Callable[[], Any]
    growth: float = 1.0

    def pipeline(self, plan: ColumnPlan, *, n_rows: int) -> Pipeline:
        """A fresh, unfitted preprocessing + estimator pipeline."""
        return Pipeline([
            ("prep", preprocessor(plan, n_rows=n_rows)),
            ("scale", StandardScaler() if self.scaled else "passthrough"),
            ("model", self.make()),
        ])


def candidates(task: str, *, n_rows: int, random_state: int) -> list[Candidate]:
    """The candidates for ``task`` ("classification" or "regression"), sized for ``n_rows``."""
    leaf = max(2, min(20, n_rows // 20))
    forest_share = 1.0 if n_rows <= FOREST_ROWS else FOREST_ROWS / n_rows
    boosting = dict(n_estimators=200, learning_rate=0.05, num_leaves=31, min_child_samples=leaf,
                    n_jobs=N_JOBS, verbose=-1, random_state=random_state, deterministic=True,
                    force_row_wise=True)
    hist = dict(max_iter=100, learning_rate=0.1, min_samples_leaf=leaf, random_state=random_state)
    forest = dict(n_estimators=100, max_depth=18, min_samples_leaf=2, max_samples=forest_share,
                  n_jobs=N_JOBS, random_state=random_state)
    if task == "classification":
        return [
            Candidate("LogisticRegression", True, lambda: LogisticRegression(C=1.0, max_iter=500)),
            Candidate("LGBMClassifier", False, lambda: LGBMClassifier(**boosting), 0.75),
            Candidate("RandomForestClassifier", False,
                      lambda: RandomForestClassifier(max_features="sqrt", **forest), 0.7),
            Candidate("HistGradientBoostingClassifier", False,
                      lambda: HistGradientBoostingClassifier(**hist), 0.8),
        ]
    return [
        Candidate("Ridge", True, lambda: Ridge(alpha=1.0)),
        Candidate("LGBMRegressor", False, lambda: LGBMRegressor(**boosting), 0.75),
        Candidate("RandomForestRegressor", False,
                  lambda: RandomForestRegressor(max_features=0.5, **forest), 0.7),
        Candidate("HistGradientBoostingRegressor", False,
                  lambda: HistGradientBoostingRegressor(**hist), 0.8),
    ]


def key_params(pipeline: Pipeline) -> dict[str, Any]:
    """The fitted estimator's main hyper-parameters, JSON-safe."""
    params = pipeline.named_steps["model"].get_params()
    chosen = {name: json_safe(params[name]) for name in _KEY_PARAMS if name in params}
    chosen["scaled_inputs"] = pipeline.named_steps["scale"] != "passthrough"
    return chosen


def json_safe(value: Any) -> Any:
    """Numpy scalars and arrays as plain Python values; anything else unchanged."""
    if isinstance(value, np.ndarray):
        return [json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value
