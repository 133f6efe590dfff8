"""What a running job sees: its parameters, the stores, and a way to report progress."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import update

from modelyard.db.base import utcnow
from modelyard.jobs.models import Job

if TYPE_CHECKING:
    from modelyard.runtime import Runtime


class JobCancelled(Exception):
    """Raised inside a handler when its job was cancelled; the runner records it."""


@dataclass
class JobContext:
    job_id: str
    kind: str
    owner_id: int
    params: dict[str, Any]
    attempt: int
    runtime: "Runtime"
    _progress: float = field(default=0.0, repr=False)

    @property
    def db(self):
        return self.runtime.db

    @property
    def blobs(self):
        return self.runtime.blobs

    @property
    def settings(self):
        return self.runtime.settings

    def progress(self, percent: float, step: str | None = None) -> None:
        """Record progress (never moving backwards) and stop if the job was cancelled."""
        self._progress = max(self._progress, min(100.0, float(percent)))
        values: dict[str, Any] = {"progress": self._progress, "heartbeat_at": utcnow(), "updated_at": utcnow()}
        if step is not None:
            values["step"] = step[:200]
        with self.db.session() as session:
            session.execute(update(Job).where(Job.id == self.job_id).values(**values))
            cancelled = session.get(Job, self.job_id).cancel_requested
        if cancelled:
            raise JobCancelled()
