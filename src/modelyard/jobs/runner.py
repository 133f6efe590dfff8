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
from modelyard.db.engine import unreachable
from modelyard.errors import AppError
from modelyard.jobs.context import AttemptFailed, Handler, JobCancelled, JobContext, JobResources
from modelyard.jobs.models import Job

log = logging.getLogger("modelyard.jobs")
UNAVAILABLE_RETRY_SECONDS = 10.0  # a job refused by a part that is down (a 503) tries again this much later


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
        except AppError as exc:  # its message says why (a part unavailable: 503, retried): no traceback
            retry_in = UNAVAILABLE_RETRY_SECONDS if exc.status == 503 else None
            self._attempt_failed(job_id, ctx.kind, AttemptFailed(f"{type(exc).__name__}: {exc.message}",
                                                                 retry_in=retry_in))
        except Exception as exc:  # the job fails with its reason; the worker lives on
            if why := unreachable(exc):  # nothing can be recorded now: with its heartbeat stopped, the
                # reaper queues it again (or fails it) once the database answers
                log.warning("job %s (%s) stopped: %s; it is retried once the database is back", job_id, ctx.kind, why)
                return
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
            except Exception as exc:
                log.warning("heartbeat for job %s failed: %s", job_id, unreachable(exc) or exc,
                            exc_info=not unreachable(exc))

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
        silent = f"no heartbeat for {self.settings.job_stale_seconds:.0f}s"
        return self._requeue_or_fail([Job.heartbeat_at < cutoff], lambda job: True,
                                     lambda job: f"worker {job.worker} stopped responding ({silent})")

    def recover_interrupted(self) -> list[str]:
        """At start-up: jobs left `in_progress` by a process of this host that is gone (killed, crashed) are
        queued again or failed at once, instead of after `job_stale_seconds` of silence."""
        host = socket.gethostname()
        return self._requeue_or_fail([Job.worker.like(f"{host}:%")], _process_gone,
                                     lambda job: f"worker {job.worker} stopped responding (its process is gone)")

    def _requeue_or_fail(self, where: list, lost: Callable[[Job], bool], reason: Callable[[Job], str]) -> list[str]:
        """In-progress jobs matching `where` and `lost`: queued again while attempts remain, else failed."""
        requeued: list[str] = []
        with self.db.session() as session:
            for job in session.scalars(select(Job).where(Job.status == "in_progress", *where)).all():
                if not lost(job):
                    continue
                base = update(Job).where(Job.id == job.id, Job.status == "in_progress", Job.worker == job.worker,
                                         *where)
                why = reason(job)
                if job.attempts < job.max_attempts and not job.cancel_requested:
                    values = {"status": "queued", "step": f"retrying: {why}"[:200], "worker": None}
                else:
                    values = {"status": "failed", "error": f"{why} after {job.attempts} attempt(s)",
                              "step": "failed", "finished_at": utcnow()}
                changed = session.execute(base.values(updated_at=utcnow(), **values)).rowcount
                if changed and values["status"] == "queued":
                    requeued.append(job.id)
        for job_id in requeued:
            log.warning("job %s requeued after its worker was lost", job_id)
            self.enqueue(job_id)
        return requeued


def _process_gone(job: Job) -> bool:
    """Whether the process named by `job.worker` (host:pid:thread, this host) no longer runs it. At start-up
    this process runs nothing yet, so its own pid (a container restarted with the same pid) counts as gone."""
    host, _, rest = (job.worker or "").partition(":")
    try:
        pid = int(rest.split(":")[0])
    except ValueError:
        return False
    if host != socket.gethostname():
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False
