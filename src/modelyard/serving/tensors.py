"""Tensors of the Open Inference Protocol (KServe V2): an inference request read and checked, as JSON or as
JSON followed by binary tensor data, and output tensors written as binary data.

An input has a name, a shape of one or two non-negative dimensions (the first is the batch, at least 1), a
datatype of the protocol, and its values: JSON `data`, flat or nested as the shape, each of its datatype (a
string is not an FP32; a boolean is not an INT64; an INT8 fits in 8 bits), or `parameters.binary_data_size`
raw little-endian bytes after the JSON, whose length the `Inference-Header-Content-Length` header gives
(BYTES elements each after a 4-byte length). Every refusal is a 400 naming the input.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from modelyard.errors import BadRequest, InvalidJson

INTS = {"INT8": 8, "INT16": 16, "INT32": 32, "INT64": 64}
UINTS = {"UINT8": 8, "UINT16": 16, "UINT32": 32, "UINT64": 64}
FLOATS = {"FP16", "FP32", "FP64"}
NUMBERS = frozenset(INTS) | frozenset(UINTS) | FLOATS
BINARY = {"BOOL": "?", "INT8": "<i1", "INT16": "<i2", "INT32": "<i4", "INT64": "<i8", "UINT8": "<u1",
          "UINT16": "<u2", "UINT32": "<u4", "UINT64": "<u8", "FP16": "<f2", "FP32": "<f4", "FP64": "<f8"}
DATATYPES = NUMBERS | {"BOOL", "BYTES"}
MAX_DIMS = 2
MAX_NAME = 256


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
    if outputs is None or outputs == []:
        return None
    if not isinstance(outputs, list) or not all(isinstance(o, dict) and _name(o.get("name")) for o in outputs):
        raise TensorError(f'outputs must be a list of {{"name": ...}} (names of 1 to {MAX_NAME} characters)')
    asked = {o["name"]: _parameters(o, f"output {o['name']!r}").get("binary_data") for o in outputs}
    return {name: binary if isinstance(binary, bool) else None for name, binary in asked.items()}


def _name(name: Any) -> bool:
    return isinstance(name, str) and 0 < len(name) <= MAX_NAME


def _tensor(raw: Any, tail: bytes, offset: int) -> tuple[Tensor, int]:
    if not isinstance(raw, dict) or not _name(raw.get("name")):
        raise TensorError(f'each input must be an object with a "name" of 1 to {MAX_NAME} characters')
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


def to_binary(datatype: str, data: Any) -> bytes:
    if datatype == "BYTES":
        encoded = [str(v).encode() for v in data]
        return b"".join(struct.pack("<I", len(e)) + e for e in encoded)
    return np.ascontiguousarray(data, dtype=BINARY[datatype]).tobytes()
