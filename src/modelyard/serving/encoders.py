"""Encoders: input rows (JSON) or chunks (CSV text) straight to the numeric matrix a model core reads.

``TrainedEncoder`` replaces the preprocessing half of a pipeline made by modelyard's trainer
(``training/features.py``): numbers are parsed and median-filled, categories become one-hot positions
through lookup tables read off the fitted encoder, and the scaler is applied as one affine step, all in
numpy. Date columns (rare online) still go through their fitted transformer. ``ArrayEncoder`` lays the
columns of any other model out in its input order. Whether an encoder is faithful is not assumed:
``compile.py`` checks it against the native pipeline before it is used.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelyard.serving.inputs import NUMERIC, BadValues, coerce, column_values, number, numbers, text

UNSEEN = "\x00modelyard-unseen\x00"
_BOOL_WORDS = ("true", "false")


class NotCompilable(Exception):
    """This model's preprocessing has a shape the encoders do not reproduce; serve it natively."""


class _Numeric:
    def __init__(self, columns: list[str], kinds: list[str], fill: np.ndarray, offset: int):
        self.columns, self.kinds, self.offset, self.width = columns, kinds, offset, len(columns)
        self.fill = np.asarray(fill, dtype=np.float64)

    def rows(self, rows: list[dict], out: np.ndarray, bad: BadValues) -> None:
        for j, (name, kind) in enumerate(zip(self.columns, self.kinds)):
            out[:, self.offset + j] = column_values(rows, name, kind, bad)
        self._fill(out)

    def frame(self, frame: pd.DataFrame, out: np.ndarray) -> None:
        for j, name in enumerate(self.columns):
            out[:, self.offset + j] = numbers(frame[name]).to_numpy(np.float64, na_value=np.nan)
        self._fill(out)

    def _fill(self, out: np.ndarray) -> None:
        block = out[:, self.offset:self.offset + self.width]
        block[~np.isfinite(block)] = np.nan
        np.copyto(block, self.fill, where=np.isnan(block))


class _Categorical:
    """One lookup table per column: category text -> output position (-1: all zeros)."""

    def __init__(self, columns: list[str], fills: list[str], tables: list[dict[str, int]], unknown: list[int],
                 offset: int, width: int):
        self.columns, self.fills, self.tables, self.unknown = columns, fills, tables, unknown
        self.offset, self.width = offset, width

    def key(self, j: int, value: Any) -> str:
        if value is None:
            return self.fills[j]
        value = str(value).strip()
        lowered = value.lower()
        if lowered in _BOOL_WORDS:
            return lowered
        return value if value else self.fills[j]

    def rows(self, rows: list[dict], out: np.ndarray, bad: BadValues) -> None:
        out[:, self.offset:self.offset + self.width] = 0.0
        for j, name in enumerate(self.columns):
            table, unknown = self.tables[j], self.unknown[j]
            positions = np.fromiter((table.get(self.key(j, text(row[name])), unknown) for row in rows),
                                    dtype=np.int64, count=len(rows))
            self._set(out, positions)

    def frame(self, frame: pd.DataFrame, out: np.ndarray) -> None:
        """Each distinct text is keyed once (pd.factorize), then every row is a table lookup by its code."""
        out[:, self.offset:self.offset + self.width] = 0.0
        for j, name in enumerate(self.columns):
            codes, uniques = pd.factorize(frame[name], use_na_sentinel=True)
            table, unknown = self.tables[j], self.unknown[j]
            lookup = np.fromiter((table.get(self.key(j, value), unknown) for value in uniques),
                                 dtype=np.int64, count=len(uniques))
            lookup = np.append(lookup, table.get(self.key(j, None), unknown))  # code -1: a missing cell
            self._set(out, lookup[codes])

    def _set(self, out: np.ndarray, positions: np.ndarray) -> None:
        hit = positions >= 0
        out[np.flatnonzero(hit), self.offset + positions[hit]] = 1.0


class _Native:
    """A branch kept as its fitted transformer (date columns)."""

    def __init__(self, columns: list[str], transformer: Any, offset: int, width: int):
        self.columns, self.transformer, self.offset, self.width = columns, transformer, offset, width

    def rows(self, rows: list[dict], out: np.ndarray, bad: BadValues) -> None:
        frame = pd.DataFrame({name: pd.Series([text(row[name]) for row in rows], dtype=object)
                              for name in self.columns})
        out[:, self.offset:self.offset + self.width] = self.transformer.transform(frame)

    def frame(self, frame: pd.DataFrame, out: np.ndarray) -> None:
        part = frame[self.columns].astype(object).where(frame[self.columns].notna(), None)
        out[:, self.offset:self.offset + self.width] = self.transformer.transform(part)


