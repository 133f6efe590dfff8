"""Which model version a route under `/api/models/{model_id}` (or a feature-table link) acts on.

The registry hands out two kinds of id: a version id (`model_…`: training answers it, `GET /api/models` lists
it, `/upload_model` answers it as `model_version_id`) and a registered model's id (`reg_…`: `/upload_model`
answers it as `model_id`, the name its contract gives it). Routes that read, deploy or link take either; a
`reg_…` id stands for that model's newest version. Archiving and deleting act on one exact version, so they
take only a version id and answer a 404 that says which id to send.
"""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path
from sqlalchemy.orm import Session

from modelyard.api.deps import CurrentUser, RegistryDep, SessionDep
from modelyard.auth.models import User
from modelyard.registry.models import ModelVersion, RegisteredModel
from modelyard.registry.service import ModelNotFound, RegistryService

REGISTERED_PREFIX = "reg_"
ID_HELP = ("a model version id (`model_…`), or a registered model's id (`reg_…`, the `model_id` of "
           "`/upload_model`) meaning that model's newest version")
EXACT_HELP = "a model version id (`model_…`): the `model_version_id` of `/upload_model`, or an `id` of GET /api/models"


class ExactVersionNeeded(ModelNotFound):
    def __init__(self, ref: str):
        super().__init__(ref)
        self.message = (f"{ref} is a registered model's id; this route acts on one version: send a model version "
                        "id (model_…), the model_version_id of /upload_model or an id from GET /api/models?name=…")


def version_of(ref: str, *, viewer: User, registry: RegistryService, session: Session,
               exact: bool = False) -> ModelVersion:
    if not ref.startswith(REGISTERED_PREFIX):
        return registry.get_version(ref, viewer=viewer)
    if exact:
        raise ExactVersionNeeded(ref)
    model = session.get(RegisteredModel, ref)
    if model is None or not viewer.can_see(model) or not model.versions:
        raise ModelNotFound(ref)
    return model.versions[-1]  # ordered by number


def model_version(model_id: Annotated[str, Path(description=ID_HELP)], user: CurrentUser, registry: RegistryDep,
                  session: SessionDep) -> ModelVersion:
    return version_of(model_id, viewer=user, registry=registry, session=session)


def exact_model_version(model_id: Annotated[str, Path(description=EXACT_HELP)], user: CurrentUser,
                        registry: RegistryDep, session: SessionDep) -> ModelVersion:
    return version_of(model_id, viewer=user, registry=registry, session=session, exact=True)


OwnedVersion = Annotated[ModelVersion, Depends(model_version)]
ExactVersion = Annotated[ModelVersion, Depends(exact_model_version)]
