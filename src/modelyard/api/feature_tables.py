"""Feature tables: upload (CSV or Parquet with entity key columns), replace, list, describe, delete,
look a row up, and link model versions to them. Included by the model-registry router."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Path, Query, Request, UploadFile, status

from modelyard.api.deps import CurrentUser, RegistryDep, RuntimeDep, SessionDep
from modelyard.api.model_refs import ID_HELP, version_of
from modelyard.features.schemas import (
    FeatureRowOut, FeatureTableDetailOut, FeatureTableList, FeatureTableOut, FeatureTableVersionOut, LinkedModelOut,
)
from modelyard.features.service import FeatureService, parse_key_columns

router = APIRouter(prefix="/api/feature-tables", tags=["feature-tables"])
KEYS_HELP = "entity key columns, comma separated (e.g. customer_id,purchase_date_id)"


def feature_service(session: SessionDep, runtime: RuntimeDep) -> FeatureService:
    return FeatureService(session, runtime.blobs, max_bytes=runtime.settings.max_upload_bytes)


Features = Annotated[FeatureService, Depends(feature_service)]


def _detail(features: FeatureService, table) -> FeatureTableDetailOut:
    current = features.current(table)
    return FeatureTableDetailOut(**FeatureTableOut.of(table, current).model_dump(),
                                 versions=[FeatureTableVersionOut.of(v) for v in table.versions],
                                 models=[LinkedModelOut.of(v) for v in features.linked_versions(table)])


@router.post("", response_model=FeatureTableDetailOut, status_code=status.HTTP_201_CREATED)
def create_feature_table(user: CurrentUser, features: Features,
                         file: Annotated[UploadFile, File(description="CSV with a header row, or Parquet")],
                         name: Annotated[str, Query(max_length=100)],
                         key_columns: Annotated[str, Query(description=KEYS_HELP)],
                         description: Annotated[str | None, Query(max_length=5000)] = None):
    table = features.create(user, name=name, key_columns=parse_key_columns(key_columns), filename=file.filename,
                            stream=file.file, description=description)
    return _detail(features, table)


@router.get("", response_model=FeatureTableList)
def list_feature_tables(user: CurrentUser, features: Features):
    tables = features.list(viewer=user)
    return FeatureTableList(tables=[FeatureTableOut.of(t, features.current(t)) for t in tables], total=len(tables))


@router.get("/{table_ref}", response_model=FeatureTableDetailOut)
def describe_feature_table(table_ref: str, user: CurrentUser, features: Features):
    return _detail(features, features.get(table_ref, viewer=user))


@router.put("/{table_ref}", response_model=FeatureTableDetailOut)
def replace_feature_table(table_ref: str, user: CurrentUser, features: Features,
                          file: Annotated[UploadFile, File(description="CSV with a header row, or Parquet")],
                          key_columns: Annotated[str | None, Query(description=KEYS_HELP)] = None,
                          description: Annotated[str | None, Query(max_length=5000)] = None):
    table = features.replace(features.get(table_ref, viewer=user), filename=file.filename, stream=file.file,
                             key_columns=parse_key_columns(key_columns) if key_columns else None,
                             description=description)
    return _detail(features, table)


@router.delete("/{table_ref}", status_code=status.HTTP_204_NO_CONTENT)
def delete_feature_table(table_ref: str, user: CurrentUser, features: Features):
    features.delete(features.get(table_ref, viewer=user))


@router.get("/{table_ref}/rows", response_model=FeatureRowOut,
            description="Query parameters are the table's entity keys, e.g. ?customer_id=1&purchase_date_id=2024-01-01")
def lookup_feature_row(table_ref: str, request: Request, user: CurrentUser, features: Features):
    table = features.get(table_ref, viewer=user)
    keys = dict(request.query_params.items())
    return FeatureRowOut(table=table.name, keys=keys, values=features.lookup(table, keys))


@router.put("/{table_ref}/models/{model_version_id}", response_model=LinkedModelOut)
def link_model(table_ref: str, model_version_id: Annotated[str, Path(description=ID_HELP)], user: CurrentUser,
               features: Features, registry: RegistryDep, session: SessionDep):
    version = version_of(model_version_id, viewer=user, registry=registry, session=session)
    return LinkedModelOut.of(features.link(version, features.get(table_ref, viewer=user)))


@router.delete("/{table_ref}/models/{model_version_id}", status_code=status.HTTP_204_NO_CONTENT)
def unlink_model(table_ref: str, model_version_id: Annotated[str, Path(description=ID_HELP)], user: CurrentUser,
                 features: Features, registry: RegistryDep, session: SessionDep):
    version = version_of(model_version_id, viewer=user, registry=registry, session=session)
    table = features.get(table_ref, viewer=user)
    if version.feature_table == table.id:
        features.link(version, None)
