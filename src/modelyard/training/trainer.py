"""Train a tabular model from a DataFrame: a pure library the training job calls (no DB, no HTTP).

``train`` infers the signature, picks classification or regression, compares a few strong
candidates by cross-validation within a hard time budget, refits the winner as one sklearn
``Pipeline`` (preprocessing + estimator) and reports held-out metrics and feature importances.
``predict_with`` turns a fitted pipeline's output into JSON-safe rows.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from modelyard.training.candidates import candidates, key_params
from modelyard.training.evaluation import held_out_metrics, permutation_importances
from modelyard.training.features import ColumnPlan, plan_columns, signature
from modelyard.training.search import (
    GRID, Budget, Trial, choose_cv_rows, cross_validate, fit_candidate, metric_name, probe,
    probe_rows, subsample,
)
from modelyard.training.targets import MIN_ROWS, TrainingError, prepare_target

__all__ = ["TrainResult", "TrainingError", "train", "predict_with"]

EVAL_ROWS = 50_000
PLAN_ROWS = 50_000


@dataclass
class TrainResult:
    """Everything the job stores about one training run (all fields JSON-safe but ``pipeline``).

    ``train_rows`` / ``test_rows`` count the rows the final pipeline was fitted / evaluated on
    (all of the split unless the time budget or the 50k evaluation cap bound them).
    """

    pipeline: Pipeline
    task: str
    algorithm: str
    params: dict
    metrics: dict
    candidates: list[dict]
    features: list[dict]
    target: str
    classes: list | None
    feature_importances: dict[str, float]
    train_rows: int
    test_rows: int
    seconds: float
    dropped_rows: int = 0
    ignored_features: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def train(df: pd.DataFrame, *, target: str, task: str = "auto", test_split: float = 0.2,
          random_state: int = 42, time_budget: float = 300.0,
          progress: Callable[[float, str], None] = lambda p, s: None) -> TrainResult:
    """Train and evaluate the best of a few candidates on ``df`` to predict ``target``.

    Rows with an empty target are dropped (counted in ``dropped_rows``). ``task="auto"`` picks
    classification for boolean or non-numeric targets, and for integer targets with at most 20
    distinct values and no more than max(10, 5% of rows) of them; anything else numeric is
    regression. The data is split (stratified for classification) into training and held-out
    parts; candidates are compared by 3-fold CV (2 below 30 rows) on the training part, scored by
    f1_macro or r2. ``time_budget`` seconds is a hard ceiling on the whole call (give or take a
    second or two): large data is subsampled, slow candidates are skipped, and when no candidate
    finishes its CV in time the linear model is fitted on a subsample without a CV score rather
    than failing. Raises ``TrainingError`` with a user-facing reason when the data cannot be
    trained on.
    """
    budget = Budget(time_budget)
    report = _Progress(progress)
    report(0, "Preparing data")
    data = _prepare(df, target, task, test_split, time_budget, random_state)
    reserve = min(max(1.0, 0.1 * time_budget), 15.0)  # for evaluation and importances
    trials, best, notes = _choose(data, budget, reserve, report, random_state)

    n_train = len(data.train_idx)
    fit_idx = subsample(n_train, _refit_rows(best, n_train, budget, reserve),
                        strata=data.strata_of(data.train_idx), random_state=random_state)
    if len(fit_idx) < n_train:
        notes.append(f"Final model fitted on {len(fit_idx):,} of {n_train:,} training rows (time budget).")
    report(80, f"Fitting {best.candidate.algorithm} on the training data")
    rows = data.train_idx[fit_idx]
    pipeline = fit_candidate(best.candidate, data.plan, data.X.iloc[rows], data.y[rows])

    report(88, "Evaluating on held-out data")
    eval_idx = data.test_idx[subsample(len(data.test_idx), EVAL_ROWS, random_state=random_state,
                                       strata=data.strata_of(data.test_idx))]
    X_test, y_test = data.X.iloc[eval_idx], data.y[eval_idx]
    metrics = held_out_metrics(data.task, pipeline, X_test, y_test)
    metrics["cv_score"] = None if best.cv_score is None else round(best.cv_score, 4)
    metrics["cv_metric"] = metric_name(data.task)
    report(93, "Computing feature importances")
    if budget.remaining() > 0:
        importances = permutation_importances(pipeline, data.task, X_test, y_test, columns=data.plan.used,
                                              budget=budget, random_state=random_state)
    else:  # the budget is spent: a model without importances beats a late one
        importances = {}
        notes.append("Feature importances skipped: the time budget was used up.")
    report(100, "Done")
    return TrainResult(
        pipeline=pipeline, task=data.task, algorithm=best.candidate.algorithm,
        params=key_params(pipeline), metrics=metrics, candidates=[t.summary() for t in trials],
        features=data.features, target=target, classes=data.classes,
        feature_importances=importances, train_rows=len(fit_idx), test_rows=len(eval_idx),
        seconds=round(budget.elapsed(), 3), dropped_rows=data.dropped,
        ignored_features=dict(data.plan.ignored), notes=notes,
    )


@dataclass
class _Data:
    """The checked inputs: features, target, split positions and the column plan."""

    X: pd.DataFrame
    y: np.ndarray
    task: str
    classes: list | None
    strata: np.ndarray | None  # class codes, for stratified splits and samples
    features: list[dict]
    plan: ColumnPlan
    train_idx: np.ndarray
    test_idx: np.ndarray
    dropped: int

    def strata_of(self, positions: np.ndarray) -> np.ndarray | None:
        return None if self.strata is None else self.strata[positions]


def _prepare(df, target: str, task: str, test_split: float, time_budget: float, random_state: int) -> _Data:
    _check_arguments(df, target, test_split, time_budget)
    frame, y, task, classes, dropped = prepare_target(df, target, task)
    X = frame.drop(columns=[target])
    features = signature(X)
    strata = pd.factorize(y)[0] if task == "classification" else None
    sample = subsample(len(y), PLAN_ROWS, strata=strata, random_state=random_state)
    plan = plan_columns(X.iloc[sample], features)
    if not plan.used:
        reasons = _describe(plan) or "there are none besides the target"
        raise TrainingError(f"No usable feature columns: {reasons}.")
    train_idx, test_idx = _split(len(y), strata, len(classes or ()), test_split, random_state)
    return _Data(X, y, task, classes, strata, features, plan, train_idx, test_idx, dropped)


def _choose(data: _Data, budget: Budget, reserve: float, report: "_Progress",
            random_state: int) -> tuple[list[Trial], Trial, list[str]]:
    """Probe (large data), cross-validate within the budget, and pick the winner or fallback."""
    n_train = len(data.train_idx)
    strata = data.strata_of(data.train_idx)
    trials = [Trial(c) for c in candidates(data.task, n_rows=n_train, random_state=random_state)]
    cv_rows, notes = n_train, []
    size = probe_rows(n_train, data.plan.width)
    if size:
        report(5, "Estimating candidate costs")
        trials = probe([t.candidate for t in trials], data.plan, data.X.iloc[data.train_idx],
                       data.y[data.train_idx], size=size, strata=strata, budget=budget,
                       reserve=reserve, random_state=random_state)
        cv_rows = choose_cv_rows(n_train, trials, seconds=budget.remaining() - reserve)
    cv_idx = subsample(n_train, cv_rows, strata=strata, random_state=random_state)

    def on_step(index: int, trial: Trial, fraction: float) -> None:
        report(10 + 70 * (index + fraction) / len(trials),
               f"Cross-validating {trial.candidate.algorithm} ({index + 1}/{len(trials)})")

    rows = data.train_idx[cv_idx]
    best = cross_validate(trials, data.plan, data.X.iloc[rows], data.y[rows], task=data.task,
                          strata=None if strata is None else strata[cv_idx], budget=budget,
                          reserve=reserve, random_state=random_state, on_step=on_step)
    if best is None:
        best = _fallback(trials, notes)
    elif len(cv_idx) < n_train:
        notes.append(f"Cross-validated on {len(cv_idx):,} of {n_train:,} training rows.")
    return trials, best, notes


class _Progress:
    """Calls ``progress`` with a percentage that never goes down."""

    def __init__(self, callback: Callable[[float, str], None]):
        self._callback, self._last = callback, 0.0

    def __call__(self, pct: float, step: str) -> None:
        self._last = max(self._last, min(100.0, round(float(pct), 1)))
        self._callback(self._last, step)


def _check_arguments(df: Any, target: str, test_split: float, time_budget: float) -> None:
    if not isinstance(df, pd.DataFrame):
        raise TrainingError("The training data must be a table (pandas DataFrame).")
    if df.columns.duplicated().any():
        raise TrainingError(f"Duplicate column names: {sorted(set(df.columns[df.columns.duplicated()]))}.")
    if not all(isinstance(c, str) for c in df.columns):
        raise TrainingError("Column names must be text.")
    if target not in df.columns:
        available = ", ".join(map(str, df.columns)) or "none"
        raise TrainingError(f"Target column '{target}' not found; available columns: {available}.")
    if not (isinstance(test_split, (int, float)) and 0 < test_split < 0.9):
        raise TrainingError(f"test_split must be between 0 and 0.9 (exclusive), got {test_split!r}.")
    if not (isinstance(time_budget, (int, float)) and time_budget > 0):
        raise TrainingError(f"time_budget must be a positive number of seconds, got {time_budget!r}.")


def _split(n: int, strata: np.ndarray | None, n_classes: int, test_split: float, random_state: int):
    n_test = max(math.ceil(test_split * n), n_classes, 1)
    if n - n_test < max(n_classes, MIN_ROWS // 2):
        raise TrainingError(f"test_split {test_split} leaves only {n - n_test} training rows; "
                            "use a smaller split or more data.")
    train_idx, test_idx = train_test_split(np.arange(n), test_size=n_test, stratify=strata,
                                           random_state=random_state)
    return np.sort(train_idx), np.sort(test_idx)


def _refit_rows(best: Trial, n_train: int, budget: Budget, reserve: float) -> int:
    """All training rows if they fit in the time left, else the largest grid size that does."""
    options = [n_train] + [g for g in GRID if g < n_train]
    if not best.timed_rows:
        return options[-1]
    for rows in options:
        if best.estimate(rows) <= budget.remaining() - reserve:
            return rows
    return options[-1]


def _fallback(trials: list[Trial], notes: list[str]) -> Trial:
    """The cheapest candidate that did not fail (the linear model, unless it broke)."""
    working = [t for t in trials if not t.status.startswith("failed")]
    if not working:
        reasons = "; ".join(f"{t.candidate.algorithm}: {t.status[len('failed: '):]}" for t in trials)
        raise TrainingError(f"Every candidate failed to train: {reasons}")
    notes.append(f"No candidate finished cross-validation within the time budget; "
                 f"fell back to {working[0].candidate.algorithm} without a CV score.")
    return working[0]


def _describe(plan: ColumnPlan) -> str:
    return ", ".join(f"'{name}' is {why}" for name, why in plan.ignored.items())


def predict_with(pipeline: Pipeline, task: str, classes: list | None, df: pd.DataFrame) -> list[dict]:
    """Predict every row of ``df`` as plain Python values (``serving.outputs`` holds the rules).

    Classification rows are ``{"prediction", "confidence", "probabilities": {str(label): p}}``,
    regression rows ``{"prediction": float}``; an uploaded classifier without probabilities
    (LinearSVC, RidgeClassifier, SVC without ``probability=True``) answers ``{"prediction"}`` only.
    Columns the model was trained on but absent from ``df`` count as empty values; extra columns are
    ignored.
    """
    from modelyard.serving.outputs import run_estimator

    X = df.reindex(columns=list(pipeline.feature_names_in_))
    if len(X) == 0:
        return []
    return run_estimator(pipeline, task, classes, X).rows()
