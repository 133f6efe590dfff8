"""Bodies of the labeling contract (shared/contracts/labeling.md); extra fields are additions."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator, model_validator

MAX_BATCH = 200


def _clean_classes(values: list[str]) -> list[str]:
    seen: list[str] = []
    for value in values:
        value = value.strip()
        if not value:
            raise ValueError("class names must not be empty")
        if value not in seen:
            seen.append(value)
    return seen


class RequestCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field("", max_length=5000)
    classes: list[str] = Field(min_length=1, max_length=200, description="the labels a labeler may choose from")

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("title must not be blank")
        return value.strip()

    @field_validator("classes")
    @classmethod
    def _classes(cls, values: list[str]) -> list[str]:
        if any(len(v) > 100 for v in values):
            raise ValueError("class names are at most 100 characters")
        return _clean_classes(values)


class RequestOut(BaseModel):
    id: str
    title: str
    description: str | None
    classes: list[str]
    status: str
    created_at: datetime | None
    owner_id: int
    owner: str | None = None
    images_count: int = 0


class UploadError(BaseModel):
    filename: str
    code: str
    message: str
    key: str | None = None


class UploadSkip(BaseModel):
    filename: str
    reason: str
    image_id: str | None = None


class UploadReportOut(BaseModel):
    request_id: str
    uploaded: int
    skipped: int
    errors: list[UploadError]
    images: list[dict[str, str]] = Field(default_factory=list, description="image_id and filename of each stored file")
    skipped_files: list[UploadSkip] = Field(default_factory=list)


class PresignFile(BaseModel):
    filename: str = Field(min_length=1, max_length=1000)
    content_type: str | None = Field(None, max_length=200)


class PresignIn(BaseModel):
    request_id: str = Field(min_length=1, max_length=40)
    files: list[PresignFile] = Field(min_length=1, max_length=MAX_BATCH)


class PresignedUpload(BaseModel):
    filename: str
    url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    key: str
    expires_in: int


class PresignOut(BaseModel):
    uploads: list[PresignedUpload]


class CompletedFile(BaseModel):
    filename: str = Field("", max_length=1000)
    key: str = Field(min_length=1, max_length=1024)
    etag: str | None = Field(None, max_length=200)


class CompleteIn(BaseModel):
    request_id: str = Field(min_length=1, max_length=40)
    uploaded: list[CompletedFile] = Field(min_length=1, max_length=MAX_BATCH)


class CompleteOut(UploadReportOut):
    status: Literal["ok", "partial"]


class ImageOut(BaseModel):
    image_id: str
    filename: str
    key: str
    etag: str | None
    content_type: str | None
    size_bytes: int
    width: int
    height: int
    created_at: datetime | None
    preview_url: str | None


class QcStarted(BaseModel):
    request_id: str
    status: Literal["started"] = "started"
    job_id: str


class QcResultOut(BaseModel):
    image_id: str
    duplicate_score: float
    ai_generated_score: float
    source_url: str | None
    flags: list[str]
    filename: str | None = None
    source_image_id: str | None = Field(None, description="the closest earlier image, when the viewer may see it")
    evidence: list[dict[str, Any]] = Field(default_factory=list)
    job_id: str | None = None


class TaskOut(BaseModel):
    id: str
    request_id: str
    title: str | None
    request_title: str | None
    status: str
    images_count: int
    created_at: datetime | None
    labeled_count: int = 0
    labeler: str | None = None


class TaskImage(BaseModel):
    image_id: str
    url: str | None
    filename: str | None = None
    preview_url: str | None = None
    labels: list[str] = Field(default_factory=list)


class TaskDetail(BaseModel):
    id: str
    title: str
    classes: list[str]
    images: list[TaskImage]
    request_id: str
    status: str
    images_count: int
    labeled_count: int


class LabelIn(BaseModel):
    image_id: str = Field(min_length=1, max_length=40)
    labels: list[str] = Field(max_length=200)


class LabelSaved(BaseModel):
    task_id: str
    image_id: str
    status: Literal["saved"] = "saved"
    labels: list[str]
    task_status: str
    labeled_count: int
    images_count: int


class AdminRequestOut(BaseModel):
    id: str
    title: str
    status: str
    created_at: datetime | None
    owner: str | None = None
    images_count: int = 0


class AdminTaskOut(BaseModel):
    id: str
    request_id: str
    status: str
    created_at: datetime | None
    labeler: str | None = None
    images_count: int = 0
    labeled_count: int = 0


class AssignIn(BaseModel):
    request_id: str | None = Field(None, max_length=40)
    task_id: str | None = Field(None, max_length=40, description="reassign an existing task instead")
    labeler_username: str = Field(min_length=1, max_length=100)

    @model_validator(mode="after")
    def _one_target(self) -> "AssignIn":
        if not self.request_id and not self.task_id:
            raise ValueError("give request_id (or task_id to reassign a task)")
        return self


class AssignOut(BaseModel):
    status: Literal["assigned"] = "assigned"
    task_id: str | None
    created: bool = False


class ExportRow(BaseModel):
    image_id: str
    image_key: str
    filename: str
    labels: list[str]
    labeler: str | None
    labeled_at: datetime
    task_id: str
