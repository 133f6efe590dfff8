"""Choosing a candidate by k-fold cross-validation inside a hard time budget.

How the budget is kept. Fit times are projected from the last measurement of the same candidate,
scaled by rows to the power of the candidate's ``growth`` and padded by 30%.

1. Unless the data is small (at most 20k training rows and 100k rows x encoded columns), each
   candidate is first fitted once on a small sample (a probe: 2,000 rows, fewer for wide data).
   The probes pick the largest CV sample from a fixed grid (all training rows up to 200k, then
   100k, 50k, 20k, 10k, 5k, 2k) on which the linear model and LightGBM fit in half the time
   left. On small data a first fold costs about what a probe would, so it serves as one; the
   worst overrun is then one fold of one candidate on small data.
2. A candidate starts only if its projected cost plus the refit of the best so far fits in the
   time left; after each fold the measured fold time projects the remaining folds and the refit,
   and the candidate is abandoned (``skipped: time budget``) as soon as they would not fit.
3. The trainer refits the winner on as many training rows as the remaining time allows (all of
   them unless the budget binds), projected from the winner's measured fold times.
4. A reserve (10% of the budget, 1-15 s) is kept throughout for scoring the held-out split (at
   most 50k rows) and for permutation importances, which shrink their sample to the time left.

Sizes come from a fixed grid and shrink only when the budget binds, so the same data and
``random_state`` give the same folds, scores and winner whenever the budget is not tight.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, r2_score
from sklearn.model_selection import KFold, StratifiedKFold

from modelyard.training.candidates import Candidate
from modelyard.training.features import ColumnPlan

CV_ROW_CAP = 200_000
PROBE_ABOVE = 20_000
PROBE_ROWS = 2_000
PROBE_CELLS = 100_000
GRID = (200_000, 100_000, 50_000, 20_000, 10_000, 5_000, 2_000)
SAFETY = 1.3
SKIPPED = "skipped: time budget"


class Budget:
    """A wall-clock deadline ``seconds`` from now."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.start = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining(self) -> float:
        return self.seconds - self.elapsed()


@dataclass
class Trial:
    """What happened to one candidate: status, mean CV score, seconds spent, last timed fit."""

    candidate: Candidate
    status: str = SKIPPED
    cv_score: float | None = None
    fit_seconds: float = 0.0
    timed_rows: int = 0
    timed_seconds: float = 0.0
    runnable: bool = True

    def estimate(self, rows: int) -> float:
        """Projected seconds to fit (and score) on ``rows`` rows; 0 when nothing was timed."""
        if not self.timed_rows:
            return 0.0
        return SAFETY * self.timed_seconds * (rows / self.timed_rows) ** self.candidate.growth

    def summary(self) -> dict:
        score = None if self.cv_score is None else round(float(self.cv_score), 4)
        return {"algorithm": self.candidate.algorithm, "cv_score": score,
                "fit_seconds": round(self.fit_seconds, 3), "status": self.status}


def metric_name(task: str) -> str:
    return "f1_macro" if task == "classification" else "r2"


def score(task: str, y_true, y_pred) -> float:
    if task == "classification":
        return float(f1_score(y_true, y_pred, average="macro", zero_division=0))
    return float(r2_score(y_true, y_pred))


