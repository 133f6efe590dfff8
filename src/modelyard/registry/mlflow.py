"""MLflow model directories (uploaded as a zip) into the registry, through the same checks as any upload.

An MLflow model is a folder with an ``MLmodel`` YAML file naming its flavors, each with the path of its
model file, plus an optional signature and input example. modelyard reads only the flavors whose files it
loads without running code, and hands that one file to ``UploadService.upload`` (size limit, format judged by
content, pickle policy, loading and a smoke test in a child process, storage), with the MLflow signature as
its ``signature.json`` and the ``MLmodel`` file kept as an artifact:

- ``onnx`` (``data: model.onnx``) → ONNX;
- ``lightgbm`` (``data: model.lgb``; a scikit-learn-API model is ``model.pkl``, a pickle) → LightGBM text;
- ``xgboost`` (``data: model.xgb|model.json|model.ubj``, ``model_format``) → XGBoost JSON/UBJSON;
- ``sklearn`` (``pickled_model``, ``serialization_format: skops|cloudpickle|pickle``) → skops, or a pickle.

A pickle (cloudpickle or pickle ``serialization_format``, or any file whose content is one) meets the upload's
rule: refused unless an admin switched ``registry.allowPickle`` on, and then only for admins. A model with only
a ``python_function`` flavor, or whose ``python_function`` loads through a module other than its native
flavor's (custom pre- or post-processing code), is refused: its behaviour lives in code modelyard never runs.

The archive is read in memory, never unpacked to disk: every member is looked up by its exact name, read
with a byte limit (whatever size the zip declares), and every path the ``MLmodel`` file names must stay
inside the model folder (no absolute paths, no ``..``, no backslashes).
"""
from __future__ import annotations

import io
import json
import posixpath
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from modelyard.auth.models import User
from modelyard.errors import BadRequest, PayloadTooLarge, Unprocessable
from modelyard.features.models import FeatureTable
from modelyard.ops import metrics
from modelyard.registry import formats
from modelyard.registry.formats import UnsupportedModelFile
from modelyard.registry.uploads import Upload, Uploaded, UploadService, read_limited

MLMODEL = "MLmodel"
MAX_METADATA_BYTES = 1024 * 1024  # MLmodel, input_example.json
MAX_MEMBERS = 10_000
# Flavor → (modelyard format, the key naming its file, MLflow's pyfunc loader module), in order of preference.
FLAVORS = {
    "onnx": ("onnx", "data", "mlflow.onnx"),
    "lightgbm": ("lightgbm", "data", "mlflow.lightgbm"),
    "xgboost": ("xgboost", "data", "mlflow.xgboost"),
    "sklearn": ("skops", "pickled_model", "mlflow.sklearn"),
}
PICKLE_SERIALIZATIONS = ("pickle", "cloudpickle")
# MLflow's column types (mlflow/types/schema.py DataType) → the registry's signature types.
TYPES = {"double": "number", "float": "number", "long": "integer", "integer": "integer", "boolean": "integer",
         "string": "string"}


class NotAnMlflowModel(UnsupportedModelFile):
    """The archive is not a readable MLflow model, or its MLmodel file is malformed."""


class UnsupportedFlavor(UnsupportedModelFile):
    code, title = "UNSUPPORTED_MLFLOW_FLAVOR", "Unsupported MLflow flavor"


@dataclass
class MlflowModel:
    """What the import takes from an MLflow model folder."""

    flavor: str
    serialization: str | None  # the sklearn flavor's serialization_format
    filename: str
    model: bytes
    signature_json: bytes | None  # the MLflow signature as modelyard's signature.json, when it names inputs
    mlmodel: bytes
    run_id: str | None
    mlflow_version: str | None


