"""The model registry: versions under names, deploy/archive/delete, and the one predict resolver."""
from __future__ import annotations

import logging
import re
from typing import Any, BinaryIO, Callable, Iterable

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import new_id, utcnow
from modelyard.errors import AppError, BadRequest, Conflict, Forbidden, NotFound
from modelyard.registry.models import ModelVersion, RegisteredModel
from modelyard.storage.base import BlobStore

log = logging.getLogger("modelyard.registry")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 _.()-]{0,99}$")
SORTS = {"created_at": ModelVersion.created_at.desc(), "name": RegisteredModel.name.asc()}


class ModelNotFound(NotFound):
    code = "MODEL_NOT_FOUND"

    def __init__(self, ref: Any):
        super().__init__("model", ref)


class ModelNotDeployed(AppError):
    status, code, title = 409, "MODEL_NOT_DEPLOYED", "Model not deployed"


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not NAME.match(name) or ".." in name:
        raise BadRequest(f"invalid model name {name!r}: letters, digits, spaces and _ . - ( ) only, "
                         "at most 100 characters, no slashes")
    return name


class RegistryService:
    """`on_deploy(version_id)` runs after a deploy commits (the serving path settles its predictor then)."""

    def __init__(self, session: Session, blobs: BlobStore | None, *,
                 on_deploy: Callable[[str], Any] | None = None):
        self._session = session
        self._blobs = blobs
        self._on_deploy = on_deploy

    # Creating ----------------------------------------------------------

    def model_named(self, name: str, *, owner: User, create: bool = False,
                    description: str | None = None) -> RegisteredModel | None:
        name = check_name(name)
        model = self._session.scalar(select(RegisteredModel).where(
            RegisteredModel.owner_id == owner.id, RegisteredModel.name == name))
        if model is None and create:
            model = RegisteredModel(id=new_id("reg"), name=name, owner_id=owner.id, description=description)
            self._session.add(model)
            self._session.flush()
        return model

    def create_version(self, *, owner: User, name: str, artifact: bytes | BinaryIO | Iterable[bytes],
                       artifact_name: str, format: str, task: str, algorithm: str, label: str | None = None,
                       description: str | None = None, deploy: bool = False, max_bytes: int | None = None,
                       **fields: Any) -> ModelVersion:
        """Store the artifact, then register the version; a failure leaves neither behind."""
        model = self.model_named(name, owner=owner, create=True, description=description)
        number = (self._session.scalar(select(func.max(ModelVersion.number))
                                       .where(ModelVersion.model_id == model.id)) or 0) + 1
        label = str(label or number)
        if self._session.scalar(select(ModelVersion.id).where(ModelVersion.model_id == model.id,
                                                              ModelVersion.label == label)):
            raise Conflict(f"model {model.name!r} already has a version {label!r}")
        version = ModelVersion(id=new_id("model"), model_id=model.id, owner_id=owner.id, number=number, label=label,
                               task=task, algorithm=algorithm, format=format, status="trained", **fields)
        version.artifact_key = f"models/{model.id}/{version.id}/{artifact_name}"
        info = self._blobs.put(version.artifact_key, artifact, max_bytes=max_bytes)
        version.artifact_size = info.size
        try:
            self._session.add(version)
            self._session.flush()
            if deploy:
                self._deploy(version)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            self._blobs.delete(version.artifact_key)
            raise
        if deploy:
            self._deployed(version)
        return version

    # Reading -----------------------------------------------------------

    def get_version(self, version_id: str, *, viewer: User) -> ModelVersion:
        version = self._session.get(ModelVersion, version_id)
        if version is None or not viewer.can_see(version):
            raise ModelNotFound(version_id)
        return version

    def model_by_name(self, name: str, *, viewer: User) -> RegisteredModel:
        """The one rule for a model named by a user: their own first; else the built-in gallery model of that
        name (so one user's `lead-score` never hides the built-in from anyone else, admins included); else the
        only one they can see; several others' (an admin's view) are a conflict naming them, never a guess."""
        models = [m for m in self._session.scalars(select(RegisteredModel).where(RegisteredModel.name == name)
                                                   .order_by(RegisteredModel.created_at)) if viewer.can_see(m)]
        own = [m for m in models if m.owner_id == viewer.id]
        if own:
            return own[0]
        builtin = [m for m in models if m.builtin]
        if builtin:
            return builtin[0]
        if len(models) > 1:
            raise Conflict(f"several users have a model named {name!r}; name a version id instead "
                           "(GET /api/models?name=... lists them)", details={"model_ids": [m.id for m in models]})
        if not models:
            raise ModelNotFound(name)
        return models[0]

    def resolve(self, ref: str, *, viewer: User) -> ModelVersion:
        """A version id, or a model (its name, or its `reg_…` id) meaning its deployed version (DESIGN: one
        predict resolver)."""
        version = self._session.get(ModelVersion, ref)
        if version is not None and viewer.can_see(version):
            return version
        model = self._session.get(RegisteredModel, ref) if ref.startswith("reg_") else None  # /upload_model's model_id
        if model is None or not viewer.can_see(model):
            model = self.model_by_name(ref, viewer=viewer)
        if model.deployed_version_id is None:
            raise ModelNotDeployed(f"model {ref!r} has no deployed version; deploy one with "
                                   f"POST /api/models/{{model_id}}/deploy")
        return self._session.get(ModelVersion, model.deployed_version_id)

    def list_versions(self, *, viewer: User, status: str | None = None, sort: str = "created_at",
                      limit: int = 20, page: int = 1, name: str | None = None) -> tuple[list[ModelVersion], int]:
        query = select(ModelVersion).join(RegisteredModel)
        if not viewer.is_admin:
            query = query.where(or_(ModelVersion.owner_id == viewer.id, RegisteredModel.builtin.is_(True)))
        if status:
            query = query.where(ModelVersion.status == status)
        if name:
            query = query.where(RegisteredModel.name == name)
        total = self._session.scalar(select(func.count()).select_from(query.subquery())) or 0
        if sort == "accuracy":
            rows = list(self._session.scalars(query))
            rows.sort(key=lambda v: -(v.metrics or {}).get("accuracy", float("-inf")))
            return rows[(page - 1) * limit: page * limit], total
        ordered = query.order_by(SORTS[sort], ModelVersion.number.desc())
        return list(self._session.scalars(ordered.limit(limit).offset((page - 1) * limit))), total

    def count_versions(self, *, viewer: User | None = None) -> int:
        query = select(func.count()).select_from(ModelVersion).join(RegisteredModel)
        if viewer is not None and not viewer.is_admin:  # what list_versions shows them: their own and built-ins
            query = query.where(or_(ModelVersion.owner_id == viewer.id, RegisteredModel.builtin.is_(True)))
        return self._session.scalar(query) or 0

    # Changing ----------------------------------------------------------

    def _deploy(self, version: ModelVersion) -> None:
        model = version.model
        if model.deployed_version_id and model.deployed_version_id != version.id:
            previous = self._session.get(ModelVersion, model.deployed_version_id)
            if previous is not None and previous.status == "deployed":
                previous.status = "trained"
        version.status, version.deployed_at, version.archived_at = "deployed", utcnow(), None
        model.deployed_version_id, model.updated_at = version.id, utcnow()

    @staticmethod
    def _check_change(version: ModelVersion, actor: User | None) -> None:
        """Routes pass the acting user: a built-in gallery model is changed by admins only (jobs and the
        gallery itself pass none)."""
        if actor is not None and not actor.can_change(version):
            raise Forbidden(f"model {version.name!r} is a built-in gallery model; only an admin may change it")

    def deploy(self, version: ModelVersion, *, actor: User | None = None) -> ModelVersion:
        """Make this the version its name resolves to; the old one stays downloadable."""
        self._check_change(version, actor)
        self._deploy(version)
        self._session.commit()
        self._deployed(version)
        return version

    def _deployed(self, version: ModelVersion) -> None:
        if self._on_deploy is None:
            return
        try:
            self._on_deploy(version.id)
        except Exception:  # deployed all the same; the first request will load it (and say why it fails)
            log.warning("could not prepare the predictor of %s at deploy", version.id, exc_info=True)

    def archive(self, version: ModelVersion, *, actor: User | None = None) -> ModelVersion:
        self._check_change(version, actor)
        if version.model.deployed_version_id == version.id:
            version.model.deployed_version_id = None
        version.status, version.archived_at = "archived", utcnow()
        self._session.commit()
        return version

    def delete(self, version: ModelVersion, *, actor: User | None = None) -> None:
        self._check_change(version, actor)
        model = version.model
        if model.deployed_version_id == version.id:
            model.deployed_version_id = None
        keys = [version.artifact_key, *(version.artifacts or {}).values()]
        keys += [(version.serving or {})["bundle"]] if (version.serving or {}).get("bundle") else []
        self._session.delete(version)
        self._session.flush()
        if not self._session.scalar(select(func.count()).select_from(ModelVersion)
                                    .where(ModelVersion.model_id == model.id)):
            self._session.delete(model)
        self._session.commit()
        for key in keys:
            self._blobs.delete(key)
