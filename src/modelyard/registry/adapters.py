"""Uploaded models behind one small interface, whatever their format.

Each adapter looks like a fitted scikit-learn estimator to the serving predictors:
``feature_names_in_``, ``predict(X)`` (1-D), ``predict_proba(X)`` (rows × classes), ``classes_``.
``X`` (a DataFrame or a numpy array) arrives with its columns in the model's input order; adapters
read it by position.

A model that carries no input names (an ONNX graph with one float tensor input, an XGBoost booster
saved without feature names, a LightGBM model with its automatic ``Column_N`` names, a scikit-learn
estimator fitted on an array) gets its names from the version's signature (``signature.json``):
``bind(model, signature)`` wraps it. Unbound, such a model refuses to name its inputs (409) rather
than letting a caller feed it columns by guesswork.

Serving threads: every adapter predicts on one thread (DESIGN: the serving path must not spin the
math libraries' pools against each other).
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import json
import math
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import Conflict

TYPES = {"tensor(float)": "number", "tensor(double)": "number", "tensor(float16)": "number",
         "tensor(int64)": "integer", "tensor(int32)": "integer", "tensor(int16)": "integer",
         "tensor(int8)": "integer", "tensor(uint8)": "integer", "tensor(bool)": "integer",
         "tensor(string)": "string"}
NUMPY = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
         "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int16)": np.int16, "tensor(int8)": np.int8,
         "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_, "tensor(string)": object}


class PositionalInputs(Conflict):
    code = "MODEL_INPUTS_UNNAMED"


class ModelAdapter(ABC):
    """What every uploaded format provides; subclasses set the fields in __init__."""

    format = ""
    algorithm = ""
    task = "regression"
    native_names: list[str] | None = None  # None: the file names no inputs
    input_types: list[str] = []
    classes_: list[Any] = []

    @property
    def n_features(self) -> int:
        return len(self.input_types)

    @property
    def feature_names_in_(self) -> list[str]:
        if self.native_names is None:
            raise PositionalInputs(
                "this uploaded model does not name its inputs; name them with a signature.json artifact")
        return self.native_names

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        if self.task == "regression":
            return np.asarray(self._raw(X), dtype=float).reshape(len(X), -1)[:, 0]
        proba = self.predict_proba(X)
        return np.asarray(self.classes_, dtype=object)[proba.argmax(axis=1)]

    @abstractmethod
    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, columns in `classes_` order."""

    @abstractmethod
    def _raw(self, X: pd.DataFrame) -> Any:
        """The model's own output for X (regression values, or scores)."""


class BoundModel:
    """A model read by position, named by a signature."""

    def __init__(self, model: Any, names: list[str]):
        self.model = model
        self.feature_names_in_ = list(names)
        self.classes_ = getattr(model, "classes_", None)

    def _positional(self, X):
        if isinstance(self.model, ModelAdapter):
            return X
        return X.to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)

    def predict(self, X: pd.DataFrame):
        return self.model.predict(self._positional(X))

    def predict_proba(self, X: pd.DataFrame):
        return self.model.predict_proba(self._positional(X))


def bind(model: Any, signature: list[dict[str, Any]]) -> Any:
    """The model as serving should call it: named natively, or named by its signature."""
    names = [field["name"] for field in signature]
    if isinstance(model, ModelAdapter):
        return model if model.native_names is not None else BoundModel(model, names)
    if getattr(model, "feature_names_in_", None) is None:
        return BoundModel(model, names)
    return model


def _two_columns(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=float).reshape(-1)
    return np.column_stack([1 - p, p])


def _one_hot(indices: np.ndarray, k: int) -> np.ndarray:
    out = np.zeros((len(indices), k))
    out[np.arange(len(indices)), np.asarray(indices, dtype=int)] = 1.0
    return out


# ONNX ------------------------------------------------------------------------------------------------


class OnnxModel(ModelAdapter):
    """An ONNX graph run by onnxruntime. One tensor input [N, k] is read by position (unnamed);
    one input per column ([N, 1] or [N]) names the columns."""

    format = "onnx"

    def __init__(self, session: Any, classes: list[Any] | None, producer: str):
        self._session = session
        inputs, outputs = session.get_inputs(), session.get_outputs()
        self._inputs = [(i.name, i.type, list(i.shape or [])) for i in inputs]
        self._single = len(inputs) == 1 and len(self._inputs[0][2]) == 2
        if self._single:  # one [N, k] tensor: columns by position
            width = self._inputs[0][2][1]
            self.native_names = None
            self.input_types = [TYPES.get(inputs[0].type, "number")] * (width if isinstance(width, int) else 0)
        else:  # one input per column
            self.native_names = [i.name for i in inputs]
            self.input_types = [TYPES.get(i.type, "number") for i in inputs]
        self.algorithm = f"onnx ({producer})" if producer else "onnx"
        self._label = next((o.name for o in outputs if o.type in ("tensor(int64)", "tensor(string)")), None)
        self._proba = next((o.name for o in outputs if o.type.startswith("seq(map(")
                            or (self._label is not None and o.type.startswith("tensor(float"))), None)
        self._value = next((o.name for o in outputs if o.type.startswith("tensor(float")
                            or o.type == "tensor(double)"), outputs[0].name)
        if self._label is not None or self._proba is not None:
            self.task = "classification"
            self.classes_ = list(classes or [])

    def _feed(self, X: pd.DataFrame | np.ndarray) -> dict[str, np.ndarray]:
        values = X.to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)
        if self._single:
            name, kind, _ = self._inputs[0]
            return {name: _as(values, kind)}
        feed = {}
        for index, (name, kind, shape) in enumerate(self._inputs):
            column = _as(values[:, index], kind)
            feed[name] = column.reshape(-1, 1) if len(shape or [0, 0]) == 2 else column
        return feed

    def run(self, X, outputs: list[str] | None = None) -> list[Any]:
        return self._session.run(outputs, self._feed(X))

    def _raw(self, X):
        return self.run(X, [self._value])[0]

    def predict_proba(self, X) -> np.ndarray:
        if self._proba is None:
            labels = np.asarray(self.run(X, [self._label])[0]).reshape(-1)
            lookup = {c: i for i, c in enumerate(self.classes_)}
            return _one_hot(np.array([lookup[_plain(v)] for v in labels]), len(self.classes_))
        out = self.run(X, [self._proba])[0]
        if isinstance(out, list):  # ZipMap: one {class: p} per row
            if not self.classes_ and out:
                self.classes_ = [_plain(k) for k in out[0]]
            return np.array([[row[k] for k in row] for row in out], dtype=float)
        out = np.asarray(out, dtype=float)
        if not self.classes_:
            self.classes_ = list(range(out.shape[1]))
        return out


