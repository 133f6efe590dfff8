"""Predictors: the one interface every predict path calls, whatever the model and however it is run.

``NativePredictor`` calls the model as it was fitted, on a DataFrame (always correct, slower).
``CompiledPredictor`` is an encoder (``encoders.py``) feeding a core: the model's final estimator
called on a numpy array, or that estimator converted to ONNX and run by onnxruntime. A compiled
predictor is only used after ``compile.py`` has checked it against the native one.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from modelyard.serving.inputs import coerce, frame_for
from modelyard.serving.outputs import Outputs, class_labels, run_estimator


class NativePredictor:
    kind = "native"

    def __init__(self, estimator: Any, task: str, classes: list[Any] | None, signature: list[dict[str, Any]]):
        self.estimator, self.task, self.classes, self.signature = estimator, task, classes, signature
        names = getattr(estimator, "feature_names_in_", None)
        self.names = [str(n) for n in names] if names is not None else [f["name"] for f in signature]

    def predict_rows(self, rows: list[dict[str, Any]]) -> Outputs:
        return self._run(frame_for(rows, self.signature))

    def predict_frame(self, frame: pd.DataFrame) -> Outputs:
        return self._run(coerce(frame, self.signature))

    def _run(self, frame: pd.DataFrame) -> Outputs:
        return run_estimator(self.estimator, self.task, self.classes, frame.reindex(columns=self.names))


class EstimatorCore:
    """A fitted estimator (or uploaded-model adapter) called on the encoded array."""

    name = "estimator"

    def __init__(self, estimator: Any, task: str, classes: list[Any] | None):
        self.estimator, self.task, self.classes = estimator, task, classes

    def __call__(self, X: np.ndarray) -> Outputs:
        return run_estimator(self.estimator, self.task, self.classes, X)


class BoosterCore:
    """A LightGBM model called through its booster: the scikit-learn wrapper's input checks cost ~10x
    the prediction itself for one row (measured here: 2.0 ms against 0.19 ms)."""

    name = "booster"

    def __init__(self, estimator: Any, task: str, classes: list[Any] | None):
        self.booster = estimator.booster_
        self.task = task
        self.labels = class_labels(classes, estimator, len(estimator.classes_)) if task == "classification" else None

    def __call__(self, X: np.ndarray) -> Outputs:
        out = np.asarray(self.booster.predict(X, num_threads=1), dtype=float)
        if self.task == "regression":
            return Outputs("regression", values=out.reshape(-1))
        proba = np.column_stack([1.0 - out, out]) if out.ndim == 1 else out
        return Outputs("classification", proba=proba, labels=self.labels)


class HistTreesCore:
    """A fitted HistGradientBoosting model's trees as flat arrays, walked one level at a time for every
    tree and row at once. scikit-learn calls each tree separately (~5 µs of overhead per tree: a 200-tree
    model took 1 ms for one row here, against ~0.1 ms this way), and skl2onnx cannot convert it. Numeric
    splits only (the trainer one-hot encodes categories); the same rule as scikit-learn's: a missing
    value goes where the split sends missing values, else left when x <= threshold. Summing the leaves
    pairwise instead of tree by tree moves the raw score by ~1e-15; compile.py checks the result.
    Past SMALL rows scikit-learn's own per-tree loops are faster (100 rows: 1.6 ms against 3.2 ms here),
    so larger inputs go to the estimator itself."""

    name = "hist-trees"
    SMALL = 16

    def __init__(self, estimator: Any, task: str, classes: list[Any] | None):
        if getattr(estimator, "_preprocessor", None) is not None or getattr(estimator, "is_categorical_", None) is not None:
            raise ValueError("the model has categorical features of its own")
        trees = [tree for iteration in estimator._predictors for tree in iteration]
        per_iteration = len(estimator._predictors[0])
        if any(tree.nodes["is_categorical"].any() for tree in trees):
            raise ValueError("the model has categorical splits")
        sizes = np.array([len(tree.nodes) for tree in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        nodes = np.concatenate([tree.nodes for tree in trees])
        shift = np.repeat(offsets, sizes)
        self.roots = offsets.astype(np.intp)
        self.feature = nodes["feature_idx"].astype(np.intp)
        self.threshold = nodes["num_threshold"].astype(np.float64)
        self.missing_left = nodes["missing_go_to_left"].astype(bool)
        self.leaf = nodes["is_leaf"].astype(bool)
        self.left = np.where(self.leaf, 0, nodes["left"] + shift).astype(np.intp)
        self.right = np.where(self.leaf, 0, nodes["right"] + shift).astype(np.intp)
        self.value = nodes["value"].astype(np.float64)
        self.depth = int(nodes["depth"].max()) + 1
        self.output = np.tile(np.arange(per_iteration), len(estimator._predictors))  # tree -> raw column
        self.baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(1, -1)
        self.loss, self.task = estimator._loss, task
        self.labels = class_labels(classes, estimator, len(estimator.classes_)) if task == "classification" else None
        self.estimator = EstimatorCore(estimator, task, classes)

    def __call__(self, X: np.ndarray) -> Outputs:
        if len(X) > self.SMALL:
            return self.estimator(X)
        X = np.asarray(X, dtype=np.float64)
        rows = np.arange(len(X))[:, None]
        node = np.broadcast_to(self.roots, (len(X), len(self.roots))).copy()
        for _ in range(self.depth):
            inner = ~self.leaf[node]
            if not inner.any():
                break
            x = X[rows, self.feature[node]]
            go_left = np.where(np.isnan(x), self.missing_left[node], x <= self.threshold[node])
            node = np.where(inner, np.where(go_left, self.left[node], self.right[node]), node)
        leaves = self.value[node]
        raw = np.repeat(self.baseline, len(X), axis=0)
        for column in range(raw.shape[1]):
            raw[:, column] += leaves[:, self.output == column].sum(axis=1)
        if self.task == "regression":
            return Outputs("regression", values=np.asarray(self.loss.link.inverse(raw.ravel()), dtype=float))
        return Outputs("classification", proba=np.asarray(self.loss.predict_proba(raw), dtype=float),
                       labels=self.labels)


class OnnxCore:
    """The final estimator converted to ONNX, run by onnxruntime on one thread."""

    name = "onnx"

    def __init__(self, model_bytes: bytes, dtype: Any, task: str, labels: list[Any] | None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        options.log_severity_level = 4
        self.model_bytes = model_bytes  # kept for serving/bundle.py
        self.session = onnxruntime.InferenceSession(model_bytes, sess_options=options,
                                                    providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        outputs = self.session.get_outputs()
        self.output = outputs[1].name if task == "classification" else outputs[0].name
        self.dtype, self.task, self.labels = dtype, task, labels

    def __call__(self, X: np.ndarray) -> Outputs:
        out = self.session.run([self.output], {self.input: np.ascontiguousarray(X, dtype=self.dtype)})[0]
        if self.task == "regression":
            return Outputs("regression", values=np.asarray(out, dtype=float).reshape(-1))
        return Outputs("classification", proba=np.asarray(out, dtype=float), labels=self.labels)


class CompiledPredictor:
    kind = "compiled"

    def __init__(self, encoder: Any, core: Any):
        self.encoder, self.core = encoder, core

    def predict_rows(self, rows: list[dict[str, Any]]) -> Outputs:
        return self.core(self.encoder.encode_rows(rows))

    def predict_frame(self, frame: pd.DataFrame) -> Outputs:
        return self.core(self.encoder.encode_frame(frame))


def onnx_core(estimator: Any, width: int, task: str, classes: list[Any] | None) -> OnnxCore:
    """Convert a scikit-learn estimator reading `width` numbers, in double precision; raises when it cannot.

    Only double-precision graphs are tried: a float32 graph compares float32 inputs with float32 split
    thresholds, and a value near a threshold then takes the other branch (seen here: LightGBM converted
    by onnxmltools passed a check sample, then differed by 3.5e-4 on other rows). LightGBM's converter
    emits float32 only, so LightGBM is served by its own booster instead."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType

    if type(estimator).__module__.startswith("lightgbm"):
        raise ValueError("LightGBM converts to float32 graphs only, which are not exact; its booster serves")
    options = {id(estimator): {"zipmap": False}} if task == "classification" else None
    errors = []
    for tensor, dtype in [(DoubleTensorType, np.float64)]:
        try:
            proto = convert_sklearn(estimator, initial_types=[("X", tensor([None, width]))], options=options,
                                    target_opset={"": 17, "ai.onnx.ml": 3})
            labels = None
            if task == "classification":
                labels = class_labels(classes, estimator, len(getattr(estimator, "classes_", ())))
            return OnnxCore(proto.SerializeToString(), dtype, task, labels)
        except Exception as exc:  # the converter or the runtime refused this estimator
            errors.append(f"{tensor.__name__}: {type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}")
    raise ValueError("; ".join(errors))