class TrainedEncoder:
    name = "trained-pipeline"

    def __init__(self, names: list[str], branches: list[Any], width: int, mean: np.ndarray | None,
                 scale: np.ndarray | None):
        self.names, self.branches, self.width, self.mean, self.scale = names, branches, width, mean, scale

    def encode_rows(self, rows: list[dict]) -> np.ndarray:
        out = np.empty((len(rows), self.width), dtype=np.float64)
        bad = BadValues()
        for branch in self.branches:
            branch.rows(rows, out, bad)
        bad.raise_if_any()
        return self._scaled(out)

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.empty((len(frame), self.width), dtype=np.float64)
        for branch in self.branches:
            branch.frame(frame, out)
        return self._scaled(out)

    def _scaled(self, out: np.ndarray) -> np.ndarray:
        if self.mean is not None:
            out -= self.mean
        if self.scale is not None:
            out /= self.scale
        return out

    @classmethod
    def of(cls, pipeline: Any, signature: list[dict[str, Any]]) -> tuple["TrainedEncoder", Any]:
        """(encoder, the pipeline's final estimator) for a pipeline the trainer made; NotCompilable otherwise."""
        from sklearn.compose import ColumnTransformer
        from sklearn.pipeline import Pipeline
        from sklearn.preprocessing import StandardScaler

        if not isinstance(pipeline, Pipeline) or [n for n, _ in pipeline.steps] != ["prep", "scale", "model"]:
            raise NotCompilable("not a pipeline made by modelyard's trainer")
        prep, scaler = pipeline.named_steps["prep"], pipeline.named_steps["scale"]
        if not isinstance(prep, ColumnTransformer) or not (scaler == "passthrough" or isinstance(scaler, StandardScaler)):
            raise NotCompilable("unexpected preprocessing steps")
        branches, offset = [], 0
        kinds = {f["name"]: f.get("type", "number") for f in signature}
        for name, transformer, columns in prep.transformers_:
            if name == "remainder":
                if transformer != "drop" and len(columns):
                    raise NotCompilable("the column transformer passes columns through")
                continue
            branch = _branch(name, transformer, list(columns), offset, kinds)
            branches.append(branch)
            offset += branch.width
        mean = scale = None
        if scaler != "passthrough":
            mean = scaler.mean_ if scaler.with_mean else None
            scale = scaler.scale_ if scaler.with_std else None
        return cls(list(pipeline.feature_names_in_), branches, offset, mean, scale), pipeline.named_steps["model"]


def _branch(name: str, transformer: Any, columns: list[str], offset: int, kinds: dict[str, str]) -> Any:
    from modelyard.training import features

    steps = dict(transformer.steps) if hasattr(transformer, "steps") else {}
    first = getattr(steps.get("coerce") or steps.get("text") or steps.get("parts"), "func", None)
    if name == "numeric" and first is features.to_numbers and list(steps) == ["coerce", "impute"]:
        return _Numeric(columns, [kinds.get(c, "number") for c in columns], steps["impute"].statistics_, offset)
    if name == "categorical" and first is features.to_categories and list(steps) == ["text", "impute", "onehot"]:
        return _categorical(columns, steps["impute"], steps["onehot"], offset)
    if name == "datetime" and first is features.to_date_parts:
        width = int(np.asarray(transformer.transform(pd.DataFrame({c: [None] for c in columns}, dtype=object))).shape[1])
        return _Native(columns, transformer, offset, width)
    raise NotCompilable(f"unknown preprocessing branch {name!r}")


def _categorical(columns: list[str], imputer: Any, onehot: Any, offset: int) -> _Categorical:
    """Read each column's one-hot position per category off the fitted encoder itself."""
    fills = [str(v) for v in imputer.statistics_]
    base = [list(c)[0] for c in onehot.categories_]
    width = int(onehot.transform(np.array([base], dtype=object)).shape[1])
    tables, unknown = [], []
    for j, categories in enumerate(onehot.categories_):
        values = [str(c) for c in categories] + [UNSEEN]
        grid = np.array([base] * len(values), dtype=object)
        grid[:, j] = values
        encoded = np.asarray(onehot.transform(grid))
        varying = np.flatnonzero(encoded.min(axis=0) != encoded.max(axis=0))
        positions = []
        for row in encoded[:, varying]:
            active = varying[row == 1]
            if len(active) > 1:
                raise NotCompilable("a category sets several one-hot columns")
            positions.append(int(active[0]) if len(active) else -1)
        tables.append(dict(zip(values[:-1], positions[:-1])))
        unknown.append(positions[-1])
    return _Categorical(columns, fills, tables, unknown, offset, width)


class ArrayEncoder:
    """The signature's columns in the model's input order: floats (NaN when missing), text where typed so."""

    name = "array"

    def __init__(self, names: list[str], signature: list[dict[str, Any]]):
        kinds = {f["name"]: f.get("type", "string") for f in signature}
        self.names = list(names)
        self.kinds = [kinds.get(n, "number") for n in self.names]
        self.numeric = all(k in NUMERIC for k in self.kinds)
        self.signature = [{"name": n, "type": k} for n, k in zip(self.names, self.kinds)]

    def encode_rows(self, rows: list[dict]) -> np.ndarray:
        bad = BadValues()
        out = np.empty((len(rows), len(self.names)), dtype=np.float64 if self.numeric else object)
        for j, (name, kind) in enumerate(zip(self.names, self.kinds)):
            out[:, j] = column_values(rows, name, kind, bad)
        bad.raise_if_any()
        return out

    def encode_frame(self, frame: pd.DataFrame) -> np.ndarray:
        coerced = coerce(frame, self.signature)
        return coerced.to_numpy(dtype=np.float64) if self.numeric else coerced.to_numpy(dtype=object)


__all__ = ["ArrayEncoder", "NotCompilable", "TrainedEncoder", "number"]