def make_folds(n: int, strata: np.ndarray | None, random_state: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """3 shuffled folds (2 below 30 rows), stratified by ``strata`` (class codes) when every
    class has at least 2 rows."""
    k = 3 if n >= 30 else 2
    if strata is not None:
        smallest = int(np.bincount(strata).min())
        if smallest >= 2:
            splitter = StratifiedKFold(min(k, smallest), shuffle=True, random_state=random_state)
            return list(splitter.split(np.zeros(n), strata))
    return list(KFold(k, shuffle=True, random_state=random_state).split(np.zeros(n)))


def subsample(n: int, size: int, *, strata: np.ndarray | None, random_state: int) -> np.ndarray:
    """Sorted positions of about ``size`` of ``n`` rows, drawn at random; with ``strata`` (class
    codes 0..k-1) every class keeps at least 2 rows (or all it has)."""
    if size >= n:
        return np.arange(n)
    chosen = np.random.default_rng(random_state).choice(n, size=size, replace=False)
    if strata is not None:
        have = np.bincount(strata[chosen], minlength=strata.max() + 1)
        total = np.bincount(strata, minlength=strata.max() + 1)
        short = np.flatnonzero(have < np.minimum(total, 2))
        extra = [np.flatnonzero(strata == code)[:2] for code in short]
        chosen = np.concatenate([chosen, *extra])
    return np.unique(chosen)


def probe_rows(n_rows: int, width: int) -> int | None:
    """How many rows to probe on, or None when the data is small enough not to need probes."""
    rows = max(200, min(PROBE_ROWS, PROBE_CELLS // max(width, 1)))
    large = n_rows > PROBE_ABOVE or n_rows * width > PROBE_CELLS
    return rows if large and n_rows > 1.5 * rows else None


def probe(cands: list[Candidate], plan: ColumnPlan, X: pd.DataFrame, y: np.ndarray, *, size: int,
          strata: np.ndarray | None, budget: Budget, reserve: float, random_state: int) -> list[Trial]:
    """One timed fit per candidate on ``size`` rows, to project its cost on more rows.
    Candidates not probed before the time ran out are not run at all."""
    rows = subsample(len(y), size, strata=strata, random_state=random_state)
    trials = [Trial(c) for c in cands]
    for trial in trials:
        if budget.remaining() - reserve <= 0:
            trial.runnable = False
            continue
        started = time.perf_counter()
        try:
            fit_candidate(trial.candidate, plan, X.iloc[rows], y[rows])
        except Exception as exc:  # a candidate that cannot fit is reported, not fatal
            trial.status = f"failed: {exc}"[:300]
            continue
        trial.fit_seconds = trial.timed_seconds = time.perf_counter() - started
        trial.timed_rows = len(rows)
    return trials


def choose_cv_rows(n_rows: int, trials: list[Trial], *, seconds: float, folds: int = 3) -> int:
    """The largest grid size on which the two cheapest candidates cross-validate in ``seconds/2``."""
    options = [min(n_rows, CV_ROW_CAP)] + [g for g in GRID if g < min(n_rows, CV_ROW_CAP)]
    core = [t for t in trials[:2] if t.timed_rows]
    for rows in options:
        cost = sum(t.estimate(rows * (folds - 1) // folds) * folds + t.estimate(rows) for t in core)
        if cost <= seconds / 2:
            return rows
    return options[-1]


def cross_validate(trials: list[Trial], plan: ColumnPlan, X: pd.DataFrame, y: np.ndarray, *,
                   task: str, strata: np.ndarray | None, budget: Budget, reserve: float,
                   random_state: int, on_step: Callable[[int, Trial, float], None]) -> Trial | None:
    """Score every trial that fits the budget; return the best (first one wins ties) or None.

    ``on_step(index, trial, fraction)`` is called as each trial starts and after each fold.
    """
    folds = make_folds(len(y), strata, random_state)
    best: Trial | None = None
    for index, trial in enumerate(trials):
        if trial.status.startswith("failed") or not trial.runnable:
            continue
        on_step(index, trial, 0.0)
        refit = max(trial.estimate(len(y)), best.estimate(len(y)) if best else 0.0)
        fold_rows = len(folds[0][0])
        if budget.remaining() - reserve < trial.estimate(fold_rows) * len(folds) + refit:
            trial.status = SKIPPED
            continue
        _run_folds(trial, folds, plan, X, y, task=task, budget=budget, reserve=reserve, best=best,
                   on_fold=lambda done: on_step(index, trial, done / len(folds)))
        if trial.status == "ok" and (best is None or trial.cv_score > best.cv_score):
            best = trial
    return best


def _run_folds(trial: Trial, folds, plan, X, y, *, task, budget, reserve, best, on_fold) -> None:
    scores, spent = [], 0.0
    for done, (fit_rows, check_rows) in enumerate(folds, start=1):
        started = time.perf_counter()
        try:
            pipeline = fit_candidate(trial.candidate, plan, X.iloc[fit_rows], y[fit_rows])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                predicted = pipeline.predict(X.iloc[check_rows])
            scores.append(score(task, y[check_rows], predicted))
        except Exception as exc:  # reported per candidate; other candidates still run
            trial.status, trial.cv_score = f"failed: {exc}"[:300], None
            return
        fold_seconds = time.perf_counter() - started
        spent += fold_seconds
        trial.fit_seconds, trial.timed_rows, trial.timed_seconds = spent, len(fit_rows), fold_seconds
        on_fold(done)
        refit = max(trial.estimate(len(y)), best.estimate(len(y)) if best else 0.0)
        if done < len(folds) and budget.remaining() - reserve < fold_seconds * (len(folds) - done) + refit:
            trial.status = SKIPPED
            return
    trial.status, trial.cv_score = "ok", float(np.nanmean(scores)) if scores else None
    if trial.cv_score is None or np.isnan(trial.cv_score):
        trial.status, trial.cv_score = "failed: could not be scored", None


def fit_candidate(candidate: Candidate, plan: ColumnPlan, X: pd.DataFrame, y: np.ndarray):
    """A fresh pipeline for ``candidate`` fitted on ``X, y`` (library warnings silenced)."""
    pipeline = candidate.pipeline(plan, n_rows=len(X))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pipeline.fit(X, y)
    return pipeline

