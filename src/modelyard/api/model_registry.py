"""The model-registry contract: upload a model file with artifacts, download it, infer by entity keys,
and the Prometheus scrape endpoint. Feature-table routes live in api/feature_tables.py."""
from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel, Field

from modelyard.api import feature_tables
from modelyard.api.deps import AppSettingsDep, CurrentUser, RegistryDep, RuntimeDep, SessionDep, current_user
from modelyard.api.feature_tables import Features
from modelyard.errors import Unauthorized
from modelyard.features.inference import RESERVED, InferenceService
from modelyard.ops import metrics
from modelyard.registry import mlflow
from modelyard.registry.uploads import Upload, Uploaded, UploadService, version_named

router = APIRouter(tags=["model-registry"], dependencies=[Depends(current_user)])
router.include_router(feature_tables.router)
public = APIRouter(tags=["model-registry"])


def upload_service(session: SessionDep, runtime: RuntimeDep, registry: RegistryDep,
                   app_settings: AppSettingsDep) -> UploadService:
    return UploadService(session, runtime.blobs, registry, app_settings, max_bytes=runtime.settings.max_upload_bytes)


Uploads = Annotated[UploadService, Depends(upload_service)]


def inference_service(session: SessionDep, runtime: RuntimeDep, features: Features) -> InferenceService:
    return InferenceService(session, features, runtime.predictions)


Inference = Annotated[InferenceService, Depends(inference_service)]


class UploadModelOut(BaseModel):
    model_id: str = Field(description="the registered model's id (`reg_…`); under /api/models/{model_id} it "
                                      "means the model's newest version")
    model_version_id: str = Field(description="this version's id (`model_…`), which every route taking a "
                                              "model version id accepts")
    model_name: str
    model_version: str
    model_path: str
    artifact_paths: list[str]
    status: str
    format: str
    task: str
    signature: list[dict[str, Any]]
    feature_table: str | None

    @classmethod
    def of(cls, result: Uploaded) -> "UploadModelOut":
        v = result.version
        return cls(model_id=v.model_id, model_version_id=v.id, model_name=v.name, model_version=v.label,
                   model_path=result.model_path, artifact_paths=result.artifact_paths, status=v.status,
                   format=v.format, task=v.task, signature=v.signature, feature_table=v.feature_table)


class InferenceOut(BaseModel):
    prediction: Any
    probabilities: dict[str, float] | None = None
    confidence: float | None = None


@router.post("/upload_model", response_model=UploadModelOut)
def upload_model(user: CurrentUser, uploads: Uploads, features: Features,
                 model_file: Annotated[UploadFile, File(description="the model: skops, ONNX, LightGBM or XGBoost")],
                 model_name: Annotated[str, Query(max_length=100)],
                 model_version: Annotated[str | None, Query(max_length=64)] = None,
                 model_description: Annotated[str | None, Query(max_length=5000)] = None,
                 deployment: bool = False,
                 feature_table: Annotated[str | None, Query(description="link to this feature table")] = None,
                 artifact_files: Annotated[list[UploadFile] | None, File(description="extra files; a "
                                           "signature.json names the model's inputs")] = None):
    table = features.get(feature_table, viewer=user) if feature_table else None
    result = uploads.upload(user, name=model_name, label=model_version, description=model_description,
                            deploy=deployment, feature_table=table, model_file=Upload(model_file.filename,
                                                                                      model_file.file),
                            artifacts=[Upload(f.filename, f.file) for f in artifact_files or []])
    return UploadModelOut.of(result)


@router.post("/api/models/import/mlflow", response_model=UploadModelOut)
def import_mlflow_model(user: CurrentUser, uploads: Uploads, features: Features, runtime: RuntimeDep,
                        file: Annotated[UploadFile, File(description="a zip of the MLflow model folder (the one "
                                                         "holding MLmodel): onnx, lightgbm, xgboost or sklearn "
                                                         "(skops) flavor")],
                        model_name: Annotated[str, Query(max_length=100)],
                        model_version: Annotated[str | None, Query(max_length=64)] = None,
                        model_description: Annotated[str | None, Query(max_length=5000)] = None,
                        deployment: bool = False,
                        feature_table: Annotated[str | None, Query(description="link to this feature table")] = None):
    """Import an MLflow model (docs/mlflow.md): the same checks and answer as /upload_model."""
    table = features.get(feature_table, viewer=user) if feature_table else None
    result = mlflow.import_archive(uploads, user, archive=Upload(file.filename, file.file), name=model_name,
                                   label=model_version, description=model_description, deploy=deployment,
                                   feature_table=table, max_bytes=runtime.settings.max_upload_bytes)
    return UploadModelOut.of(result)


@router.get("/get_model", response_class=StreamingResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "the file as uploaded"}})
def get_model(user: CurrentUser, uploads: Uploads, session: SessionDep,
              model_name: Annotated[str, Query(min_length=1, max_length=100)],
              model_version: str | None = None,
              artifact: Annotated[str | None, Query(description="an artifact's file name instead")] = None):
    version = version_named(session, model_name, model_version, viewer=user)
    filename, chunks, size = uploads.open(version, artifact)
    return StreamingResponse(chunks, media_type="application/octet-stream",
                             headers={"Content-Disposition": f'attachment; filename="{filename}"',
                                      "Content-Length": str(size)})


@router.get("/inference", response_model=InferenceOut, response_model_exclude_none=True,
            description="Every query parameter other than model_name, model_version and probabilities is an "
                        "entity key of the model's feature table, e.g. customer_id=1&purchase_date_id=2024-01-01.")
def inference(request: Request, user: CurrentUser, service: Inference, model_name: str,
              model_version: str | None = None, probabilities: bool = False):
    keys = {k: v for k, v in request.query_params.items() if k not in RESERVED}
    return service.infer(viewer=user, model_name=model_name, model_version=model_version, keys=keys,
                         probabilities=probabilities)


@public.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition"}})
def prometheus_metrics(request: Request, runtime: RuntimeDep):
    """Open by default (the Prometheus scrape endpoint); MODELYARD_METRICS_TOKEN makes it need that bearer token."""
    token = runtime.settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not secrets.compare_digest(given.strip().encode(), token.encode()):
            raise Unauthorized("this endpoint needs the metrics scrape token: 'Authorization: Bearer <token>'")
    metrics.sync_cache(runtime.models)
    metrics.set_websockets(request.app.state.ws_connections.count)
    return Response(metrics.exposition(runtime.db), media_type=metrics.CONTENT_TYPE)
