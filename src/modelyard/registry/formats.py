"""Model files from outside: which format a file is (by its content), how to load it without
running code it carries, what its inputs are, and whether it can predict at all.

Formats and how each is loaded (``LOADERS`` below; the composition root hands it to the model cache):

- ``skops``: a zip holding ``schema.json``; loaded by ``training.artifacts.load``, which refuses any
  type outside its explicit allowlist (``training.trusted``) before anything is imported, and checks
  the trees and SVMs in it after loading (``training.structure``).
- ``onnx``: a protobuf ModelProto; parsed by ``onnx`` first so that a graph whose tensors point at
  external files (a way to make the runtime read any file on the host) is refused, then run by
  onnxruntime on one thread, in ONNX format only (no ORT flatbuffers), with no custom op libraries.
- ``lightgbm``: LightGBM's text model file (``tree\\nversion=v…``), parsed by LightGBM.
- ``xgboost``: XGBoost's JSON or UBJSON model file, parsed by XGBoost.
- ``pickle``: pickle and joblib files (also compressed) are recognised so that they can be
  *refused*: loading one runs whatever code it names. Only ``inspect(..., allow_pickle=True)``
  loads one, and the upload service passes that only for an admin while the admin setting
  ``registry.allowPickle`` is on.

Input names come from the model (ONNX input names, LightGBM/XGBoost feature names, scikit-learn
``feature_names_in_``). A model that carries none (scikit-learn fitted on a numpy array, an ONNX
graph with one tensor input, an XGBoost booster without feature names, LightGBM's ``Column_N``)
reads its inputs by position and is named, first rule that applies:

1. by a ``signature.json`` artifact: either a list ``[{"name": ..., "type": "number|integer|string"},
   ...]`` or an object ``{"inputs": [...], "classes": [...], "example": {...}}`` (``classes``
   relabels a classifier's outputs, ``example`` is the row the smoke test predicts);
2. by the feature table linked at upload: its non-key columns, in the table's order (their number
   must be the model's input count);
3. positionally, ``f0 … fN-1``, N from the model (``n_features_in_`` for scikit-learn).

Every model must predict one synthetic row built from its signature before it is accepted.
"""
from __future__ import annotations

import bz2
import io
import json
import lzma
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any

from modelyard.errors import AppError, BadRequest, Forbidden, InvalidFormat, Unprocessable
from modelyard.registry import adapters

FORMATS = ("skops", "onnx", "lightgbm", "xgboost", "pickle")
SUPPORTED = "skops (.skops), ONNX (.onnx), LightGBM text model files, XGBoost JSON/UBJSON model files"
PICKLE_NAMES = (".pkl", ".pickle", ".joblib", ".sav", ".pkl.gz", ".pkl.z")
SIGNATURE_FILE = "signature.json"
TYPE_ALIASES = {"number": "number", "float": "number", "double": "number", "integer": "integer", "int": "integer",
                "int64": "integer", "boolean": "integer", "bool": "integer", "string": "string", "str": "string",
                "category": "string", "categorical": "string"}
_PROTOCOL0 = re.compile(rb"^(c[\w.]+\n[\w.]+\n|\(dp\d|\(lp\d|\(i[\w.]+\n)")
_ONNX_FIELDS = {1, 2, 3, 4, 5, 6, 7, 8, 14, 20, 25, 26}


class UnsupportedModelFile(InvalidFormat):
    """Not a model file of a format we load, or a broken one."""


class UntrustedModelFile(BadRequest):
    code, title = "UNTRUSTED_MODEL", "Untrusted model file"


class PickleNotAllowed(Forbidden):
    code, title = "PICKLE_NOT_ALLOWED", "Pickle files are not allowed"


class ModelCannotPredict(Unprocessable):
    code, title = "MODEL_SMOKE_TEST_FAILED", "Model could not predict"


PICKLE_WHY = ("pickle/joblib files run arbitrary code when they are loaded, so modelyard refuses them by "
              "default; save the model as skops, ONNX, LightGBM or XGBoost instead")
PICKLE_HOW = ("an admin can accept them (from admins only) with PUT /api/settings "
              "{\"registry\": {\"allowPickle\": true}}")


