"""Models trained elsewhere into the registry: check, load safely, smoke-test, then store.

Nothing is registered until every check passed: the name, the version, the file names, the size,
the format (from the content), the pickle policy, the signature and a prediction on one synthetic
row. Artifacts are stored first under keys of their own and removed again if registration fails;
the model's blob and row are written by ``RegistryService.create_version``, which undoes its own
part on failure. File names are reduced to their last path segment and to ``[A-Za-z0-9._-]``, so a
client's name never becomes a path.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import BinaryIO, Iterator

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import new_id
from modelyard.errors import BadRequest, Conflict, PayloadTooLarge
from modelyard.features.models import FeatureTable
from modelyard.ops import activity, metrics
from modelyard.ops.settings import SettingsService
from modelyard.registry import formats, isolation
from modelyard.registry.models import ModelVersion
from modelyard.registry.service import ModelNotFound, RegistryService, check_name
from modelyard.storage.base import BlobStore

LABEL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
MAX_SIGNATURE_BYTES = 1024 * 1024
MAX_ARTIFACTS = 50
EXTENSIONS = {"skops": "skops", "onnx": "onnx", "lightgbm": "txt", "xgboost": "json", "pickle": "pkl"}


def check_label(label: str | None) -> str | None:
    if label is None or not str(label).strip():
        return None
    label = str(label).strip()
    if not LABEL.match(label) or ".." in label:
        raise BadRequest(f"invalid model_version {label!r}: letters, digits and _ . - only, at most 64 characters")
    return label


def safe_filename(raw: str | None) -> str:
    """The last path segment of a client's file name, reduced to [A-Za-z0-9._-]; '' when nothing is left."""
    base = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip("._-")[:100]


def read_limited(stream: BinaryIO, limit: int, what: str) -> bytes:
    body = bytearray()
    while chunk := stream.read(1 << 20):
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"{what} is larger than the limit of {limit} bytes")
    return bytes(body)


def version_named(session: Session, name: str, label: str | None, *, viewer: User) -> ModelVersion:
    """A model by name (``RegistryService.model_by_name``) and its version by label; no label: the deployed one."""
    model = RegistryService(session, None).model_by_name(check_name(name), viewer=viewer)
    if label is None or not str(label).strip():
        version = session.get(ModelVersion, model.deployed_version_id) if model.deployed_version_id else None
        if version is None:
            raise ModelNotFound(f"{name} (no version given and none deployed)")
        return version
    label = str(label).strip()
    version = next((v for v in model.versions if v.label == label), None) or \
        next((v for v in model.versions if label.isdigit() and v.number == int(label)), None)
    if version is None:
        raise ModelNotFound(f"{name} version {label}")
    return version


@dataclass
class Upload:
    filename: str | None
    stream: BinaryIO


@dataclass
class Uploaded:
    version: ModelVersion
    model_path: str
    artifact_paths: list[str]


