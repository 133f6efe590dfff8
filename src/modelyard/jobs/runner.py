"""Runs one job by id: claim it, keep a heartbeat, record the outcome; fail or retry stale jobs."""
from __future__ import annotations

import logging
import os
import socket
import threading
from datetime import timedelta
from typing import Callable, Mapping

from sqlalchemy import select, update

from modelyard.db.base import utcnow
from modelyard.jobs.context import AttemptFailed, Handler, JobCancelled, JobContext, JobResources
from modelyard.jobs.models import Job

log = logging.getLogger("modelyard.jobs")


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


class Runner:
    """Runs jobs with the handlers it is given; `enqueue` puts a requeued job back on the queue."""

    def __init__(self, resources: JobResources, handlers: Mapping[str, Handler], enqueue: Callable[..., None]):
        self.resources = resources
        self.handlers = handlers
        self.db = resources.db
        self.settings = resources.settings
        self.enqueue = enqueue

    def run(self, job_id: str) -> None:
        ctx = self._claim(job_id)
        if ctx is None:
            return
        stop = threading.Event()
        beat = threading.Thread(target=self._heartbeat, args=(job_id, stop), daemon=True)
        beat.start()
        try:
            result = self.handlers[ctx.kind](ctx)
            self._finish(job_id, "completed", result=result or {}, progress=100.0, step="completed")
        except JobCancelled:
            self._finish(job_id, "cancelled", step="cancelled")
        except AttemptFailed as exc:
            self._attempt_failed(job_id, ctx.kind, exc)
        except Exception as exc:  # the job fails with its reason; the worker lives on
            log.exception("job %s (%s) failed", job_id, ctx.kind)
            self._finish(job_id, "failed", error=f"{type(exc).__name__}: {exc}"[:2000], step="failed")
        finally:
            stop.set()
            beat.join(timeout=5)

    def _claim(self, job_id: str) -> JobContext | None:
        """Move queued → in_progress atomically; another worker (or a cancel) may have won."""
        now = utcnow()
        with self.db.session() as session:
            claimed = session.execute(
                update(Job).where(Job.id == job_id, Job.status == "queued")
                .values(status="in_progress", attempts=Job.attempts + 1, worker=worker_name(),
                        started_at=now, heartbeat_at=now, updated_at=now, step="starting")
            ).rowcount
            if not claimed:
                return None
            job = session.get(Job, job_id)
            if job.kind not in self.handlers:
                job.status, job.error, job.finished_at = "failed", f"no handler for job kind {job.kind!r}", now
                return None
            return JobContext(job.id, job.kind, job.owner_id, dict(job.params or {}), job.attempts,
                              self.resources, job.progress, self)

    def _heartbeat(self, job_id: str, stop: threading.Event) -> None:
        while not stop.wait(self.settings.job_heartbeat_seconds):
            try:
                with self.db.session() as session:
                    session.execute(update(Job).where(Job.id == job_id, Job.status == "in_progress")
                                    .values(heartbeat_at=utcnow()))
            except Exception:
                log.warning("heartbeat for job %s failed", job_id, exc_info=True)

    def _finish(self, job_id: str, status: str, **values) -> None:
        with self.db.session() as session:
            session.execute(update(Job).where(Job.id == job_id, Job.status == "in_progress")
                            .values(status=status, finished_at=utcnow(), updated_at=utcnow(), **values))

    def _attempt_failed(self, job_id: str, kind: str, exc: AttemptFailed) -> None:
        """Back to `queued`, on the queue again after `exc.retry_in` seconds, while attempts remain; else failed."""
        reason = exc.reason[:2000]
        with self.db.session() as session:
            again = exc.retry_in is not None and session.execute(
                update(Job).where(Job.id == job_id, Job.status == "in_progress", Job.attempts < Job.max_attempts,
                                  Job.cancel_requested.is_(False))
                .values(status="queued", worker=None, error=reason, updated_at=utcnow(),
                        step=f"retrying in {exc.retry_in:.0f} s: {reason}"[:200])).rowcount
        if not again:
            log.warning("job %s (%s) failed: %s", job_id, kind, reason[:300])
            self._finish(job_id, "failed", error=reason, step="failed")
            return
        try:
            self.enqueue(job_id, delay=exc.retry_in)
        except Exception as enqueue_error:  # the queue is away: the job must not stay queued unseen
            self._finish_queued(job_id, f"{reason}; the retry could not be queued: {enqueue_error}")

    def _finish_queued(self, job_id: str, error: str) -> None:
        with self.db.session() as session:
            session.execute(update(Job).where(Job.id == job_id, Job.status == "queued")
                            .values(status="failed", error=error[:2000], step="failed", finished_at=utcnow(),
                                    updated_at=utcnow()))

    def reap_stale(self) -> list[str]:
        """Jobs whose worker stopped beating: queue them again while attempts remain, else fail them."""
        cutoff = utcnow() - timedelta(seconds=self.settings.job_stale_seconds)
        requeued: list[str] = []
        with self.db.session() as session:
            stale = session.scalars(select(Job).where(Job.status == "in_progress", Job.heartbeat_at < cutoff)).all()
            for job in stale:
                base = update(Job).where(Job.id == job.id, Job.status == "in_progress", Job.heartbeat_at < cutoff)
                lost = f"worker {job.worker} stopped responding (no heartbeat for {self.settings.job_stale_seconds:.0f}s)"
                if job.attempts < job.max_attempts and not job.cancel_requested:
                    values = {"status": "queued", "step": f"retrying: {lost}", "worker": None}
                else:
                    values = {"status": "failed", "error": f"{lost} after {job.attempts} attempt(s)",
                              "step": "failed", "finished_at": utcnow()}
                if session.execute(base.values(updated_at=utcnow(), **values)).rowcount and values["status"] == "queued":
                    requeued.append(job.id)
        for job_id in requeued:
            log.warning("job %s requeued after its worker was lost", job_id)
            self.enqueue(job_id)
        return requeued
