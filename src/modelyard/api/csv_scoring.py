"""The csv-scoring contract: template, upload, validate, predict, download, retrain, dashboard."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, UploadFile
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile as StarletteUploadFile

from modelyard.api.deps import (
    AppSettingsDep, CurrentUser, JobsDep, RegistryDep, RuntimeDep, SessionDep, current_user, limit_user,
    require_roles,
)
from modelyard.auth.models import User
from modelyard.auth.schemas import CSV_SCORING_ROLES
from modelyard.errors import Conflict
from modelyard.scoring.schemas import (
    ActiveModelIn, ActiveModelOut, DashboardOut, RetrainIn, RetrainOut, RetrainStatusOut, ScoringJobOut,
    ScoringUploadOut, SignedResultOut, UploadRef, ValidateOut,
)
from modelyard.scoring.service import ScoringService

router = APIRouter(tags=["csv-scoring"], dependencies=[Depends(current_user)])
CSV = {200: {"content": {"text/csv": {}}, "description": "a CSV file"}}


def scoring_service(session: SessionDep, runtime: RuntimeDep, registry: RegistryDep, jobs: JobsDep,
                    app_settings: AppSettingsDep) -> ScoringService:
    limit = min(runtime.settings.max_upload_bytes, app_settings.section("data").maxUploadMB * 1024 * 1024)
    return ScoringService(session, runtime.blobs, registry=registry, jobs=jobs, settings=app_settings, max_bytes=limit)


Scoring = Annotated[ScoringService, Depends(scoring_service)]
AdminUser = Annotated[User, Depends(require_roles("admin", words=CSV_SCORING_ROLES))]  # refusals say "Admin"


def base_url(request: Request) -> str:
    return request.app.state.runtime.settings.public_url or str(request.base_url).rstrip("/")


def _active_out(model) -> ActiveModelOut:
    version = next((v for v in model.versions if v.id == model.deployed_version_id), None)
    return ActiveModelOut(model=model.name, registered_model_id=model.id, deployed_model_id=model.deployed_version_id,
                          deployed_version=version.number if version else None)


@router.get("/api/scoring/active-model", response_model=ActiveModelOut)
def get_active_model(scoring: Scoring):
    return _active_out(scoring.active_model())


@router.put("/api/scoring/active-model", response_model=ActiveModelOut)
def set_active_model(body: ActiveModelIn, admin: AdminUser, scoring: Scoring):
    return _active_out(scoring.choose_active(body.model, admin=admin))


@router.get("/download_template", response_class=Response, responses=CSV)
def download_template(scoring: Scoring):
    filename, body = scoring.template()
    return Response(body, media_type="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


async def sent_csv(request: Request) -> AsyncIterator[UploadFile | None]:
    """The multipart field `file` when it holds a file; None for no body, no such field or text in it,
    so that the service answers 400 as the contract says (a declared File parameter would answer 422)."""
    form = await request.form()
    try:
        sent = form.get("file")
        yield sent if isinstance(sent, StarletteUploadFile) else None
    finally:
        await form.close()


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary",
                            "description": "a CSV file laid out like the template"}}}}}}}


@router.post("/upload", response_model=ScoringUploadOut, openapi_extra=UPLOAD_BODY)
def upload(user: CurrentUser, scoring: Scoring, file: Annotated[UploadFile | None, Depends(sent_csv)]):
    up = scoring.upload(user, file.filename if file else None, file.file if file else None)
    return ScoringUploadOut(upload_id=up.id, status=up.status, filename=up.dataset.filename, rows=up.dataset.rows,
                            columns=up.dataset.column_names, labeled_rows=up.labeled_rows, size=up.dataset.size,
                            uploaded_at=up.created_at)


@router.post("/validate", response_model=ValidateOut)
def validate(body: UploadRef, user: CurrentUser, scoring: Scoring):
    up = scoring.get_upload(body.upload_id, viewer=user)
    report = scoring.validate(up)
    version = scoring.active_version()
    return ValidateOut(upload_id=up.id, status=up.status, model_id=version.id, model_version=version.number, **report)


def _job_out(job, request: Request) -> ScoringJobOut:
    result = job.result or {}
    out = ScoringJobOut(job_id=job.id, status=job.status, upload_id=job.params["upload_id"],
                        model_id=job.params["version_id"], model_version=job.params["version_number"],
                        rows=result.get("rows"), error=job.error)
    if job.status == "completed":
        signed = request.app.state.runtime.blobs.signed_url(
            result["result_key"], expires_in=request.app.state.runtime.settings.signed_url_ttl_seconds, base_url=base_url(request))
        out.download_url, out.expires_in = signed.url, signed.expires_in
    else:
        from modelyard.scoring.tasks import result_key

        out.result_key = result_key(job.owner_id, job.id)
    return out


@router.post("/predict", response_model=ScoringJobOut)
def predict(body: UploadRef, user: CurrentUser, scoring: Scoring, request: Request, session: SessionDep,
            runtime: RuntimeDep):
    """Score an upload with the active model as a job: one call against the caller's "predictions" limit;
    the job charges the model's price per row scored (a user's own model costs nothing)."""
    limit_user(runtime, user, "predictions")
    job = scoring.predict(scoring.get_upload(body.upload_id, viewer=user), owner=user)
    session.refresh(job)
    return _job_out(job, request)


@router.get("/api/scoring/jobs/{job_id}", response_model=ScoringJobOut)
def scoring_job(job_id: str, user: CurrentUser, scoring: Scoring, request: Request):
    return _job_out(scoring.scoring_job(job_id, viewer=user), request)


@router.get("/download_results", response_model=SignedResultOut, responses=CSV)
def download_results(job_id: Annotated[str, Query()], user: CurrentUser, scoring: Scoring, request: Request,
                     app_settings: AppSettingsDep, runtime: RuntimeDep):
    job = scoring.scoring_job(job_id, viewer=user)
    if job.status != "completed":
        raise Conflict(f"job {job_id} is {job.status}; results are ready when it is completed",
                       details={"status": job.status, "progress": job.progress, "error": job.error})
    key, size = job.result["result_key"], int(job.result.get("size", 0))
    if size > app_settings.section("scoring").inlineResultsMaxMB * 1024 * 1024:
        signed = runtime.blobs.signed_url(key, expires_in=runtime.settings.signed_url_ttl_seconds,
                                          base_url=base_url(request))
        return SignedResultOut(job_id=job.id, download_url=signed.url, expires_in=signed.expires_in, size=size)
    chunks = runtime.blobs.open(key)
    return StreamingResponse(chunks, media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{job.id}-results.csv"'})


@router.post("/retrain", response_model=RetrainOut)
def retrain(body: RetrainIn, admin: AdminUser, scoring: Scoring, request: Request):
    answer = scoring.retrain(admin=admin, threshold=body.threshold_new_labels, activate=body.activate)
    if answer.get("job_id"):
        answer["status_url"] = f"{base_url(request)}/retrain/{answer['job_id']}"
    return answer


@router.get("/retrain/{job_id}", response_model=RetrainStatusOut)
def retrain_status(job_id: str, user: CurrentUser, scoring: Scoring, request: Request):
    """A retraining started by POST /retrain: readiness, both versions' metrics, the outcome and why."""
    status = scoring.retrain_status(scoring.retrain_job(job_id, viewer=user))
    base = base_url(request)
    new_id = status["new_model_id"]
    return {**status, "status_url": f"{base}/retrain/{job_id}",
            "new_model_url": f"{base}/api/models/{new_id}" if new_id else None}


@router.get("/dashboard", response_model=DashboardOut)
def dashboard(admin: AdminUser, scoring: Scoring, runtime: RuntimeDep):
    runtime.prediction_log.flush()  # the latest calls are in the figures
    return scoring.dashboard()