class UploadService:
    def __init__(self, session: Session, blobs: BlobStore, registry: RegistryService, app_settings: SettingsService,
                 *, max_bytes: int):
        self._session = session
        self._blobs = blobs
        self._registry = registry
        self._app_settings = app_settings
        self._max_bytes = max_bytes

    def upload(self, owner: User, *, name: str, label: str | None, model_file: Upload, artifacts: list[Upload],
               description: str | None = None, deploy: bool = False,
               feature_table: FeatureTable | None = None, params: dict | None = None) -> Uploaded:
        """``params``: where the model came from, kept in the version's params beside the file name."""
        self._format = ""
        try:
            result = self._upload(owner, name, label, model_file, artifacts, description, deploy, feature_table,
                                  params or {})
        except BaseException:
            metrics.observe_model_upload(self._format, "refused")
            raise
        metrics.observe_model_upload(result.version.format, "accepted", result.version.artifact_size)
        return result

    def _upload(self, owner, name, label, model_file, artifacts, description, deploy, feature_table,
                params) -> Uploaded:
        name, label = check_name(name), check_label(label)
        model = self._registry.model_named(name, owner=owner)
        if model is not None and label is not None and any(v.label == label for v in model.versions):
            raise Conflict(f"model {name!r} already has a version {label!r}")
        names = self._artifact_names(artifacts)
        data = read_limited(model_file.stream, self._max_bytes, "the model file")
        if not data:
            raise BadRequest("the model file is empty")
        fmt = self._format = formats.detect(data, model_file.filename or "")
        refusal = formats.pickle_refusal(allowed_by_setting=self._app_settings.section("registry").allowPickle,
                                         uploader_is_admin=owner.is_admin) if fmt == "pickle" else None
        if refusal is not None:
            raise refusal
        declared = None
        if formats.SIGNATURE_FILE in names:
            upload = artifacts[names.index(formats.SIGNATURE_FILE)]
            raw = read_limited(upload.stream, MAX_SIGNATURE_BYTES, "signature.json")
            declared = formats.parse_signature(raw)
            upload.stream.seek(0)
        facts = isolation.inspect(fmt, data, declared=declared, allow_pickle=fmt == "pickle",
                                  table=self._table_inputs(feature_table) if feature_table else None)
        if feature_table is not None:
            self._check_table_covers(feature_table, facts["signature"])
        filename = safe_filename(model_file.filename) or f"model.{EXTENSIONS[fmt]}"
        stored = dict(self._store_artifacts(names, artifacts))
        try:
            if model is not None and description:
                model.description = description
            version = self._registry.create_version(
                owner=owner, name=name, artifact=data, artifact_name=filename, format=fmt, task=facts["task"],
                algorithm=facts["algorithm"], label=label, description=description, deploy=deploy,
                max_bytes=self._max_bytes, signature=facts["signature"], classes=facts["classes"],
                artifacts=stored, feature_table=feature_table.id if feature_table else None,
                params={**params, "uploaded_file": filename}, metrics={})
        except IntegrityError:
            self._session.rollback()
            self._delete(stored.values())
            raise Conflict(f"model {name!r} already has a version {label!r}") from None
        except BaseException:
            self._session.rollback()
            self._delete(stored.values())
            raise
        activity.record(self._session, "model", f"Uploaded model '{name}' version {version.label} ({fmt})",
                        user=owner, details={"model_id": version.id, "format": fmt, "deployed": deploy})
        base = f"{name}/{version.label}"
        return Uploaded(version, f"{base}/{filename}", [f"{base}/artifacts/{n}" for n in names])

    @staticmethod
    def _artifact_names(artifacts: list[Upload]) -> list[str]:
        if len(artifacts) > MAX_ARTIFACTS:
            raise BadRequest(f"at most {MAX_ARTIFACTS} artifact files per version")
        names = [safe_filename(a.filename) for a in artifacts]
        for raw, clean in zip(artifacts, names):
            if not clean:
                raise BadRequest(f"artifact file name {raw.filename!r} has nothing usable as a file name")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise BadRequest(f"two artifact files are named {', '.join(duplicates)}")
        return names

    def _store_artifacts(self, names: list[str], artifacts: list[Upload]) -> Iterator[tuple[str, str]]:
        stored: list[str] = []
        prefix = f"models/artifacts/{new_id('art')}"
        try:
            for name, upload in zip(names, artifacts):
                key = f"{prefix}/{name}"
                self._blobs.put(key, upload.stream, max_bytes=self._max_bytes)
                stored.append(key)
        except BaseException:
            self._delete(stored)
            raise
        return zip(names, stored)

    def _delete(self, keys) -> None:
        for key in list(keys):
            self._blobs.delete(key)

    def _table_inputs(self, table: FeatureTable) -> formats.TableInputs:
        from modelyard.features.models import FeatureTableVersion

        current = self._session.get(FeatureTableVersion, table.current_version_id) if table.current_version_id else None
        columns = [c for c in (current.columns if current else []) if c["name"] not in set(table.key_columns)]
        return formats.TableInputs(table.name, columns)

    def _check_table_covers(self, table: FeatureTable, signature: list[dict]) -> None:
        from modelyard.features.service import check_covers

        check_covers(self._session, table, signature)

    def open(self, version: ModelVersion, artifact: str | None = None) -> tuple[str, Iterator[bytes], int]:
        """(file name, byte stream, size) of the model file or one of its artifacts, as uploaded."""
        if artifact is None:
            key = version.artifact_key
        else:
            wanted = safe_filename(artifact)
            key = (version.artifacts or {}).get(wanted)
            if key is None:
                raise ModelNotFound(f"{version.name} version {version.label} artifact {artifact}")
        size = self._blobs.stat(key).size
        return key.rsplit("/", 1)[-1], self._blobs.open(key), size