def pickle_refusal(*, allowed_by_setting: bool, uploader_is_admin: bool) -> PickleNotAllowed | None:
    """Why this upload of a pickle is refused, or None when the admin setting and the role allow it."""
    if not allowed_by_setting:
        return PickleNotAllowed(f"{PICKLE_WHY}; {PICKLE_HOW}")
    if not uploader_is_admin:
        return PickleNotAllowed(f"{PICKLE_WHY}; while registry.allowPickle is on, only admins may upload them")
    return None


# Detection ---------------------------------------------------------------------------------------------


def detect(data: bytes, filename: str = "") -> str:
    """The format of ``data`` judged by its content; the name only decides for old text pickles."""
    head = bytes(data[:4096])
    name = filename.lower()
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                if "schema.json" in archive.namelist():
                    return "skops"
        except zipfile.BadZipFile:
            raise UnsupportedModelFile("a zip archive (as skops files are) that cannot be read: truncated or "
                                       "damaged") from None
        raise UnsupportedModelFile(f"a zip archive that is not a skops model file; supported: {SUPPORTED}")
    if _is_pickle(head) or (name.endswith(PICKLE_NAMES) and _is_compressed_pickle(head, loose=True)):
        return "pickle"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped.startswith(b"tree\n") or stripped.startswith(b"tree\r\n"):
        return "lightgbm"
    if stripped.startswith(b"{") and b"learner" in stripped[:256]:
        return "xgboost"
    if _looks_like_onnx(head, len(data)):
        return "onnx"
    if name.endswith(PICKLE_NAMES) and not _is_text(head):
        return "pickle"  # refused unless allowed; never loaded on a guess otherwise
    raise UnsupportedModelFile(f"not a model file modelyard can load (format not recognised from its content); "
                               f"supported: {SUPPORTED}")


def _is_pickle(head: bytes) -> bool:
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return True
    return bool(_PROTOCOL0.match(head)) or _is_compressed_pickle(head)


def _is_compressed_pickle(head: bytes, *, loose: bool = False) -> bool:
    """joblib's zlib/gzip/bz2/xz/lzma compressed pickles: peek at the first decompressed bytes."""
    tries = []
    if head[:1] == b"x":
        tries.append(lambda: zlib.decompressobj().decompress(head, 16))
    if head[:2] == b"\x1f\x8b":
        tries.append(lambda: zlib.decompressobj(31).decompress(head, 16))
    if head[:3] == b"BZh":
        tries.append(lambda: bz2.BZ2Decompressor().decompress(head, 16))
    if head[:6] == b"\xfd7zXZ\x00" or head[:3] == b"]\x00\x00":
        tries.append(lambda: lzma.LZMADecompressor().decompress(head, 16))
    for attempt in tries:
        try:
            inner = attempt()
        except Exception:
            if loose:
                return True
            continue
        if _is_pickle(inner):
            return True
    return False


def _is_text(head: bytes) -> bool:
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _looks_like_onnx(head: bytes, size: int) -> bool:
    """A ModelProto starts with its ir_version (field 1, a small varint) then other known fields."""
    if len(head) < 4 or head[0] != 0x08 or not 1 <= head[1] <= 30:
        return False
    position, seen = 2, 0
    while position < len(head) and seen < 4:
        tag, position = _varint(head, position)
        if tag is None or tag >> 3 not in _ONNX_FIELDS or tag & 7 not in (0, 2):
            return False
        if tag & 7 == 0:
            _, position = _varint(head, position)
        else:
            length, position = _varint(head, position)
            if length is None or (tag >> 3 != 7 and position + length > size):
                return False
            position += length
        seen += 1
    return True


def _varint(data: bytes, position: int) -> tuple[int | None, int]:
    value = shift = 0
    while position < len(data) and shift < 64:
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7
    return None, position


