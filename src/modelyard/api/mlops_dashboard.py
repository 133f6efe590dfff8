"""The mlops-dashboard contract: datasets, training, models, predict, settings, activity."""
from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, File, Query, Request, UploadFile, status

from modelyard.api.deps import (
    AdminUser, AppSettingsDep, CurrentUser, JobsDep, RegistryDep, RuntimeDep, SessionDep, current_user,
)
from modelyard.api.model_refs import ExactVersion, OwnedVersion
from modelyard.api.params import IsoDateTime, Offset, Page
from modelyard.data.schemas import UploadOut
from modelyard.data.service import DataService
from modelyard.errors import NotFound
from modelyard.ops import activity
from modelyard.ops.schemas import ActivityPage, SettingsOut, SettingsUpdated
from modelyard.registry.models import VERSION_STATUSES
from modelyard.registry.schemas import DeployOut, ModelDetailOut, ModelPage, ModelSummaryOut
from modelyard.training.schemas import TrainAccepted, TrainIn, TrainingStatusOut
from modelyard.training.service import TrainingService

router = APIRouter(tags=["mlops-dashboard"], dependencies=[Depends(current_user)])


def data_service(session: SessionDep, runtime: RuntimeDep, app_settings: AppSettingsDep) -> DataService:
    limit = min(runtime.settings.max_upload_bytes, app_settings.section("data").maxUploadMB * 1024 * 1024)
    return DataService(session, runtime.blobs, max_bytes=limit)


Data = Annotated[DataService, Depends(data_service)]


@router.post("/api/upload", response_model=UploadOut)
def upload_csv(file: Annotated[UploadFile, File(description="a CSV file with a header row")], user: CurrentUser,
               data: Data, session: SessionDep):
    dataset = data.upload(user, file.filename or "upload.csv", file.file)
    activity.record(session, "upload", f"Uploaded '{dataset.filename}' ({dataset.rows} rows)", user=user,
                    details={"file_id": dataset.id, "rows": dataset.rows, "columns": dataset.columns})
    return UploadOut.of(dataset)


@router.get("/api/datasets", response_model=list[UploadOut])
def list_datasets(user: CurrentUser, data: Data, limit: Annotated[int, Query(ge=1, le=500)] = 50,
                  offset: Offset = 0):
    return [UploadOut.of(d) for d in data.list(viewer=user, limit=limit, offset=offset)]


@router.get("/api/datasets/{file_id}", response_model=UploadOut)
def get_dataset(file_id: str, user: CurrentUser, data: Data):
    return UploadOut.of(data.get(file_id, viewer=user))


@router.delete("/api/datasets/{file_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_dataset(file_id: str, user: CurrentUser, data: Data):
    data.delete(file_id, viewer=user)


@router.post("/api/train", response_model=TrainAccepted, status_code=status.HTTP_202_ACCEPTED)
def start_training(body: TrainIn, user: CurrentUser, data: Data, jobs: JobsDep, app_settings: AppSettingsDep,
                   runtime: RuntimeDep):
    dataset = data.get(body.file_id, viewer=user)
    service = TrainingService(jobs, app_settings, max_budget=runtime.settings.max_training_seconds)
    job, estimate = service.start(dataset, owner=user, model_type=body.model_type,
                                  params=body.training_params.model_dump(exclude_none=True), name=body.name)
    return TrainAccepted(job_id=job.id, status="started", estimated_time=estimate, start_time=job.created_at)


@router.get("/api/training/{job_id}", response_model=TrainingStatusOut)
def training_status(job_id: str, user: CurrentUser, jobs: JobsDep):
    job = jobs.get(job_id, viewer=user)
    if job.kind != "training":
        raise NotFound("training job", job_id)
    return TrainingStatusOut.of(job)


@router.get("/api/models", response_model=ModelPage)
def list_models(user: CurrentUser, registry: RegistryDep,
                status_: Annotated[Literal[VERSION_STATUSES] | None, Query(alias="status")] = None,  # type: ignore[valid-type]
                sort: Literal["created_at", "accuracy", "name"] = "created_at",
                limit: Annotated[int, Query(ge=1, le=200)] = 20, page: Page = 1,
                name: str | None = None):
    versions, total = registry.list_versions(viewer=user, status=status_, sort=sort, limit=limit, page=page, name=name)
    return ModelPage(models=[ModelSummaryOut.of(v) for v in versions], total=total, page=page, limit=limit)


@router.get("/api/models/{model_id}", response_model=ModelDetailOut)
def get_model(version: OwnedVersion):
    return ModelDetailOut.of(version)


@router.post("/api/models/{model_id}/deploy", response_model=DeployOut)
def deploy_model(version: OwnedVersion, user: CurrentUser, registry: RegistryDep, session: SessionDep):
    version = registry.deploy(version, actor=user)
    activity.record(session, "deployment", f"Model '{version.name}' v{version.number} deployed successfully",
                    user=user, details={"model_id": version.id, "accuracy": (version.metrics or {}).get("accuracy")})
    return DeployOut(model_id=version.id, name=version.name, status=version.status,
                     deployment_time=version.deployed_at, endpoint=f"/api/predict/{version.id}")


@router.post("/api/models/{model_id}/archive", response_model=ModelDetailOut)
def archive_model(version: ExactVersion, user: CurrentUser, registry: RegistryDep):
    return ModelDetailOut.of(registry.archive(version, actor=user))


@router.delete("/api/models/{model_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_model(version: ExactVersion, user: CurrentUser, registry: RegistryDep):
    registry.delete(version, actor=user)


@router.get("/api/settings", response_model=SettingsOut)
def get_settings(app_settings: AppSettingsDep):
    return app_settings.all()


@router.put("/api/settings", response_model=SettingsUpdated)
def update_settings(admin: AdminUser, app_settings: AppSettingsDep, session: SessionDep,
                    changes: Annotated[dict[str, Any], Body(examples=[{"training": {"defaultTimeout": 600}}])]):
    updated = app_settings.update(changes, user=admin)
    activity.record(session, "settings", f"Settings changed: {', '.join(updated)}", user=admin,
                    details={"updated_fields": updated})
    return SettingsUpdated(message="Settings updated successfully", updated_fields=updated)


@router.get("/api/activity", response_model=ActivityPage)
def get_activity(user: CurrentUser, session: SessionDep, request: Request,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 50,
                 type_: Annotated[str | None, Query(alias="type", pattern="|".join(activity.TYPES))] = None,
                 since: Annotated[IsoDateTime | None, Query(description="only entries at or after this ISO 8601 date or date-time")] = None):
    request.app.state.runtime.prediction_log.flush(activity=True)  # the latest predictions, summarized
    rows, total = activity.query(session, viewer=user, type=type_, since=since, limit=limit)
    return ActivityPage(activities=[{"id": a.id, "type": a.type, "message": a.message, "timestamp": a.timestamp,
                                     "user": a.username, "details": a.details} for a in rows],
                        total=total, limit=limit)
