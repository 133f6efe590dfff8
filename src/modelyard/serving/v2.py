"""The Open Inference Protocol (KServe V2) as tensors <-> the pipeline's rows, and back.

A request names one input per signature column: shape ``[N]`` or ``[N, 1]``, a datatype that fits the
column (numbers: any INT*, UINT* or FP*; text and dates: BYTES; booleans: BOOL or BYTES), and N values,
flat or nested. When every column is a number, one 2-D input ``[N, n_columns]`` in signature order may
stand for them all (under any name that is not a column's). All inputs share N, the batch. Values must be
of their datatype (a string is not an FP32; an INT8 fits in 8 bits); data may instead follow the JSON as
raw little-endian bytes (the binary tensor data extension: ``parameters.binary_data_size`` per input and
the ``Inference-Header-Content-Length`` header). Every refusal is a 400 naming the input, before the
pipeline runs (so nothing is charged for it).

Outputs: ``prediction`` [N] (FP64 for a regression, the class label as BYTES for a classifier) and, for a
classifier with probabilities, ``probabilities`` [N, K] (FP64) with ``classes`` [K] (BYTES) naming its
columns. Each is answered as JSON, or as binary data when the request asks (``binary_data`` on the output,
or ``binary_data_output`` on the request for every output not asked for otherwise).
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from modelyard.errors import BadRequest, InvalidJson
from modelyard.serving.inputs import NUMERIC
from modelyard.serving.outputs import Outputs
from modelyard.serving.versions import VersionRef

INTS = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}
UINTS = {"UINT8": 8, "UINT16": 16, "UINT32": 32, "UINT64": 64}
FLOATS = {"FP16", "FP32", "FP64"}
NUMBERS = frozenset(INTS) | frozenset(UINTS) | FLOATS
BINARY = {"BOOL": "?", "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "UINT8": "<u1",
          "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}
DATATYPES = NUMBERS | {"BOOL", "BYTES"}
MAX_DIMS = 2
PLATFORMS = {"onnx": "onnx_onnxv1", "skops": "sklearn_skops", "pickle": "sklearn_pickle",
             "lightgbm": "lightgbm_text", "xgboost": "xgboost_json"}


class TensorError(BadRequest):
    code, title = "INVALID_TENSOR", "Invalid tensor"


@dataclass
class Tensor:
    name: str
    shape: list[int]
    datatype: str
    values: list[Any]  # flat, row-major


@dataclass
class InferRequest:
    id: str | None
    inputs: list[Tensor]
    outputs: dict[str, bool | None] | None  # output asked for -> its binary_data (None: unsaid); None: all
    binary_output: bool = False  # the request's binary_data_output: the default for outputs not named
    batch: int = field(init=False)

    def __post_init__(self):
        self.batch = self.inputs[0].shape[0]


# Request ----------------------------------------------------------------------------------------------------


def parse_request(body: bytes, header_length: str | None) -> InferRequest:
    """An inference request body (JSON, or JSON then binary tensor data) as checked tensors."""
    tail = b""
    if header_length is not None:
        if not header_length.strip().isdigit() or int(header_length) > len(body):
            raise TensorError(f"Inference-Header-Content-Length {header_length[:20]!r} is not a length within "
                              f"the body of {len(body)} bytes")
        body, tail = body[:int(header_length)], body[int(header_length):]
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise InvalidJson("the inference request is not valid JSON") from None
    if not isinstance(document, dict):
        raise TensorError('the inference request must be a JSON object: {"inputs": [...]}')
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise TensorError("id must be a string")
    inputs = document.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise TensorError('inputs must be a non-empty list of {"name", "shape", "datatype", "data"}')
    tensors, offset = [], 0
    for raw in inputs:
        tensor, offset = _tensor(raw, tail, offset)
        tensors.append(tensor)
    if offset != len(tail):
        raise TensorError(f"{len(tail) - offset} bytes of binary data follow the JSON that no input claims")
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise TensorError(f"inputs are named more than once: {sorted({n for n in names if names.count(n) > 1})}")
    if len({t.shape[0] for t in tensors}) > 1:
        raise TensorError("inputs disagree on the batch size (their first dimension): "
                          + ", ".join(f"{t.name} {t.shape}" for t in tensors))
    parameters = _parameters(document, "the request")
    return InferRequest(request_id, tensors, _requested(document.get("outputs")),
                        binary_output=parameters.get("binary_data_output") is True)


def _parameters(obj: dict, where: str) -> dict[str, Any]:
    parameters = obj.get("parameters")
    if parameters is None:
        return {}
    if not isinstance(parameters, dict):
        raise TensorError(f"parameters of {where} must be an object")
    return parameters


def _requested(outputs: Any) -> dict[str, bool | None] | None:
    if outputs is None:
        return None
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and isinstance(o.get("name"), str)
                                                for o in outputs):
        raise TensorError('outputs must be a list of {"name": ...}')
    asked = {o["name"]: _parameters(o, f"output {o['name']!r}").get("binary_data") for o in outputs}
    return {name: binary if isinstance(binary, bool) else None for name, binary in asked.items()}


def _tensor(raw: Any, tail: bytes, offset: int) -> tuple[Tensor, int]:
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        raise TensorError('each input must be an object with a "name"')
    name, shape, datatype = raw["name"], raw.get("shape"), raw.get("datatype")
    if not isinstance(shape, list) or not shape or len(shape) > MAX_DIMS or \
            not all(type(d) is int and d >= 0 for d in shape):
        raise TensorError(f"input {name!r}: shape must be [N] or [N, columns] (non-negative integers), "
                          f"got {str(shape)[:50]}")
    if shape[0] < 1:
        raise TensorError(f"input {name!r}: the batch (first dimension) is empty")
    if datatype not in DATATYPES:
        raise TensorError(f"input {name!r}: datatype {str(datatype)[:20]!r} is not supported; use one of "
                          f"{', '.join(sorted(DATATYPES))}")
    count = math.prod(shape)
    size = _parameters(raw, f"input {name!r}").get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0 or offset + size > len(tail):
            raise TensorError(f"input {name!r}: binary_data_size {str(size)[:20]} is beyond the binary data sent")
        values = _from_binary(name, datatype, tail[offset:offset + size], count)
        return Tensor(name, shape, datatype, values), offset + size
    if "data" not in raw:
        raise TensorError(f"input {name!r} has no data")
    values = _flat(raw["data"], len(shape), name)
    if len(values) != count:
        raise TensorError(f"input {name!r}: shape {shape} holds {count} values, data has {len(values)}")
    _check_values(name, datatype, values)
    return Tensor(name, shape, datatype, values), offset


def _flat(data: Any, dims: int, name: str) -> list[Any]:
    """Row-major data, flat or nested as its shape (never deeper: the value check refuses lists)."""
    if not isinstance(data, list):
        raise TensorError(f"input {name!r}: data must be a list")
    if dims == 2 and any(isinstance(v, list) for v in data):
        if not all(isinstance(v, list) for v in data):
            raise TensorError(f"input {name!r}: data mixes rows (lists) and values")
        return [v for row in data for v in row]
    return data


def _check_values(name: str, datatype: str, values: list[Any]) -> None:
    kinds = set(map(type, values))
    if datatype == "BYTES":
        ok = kinds <= {str}
    elif datatype == "BOOL":
        ok = kinds <= {bool}
    elif datatype in FLOATS:
        ok = kinds <= {int, float}
    else:
        ok = kinds <= {int}
        if ok and values:
            low, high = (-(1 << INTS[datatype] - 1), (1 << INTS[datatype] - 1) - 1) if datatype in INTS \
                else (0, (1 << UINTS[datatype]) - 1)
            ok = low <= min(values) and max(values) <= high
            if not ok:
                raise TensorError(f"input {name!r}: a value is out of the range of {datatype} ({low} to {high})")
    if not ok:
        found = ", ".join(sorted(k.__name__ for k in kinds))
        raise TensorError(f"input {name!r}: datatype {datatype} does not match its data ({found})")


def _from_binary(name: str, datatype: str, raw: bytes, count: int) -> list[Any]:
    if datatype == "BYTES":
        values, at = [], 0
        while at < len(raw):
            if at + 4 > len(raw):
                raise TensorError(f"input {name!r}: BYTES data ends inside an element's length")
            (length,) = struct.unpack_from("<I", raw, at)
            element = raw[at + 4:at + 4 + length]
            if len(element) != length:
                raise TensorError(f"input {name!r}: BYTES data ends inside an element")
            try:
                values.append(element.decode("utf-8"))
            except UnicodeDecodeError:
                raise TensorError(f"input {name!r}: BYTES element {len(values)} is not UTF-8 text") from None
            at += 4 + length
    else:
        dtype = np.dtype(BINARY[datatype])
        if len(raw) != count * dtype.itemsize:
            raise TensorError(f"input {name!r}: {count} {datatype} values take {count * dtype.itemsize} bytes, "
                              f"binary_data_size is {len(raw)}")
        values = np.frombuffer(raw, dtype=dtype).tolist()
    if len(values) != count:
        raise TensorError(f"input {name!r}: shape holds {count} values, the binary data {len(values)}")
    return values


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


def output_tensors(outputs: Outputs, request: InferRequest) -> list[dict[str, Any]]:
    """The prediction as response tensors (`data` holds the numbers; binary ones are encoded by `encode`)."""
    n = len(outputs)
    if outputs.proba is None:
        if outputs.task == "regression":
            tensors = [_out("prediction", [n], "FP64", np.asarray(outputs.values, dtype=np.float64))]
        else:
            tensors = [_out("prediction", [n], "BYTES", [str(v) for v in outputs.values])]
    else:
        labels = outputs.label_names
        best = outputs.proba.argmax(axis=1).tolist()
        tensors = [_out("prediction", [n], "BYTES", [labels[i] for i in best]),
                   _out("probabilities", [n, len(labels)], "FP64", np.asarray(outputs.proba, dtype=np.float64)),
                   _out("classes", [len(labels)], "BYTES", labels)]
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
            raw = _to_binary(tensor["datatype"], data)
            chunks.append(raw)
            tensor["parameters"] = {"binary_data_size": len(raw)}
        else:
            tensor["data"] = data.ravel().tolist() if isinstance(data, np.ndarray) else data
        outputs.append(tensor)
    header = orjson.dumps({**body, "outputs": outputs})
    if not chunks:
        return header, None
    return header + b"".join(chunks), len(header)


def _to_binary(datatype: str, data: Any) -> bytes:
    if datatype == "BYTES":
        encoded = [str(v).encode() for v in data]
        return b"".join(struct.pack("<I", len(e)) + e for e in encoded)
    return np.ascontiguousarray(data, dtype=BINARY[datatype]).tobytes()


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
