"""Checking the target column, choosing the task and turning the target into labels or numbers."""
from __future__ import annotations

import numpy as np
import pandas as pd

from modelyard.training.candidates import json_safe

TASKS = ("auto", "classification", "regression")
MIN_ROWS = 10
AUTO_MAX_CLASSES = 20
AUTO_CLASS_SHARE = 0.05


class TrainingError(Exception):
    """A user-facing reason the data cannot be trained on (the job reports it as TRAINING_FAILED)."""


def prepare_target(df: pd.DataFrame, target: str, task: str):
    """Drop rows with an empty target and check what is left.

    Returns ``(frame, y, task, classes, dropped_rows)``: ``y`` is a float array for regression,
    else an array of labels (bool, int, float or str) whose sorted distinct values, as plain
    Python values, are ``classes``.
    """
    if task not in TASKS:
        raise TrainingError(f"task must be one of {', '.join(TASKS)}; got {task!r}.")
    present = _present(df[target])
    if not present.any():
        raise TrainingError(f"Target column '{target}' is entirely empty.")
    dropped = int((~present).sum())
    frame = df.loc[present] if dropped else df
    if len(frame) < MIN_ROWS:
        raise TrainingError(f"Only {len(frame)} rows have a '{target}' value ({dropped} dropped for an "
                            f"empty target); at least {MIN_ROWS} are needed.")
    column = frame[target]
    numbers = _numbers(column)
    if task == "auto":
        task = _auto_task(numbers)
    if task == "regression":
        if numbers is None:
            examples = ", ".join(repr(v) for v in column.drop_duplicates().head(3).tolist())
            raise TrainingError(f"Target '{target}' is not numeric (e.g. {examples}); "
                                "regression needs numbers, use task='classification'.")
        if numbers.nunique() < 2:
            raise TrainingError(f"Target '{target}' has the same value in every row; there is nothing to predict.")
        return frame, numbers.to_numpy(dtype=np.float64), task, None, dropped
    labels = _labels(column)
    tally = pd.Series(labels).value_counts()
    values = sorted(tally.index)
    counts = [int(tally[v]) for v in values]
    if len(values) < 2:
        raise TrainingError(f"Target '{target}' has only one class ({json_safe(values[0])!r}); "
                            "classification needs at least two.")
    rare = [f"{json_safe(v)!r} ({c} row)" for v, c in zip(values, counts) if c < 2]
    if rare:
        raise TrainingError(f"Every class of '{target}' needs at least 2 rows; too few for: {', '.join(rare)}.")
    return frame, labels, task, [json_safe(v) for v in values], dropped


def _present(column: pd.Series) -> pd.Series:
    """Rows whose target is not missing, blank text or an infinite number."""
    present = column.notna()
    if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        present &= np.isfinite(column.to_numpy(dtype=np.float64, na_value=np.nan))
    elif column.dtype == object or pd.api.types.is_string_dtype(column):
        present &= column.astype(str).str.strip() != ""
    return present


def _numbers(column: pd.Series) -> pd.Series | None:
    """The target as floats when every value is a number (or numeric text); else None."""
    if pd.api.types.is_bool_dtype(column) or _all_bool(column.head(1000)):
        return None
    if pd.api.types.is_numeric_dtype(column):
        return column.astype(np.float64)
    head = pd.to_numeric(column.head(1000).astype(str).str.strip(), errors="coerce")
    if head.isna().any():
        return None
    numbers = pd.to_numeric(column.astype(str).str.strip(), errors="coerce")
    return None if numbers.isna().any() else numbers.astype(np.float64)


def _auto_task(numbers: pd.Series | None) -> str:
    """Classification for non-numeric targets and for integers with few distinct values."""
    if numbers is None:
        return "classification"
    values = numbers.to_numpy()
    distinct = numbers.nunique()
    few = distinct <= AUTO_MAX_CLASSES and distinct <= max(10, AUTO_CLASS_SHARE * len(values))
    return "classification" if few and bool(np.all(values == np.floor(values))) else "regression"


def _labels(column: pd.Series) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column) or _all_bool(column):
        return column.astype(bool).to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(dtype=np.float64)
        return values.astype(np.int64) if np.all(values == np.floor(values)) else values
    return column.astype(str).str.strip().to_numpy(dtype=object)


def _all_bool(column: pd.Series) -> bool:
    return column.dtype == object and len(column) > 0 and bool(column.map(type).isin([bool, np.bool_]).all())
