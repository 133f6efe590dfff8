"""Job bodies: what any API host answers for any job."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from modelyard.db.base import utcnow
from modelyard.jobs.models import Job


class JobOut(BaseModel):
    job_id: str
    kind: str
    status: str
    progress: float
    current_step: str | None
    attempts: int
    error: str | None
    result: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    elapsed_seconds: float | None
    owner_id: int

    @classmethod
    def of(cls, job: Job) -> "JobOut":
        end = job.finished_at or utcnow()
        elapsed = (end - job.started_at).total_seconds() if job.started_at else None
        return cls(job_id=job.id, kind=job.kind, status=job.status, progress=round(job.progress, 1),
                   current_step=job.step, attempts=job.attempts, error=job.error, result=job.result,
                   created_at=job.created_at, started_at=job.started_at, finished_at=job.finished_at,
                   elapsed_seconds=round(elapsed, 2) if elapsed is not None else None, owner_id=job.owner_id)


class DiagnosticsIn(BaseModel):
    """Strict: `{"seconds": false, "fail": 0}` is refused, not read as numbers and booleans."""

    seconds: float = Field(0, ge=0, le=600, strict=True, description="how long the job holds, reporting progress")
    fail: bool = Field(False, strict=True, description="end with a failure, to check how failures are reported")