def read_archive(data: bytes, *, max_bytes: int) -> MlflowModel:
    """The flavor modelyard loads, its model file, signature and example, from a zip of an MLflow model folder."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError):
        raise NotAnMlflowModel("not a zip archive: send the MLflow model folder (the one holding MLmodel) as "
                               "a .zip") from None
    with archive:
        members = archive.infolist()
        if len(members) > MAX_MEMBERS:
            raise BadRequest(f"the archive holds {len(members)} entries; at most {MAX_MEMBERS}")
        root = _root(archive)
        raw = _read(archive, _join(root, MLMODEL, what="MLmodel"), MAX_METADATA_BYTES, "MLmodel")
        meta = parse_mlmodel(raw)
        flavor, conf = choose_flavor(meta["flavors"])
        path = conf.get(FLAVORS[flavor][1])
        if not isinstance(path, str) or not path.strip():
            raise NotAnMlflowModel(f"MLmodel: the {flavor} flavor names no model file "
                                   f"({FLAVORS[flavor][1]!r} is missing)")
        member = _join(root, path, what=f"the {flavor} flavor's {FLAVORS[flavor][1]}")
        model = _read(archive, member, max_bytes, f"the model file {path}")
        signature = signature_json(meta.get("signature"), _example(archive, root, meta))
    serialization = conf.get("serialization_format") if flavor == "sklearn" else None
    return MlflowModel(flavor, str(serialization) if serialization else None, posixpath.basename(member), model,
                       signature, raw, _text(meta.get("run_id")), _text(meta.get("mlflow_version")))


def parse_mlmodel(raw: bytes) -> dict[str, Any]:
    """The MLmodel YAML as a mapping with a ``flavors`` mapping (yaml.safe_load: no tags, no objects)."""
    import yaml

    try:
        meta = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise NotAnMlflowModel(f"MLmodel is not valid YAML: {first}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("flavors"), dict) or not meta["flavors"]:
        raise NotAnMlflowModel("MLmodel must be a mapping with a 'flavors' mapping (as MLflow writes it)")
    if not all(isinstance(conf, dict) for conf in meta["flavors"].values()):
        raise NotAnMlflowModel("MLmodel: each flavor must be a mapping of its settings")
    return meta


def choose_flavor(flavors: dict[str, dict]) -> tuple[str, dict]:
    """The first flavor modelyard loads natively; refuses pyfunc-only (custom code) models and others."""
    found = next((name for name in FLAVORS if name in flavors), None)
    if found is None:
        names = ", ".join(sorted(map(str, flavors)))
        if set(flavors) <= {"python_function"}:
            loader = flavors["python_function"].get("loader_module")
            raise UnsupportedFlavor(f"this MLflow model has only the python_function flavor (loader_module "
                                    f"{loader!r}): its predictions come from Python code, which modelyard never "
                                    f"runs; save it with a native flavor (onnx, lightgbm, xgboost, or sklearn "
                                    f"with serialization_format='skops') or convert it to ONNX")
        raise UnsupportedFlavor(f"this MLflow model's flavors ({names}) are not ones modelyard loads; supported: "
                                f"{', '.join(FLAVORS)} (sklearn saved with serialization_format='skops')")
    pyfunc = flavors.get("python_function") or {}
    loader = pyfunc.get("loader_module")
    if loader is not None and loader != FLAVORS[found][2]:
        raise UnsupportedFlavor(f"this MLflow model's python_function flavor loads through {loader!r}, not "
                                f"{FLAVORS[found][2]!r}: its predictions depend on custom code that modelyard "
                                f"never runs; import the bare {found} model instead")
    return found, flavors[found]


def signature_json(signature: Any, example: dict[str, Any] | None) -> bytes | None:
    """MLflow's column signature as a modelyard ``signature.json``; None when it names no inputs (tensors)."""
    if signature is None:
        return None
    if not isinstance(signature, dict) or not isinstance(signature.get("inputs", ""), (str, type(None))):
        raise NotAnMlflowModel("MLmodel: 'signature' must be a mapping whose 'inputs' is a JSON string")
    if not signature.get("inputs"):
        return None
    try:
        columns = json.loads(signature["inputs"])
    except ValueError as exc:
        raise NotAnMlflowModel(f"MLmodel: signature inputs are not valid JSON: {exc}") from None
    if not isinstance(columns, list) or not all(isinstance(c, dict) for c in columns):
        raise NotAnMlflowModel("MLmodel: signature inputs must be a JSON list of {\"name\", \"type\"} objects")
    if not columns or any(c.get("type") == "tensor" or "name" not in c for c in columns):
        return None  # a tensor signature names no columns: the model's own names (or positions) apply
    inputs = []
    for column in columns:
        kind = TYPES.get(str(column.get("type")))
        if kind is None:
            raise Unprocessable(f"MLmodel: input {column.get('name')!r} has MLflow type {column.get('type')!r}; "
                                f"modelyard reads {', '.join(TYPES)}")
        inputs.append({"name": str(column["name"]), "type": kind})
    body: dict[str, Any] = {"inputs": inputs}
    names = {c["name"] for c in inputs}
    if example and set(example) >= names:
        body["example"] = {k: v for k, v in example.items() if k in names}
    return json.dumps(body).encode()


