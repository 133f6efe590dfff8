"""Jobs: read, list and cancel your own (admins: all); admins may start a diagnostics job."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, status

from modelyard.api.deps import AdminUser, CurrentUser, JobsDep, current_user
from modelyard.api.params import Offset
from modelyard.jobs.models import STATUSES
from modelyard.jobs.schemas import DiagnosticsIn, JobOut

router = APIRouter(tags=["jobs"], dependencies=[Depends(current_user)])


@router.get("/api/jobs", response_model=list[JobOut])
def list_jobs(user: CurrentUser, jobs: JobsDep, kind: str | None = None,
              status_: Annotated[str | None, Query(alias="status", pattern="|".join(STATUSES))] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 50, offset: Offset = 0):
    return [JobOut.of(j) for j in jobs.list(viewer=user, kind=kind, status=status_, limit=limit, offset=offset)]


@router.get("/api/jobs/{job_id}", response_model=JobOut)
def get_job(job_id: str, user: CurrentUser, jobs: JobsDep):
    return JobOut.of(jobs.get(job_id, viewer=user))


@router.post("/api/jobs/{job_id}/cancel", response_model=JobOut)
def cancel_job(job_id: str, user: CurrentUser, jobs: JobsDep):
    return JobOut.of(jobs.cancel(job_id, viewer=user))


@router.post("/admin/diagnostics", response_model=JobOut, status_code=status.HTTP_202_ACCEPTED)
def run_diagnostics(body: DiagnosticsIn, admin: AdminUser, jobs: JobsDep):
    return JobOut.of(jobs.submit("diagnostics", owner=admin, params=body.model_dump()))