def _as(values: np.ndarray, kind: str) -> np.ndarray:
    dtype = NUMPY.get(kind, np.float32)
    if dtype is object:
        return np.array(["" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                         for v in np.asarray(values).reshape(-1)], dtype=object).reshape(np.shape(values))
    numbers = pd.DataFrame(values).apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float) \
        if np.asarray(values).dtype == object else np.asarray(values, dtype=float)
    numbers = numbers.reshape(np.shape(values))
    if np.issubdtype(dtype, np.integer) or dtype is np.bool_:
        if np.isnan(numbers).any():
            raise ValueError("this model's integer inputs cannot be empty")
    return numbers.astype(dtype)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# LightGBM ----------------------------------------------------------------------------------------------

LGBM_CLASSIFIERS = ("binary", "multiclass", "softmax", "multiclassova", "multiclass_ova", "ova", "ovr")


class LightGBMModel(ModelAdapter):
    """A LightGBM booster read from its own text model file."""

    format = "lightgbm"

    def __init__(self, booster: Any):
        self._booster = booster
        names = booster.feature_name()
        automatic = all(n == f"Column_{i}" for i, n in enumerate(names))
        self.native_names = None if automatic else list(names)
        self.input_types = ["number"] * len(names)
        objective = str(booster.params.get("objective", "regression")).split()[0]
        self.algorithm = f"lightgbm ({objective})"
        self._classes = int(booster.params.get("num_class", 1) or 1)
        if objective in LGBM_CLASSIFIERS:
            self.task = "classification"
            self.classes_ = list(range(2 if objective == "binary" else self._classes))

    def _raw(self, X):
        return self._booster.predict(_matrix(X), num_threads=1)

    def predict_proba(self, X) -> np.ndarray:
        out = np.asarray(self._booster.predict(_matrix(X), num_threads=1), dtype=float)
        return _two_columns(out) if out.ndim == 1 else out


def _matrix(X) -> np.ndarray:
    values = X.to_numpy() if isinstance(X, pd.DataFrame) else np.asarray(X)
    if values.dtype == object:
        values = pd.DataFrame(values).apply(pd.to_numeric, errors="coerce").to_numpy()
    return np.asarray(values, dtype=np.float64)


# XGBoost ------------------------------------------------------------------------------------------------


class XGBoostModel(ModelAdapter):
    """An XGBoost booster read from its JSON or UBJSON model file."""

    format = "xgboost"

    def __init__(self, booster: Any):
        self._booster = booster
        booster.set_param({"nthread": 1})
        config = json.loads(booster.save_config())["learner"]
        self._objective = config["objective"]["name"]
        params = config.get("learner_model_param", {})
        self._classes = int(params.get("num_class", "0") or 0)
        width = int(params.get("num_feature", "0") or 0)
        self.native_names = list(booster.feature_names) if booster.feature_names else None
        self.input_types = ["number"] * (len(self.native_names) if self.native_names else width)
        self.algorithm = f"xgboost ({self._objective})"
        if self._objective.startswith(("binary:", "multi:")):
            self.task = "classification"
            self.classes_ = list(range(self._classes if self._objective.startswith("multi:") else 2))

    def _matrix(self, X):
        import xgboost

        return xgboost.DMatrix(_matrix(X).astype(np.float32), feature_names=self.native_names)

    def _raw(self, X):
        return self._booster.predict(self._matrix(X))

    def predict_proba(self, X) -> np.ndarray:
        out = np.asarray(self._booster.predict(self._matrix(X)), dtype=float)
        if self._objective == "binary:logitraw":
            return _two_columns(1 / (1 + np.exp(-out)))
        if self._objective == "binary:hinge":
            return _one_hot(out.reshape(-1), 2)
        if self._objective == "multi:softmax":
            return _one_hot(out.reshape(-1), len(self.classes_))
        return _two_columns(out) if out.ndim == 1 else out


# scikit-learn from a pickle, fitted on an array -----------------------------------------------------------


class PositionalSklearn:
    """An estimator fitted on a numpy array: no names of its own; ``bind`` names it."""

    def __init__(self, estimator: Any):
        self.estimator = estimator
        self.classes_ = getattr(estimator, "classes_", None)

    @property
    def feature_names_in_(self) -> list[str]:
        raise PositionalInputs("this uploaded model was fitted without column names; name them with a "
                               "signature.json artifact")

    def predict(self, X):
        return self.estimator.predict(np.asarray(X))

    def predict_proba(self, X):
        return self.estimator.predict_proba(np.asarray(X))
