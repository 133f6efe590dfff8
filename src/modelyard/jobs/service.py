"""Submitting, reading and cancelling jobs. The queue carries only job ids."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import new_id, utcnow
from modelyard.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from modelyard.jobs.models import ACTIVE, Job

if TYPE_CHECKING:
    from modelyard.jobs.queue import JobQueue


class JobService:
    def __init__(self, session: Session, queue: "JobQueue", *, max_attempts: int = 2):
        self._session = session
        self._queue = queue
        self._max_attempts = max_attempts

    def submit(self, kind: str, *, owner: User, params: dict[str, Any] | None = None,
               max_attempts: int | None = None) -> Job:
        """Record the job, commit, then enqueue its id (a worker never sees an uncommitted job)."""
        if not self._queue.knows(kind):
            raise BadRequest(f"unknown job kind {kind!r}")
        job = Job(id=new_id("job"), kind=kind, owner_id=owner.id, params=params or {},
                  max_attempts=max_attempts or self._max_attempts, step="queued", updated_at=utcnow())
        self._session.add(job)
        self._session.commit()
        try:
            self._queue.enqueue(job.id)
        except ServiceUnavailable as exc:  # never leave a job `queued` that no worker will ever see
            job.status, job.error, job.finished_at, job.updated_at = "failed", exc.message, utcnow(), utcnow()
            self._session.commit()
            raise
        return job

    def get(self, job_id: str, *, viewer: User) -> Job:
        job = self._session.get(Job, job_id)
        if job is None or not viewer.can_see(job):
            raise NotFound("job", job_id)
        return job

    def list(self, *, viewer: User, kind: str | None = None, status: str | None = None,
             limit: int = 50, offset: int = 0) -> list[Job]:
        query = select(Job)
        if not viewer.is_admin:
            query = query.where(Job.owner_id == viewer.id)
        if kind:
            query = query.where(Job.kind == kind)
        if status:
            query = query.where(Job.status == status)
        return list(self._session.scalars(query.order_by(Job.created_at.desc()).limit(limit).offset(offset)))

    def cancel(self, job_id: str, *, viewer: User) -> Job:
        """A queued job is cancelled at once; a running one at its next progress report."""
        job = self.get(job_id, viewer=viewer)
        if job.status not in ACTIVE:
            raise Conflict(f"job {job_id} is already {job.status}")
        job.cancel_requested = True
        if job.status == "queued":
            job.status, job.finished_at, job.step = "cancelled", utcnow(), "cancelled"
        job.updated_at = utcnow()
        self._session.commit()
        return job

    def count_active(self) -> int:
        return self._session.scalar(select(func.count()).select_from(Job).where(Job.status.in_(ACTIVE))) or 0

    def counts_by_status(self) -> dict[str, int]:
        rows = self._session.execute(select(Job.status, func.count()).group_by(Job.status))
        return {status: count for status, count in rows}
