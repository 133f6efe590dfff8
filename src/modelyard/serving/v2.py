"""The Open Inference Protocol (KServe V2) on the pipeline: request tensors (serving/tensors.py) as rows of a
version's signature, its prediction as output tensors, and its metadata.

A request names one input per signature column: shape ``[N]`` or ``[N, 1]`` and a datatype that fits the
column (numbers: any INT*, UINT* or FP*; text and dates: BYTES; booleans: BOOL or BYTES). When every column is
a number, one 2-D input ``[N, n_columns]`` in signature order may stand for them all (under any name that is
not a column's). Every refusal is a 400 naming the input, before the pipeline runs (nothing is charged).

Outputs: ``prediction`` [N] (FP64 for a regression, the class label as BYTES for a classifier) and, for a
classifier with probabilities, ``probabilities`` [N, K] (FP64) with ``classes`` [K] (BYTES) naming its
columns. Each is answered as JSON, or as binary data when the request asks (``binary_data`` on the output,
or ``binary_data_output`` on the request for every output not asked for otherwise).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from modelyard.ops.predlog import confidence_of
from modelyard.serving.inputs import NUMERIC
from modelyard.serving.outputs import Outputs
from modelyard.serving.tensors import NUMBERS, InferRequest, Tensor, TensorError, to_binary
from modelyard.serving.versions import VersionRef

PLATFORMS = {"onnx": "onnx_onnxv1", "skops": "sklearn_skops", "pickle": "sklearn_pickle",
             "lightgbm": "lightgbm_text", "xgboost": "xgboost_json"}


# Tensors -> rows --------------------------------------------------------------------------------------------


def input_datatype(kind: str) -> str:
    return {"integer": "INT64", "number": "FP64", "boolean": "BOOL"}.get(kind, "BYTES")


def _fits(kind: str, datatype: str) -> bool:
    if kind in NUMERIC:
        return datatype in NUMBERS
    return datatype in ("BOOL", "BYTES") if kind == "boolean" else datatype == "BYTES"


def rows_for(request: InferRequest, signature: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The request's tensors as the pipeline's rows, one per batch item, in signature order."""
    kinds = {f["name"]: f.get("type", "string") for f in signature}
    names = list(kinds)
    given = {t.name: t for t in request.inputs}
    if len(request.inputs) == 1 and request.inputs[0].name not in kinds and len(request.inputs[0].shape) == 2:
        return _matrix_rows(request.inputs[0], names, kinds)
    unknown = [n for n in given if n not in kinds]
    if unknown:
        raise TensorError(f"unknown input(s) {', '.join(map(repr, unknown))}; the model's inputs are "
                          f"{', '.join(names)} (GET /v2/models/{{name}} lists them)")
    missing = [n for n in names if n not in given]
    if missing:
        raise TensorError(f"missing input(s): {', '.join(missing)}")
    for tensor in request.inputs:
        if len(tensor.shape) == 2 and tensor.shape[1] != 1:
            raise TensorError(f"input {tensor.name!r} is one column: shape [N] or [N, 1], got {tensor.shape}")
        kind = kinds[tensor.name]
        if not _fits(kind, tensor.datatype):
            raise TensorError(f"input {tensor.name!r} is a {kind} column: datatype {input_datatype(kind)} "
                              f"(or another that fits it), got {tensor.datatype}")
    columns = [given[n].values for n in names]
    return [dict(zip(names, values)) for values in zip(*columns)]


def _matrix_rows(tensor: Tensor, names: list[str], kinds: dict[str, str]) -> list[dict[str, Any]]:
    text = [n for n in names if kinds[n] not in NUMERIC]
    if text:
        raise TensorError(f"input {tensor.name!r} is not one of the model's inputs, and one 2-D tensor stands "
                          f"for them only when all are numbers ({', '.join(text)} are not): send one input per "
                          f"column: {', '.join(names)}")
    width = len(names)
    if tensor.shape[1] != width:
        raise TensorError(f"input {tensor.name!r}: a 2-D input has one column per model input ({width}: "
                          f"{', '.join(names)}), got shape {tensor.shape}")
    if tensor.datatype not in NUMBERS:
        raise TensorError(f"input {tensor.name!r}: the model's inputs are numbers, got datatype {tensor.datatype}")
    values = tensor.values
    return [dict(zip(names, values[start:start + width])) for start in range(0, len(values), width)]


# Outputs ----------------------------------------------------------------------------------------------------


