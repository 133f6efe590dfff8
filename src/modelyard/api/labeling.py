"""The labeling contract: requests, uploads (multipart and presigned), QC, tasks, labels, admin, export."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile, status
from fastapi.responses import Response

from modelyard.api.deps import CurrentUser, JobsDep, RuntimeDep, SessionDep, current_user, require_roles
from modelyard.auth.schemas import LABELING_ROLES
from modelyard.api.params import Offset
from modelyard.labeling.assignments import AssignmentService, TaskView, export_csv
from modelyard.labeling.models import REQUEST_STATUSES, LabelingRequest, LabelingTask
from modelyard.labeling.qc import QcService
from modelyard.labeling.schemas import (
    AdminRequestOut, AdminTaskOut, AssignIn, AssignOut, CompleteIn, CompleteOut, ExportRow, ImageOut, LabelIn,
    LabelSaved, PresignedUpload, PresignIn, PresignOut, QcResultOut, QcStarted, RequestCreate, RequestOut, TaskDetail,
    TaskImage, TaskOut, UploadReportOut,
)
from modelyard.labeling.service import BlobUrls, LabelingService
from modelyard.labeling.uploads import UploadReport, UploadService

router = APIRouter(tags=["labeling"], dependencies=[Depends(current_user)])
admin_router = APIRouter(tags=["labeling"], dependencies=[Depends(require_roles("admin", words=LABELING_ROLES))])


def labeling_service(session: SessionDep) -> LabelingService:
    return LabelingService(session)


def upload_service(session: SessionDep, runtime: RuntimeDep) -> UploadService:
    return UploadService(session, runtime.blobs, max_bytes=runtime.settings.max_upload_bytes)


def assignment_service(session: SessionDep) -> AssignmentService:
    return AssignmentService(session)


def blob_urls(request: Request, runtime: RuntimeDep) -> BlobUrls:
    base = runtime.settings.public_url or str(request.base_url).rstrip("/")
    return BlobUrls(runtime.blobs, base, runtime.settings.signed_url_ttl_seconds)


Requests = Annotated[LabelingService, Depends(labeling_service)]
Uploads = Annotated[UploadService, Depends(upload_service)]
Assignments = Annotated[AssignmentService, Depends(assignment_service)]
Urls = Annotated[BlobUrls, Depends(blob_urls)]


def owned_request(request_id: str, user: CurrentUser, requests: Requests) -> LabelingRequest:
    return requests.get_request(request_id, viewer=user)


def owned_task(task_id: str, user: CurrentUser, assignments: Assignments) -> LabelingTask:
    return assignments.get_task(task_id, viewer=user)


OwnedRequest = Annotated[LabelingRequest, Depends(owned_request)]
OwnedTask = Annotated[LabelingTask, Depends(owned_task)]


def _requests_out(items: list[LabelingRequest], requests: LabelingService) -> list[RequestOut]:
    counts = requests.image_counts([r.id for r in items])
    names = requests.usernames({r.owner_id for r in items})
    return [RequestOut(id=r.id, title=r.title, description=r.description, classes=r.classes, status=r.status,
                       created_at=r.created_at, owner_id=r.owner_id, owner=names.get(r.owner_id),
                       images_count=counts.get(r.id, 0)) for r in items]


def _report(report: UploadReport) -> dict:
    return {"request_id": report.request_id, "uploaded": len(report.stored), "skipped": len(report.skipped),
            "errors": report.errors, "skipped_files": report.skipped,
            "images": [{"image_id": i.id, "filename": i.filename} for i in report.stored]}


def _task_out(view: TaskView) -> TaskOut:
    return TaskOut(id=view.task.id, request_id=view.request.id, title=f"Label: {view.request.title}",
                   request_title=view.request.title, status=view.task.status, images_count=view.images_count,
                   created_at=view.task.created_at, labeled_count=view.labeled_count, labeler=view.labeler)


# --- requests ---------------------------------------------------------------------------------------


@router.post("/requests", response_model=RequestOut, status_code=status.HTTP_201_CREATED,
             dependencies=[Depends(require_roles("user", "admin", words=LABELING_ROLES))])
def create_request(body: RequestCreate, user: CurrentUser, requests: Requests):
    created = requests.create_request(user, title=body.title, description=body.description, classes=body.classes)
    return _requests_out([created], requests)[0]


@router.get("/requests", response_model=list[RequestOut])
def list_requests(user: CurrentUser, requests: Requests,
                  status_: Annotated[Literal[REQUEST_STATUSES] | None, Query(alias="status")] = None,  # type: ignore[valid-type]
                  owner: Annotated[str | None, Query(max_length=100, description="admins: one owner's")] = None,
                  mine: Annotated[bool, Query(description="admins: only their own")] = False,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 200, offset: Offset = 0):
    found = requests.list_requests(viewer=user, status=status_, owner=owner, mine=mine, limit=limit, offset=offset)
    return _requests_out(found, requests)


@router.get("/requests/{request_id}", response_model=RequestOut)
def get_request(labeling_request: OwnedRequest, requests: Requests):
    return _requests_out([labeling_request], requests)[0]


# --- uploads ----------------------------------------------------------------------------------------


@router.post("/requests/{request_id}/uploads", response_model=UploadReportOut)
def upload_images(labeling_request: OwnedRequest, uploads: Uploads,
                  files: Annotated[list[UploadFile], File(description="images (JPEG, PNG, WebP); field `files`")]):
    return _report(uploads.upload_files(labeling_request, [(f.filename, f.file) for f in files]))


@router.get("/requests/{request_id}/uploads", response_model=list[ImageOut])
def list_uploads(labeling_request: OwnedRequest, uploads: Uploads, urls: Urls,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 1000, offset: Offset = 0):
    return [ImageOut(image_id=i.id, filename=i.filename, key=i.blob_key, etag=i.etag, content_type=i.content_type,
                     size_bytes=i.size, width=i.width, height=i.height, created_at=i.created_at,
                     preview_url=urls.get(i.thumb_key or i.blob_key))
            for i in uploads.list_images(labeling_request, limit=limit, offset=offset)]


@router.post("/uploads/presign", response_model=PresignOut)
def presign_uploads(body: PresignIn, user: CurrentUser, requests: Requests, uploads: Uploads, urls: Urls):
    target = requests.get_request(body.request_id, viewer=user)
    signed = uploads.presign(target, [(f.filename, f.content_type) for f in body.files], urls)
    return PresignOut(uploads=[PresignedUpload(filename=name, url=url.url, method="PUT", headers=url.headers, key=key,
                                               expires_in=url.expires_in) for name, key, url in signed])


@router.post("/uploads/complete", response_model=CompleteOut)
def complete_uploads(body: CompleteIn, user: CurrentUser, requests: Requests, uploads: Uploads):
    target = requests.get_request(body.request_id, viewer=user)
    report = uploads.complete(target, [(f.filename, f.key, f.etag) for f in body.uploaded])
    return {**_report(report), "status": "partial" if report.errors else "ok"}


# --- QC ---------------------------------------------------------------------------------------------


@router.post("/requests/{request_id}/qc/run", response_model=QcStarted)
def run_qc(labeling_request: OwnedRequest, user: CurrentUser, session: SessionDep, jobs: JobsDep):
    job = QcService(session, jobs).start(labeling_request, user=user)
    return QcStarted(request_id=labeling_request.id, job_id=job.id)


@router.get("/requests/{request_id}/qc/results", response_model=list[QcResultOut])
def qc_results(labeling_request: OwnedRequest, user: CurrentUser, session: SessionDep, jobs: JobsDep, urls: Urls):
    return [QcResultOut(image_id=v.image.id, duplicate_score=v.result.duplicate_score,
                        ai_generated_score=v.result.ai_generated_score,
                        source_url=urls.get(v.source.blob_key) if v.source else None, flags=v.flags,
                        filename=v.image.filename, source_image_id=v.source.id if v.source else None,
                        evidence=v.evidence, job_id=v.result.job_id)
            for v in QcService(session, jobs).results(labeling_request, viewer=user)]


# --- export -----------------------------------------------------------------------------------------


@router.get("/requests/{request_id}/export", response_model=list[ExportRow],
            responses={200: {"content": {"text/csv": {}}, "description": "the labels, as JSON or CSV"}})
def export_labels(labeling_request: OwnedRequest, assignments: Assignments,
                  format_: Annotated[Literal["json", "csv"], Query(alias="format")] = "json"):
    rows = assignments.export(labeling_request)
    if format_ == "csv":
        return Response(export_csv(rows), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="labels-{labeling_request.id}.csv"'})
    return [ExportRow(**vars(row)) for row in rows]


# --- tasks ------------------------------------------------------------------------------------------


@router.get("/tasks", response_model=list[TaskOut])
def list_tasks(user: CurrentUser, assignments: Assignments,
               all_: Annotated[bool, Query(alias="all", description="admins: every task")] = False):
    return [_task_out(view) for view in assignments.list_tasks(viewer=user, everyone=all_)]


@router.get("/tasks/{task_id}", response_model=TaskDetail)
def get_task(task: OwnedTask, assignments: Assignments, urls: Urls,
             limit: Annotated[int, Query(ge=1, le=5000)] = 1000, offset: Offset = 0):
    view = assignments.views([task])[0]
    images = [TaskImage(image_id=i.id, url=urls.get(i.blob_key), filename=i.filename,
                        preview_url=urls.get(i.thumb_key), labels=labels)
              for i, labels in assignments.task_images(task, limit=limit, offset=offset)]
    return TaskDetail(id=task.id, title=f"Label: {view.request.title}", classes=view.request.classes, images=images,
                      request_id=view.request.id, status=task.status, images_count=view.images_count,
                      labeled_count=view.labeled_count)


@router.post("/tasks/{task_id}/labels", response_model=LabelSaved)
def save_labels(task: OwnedTask, body: LabelIn, user: CurrentUser, assignments: Assignments):
    view = assignments.save_labels(task, image_id=body.image_id, labels=body.labels, labeler=user)
    return LabelSaved(task_id=task.id, image_id=body.image_id, labels=list(dict.fromkeys(body.labels)),
                      task_status=view.task.status, labeled_count=view.labeled_count,
                      images_count=view.images_count)


# --- admin ------------------------------------------------------------------------------------------


@admin_router.get("/admin/requests", response_model=list[AdminRequestOut])
def admin_requests(user: CurrentUser, requests: Requests,
                   status_: Annotated[Literal[REQUEST_STATUSES] | None, Query(alias="status")] = None):  # type: ignore[valid-type]
    return [AdminRequestOut(**r.model_dump(include={"id", "title", "status", "created_at", "owner", "images_count"}))
            for r in _requests_out(requests.list_requests(viewer=user, status=status_, limit=10_000), requests)]


@admin_router.get("/admin/tasks", response_model=list[AdminTaskOut])
def admin_tasks(user: CurrentUser, assignments: Assignments):
    return [AdminTaskOut(id=v.task.id, request_id=v.request.id, status=v.task.status, created_at=v.task.created_at,
                         labeler=v.labeler, images_count=v.images_count, labeled_count=v.labeled_count)
            for v in assignments.list_tasks(viewer=user, everyone=True, limit=10_000)]


@admin_router.post("/admin/assign", response_model=AssignOut)
def assign(body: AssignIn, user: CurrentUser, assignments: Assignments):
    task, created = assignments.assign(by=user, labeler_username=body.labeler_username,
                                       request_id=body.request_id, task_id=body.task_id)
    return AssignOut(task_id=task.id, created=created)


router.include_router(admin_router)  # one router for create_app: the admin routes need the admin role too
