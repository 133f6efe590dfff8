"""A checked compiled predictor saved as data: its encoder's tables as JSON and its ONNX graph.

When ``compile.build`` finds a faithful encoder + ONNX predictor, the loader saves it next to the
version's artifact (``serving-predictor.zip``) and names it in the version's serving report. Any
process that later serves or scores that version loads the bundle with onnxruntime alone: it never
imports scikit-learn, skops or the converters, nor unpickles anything (a batch scoring worker's peak
memory drops by the ~150 MB those libraries take, docs/performance.md). The bundle is written by
modelyard itself, holds no code, and is read with ``json`` and onnxruntime only. Anything else
(a LightGBM booster, an estimator core, a date branch kept as its fitted transformer) is not bundled
and is rebuilt from the artifact as before.
"""
from __future__ import annotations

import io
import json
import zipfile
from typing import Any

import numpy as np

from modelyard.serving.encoders import ArrayEncoder, TrainedEncoder, _Categorical, _Numeric
from modelyard.serving.predictors import CompiledPredictor, OnnxCore

FORMAT = "modelyard-compiled-predictor/1"


def key_for(artifact_key: str) -> str:
    return f"{artifact_key.rsplit('/', 1)[0]}/serving-predictor.zip"


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _encoder_state(encoder: Any) -> dict[str, Any] | None:
    if isinstance(encoder, ArrayEncoder):
        return {"type": "array", "names": encoder.names, "signature": encoder.signature} if encoder.numeric else None
    if not isinstance(encoder, TrainedEncoder):
        return None
    branches = []
    for branch in encoder.branches:
        if isinstance(branch, _Numeric):
            branches.append({"type": "numeric", "columns": branch.columns, "kinds": branch.kinds,
                             "fill": branch.fill.tolist(), "offset": branch.offset})
        elif isinstance(branch, _Categorical):
            branches.append({"type": "categorical", "columns": branch.columns, "fills": branch.fills,
                             "tables": branch.tables, "unknown": branch.unknown, "offset": branch.offset,
                             "width": branch.width})
        else:  # a fitted transformer kept as it is: only the artifact can rebuild it
            return None
    return {"type": "trained-pipeline", "names": encoder.names, "width": encoder.width, "branches": branches,
            "mean": None if encoder.mean is None else np.asarray(encoder.mean, dtype=float).tolist(),
            "scale": None if encoder.scale is None else np.asarray(encoder.scale, dtype=float).tolist()}


def dump(predictor: Any) -> bytes | None:
    """The bundle of a compiled encoder + ONNX predictor; None for anything else."""
    if not isinstance(predictor, CompiledPredictor) or not isinstance(predictor.core, OnnxCore):
        return None
    state = _encoder_state(predictor.encoder)
    if state is None:
        return None
    core = predictor.core
    labels = None if core.labels is None else [_plain(v) for v in core.labels]
    meta = {"format": FORMAT, "encoder": state,
            "core": {"task": core.task, "dtype": np.dtype(core.dtype).name, "labels": labels}}
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("predictor.json", json.dumps(meta))
        archive.writestr("model.onnx", core.model_bytes)
    return out.getvalue()


def load(data: bytes) -> CompiledPredictor:
    """The predictor a bundle holds; ValueError when it is not one this version of modelyard wrote."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        meta = json.loads(archive.read("predictor.json"))
        graph = archive.read("model.onnx")
    if meta.get("format") != FORMAT:
        raise ValueError(f"not a compiled-predictor bundle of format {FORMAT}")
    state, core = meta["encoder"], meta["core"]
    if state["type"] == "array":
        encoder: Any = ArrayEncoder(state["names"], state["signature"])
    else:
        branches = []
        for b in state["branches"]:
            if b["type"] == "numeric":
                branches.append(_Numeric(b["columns"], b["kinds"], np.asarray(b["fill"], dtype=float), b["offset"]))
            else:
                branches.append(_Categorical(b["columns"], b["fills"], b["tables"], b["unknown"], b["offset"],
                                             b["width"]))
        vector = lambda v: None if v is None else np.asarray(v, dtype=float)  # noqa: E731
        encoder = TrainedEncoder(state["names"], branches, state["width"], vector(state["mean"]),
                                 vector(state["scale"]))
    return CompiledPredictor(encoder, OnnxCore(graph, np.dtype(core["dtype"]).type, core["task"], core["labels"]))