def output_names(task: str) -> list[str]:
    return ["prediction", "probabilities", "classes"] if task == "classification" else ["prediction"]


def check_outputs(request: InferRequest, version: VersionRef) -> None:
    """Refuse outputs the model cannot give before anything is predicted."""
    if request.outputs is None:
        return
    known = output_names(version.task)
    unknown = [n for n in request.outputs if n not in known]
    if unknown:
        raise TensorError(f"unknown output(s) {', '.join(map(repr, unknown))}; model {version.name!r} gives "
                          f"{', '.join(known)}")


def answer_of(outputs: Outputs) -> dict[str, Any]:
    """The prediction as JSON-ready output tensors: what the prediction cache keeps (in memory or Redis), with
    the first prediction and the mean confidence the prediction log reads from a cached answer."""
    n = len(outputs)
    if outputs.proba is None:
        values = np.asarray(outputs.values, dtype=np.float64).tolist() if outputs.task == "regression" \
            else [str(v) for v in outputs.values]
        tensors = [_out("prediction", [n], "FP64" if outputs.task == "regression" else "BYTES", values)]
    else:
        labels = outputs.label_names
        best = outputs.proba.argmax(axis=1).tolist()
        tensors = [_out("prediction", [n], "BYTES", [labels[i] for i in best]),
                   _out("probabilities", [n, len(labels)], "FP64",
                        np.asarray(outputs.proba, dtype=np.float64).ravel().tolist()),
                   _out("classes", [len(labels)], "BYTES", labels)]
    first = tensors[0]["data"][0] if n else None
    return {"outputs": tensors, "prediction": first, "confidence": confidence_of(outputs)}


def output_tensors(answer: dict[str, Any], request: InferRequest) -> list[dict[str, Any]]:
    """The outputs the request asks for, in its order, each marked JSON or binary (`encode` writes them)."""
    tensors = answer["outputs"]
    if request.outputs is None:
        return [dict(t, binary=request.binary_output) for t in tensors]
    by_name = {t["name"]: t for t in tensors}
    missing = [n for n in request.outputs if n not in by_name]
    if missing:
        raise TensorError(f"this model gives no {', '.join(missing)} (a classifier without probabilities)")
    return [dict(by_name[name], binary=request.binary_output if binary is None else binary)
            for name, binary in request.outputs.items()]


def _out(name: str, shape: list[int], datatype: str, data: Any) -> dict[str, Any]:
    return {"name": name, "shape": shape, "datatype": datatype, "data": data}


def encode(body: dict[str, Any], tensors: list[dict[str, Any]]) -> tuple[bytes, int | None]:
    """The response: JSON, or JSON then the binary outputs (and the JSON's length for the header)."""
    chunks, outputs = [], []
    for tensor in tensors:
        binary, data = tensor.pop("binary"), tensor.pop("data")
        if binary:
            raw = to_binary(tensor["datatype"], data)
            chunks.append(raw)
            tensor["parameters"] = {"binary_data_size": len(raw)}
        else:
            tensor["data"] = data
        outputs.append(tensor)
    header = orjson.dumps({**body, "outputs": outputs})
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)


# Metadata ---------------------------------------------------------------------------------------------------


def model_metadata(version: VersionRef, versions: list[str]) -> dict[str, Any]:
    inputs = [{"name": f["name"], "datatype": input_datatype(f.get("type", "string")), "shape": [-1]}
              for f in version.signature]
    outputs = [{"name": "prediction", "datatype": "FP64" if version.task == "regression" else "BYTES",
                "shape": [-1]}]
    if version.task == "classification":
        width = len(version.classes) if version.classes else -1
        outputs += [{"name": "probabilities", "datatype": "FP64", "shape": [-1, width]},
                    {"name": "classes", "datatype": "BYTES", "shape": [width]}]
    return {"name": version.name, "versions": versions,
            "platform": PLATFORMS.get(version.format, f"modelyard_{version.format}"),
            "inputs": inputs, "outputs": outputs}


def version_labels(session: Any, name: str, *, viewer: Any) -> list[str]:
    """The labels of a model's versions that may be asked for by path (all but archived ones), oldest first."""
    from modelyard.registry.service import RegistryService, check_name

    model = RegistryService(session, None).model_by_name(check_name(name), viewer=viewer)
    return [v.label for v in sorted(model.versions, key=lambda v: v.number) if v.status != "archived"]
