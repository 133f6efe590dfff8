"""Input drift per feature: the population stability index (PSI) of recent inputs against the training data.

At training a version keeps a *reference* of each feature (`training_data["reference"]`): for a number,
the deciles of the training values as bin edges and the share of rows in each bin; for anything else,
the 20 most frequent values and their shares, the rest as "other"; missing values as a bin of their own.
The prediction log's writer (ops/predlog.py), off the request, counts the inputs of the calls it writes
into the same bins (the JSON rows of one flush together, at most SAMPLE_ROWS per version and flush; a
CSV chunk's first SAMPLE_ROWS rows) and writes the counts per version and feature once a minute (table
`prediction_drift`, kept as long as the log). Reading sums the counts over a window and compares their shares `a` with the
reference's `e`: PSI = sum((a - e) * ln(a / e)), shares floored at 0.0001. By the usual reading, below
0.1 the inputs look like the training data, 0.1-0.25 they moved, above 0.25 they moved a lot. Versions
without a reference (uploaded or imported models) are "not measured".
"""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime
from typing import Any, Iterable

import numpy as np
import pandas as pd
from sqlalchemy import JSON, DateTime, Integer, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelyard.db.base import Base

REFERENCE_ROWS = 50_000
SAMPLE_ROWS = 1_000
TOP_VALUES = 20
FLOOR = 1e-4
MODERATE, SIGNIFICANT = 0.1, 0.25


class DriftCounts(Base):
    __tablename__ = "prediction_drift"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    version_id: Mapped[str] = mapped_column(String(64), index=True)
    feature: Mapped[str] = mapped_column(String(200))
    rows: Mapped[int] = mapped_column(Integer)
    counts: Mapped[list[int]] = mapped_column(JSON)  # one per bin of the version's reference, in its order


def reference(frame: pd.DataFrame, features: Iterable[str]) -> dict[str, Any]:
    """The training data's bins and shares per feature (at most REFERENCE_ROWS rows read)."""
    if len(frame) > REFERENCE_ROWS:
        frame = frame.sample(REFERENCE_ROWS, random_state=0)
    out: dict[str, Any] = {}
    for name in features:
        if name not in frame:
            continue
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            known = column.dropna().to_numpy(dtype=float)
            edges = sorted(set(np.quantile(known, np.linspace(0.1, 0.9, 9)).round(10).tolist())) if len(known) else []
            spec = {"kind": "number", "edges": edges}
        else:
            top = column.dropna().astype(str).value_counts().head(TOP_VALUES)
            spec = {"kind": "category", "values": top.index.tolist()}
        counts = _bin(spec, column)
        spec["expected"] = [round(c / max(len(column), 1), 6) for c in counts]
        out[name] = spec
    return out


def _bin(spec: dict[str, Any], column: pd.Series) -> list[int]:
    """Counts of one feature's values in the bins of its reference (the last bin: missing)."""
    if spec["kind"] == "number":
        edges = spec["edges"]
        numbers = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
        missing = np.isnan(numbers)
        placed = np.bincount(np.searchsorted(edges, numbers[~missing], side="right"), minlength=len(edges) + 1)
        return [*placed.tolist(), int(missing.sum())]
    index = {value: i for i, value in enumerate(spec["values"])}
    missing = column.isna().to_numpy()
    codes = column[~missing].astype(str).map(index).to_numpy(dtype=float)
    known = codes[~np.isnan(codes)].astype(int)
    return [*np.bincount(known, minlength=len(index)).tolist(), int(np.isnan(codes).sum()), int(missing.sum())]


def count(ref: dict[str, Any], inputs: Any) -> dict[str, list[int]]:
    """Bin counts per feature of inputs (JSON rows or a DataFrame; at most SAMPLE_ROWS rows)."""
    if isinstance(inputs, pd.DataFrame):
        frame = inputs.head(SAMPLE_ROWS)
    else:
        frame = pd.DataFrame.from_records([row for row in inputs[:SAMPLE_ROWS] if isinstance(row, dict)])
    absent = pd.Series([None] * len(frame), dtype=object)
    return {name: _bin(spec, frame[name] if name in frame else absent) for name, spec in ref.items()}


def psi(expected: list[float], counts: list[int]) -> float | None:
    total = sum(counts)
    if not total or len(expected) != len(counts):
        return None
    value = 0.0
    for e, c in zip(expected, counts):
        a, e = max(c / total, FLOOR), max(e, FLOOR)
        value += (a - e) * math.log(a / e)
    return round(value, 4)


def level(value: float | None) -> str:
    return "not measured" if value is None else "significant" if value > SIGNIFICANT \
        else "moderate" if value > MODERATE else "stable"


class Tally:
    """Counts gathered by the log's writer, written once a minute (one row per version and feature)."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str], list[int]] = {}
        self._rows: dict[tuple[str, str], int] = defaultdict(int)

    def add(self, version_id: str, ref: dict[str, Any], inputs: Any) -> None:
        for name, counts in count(ref, inputs).items():
            key = (version_id, name)
            held = self._counts.get(key)
            self._counts[key] = counts if held is None else [x + y for x, y in zip(held, counts)]
            self._rows[key] += sum(counts)

    def __bool__(self) -> bool:
        return bool(self._counts)

    def write(self, session: Session, at: datetime) -> None:
        for (version_id, feature), counts in self._counts.items():
            session.add(DriftCounts(at=at, version_id=version_id, feature=feature[:200],
                                    rows=self._rows[(version_id, feature)], counts=counts))
        self._counts, self._rows = {}, defaultdict(int)


def drift(session: Session, version_id: str, ref: dict[str, Any] | None, *, since: datetime) -> dict[str, Any]:
    """Each feature's PSI over the inputs since `since`, the largest, and how many rows were seen."""
    if not ref:
        return {"status": "not measured", "reason": "this version has no training reference (uploaded or "
                "imported, or trained before drift was measured)", "features": {}, "max_psi": None, "rows": 0}
    summed: dict[str, list[int]] = {}
    rows = 0
    for feature, counts, seen in session.execute(
            select(DriftCounts.feature, DriftCounts.counts, DriftCounts.rows)
            .where(DriftCounts.version_id == version_id, DriftCounts.at >= since)):
        held = summed.get(feature)
        summed[feature] = counts if held is None else [x + y for x, y in zip(held, counts)]
        rows = max(rows, sum(summed[feature]))
    features = {name: psi(spec["expected"], summed[name]) for name, spec in ref.items() if name in summed}
    known = [v for v in features.values() if v is not None]
    worst = max(known) if known else None
    return {"status": level(worst), "features": features, "max_psi": worst,
            "worst_feature": max(features, key=lambda n: features[n] or 0) if known else None, "rows": rows}
