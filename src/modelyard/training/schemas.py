"""Training request and status bodies (mlops-dashboard contract)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from modelyard.jobs.models import Job
from modelyard.db.base import utcnow


class TrainingParams(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # `true` is not a random_state, `"30"` not a time

    test_split: float | None = Field(None, gt=0, lt=0.9)
    random_state: int | None = Field(None, ge=0, le=2**32 - 1)
    max_training_time: float | None = Field(None, ge=5, description="seconds; a hard ceiling")
    target: str | None = Field(None, description="target column; default: the last column")


class TrainIn(BaseModel):
    file_id: str
    model_type: Literal["auto", "classification", "regression"] | None = None
    training_params: TrainingParams = TrainingParams()
    name: str | None = Field(None, max_length=100, description="model name; default from the file and target")


class TrainAccepted(BaseModel):
    job_id: str
    status: str
    estimated_time: int
    start_time: datetime


class TrainingStatusOut(BaseModel):
    job_id: str
    status: str
    progress: float
    current_step: str | None
    elapsed_time: float
    estimated_remaining: float | None
    model_id: str | None = None
    metrics: dict[str, Any] | None = None
    training_time: float | None = None
    completed_at: datetime | None = None
    error: str | None = None
    code: str | None = None

    @classmethod
    def of(cls, job: Job) -> "TrainingStatusOut":
        end = job.finished_at or utcnow()
        elapsed = (end - job.started_at).total_seconds() if job.started_at else 0.0
        budget = float((job.params or {}).get("max_training_time", 0)) or None
        remaining = None
        if job.status == "in_progress" and job.progress > 1:
            remaining = elapsed * (100 - job.progress) / job.progress
            if budget:
                remaining = min(remaining, max(0.0, budget - elapsed))
        elif job.status == "completed":
            remaining = 0.0
        result = job.result or {}
        return cls(job_id=job.id, status=job.status, progress=round(job.progress, 1), current_step=job.step,
                   elapsed_time=round(elapsed, 1), estimated_remaining=None if remaining is None else round(remaining, 1),
                   model_id=result.get("model_id"), metrics=result.get("metrics"),
                   training_time=result.get("training_time"),
                   completed_at=job.finished_at if job.status == "completed" else None,
                   error=job.error, code="TRAINING_FAILED" if job.status == "failed" else None)
