"""csv-scoring request and response bodies."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class UploadRef(BaseModel):
    upload_id: str = Field(examples=["upl_20250912_00123"])


class ScoringUploadOut(BaseModel):
    upload_id: str
    status: str
    filename: str
    rows: int
    columns: list[str]
    labeled_rows: int
    size: int
    uploaded_at: datetime


class Issue(BaseModel):
    kind: str
    column: str | None
    rows: list[int] = Field(description="first rows affected, numbered from 1 = the first data row")
    count: int
    severity: Literal["error", "warning"]
    message: str


class ValidateOut(BaseModel):
    upload_id: str
    valid: bool
    status: str
    issues: list[Issue]
    rows: int
    labeled_rows: int
    target_present: bool
    model_id: str
    model_version: int


class ScoringJobOut(BaseModel):
    job_id: str
    status: str
    upload_id: str
    model_id: str
    model_version: int
    result_key: str | None = None
    download_url: str | None = None
    expires_in: int | None = None
    rows: int | None = None
    error: str | None = None


class SignedResultOut(BaseModel):
    job_id: str
    download_url: str
    expires_in: int
    size: int


class RetrainIn(BaseModel):
    threshold_new_labels: int = Field(50, ge=1, le=10**9, strict=True)
    activate: Literal["if_not_worse", "always", "never"] = "if_not_worse"


class RetrainOut(BaseModel):
    status: Literal["skipped", "started"]
    trained: bool
    new_labels: int
    threshold: int
    model: str
    current_version: int
    current_model_id: str
    job_id: str | None = None
    new_version: int | None = Field(None, description="the version number the retraining will register")
    status_url: str | None = Field(None, description="GET it for readiness, both versions' metrics and the outcome")
    message: str


class RetrainStatusOut(BaseModel):
    job_id: str
    status: str = Field(description="queued | in_progress | completed | failed | cancelled")
    ready: bool = Field(description="true once the new version is registered and compared")
    progress: float
    step: str | None
    model: str | None
    new_version: int | None
    new_model_id: str | None = Field(description="the new version's id once registered (GET /api/models/{id})")
    new_model_url: str | None = None
    current_version: int | None
    current_model_id: str
    metrics: dict[str, dict[str, float] | None] = Field(
        description="new and current: each version's figures on the same held-out rows, once ready")
    compared_on_rows: int | None
    trained_on_rows: int | None
    activated: bool | None
    outcome: Literal["activated", "not activated", "failed", "cancelled"] | None
    reason: str | None
    error: str | None
    started_at: datetime | None
    finished_at: datetime | None
    status_url: str


class ActiveModelIn(BaseModel):
    model: str = Field(description="a model name, or a version id of the model")


class ActiveModelOut(BaseModel):
    model: str
    registered_model_id: str
    deployed_model_id: str | None
    deployed_version: int | None


class DashboardOut(BaseModel):
    totals: dict[str, Any]
    last_retrain: dict[str, Any] | None
    recent_uploads: list[dict[str, Any]]
    recent_logins: list[dict[str, Any]]
    predictions_24h: dict[str, Any] = Field(description="prediction calls of the last 24 hours on every route "
                                                        "(the prediction log): calls, rows, errors, by model")
