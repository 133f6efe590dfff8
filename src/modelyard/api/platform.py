"""Prediction-platform contract: built-in models by industry, and the model gallery.

Thin adapters over ``gallery/`` and the one prediction pipeline: a call is checked and predicted by
the gallery service (through the pipeline), then charged its declared credits (the pipeline's charge
step), and answered in the contract's shape with `processing_time` and `credits_consumed`.
"""
from __future__ import annotations

import io
import json
import time
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, File, Form, UploadFile
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from modelyard.api.csv_scoring import UPLOAD_BODY, sent_csv
from modelyard.api.deps import AdminUser, CurrentUser, JobsDep, RuntimeDep, SessionDep, current_user, limit_user
from modelyard.api.model_registry import UploadModelOut, Uploads
from modelyard.api.serving import JSONBody, OrjsonRoute
from modelyard.auth.credits import CreditService, InsufficientCredits
from modelyard.auth.models import User
from modelyard.data.csvio import CsvDialect, read_frame
from modelyard.data.service import DataService
from modelyard.errors import BadRequest, Conflict, NotFound, PayloadTooLarge, Unprocessable
from modelyard.gallery import batches, catalog
from modelyard.gallery.schema import check
from modelyard.gallery.schemas import (
    ActivatedOut, BatchIn, BatchOut, BuiltinOut, CsvBatchOut, CsvJobOut, GalleryListOut, GalleryModelOut,
    GalleryUploadMeta, RetrainedOut,
)
from modelyard.registry.uploads import Upload
from modelyard.runtime import Runtime

router = APIRouter(tags=["prediction-platform"], dependencies=[Depends(current_user)], route_class=OrjsonRoute)

Record = Annotated[dict[str, Any], Body(description="the model's input fields (GET /api/model-gallery/models/{name})")]


def run_builtin(runtime: Runtime, name: str, record: Any, *, viewer: User) -> dict[str, Any]:
    """One call to a built-in model through the pipeline's call rules (limit, cache, charge), as the
    contract answers it; `_cached_at` when the prediction cache answered (still charged: the contract's
    example shows credits_consumed with it)."""
    from modelyard.gallery.text import version_ref

    started = time.perf_counter()
    decl = catalog.lookup(name)
    gallery = runtime.gallery
    version = gallery.ensure_trained(decl.name) or version_ref(decl.name)  # text models have no registry entry
    served = runtime.predictions.call(version, record, lambda: gallery.predict(decl.name, record, viewer=viewer),
                                      viewer=viewer, check=lambda: check(decl.fields, record))
    out = {**served.answer, "processing_time": round(time.perf_counter() - started, 4),
           "credits_consumed": served.credits}
    if served.cached_at is not None:
        out["_cached_at"] = served.cached_at
    return out


@router.post("/api/industry/{industry}/{name}", response_model=BuiltinOut,
             summary="Predict with a built-in industry model")
async def industry_predict(industry: str, name: str, record: Record, user: CurrentUser, runtime: RuntimeDep):
    decl = catalog.industry(industry, name)
    return JSONBody(await run_in_threadpool(run_builtin, runtime, decl.name, record, viewer=user))


class ActivateIn(BaseModel):
    version: str = Field(min_length=1, max_length=20, description='"v2.0", "v2" or "2"')


@router.get("/api/model-gallery/models", response_model=GalleryListOut,
            summary="Every built-in model with its metadata")
def gallery_models(runtime: RuntimeDep):
    models = runtime.gallery.catalog()
    return {"models": models, "total": len(models), "active": sum(m["status"] == "active" for m in models)}


@router.get("/api/model-gallery/models/{model_name}", response_model=GalleryModelOut,
            summary="One built-in model: inputs, metrics, versions")
def gallery_model(model_name: str, runtime: RuntimeDep):
    return runtime.gallery.describe(model_name)


@router.post("/api/model-gallery/models/{model_name}/activate", response_model=ActivatedOut,
             summary="Make a version the one that serves (admin)")
def gallery_activate(model_name: str, body: ActivateIn, admin: AdminUser, runtime: RuntimeDep):
    return runtime.gallery.activate(model_name, body.version, actor=admin)


@router.post("/api/model-gallery/models/{model_name}/retrain", response_model=RetrainedOut,
             openapi_extra=UPLOAD_BODY, summary="Train a new version of a built-in on your labeled CSV (admin)")
def gallery_retrain(model_name: str, admin: AdminUser, runtime: RuntimeDep,
                    file: Annotated[UploadFile | None, Depends(sent_csv)], activate: bool = True):
    """The CSV holds the model's input columns and its target (GET …/models/{name}: `inputs`, `target`)."""
    if file is None:
        raise BadRequest("no file received: send the labeled CSV as multipart/form-data in the form field 'file'")
    return runtime.gallery.retrain(model_name, file.file.read(), actor=admin, activate=activate)