def first_example_row(raw: bytes) -> dict[str, Any] | None:
    """The first row of an MLflow input example (pandas 'split' orient, as MLflow saves a DataFrame, with or
    without the serving ``dataframe_split`` wrapper, or records); None for shapes without columns (tensors)."""
    try:
        body = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise NotAnMlflowModel(f"the input example is not valid JSON: {exc}") from None
    if isinstance(body, dict) and isinstance(body.get("dataframe_split"), dict):
        body = body["dataframe_split"]
    if isinstance(body, dict) and isinstance(body.get("dataframe_records"), list):
        body = body["dataframe_records"]
    if isinstance(body, dict) and isinstance(body.get("columns"), list) and isinstance(body.get("data"), list):
        rows = body["data"]
        if rows and isinstance(rows[0], list) and len(rows[0]) == len(body["columns"]):
            row = dict(zip(map(str, body["columns"]), rows[0]))
            return row if all(_scalar(v) for v in row.values()) else None
        return None
    if isinstance(body, list) and body and isinstance(body[0], dict):
        body = body[0]
    if isinstance(body, dict) and body and all(_scalar(v) for v in body.values()):
        return {str(k): v for k, v in body.items()}
    return None


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _example(archive: zipfile.ZipFile, root: str, meta: dict[str, Any]) -> dict[str, Any] | None:
    info = meta.get("saved_input_example_info")
    path = info.get("artifact_path") if isinstance(info, dict) else None
    if path is None:
        path = "input_example.json"
        if _join(root, path, what="input example") not in archive.namelist():
            return None
    elif not isinstance(path, str):
        raise NotAnMlflowModel("MLmodel: saved_input_example_info.artifact_path must be a file name")
    member = _join(root, path, what="saved_input_example_info.artifact_path")
    return first_example_row(_read(archive, member, MAX_METADATA_BYTES, f"the input example {path}"))


def _root(archive: zipfile.ZipFile) -> str:
    """The folder holding MLmodel: the archive's top level, or its one top-level folder."""
    names = [n for n in archive.namelist() if not n.endswith("/")]
    if MLMODEL in names:
        return ""
    candidates = sorted({n.rsplit("/", 1)[0] for n in names if n.count("/") == 1 and n.endswith("/" + MLMODEL)})
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        raise NotAnMlflowModel(f"the archive holds several MLflow models ({', '.join(candidates[:5])}); send one")
    raise NotAnMlflowModel("the archive has no MLmodel file at its top level or in one top-level folder: zip "
                           "the MLflow model folder itself")


def _join(root: str, path: str, *, what: str) -> str:
    """``root/path`` when ``path`` stays inside the model folder; refused otherwise."""
    if "\\" in path or "\x00" in path or path.startswith("/") or (len(path) > 1 and path[1] == ":"):
        raise BadRequest(f"MLmodel: {what} {path!r} is not a relative path inside the model folder")
    clean = posixpath.normpath(path)
    if clean == ".." or clean.startswith("../") or clean in (".", ""):
        raise BadRequest(f"MLmodel: {what} {path!r} points outside the model folder")
    return f"{root}/{clean}" if root else clean


def _read(archive: zipfile.ZipFile, member: str, limit: int, what: str) -> bytes:
    """A member read in chunks up to ``limit`` bytes, whatever size the archive declares for it."""
    try:
        info = archive.getinfo(member)
    except KeyError:
        raise NotAnMlflowModel(f"{what} is named in MLmodel but not in the archive") from None
    if info.file_size > limit:
        raise PayloadTooLarge(f"{what} is larger than the limit of {limit} bytes")
    body = bytearray()
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(1 << 20):
                body += chunk
                if len(body) > limit:
                    raise PayloadTooLarge(f"{what} is larger than the limit of {limit} bytes")
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        raise NotAnMlflowModel(f"{what} could not be read from the archive: {exc}") from None
    return bytes(body)


def _text(value: Any) -> str | None:
    return str(value)[:200] if value is not None else None


def import_archive(uploads: UploadService, owner: User, *, archive: Upload, name: str, label: str | None,
                   max_bytes: int, description: str | None = None, deploy: bool = False,
                   feature_table: FeatureTable | None = None) -> Uploaded:
    """Register the model of a zipped MLflow folder as ``name``/``label`` through ``UploadService.upload``."""
    try:
        found = read_archive(read_limited(archive.stream, max_bytes, "the MLflow model archive"), max_bytes=max_bytes)
        expected = "pickle" if found.serialization in PICKLE_SERIALIZATIONS else FLAVORS[found.flavor][0]
        actual = formats.detect(found.model, found.filename)
        if actual != "pickle" and actual != expected:  # a pickle meets the upload's own pickle rule below
            raise UnsupportedModelFile(f"MLmodel says {found.flavor}"
                                       + (f" ({found.serialization})" if found.serialization else "")
                                       + f" but {found.filename} is a {actual} file")
    except BaseException:
        metrics.observe_model_upload("", "refused")  # refusals past this point are counted by the upload
        raise
    artifacts = [Upload(MLMODEL, io.BytesIO(found.mlmodel))]
    if found.signature_json is not None:
        artifacts.append(Upload(formats.SIGNATURE_FILE, io.BytesIO(found.signature_json)))
    return uploads.upload(owner, name=name, label=label, description=description, deploy=deploy,
                          feature_table=feature_table, model_file=Upload(found.filename, io.BytesIO(found.model)),
                          artifacts=artifacts, params={"imported_from": "mlflow", "mlflow_flavor": found.flavor,
                                                       "mlflow_run_id": found.run_id,
                                                       "mlflow_version": found.mlflow_version})