# Loaders ----------------------------------------------------------------------------------------------


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def load_onnx(data: bytes) -> adapters.OnnxModel:
    import onnx
    import onnxruntime

    try:
        proto = onnx.load_model_from_string(bytes(data))
    except Exception as exc:
        raise UnsupportedModelFile(f"not a readable ONNX file (truncated?): {_first_line(exc)}") from None
    _refuse_external_data(proto)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    options.log_severity_level = 4
    options.add_session_config_entry("session.load_model_format", "ONNX")
    onnxruntime.set_default_logger_severity(4)  # failures surface as exceptions, not stderr
    try:
        session = onnxruntime.InferenceSession(bytes(data), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise UnsupportedModelFile(f"the ONNX graph could not be loaded: {_first_line(exc)}") from None
    return adapters.OnnxModel(session, _onnx_classes(proto), proto.producer_name)


def _onnx_tensors(proto) -> list:
    """Every tensor in the model: initializers, sparse ones, attributes, subgraphs, functions."""
    found, graphs, nodes = [], [proto.graph], [n for f in proto.functions for n in f.node]
    while graphs or nodes:
        if graphs:
            graph = graphs.pop()
            found += list(graph.initializer)
            found += [t for s in graph.sparse_initializer for t in (s.values, s.indices)]
            nodes += list(graph.node)
            continue
        for attribute in nodes.pop().attribute:
            found += [attribute.t, *attribute.tensors]
            found += [t for s in (attribute.sparse_tensor, *attribute.sparse_tensors) for t in (s.values, s.indices)]
            graphs += [attribute.g, *attribute.graphs]
    return found


def _refuse_external_data(proto) -> None:
    import onnx

    if any(t.data_location == onnx.TensorProto.EXTERNAL or len(t.external_data) for t in _onnx_tensors(proto)):
        raise UntrustedModelFile("the ONNX file refers to external data files; modelyard accepts only "
                                 "self-contained ONNX files (save it with save_as_external_data=False)")


def _onnx_classes(proto) -> list[Any] | None:
    from onnx import helper

    for node in proto.graph.node:
        for attribute in node.attribute:
            if attribute.name in ("classlabels_strings", "classlabels_int64s", "classlabels_ints"):
                values = helper.get_attribute_value(attribute)
                return [v.decode() if isinstance(v, bytes) else int(v) for v in values]
    return None


def load_lightgbm(data: bytes) -> adapters.LightGBMModel:
    import lightgbm

    try:
        booster = lightgbm.Booster(model_str=bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, lightgbm.basic.LightGBMError, ValueError) as exc:
        raise UnsupportedModelFile(f"not a readable LightGBM model file (truncated?): {_first_line(exc)}") from None
    if getattr(booster, "pandas_categorical", None):
        raise UnsupportedModelFile("LightGBM models with pandas categorical features are not supported; "
                                   "encode the categories as integers before training")
    return adapters.LightGBMModel(booster)


def load_xgboost(data: bytes) -> adapters.XGBoostModel:
    import xgboost

    booster = xgboost.Booster()
    try:
        booster.load_model(bytearray(data))
        model = adapters.XGBoostModel(booster)
    except (xgboost.core.XGBoostError, ValueError, KeyError) as exc:
        raise UnsupportedModelFile(f"not a readable XGBoost model file (truncated?): {_first_line(exc)}") from None
    if any(t == "c" for t in (booster.feature_types or [])):
        raise UnsupportedModelFile("XGBoost models with categorical features are not supported")
    return model


def load_pickle(data: bytes) -> Any:
    """Runs the file's code: only ever reached for versions an admin uploaded while it was allowed."""
    import joblib

    try:
        estimator = joblib.load(io.BytesIO(bytes(data)))
    except Exception as exc:
        raise UnsupportedModelFile(f"the pickle/joblib file could not be loaded: {_first_line(exc)}") from None
    return estimator if getattr(estimator, "feature_names_in_", None) is not None \
        else adapters.PositionalSklearn(estimator)


def load_skops(data: bytes) -> Any:
    from modelyard.training.artifacts import ModelFileError, UntrustedModel, load

    try:
        return load(bytes(data))
    except UntrustedModel as exc:
        raise UntrustedModelFile(str(exc), details={"untrusted_types": exc.public_types}) from None
    except ModelFileError as exc:
        raise UnsupportedModelFile(f"not a readable skops file (truncated?): {_first_line(exc)}") from None
    except Exception as exc:
        raise UnsupportedModelFile(f"the skops file could not be loaded: {_first_line(exc)}") from None


# Inspection ---------------------------------------------------------------------------------------------


@dataclass
class Declared:
    """What a signature.json says."""

    inputs: list[dict[str, str]]
    classes: list[Any] | None = None
    example: dict[str, Any] | None = None


@dataclass
class Inspected:
    format: str
    model: Any
    task: str
    algorithm: str
    signature: list[dict[str, str]]
    classes: list[Any] | None
    example: dict[str, Any] = field(default_factory=dict)


def parse_signature(data: bytes) -> Declared:
    try:
        body = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Unprocessable(f"signature.json is not valid JSON: {_first_line(exc)}") from None
    inputs = body.get("inputs") if isinstance(body, dict) else body
    if not isinstance(inputs, list) or not inputs:
        raise Unprocessable('signature.json must be a list [{"name": ..., "type": ...}] or {"inputs": [...]}')
    fields, seen = [], set()
    for item in inputs:
        name = item.get("name") if isinstance(item, dict) else None
        kind = TYPE_ALIASES.get(str(item.get("type", "number")).lower()) if isinstance(item, dict) else None
        if not isinstance(name, str) or not name.strip() or len(name) > 255 or name in seen or kind is None:
            raise Unprocessable(f"signature.json: bad input {item!r}: each needs a unique name and a type "
                                f"({', '.join(sorted(set(TYPE_ALIASES.values())))})")
        seen.add(name)
        fields.append({"name": name, "type": kind})
    classes = body.get("classes") if isinstance(body, dict) else None
    example = body.get("example") if isinstance(body, dict) else None
    if classes is not None and not isinstance(classes, list) or example is not None and not isinstance(example, dict):
        raise Unprocessable("signature.json: 'classes' must be a list and 'example' an object")
    return Declared(fields, classes, example)


LOADERS = {"skops": load_skops, "onnx": load_onnx, "lightgbm": load_lightgbm, "xgboost": load_xgboost,
           "pickle": load_pickle}


def load(fmt: str, data: bytes, *, allow_pickle: bool = False) -> Any:
    if fmt == "pickle" and not allow_pickle:
        raise PickleNotAllowed(f"{PICKLE_WHY}; {PICKLE_HOW}")
    return LOADERS[fmt](data)


@dataclass
class TableInputs:
    """The non-key columns of the feature table linked at upload, in table order: the names of a
    model that carries none when no signature.json names them."""

    table: str
    inputs: list[dict[str, str]]


def inspect(fmt: str, data: bytes, *, declared: Declared | None = None, allow_pickle: bool = False,
            table: TableInputs | None = None) -> Inspected:
    """Load the model, settle its signature, task and classes, and smoke-test it on one row."""
    model = load(fmt, data, allow_pickle=allow_pickle)
    if isinstance(model, adapters.ModelAdapter):
        names, types, task = model.native_names, model.input_types, model.task
        classes, algorithm, hints = list(model.classes_) or None, model.algorithm, {}
    else:
        estimator = model.estimator if isinstance(model, adapters.PositionalSklearn) else model
        names, types, task, classes, algorithm, hints = _sklearn_facts(estimator)
    if names is None and declared is None and table is not None:
        declared = _from_table(table, len(types))
    signature = _signature(names, types, declared, hints)
    if declared and declared.classes is not None:
        if task != "classification" or (classes and len(declared.classes) != len(classes)):
            raise Unprocessable(f"signature.json: 'classes' lists {len(declared.classes)} labels but the model "
                                f"has {len(classes or [])} classes" if task == "classification"
                                else "signature.json: 'classes' given for a model that is not a classifier")
        classes = list(declared.classes)
    example = {f["name"]: hints.get(f["name"], _zero(f["type"])) for f in signature}
    example.update((declared.example or {}) if declared else {})
    inspected = Inspected(fmt, model, task, algorithm[:100], signature, classes, example)
    smoke_test(inspected)
    if task == "classification" and not inspected.classes:
        inspected.classes = list(getattr(model, "classes_", None) or []) or None  # ONNX ZipMap: known once run
    return inspected


def _from_table(table: TableInputs, width: int) -> Declared:
    if width and len(table.inputs) != width:
        shown = ", ".join(f["name"] for f in table.inputs[:10]) + (", …" if len(table.inputs) > 10 else "")
        raise Unprocessable(f"the model names no inputs and takes {width}, so modelyard would name them after the "
                            f"non-key columns of feature table {table.table!r}, but it has {len(table.inputs)} "
                            f"({shown}); add a signature.json artifact naming the {width} inputs in order")
    kinds = {"integer": "integer", "number": "number", "boolean": "integer"}
    return Declared([{"name": f["name"], "type": kinds.get(f.get("type"), "string")} for f in table.inputs])


def _signature(names: list[str] | None, types: list[str], declared: Declared | None,
               hints: dict[str, Any]) -> list[dict[str, str]]:
    width = len(names) if names is not None else len(types)
    if declared is None:
        if names is None and not width:
            raise Unprocessable("the model does not say how many inputs it takes; add a signature.json artifact "
                                "naming them")
        names = names if names is not None else [f"f{i}" for i in range(width)]
        return [{"name": n, "type": "string" if isinstance(hints.get(n), str) else (types[i] if i < len(types)
                 else "number")} for i, n in enumerate(names)]
    given = [f["name"] for f in declared.inputs]
    if width and len(given) != width:
        raise Unprocessable(f"signature.json names {len(given)} inputs but the model takes {width}")
    if names is not None and set(given) != set(names):
        raise Unprocessable(f"signature.json names inputs {given[:10]} but the model's own inputs are {names[:10]}; "
                            "they must be the same")
    if names is None:
        return list(declared.inputs)
    kinds = {f["name"]: f["type"] for f in declared.inputs}
    return [{"name": n, "type": kinds[n]} for n in names]


def _sklearn_facts(estimator: Any):
    from sklearn.base import is_classifier

    names = getattr(estimator, "feature_names_in_", None)
    names = [str(n) for n in names] if names is not None else None
    width = len(names) if names is not None else int(getattr(estimator, "n_features_in_", 0) or 0)
    task = "classification" if is_classifier(estimator) else "regression"
    classes = getattr(estimator, "classes_", None)
    classes = [c.item() if hasattr(c, "item") else c for c in classes] if task == "classification" \
        and classes is not None else None
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return names, ["number"] * width, task, classes, type(final).__name__, _category_examples(estimator)


def _category_examples(estimator: Any) -> dict[str, Any]:
    """Columns that a ColumnTransformer sends to a category encoder, each with a known category."""
    first = estimator.steps[0][1] if hasattr(estimator, "steps") else estimator
    found: dict[str, Any] = {}
    for _, transformer, columns in getattr(first, "transformers_", []) or []:
        steps = [s for _, s in transformer.steps] if hasattr(transformer, "steps") else [transformer]
        encoder = next((s for s in steps if hasattr(s, "categories_")), None)
        if encoder is None or not isinstance(columns, list):
            continue
        for column, categories in zip(columns, encoder.categories_):
            values = [c for c in categories if isinstance(c, str)]
            if values:
                found[str(column)] = values[0]
    return found


def _zero(kind: str) -> Any:
    return "" if kind == "string" else 0


def smoke_test(inspected: Inspected) -> None:
    """Predict one synthetic row; refuse the model with the loader's error when it cannot."""
    from modelyard.serving.predictors import NativePredictor

    model = inspected.model
    try:
        predictor = NativePredictor(adapters.bind(model, inspected.signature), inspected.task, inspected.classes,
                                    inspected.signature)
        rows = predictor.predict_rows([inspected.example]).rows()
        if len(rows) != 1:
            raise ValueError(f"{len(rows)} predictions for one row")
    except AppError as exc:
        raise ModelCannotPredict(f"the model could not predict a synthetic row built from its signature "
                                 f"{inspected.example!r}: {exc.message}") from None
    except Exception as exc:
        raise ModelCannotPredict(f"the model could not predict a synthetic row built from its signature "
                                 f"{inspected.example!r}: {type(exc).__name__}: {_first_line(exc)}") from None
