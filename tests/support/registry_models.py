"""Tiny models trained here and saved in every format the registry reads, plus hostile files."""
from __future__ import annotations

import io
import json
import pickle
import warnings

import numpy as np
import pandas as pd

FEATURES = ["spend", "visits", "tenure"]
KEYS = ["customer_id", "purchase_date_id"]


def customers(rows: int = 60, seed: int = 0) -> pd.DataFrame:
    """A feature table: entity keys plus three numeric features and a learnable amount."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": np.arange(1, rows + 1),
        "purchase_date_id": [f"2024-01-{1 + i % 28:02d}" for i in range(rows)],
        "spend": rng.uniform(0, 500, rows).round(2),
        "visits": rng.integers(0, 20, rows),
        "tenure": rng.uniform(0, 10, rows).round(3),
    })
    frame["amount"] = 0.5 * frame.spend + 3 * frame.visits - 2 * frame.tenure + rng.normal(0, 1, rows)
    return frame


def regressor(frame: pd.DataFrame | None = None):
    """A Ridge regression fitted on a DataFrame (so it knows its column names)."""
    from sklearn.linear_model import Ridge

    frame = customers() if frame is None else frame
    return Ridge(alpha=1.0).fit(frame[FEATURES], frame["amount"])


def classifier(frame: pd.DataFrame | None = None):
    from sklearn.linear_model import LogisticRegression

    frame = customers() if frame is None else frame
    labels = np.where(frame["amount"] > frame["amount"].median(), "high", "low")
    return LogisticRegression(max_iter=500).fit(frame[FEATURES], labels)


def skops_bytes(model) -> bytes:
    import skops.io

    return skops.io.dumps(model)


def onnx_bytes(model, width: int = len(FEATURES)) -> bytes:
    """skl2onnx's usual export: one float tensor input [N, width], no column names."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return convert_sklearn(model, initial_types=[("float_input", FloatTensorType([None, width]))],
                               target_opset=17).SerializeToString()


def signature_json(names=FEATURES) -> bytes:
    return json.dumps([{"name": n, "type": "number"} for n in names]).encode()


def lightgbm_text(frame: pd.DataFrame | None = None, objective: str = "regression") -> bytes:
    import lightgbm

    frame = customers() if frame is None else frame
    target = frame["amount"] if objective == "regression" else (frame["amount"] > frame["amount"].median()).astype(int)
    booster = lightgbm.train({"objective": objective, "verbose": -1, "min_data_in_leaf": 5, "num_threads": 1},
                             lightgbm.Dataset(frame[FEATURES], target), num_boost_round=5)
    return booster.model_to_string().encode()


def xgboost_bytes(frame: pd.DataFrame | None = None, raw_format: str = "json",
                  objective: str = "binary:logistic") -> bytes:
    import xgboost

    frame = customers() if frame is None else frame
    target = (frame["amount"] > frame["amount"].median()).astype(int) if objective.startswith("binary") \
        else frame["amount"]
    booster = xgboost.train({"objective": objective, "nthread": 1, "max_depth": 3},
                            xgboost.DMatrix(frame[FEATURES], label=target), num_boost_round=5)
    return bytes(booster.save_raw(raw_format))


class _CreatesFile:
    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return open, (self.path, "w")  # unpickling this creates the file


def file_creating_pickle(path) -> bytes:
    """A pickle that, if anyone loaded it, would create `path`."""
    return pickle.dumps(_CreatesFile(str(path)))


def joblib_bytes(model, compress: int = 0) -> bytes:
    import joblib

    buffer = io.BytesIO()
    joblib.dump(model, buffer, compress=compress)
    return buffer.getvalue()


def unloadable_onnx() -> bytes:
    """A well-formed ONNX file whose graph uses an operator no runtime knows."""
    from onnx import TensorProto, helper

    node = helper.make_node("NoSuchOperator", ["X"], ["Y"], domain="")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def unpredictable_onnx() -> bytes:
    """Loads fine, fails on every row: reshapes [N, 3] into 7 values."""
    from onnx import TensorProto, helper

    shape = helper.make_tensor("shape", TensorProto.INT64, [1], [7])
    node = helper.make_node("Reshape", ["X", "shape"], ["Y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None])], initializer=[shape])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def external_data_onnx(location: str = "../../etc/passwd") -> bytes:
    """An ONNX file whose weights claim to live in another file on the server."""
    from onnx import TensorProto, helper

    weight = helper.make_tensor("W", TensorProto.FLOAT, [3, 1], [0.0, 0.0, 0.0])
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "12")):
        entry = weight.external_data.add()
        entry.key, entry.value = key, value
    node = helper.make_node("MatMul", ["X", "W"], ["Y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [None, 3])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [None, 1])], initializer=[weight])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def untrusted_skops() -> bytes:
    """A skops file holding a type outside modelyard's allowlist (k nearest neighbours)."""
    from sklearn.neighbors import KNeighborsRegressor

    frame = customers()
    return skops_bytes(KNeighborsRegressor(algorithm="brute").fit(frame[FEATURES], frame["amount"]))


def to_csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def to_parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
