"""What a running job sees: its parameters, the stores, and a way to report progress.

The job layer knows no domain: a handler is a function of a ``JobContext``; anything domain-specific a
handler needs (the prediction pipeline, say) is bound to it by the composition root (``runtime.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from sqlalchemy import update

from modelyard.db.base import utcnow
from modelyard.jobs.models import Job

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.db import Database
    from modelyard.storage.base import BlobStore

Handler = Callable[["JobContext"], "dict | None"]


class JobCancelled(Exception):
    """Raised inside a handler when its job was cancelled; the runner records it."""


class AttemptFailed(Exception):
    """Raised by a handler whose attempt failed in an expected way (a webhook receiver answered 500): the
    runner queues the job again `retry_in` seconds later while attempts remain (None: never), and
    otherwise fails it with `reason`. No traceback is logged: the reason says it all."""

    def __init__(self, reason: str, *, retry_in: float | None):
        super().__init__(reason)
        self.reason = reason
        self.retry_in = None if retry_in is None else max(0.0, float(retry_in))


@dataclass(frozen=True)
class JobResources:
    """The narrow set of process resources every job may use."""

    db: "Database"
    blobs: "BlobStore"
    settings: "Settings"


@dataclass
class JobContext:
    job_id: str
    kind: str
    owner_id: int
    params: dict[str, Any]
    attempt: int
    resources: JobResources
    _progress: float = field(default=0.0, repr=False)
    _runner: Any = field(default=None, repr=False)

    @property
    def db(self) -> "Database":
        return self.resources.db

    @property
    def blobs(self) -> "BlobStore":
        return self.resources.blobs

    @property
    def settings(self) -> "Settings":
        return self.resources.settings

    def fan_out(self, kind: str, params: list[dict[str, Any]], *, on_poll=None, max_attempts: int = 2):
        """Run `params` as child jobs of `kind` that any worker may take; their final states, in order.

        See jobs/fanout.py: this thread runs still-queued children itself while it waits."""
        from modelyard.jobs.fanout import FanOut

        return FanOut(self._runner, self, kind, params, max_attempts=max_attempts).run(on_poll)

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
