"""Training a declared model: its frame, its estimator inside the trainer's pipeline shape, its metrics.

The pipeline is exactly the shape modelyard's own trainer makes (``prep`` = the trainer's column
transformer, ``scale``, ``model``), so the serving path compiles it like any trained model: LightGBM
is served through its booster, linear models through ONNX (serving/compile.py). Seeds are fixed
(the declaration's seed for the data, the split and the estimator; LightGBM ``deterministic`` on one
thread), so the same declaration always trains the same model.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from lightgbm import LGBMClassifier, LGBMRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from modelyard.gallery.declarations import INTERVAL, TEST_SHARE, Declaration
from modelyard.gallery.schema import model_value
from modelyard.ops import drift
from modelyard.training.candidates import key_params
from modelyard.training.evaluation import held_out_metrics
from modelyard.training.features import plan_columns, preprocessor
from modelyard.training.targets import TrainingError

IMPORTANCE_ROWS = 300
# Quantile models are kept smaller and smoother than the point model: with the point model's settings the
# "95%" interval covered 0.90 of held-out rows; with these, 0.92-0.95 (measured on the four recipes).
QUANTILE_PARAMS = {"num_leaves": 5, "min_child_samples": 60, "n_estimators": 150}


@dataclass
class Trained:
    pipeline: Pipeline
    quantiles: dict[str, Pipeline]  # "lower" / "upper" for interval models
    algorithm: str
    params: dict[str, Any]
    metrics: dict[str, Any]
    classes: list[Any] | None
    importances: dict[str, float]
    train_rows: int
    test_rows: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    reference: dict[str, Any] = field(default_factory=dict)  # the inputs' distribution, for drift (ops/drift.py)


def model_frame(decl: Declaration, frame: pd.DataFrame) -> pd.DataFrame:
    """The model's input columns (request fields, then derived ones) from a frame of request fields."""
    out = pd.DataFrame(index=frame.index)
    for f in decl.fields:
        column = frame[f.name]
        out[f.name] = (
            column.map(lambda v: model_value(f, v)) if f.kind == "object" and column.dtype == object else column
        )
    for d in decl.derived:
        out[d.name] = np.asarray(d.compute(out), dtype=float)
    return out


def model_row(decl: Declaration, values: dict[str, Any]) -> dict[str, Any]:
    """One checked request as the model's input row."""
    row = {f.name: model_value(f, values[f.name]) for f in decl.fields}
    for d in decl.derived:
        row[d.name] = float(d.compute(row))
    return row


def check_sample(name: str, rows: int = 1000) -> pd.DataFrame:
    """Rows like a built-in's training data (fresh draws of its recipe) for the serving path's compile check."""
    from modelyard.gallery.catalog import lookup

    decl = lookup(name)
    return model_frame(decl, decl.simulate(np.random.default_rng(decl.seed + 1), rows))


def target_of(decl: Declaration, frame: pd.DataFrame) -> np.ndarray:
    y = frame[decl.target].to_numpy()
    if decl.task == "regression":
        y = y.astype(float)
        if decl.relative_to:
            y = y / np.maximum(frame[decl.relative_to].to_numpy(dtype=float), 1e-9)
    return y


def estimator(decl: Declaration, seed: int, *, quantile: float | None = None) -> Any:
    params = dict(decl.estimator.params)
    if decl.estimator.kind == "linear":
        if decl.task == "classification":
            return LogisticRegression(C=params.get("C", 1.0), max_iter=2000)
        return Ridge(alpha=params.get("alpha", 1.0))
    base = dict(
        n_estimators=150,
        learning_rate=0.05,
        num_leaves=15,
        min_child_samples=20,
        n_jobs=1,
        verbose=-1,
        random_state=seed,
        deterministic=True,
        force_row_wise=True,
    )
    base.update(params)
    if decl.task == "classification":
        return LGBMClassifier(**base)
    if quantile is not None:
        return LGBMRegressor(objective="quantile", alpha=quantile, **{**base, **QUANTILE_PARAMS})
    return LGBMRegressor(**base)