@router.post("/api/enterprise/batch/predict", response_model=BatchOut, summary="Many calls to built-in models")
async def enterprise_batch(body: BatchIn, user: CurrentUser, runtime: RuntimeDep):
    """Each item runs on its own: a bad one is a failed entry with its error, not a failed batch."""
    limit = runtime.settings.max_batch_requests
    if len(body.requests) > limit:
        raise PayloadTooLarge(f"{len(body.requests)} requests in one batch; at most {limit} "
                              "(MODELYARD_MAX_BATCH_REQUESTS)")
    items = [item.model_dump() for item in body.requests]
    limit_user(runtime, user, "predictions", cost=len(items))  # each item is a prediction
    return JSONBody(await run_in_threadpool(batches.run_batch, runtime.gallery, runtime.predictions, items,
                                            viewer=user))


@router.post("/api/upload/csv/{model_name}", response_model=CsvBatchOut, openapi_extra=UPLOAD_BODY,
             responses={202: {"model": CsvJobOut, "description": "a large file: scored by a job"}},
             summary="Score a CSV with a built-in model, row by row")
def csv_batch(model_name: str, user: CurrentUser, runtime: RuntimeDep, session: SessionDep, jobs: JobsDep,
              file: Annotated[UploadFile | None, Depends(sent_csv)]):
    """`lead-scoring`, `churn-prediction`, `sales-forecast` (the contract's paths) or any built-in's name.
    Up to MODELYARD_MAX_CSV_BATCH_ROWS rows are answered at once; a larger file is scored by a job (202)
    whose results are downloaded from `results_url` when it has completed."""
    decl = catalog.lookup(model_name)
    if file is None:
        raise BadRequest("no file received: send the CSV as multipart/form-data in the form field 'file'")
    limit_user(runtime, user, "uploads")
    settings = runtime.settings
    dataset = DataService(session, runtime.blobs, max_bytes=settings.max_csv_batch_bytes).upload(
        user, file.filename, file.file, purpose="platform")
    if dataset.rows > settings.max_csv_batch_rows:
        needed, remaining = dataset.rows * decl.credits, CreditService(session).balance(user.id)
        if needed > remaining:
            raise InsufficientCredits(f"{dataset.rows:,} rows cost up to {needed:,} credits and {remaining:,} remain",
                                      details={"required": needed, "remaining": remaining})
        job = jobs.submit(batches.JOB_KIND, owner=user, params={"model": decl.name, "file_id": dataset.id})
        return JSONBody(CsvJobOut(message="File accepted: it is scored by a job", job_id=job.id, status=job.status,
                                  status_url=f"/api/jobs/{job.id}", results_url=f"/api/upload/csv/results/{job.id}",
                                  file_id=dataset.id, rows=dataset.rows, model=decl.name).model_dump(),
                        status_code=202)
    frame = read_frame(runtime.blobs.open(dataset.blob_key), CsvDialect(dataset.encoding, dataset.delimiter))
    frame = frame.astype(object).where(frame.notna(), None).map(lambda v: None if v is None else str(v))
    return JSONBody(batches.score_csv(runtime.gallery, runtime.predictions, decl, frame, viewer=user,
                                      file_id=dataset.id))


@router.get("/api/upload/csv/results/{job_id}", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {}}, "description": "row, status, prediction (JSON), error"}})
def csv_batch_results(job_id: str, user: CurrentUser, jobs: JobsDep, runtime: RuntimeDep):
    """The results of a CSV scored by a job (its owner or an admin); 409 until the job has completed."""
    job = jobs.get(job_id, viewer=user)
    if job.kind != batches.JOB_KIND:
        raise NotFound("csv batch job", job_id)
    if job.status != "completed":
        raise Conflict(f"job {job_id} is {job.status.replace('_', ' ')}" + (f": {job.error}" if job.error else ""))
    key = job.result["results_key"]
    return StreamingResponse(runtime.blobs.open(key), media_type="text/csv",
                             headers={"Content-Disposition": f'attachment; filename="{job_id}-results.csv"'})


@router.post("/api/model-gallery/upload", response_model=UploadModelOut, summary="Upload a custom model")
def gallery_upload(user: CurrentUser, uploads: Uploads, runtime: RuntimeDep,
                   model_file: Annotated[UploadFile, File(description="skops, ONNX, LightGBM or XGBoost (pickle "
                                                                      "only while an admin allows it)")],
                   metadata: Annotated[str, Form(description='JSON: {"name", "version", "description", '
                                                              '"activate", "signature": [{"name", "type"}]}')]):
    """The same registry, formats and checks as the model-registry contract's `/upload_model`: the model
    becomes the caller's own (predict it with `POST /api/predict/{name}` and `{"data": [rows]}`)."""
    limit_user(runtime, user, "uploads")
    try:
        meta = GalleryUploadMeta.model_validate(json.loads(metadata))
    except ValueError as exc:  # json.JSONDecodeError and pydantic's ValidationError are both ValueErrors
        detail = exc.errors(include_url=False) if isinstance(exc, ValidationError) else str(exc)
        raise Unprocessable("metadata must be a JSON object: name (required), version, description, activate, "
                            "signature", details={"errors": detail}) from None
    signature = {"inputs": [f.model_dump() for f in meta.signature or []]}
    artifacts = [Upload("signature.json", io.BytesIO(json.dumps(signature).encode()))] if meta.signature else []
    result = uploads.upload(user, name=meta.name, label=meta.version, description=meta.description,
                            deploy=meta.activate, feature_table=None,
                            model_file=Upload(model_file.filename, model_file.file), artifacts=artifacts)
    return UploadModelOut.of(result)