def fit(decl: Declaration, frame: pd.DataFrame, *, seed: int | None = None) -> Trained:
    """Train ``decl`` on ``frame`` (request fields plus the target column) and evaluate on a held-out part."""
    started = time.perf_counter()
    seed = decl.seed if seed is None else seed
    missing = [c for c in [*(f.name for f in decl.fields), decl.target] if c not in frame.columns]
    if missing:
        raise TrainingError(f"missing column(s) for {decl.name}: {', '.join(missing)}")
    frame = frame.dropna(subset=[decl.target]).reset_index(drop=True)
    X, y = model_frame(decl, frame), target_of(decl, frame)
    classification = decl.task == "classification"
    if classification and len(np.unique(y)) < 2:
        raise TrainingError("the target holds one class only")
    strata = y if classification else None
    train_idx, test_idx = train_test_split(np.arange(len(y)), test_size=TEST_SHARE, random_state=seed, stratify=strata)
    signature = decl.signature
    plan = plan_columns(X.iloc[train_idx], signature)

    def pipeline(quantile: float | None = None) -> Pipeline:
        made = Pipeline(
            [
                ("prep", preprocessor(plan, n_rows=len(train_idx))),
                ("scale", StandardScaler() if decl.estimator.scaled else "passthrough"),
                ("model", estimator(decl, seed, quantile=quantile)),
            ]
        )
        return made.fit(X.iloc[train_idx], y[train_idx])

    main = pipeline()
    quantiles = {name: pipeline(q) for name, q in zip(("lower", "upper"), INTERVAL)} if decl.interval else {}
    X_test, y_test = X.iloc[test_idx], y[test_idx]
    if classification:
        metrics = held_out_metrics("classification", main, X_test, y_test)
    else:
        metrics = _regression_metrics(decl, main, quantiles, X_test, y_test, frame.iloc[test_idx])
    classes = [v.item() if isinstance(v, np.generic) else v for v in main.classes_] if classification else None
    from modelyard.gallery.explain import Explainer

    explainer = Explainer(main, signature, decl)
    sample = X_test.head(IMPORTANCE_ROWS)
    rows = sample.astype(object).where(sample.notna(), None).to_dict(orient="records")
    totals: dict[str, float] = {}
    for contributions in explainer.contributions(rows):
        for name, value in contributions.items():
            totals[name] = totals.get(name, 0.0) + abs(value)
    norm = sum(totals.values()) or 1.0
    importances = {k: round(v / norm, 4) for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}
    return Trained(
        main,
        quantiles,
        type(main.named_steps["model"]).__name__,
        key_params(main),
        metrics,
        classes,
        importances,
        len(train_idx),
        len(test_idx),
        round(time.perf_counter() - started, 3),
        reference=drift.reference(X, decl.columns),
    )


def _regression_metrics(
    decl: Declaration, main: Pipeline, quantiles: dict[str, Pipeline], X: pd.DataFrame, y: np.ndarray, raw: pd.DataFrame
) -> dict[str, Any]:
    """rmse, mae, r2 (and mape) in the answer's units; the 95% interval's held-out coverage."""
    base = raw[decl.relative_to].to_numpy(dtype=float) if decl.relative_to else np.ones(len(y))
    truth, predicted = y * base, main.predict(X) * base
    metrics = {
        "rmse": _r(np.sqrt(mean_squared_error(truth, predicted))),
        "mae": _r(mean_absolute_error(truth, predicted)),
        "r2": _r(r2_score(truth, predicted)),
    }
    nonzero = truth != 0
    if nonzero.any():
        metrics["mape"] = _r(np.mean(np.abs((truth - predicted)[nonzero] / truth[nonzero])))
    if quantiles:
        lower = np.minimum(quantiles["lower"].predict(X) * base, predicted)
        upper = np.maximum(quantiles["upper"].predict(X) * base, predicted)
        metrics["interval_coverage"] = _r(np.mean((truth >= lower) & (truth <= upper)))
        metrics["interval"] = "95% (quantile models at 2.5% and 97.5%)"
    return metrics


def _r(value: float) -> float:
    return round(float(value), 4)
