"""Huey from settings: SQLite storage (embedded) or Redis (scaled). It carries job ids only."""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer

from modelyard.errors import ServiceUnavailable
from modelyard.jobs.backoff import QueueOutage, patient
from modelyard.jobs.runner import Runner
from modelyard.jobs.workers import WorkerHeartbeat

if TYPE_CHECKING:
    from modelyard.runtime import Runtime

log = logging.getLogger("modelyard.jobs")
TASK_NAME = "modelyard.run_job"


class JobQueue:
    def __init__(self, runtime: "Runtime", *, immediate: bool = False):
        settings = runtime.settings
        url = settings.resolved_queue_url
        if url.startswith("sqlite:///"):
            self.huey = SqliteHuey(settings.queue_name, filename=url.removeprefix("sqlite:///"), results=False,
                                   utc=True, immediate=immediate)
        elif url.startswith(("redis://", "rediss://")):
            self.huey = RedisHuey(settings.queue_name, url=url, results=False, utc=True, immediate=immediate)
        else:
            raise ValueError(f"unsupported queue URL {url!r}: use sqlite:///path or redis://host:port/db")
        self.runner = Runner(runtime)
        self._task = self.huey.task(name=TASK_NAME)(self.runner.run)

    def enqueue(self, job_id: str) -> None:
        try:
            self._task(job_id)
        except Exception as exc:  # Redis down: a 503 naming the part, not a 500
            raise ServiceUnavailable(f"the job queue (MODELYARD_QUEUE_URL) is unreachable: {type(exc).__name__}; "
                                     "try again when it is back") from exc

    def pending(self) -> int:
        return self.huey.pending_count()


class _QuietConsumer(Consumer):
    """A consumer that leaves signal handling to its host (uvicorn, or the worker command)."""

    def _set_signal_handlers(self) -> None:
        pass


class Worker:
    """Consumer threads plus a reaper that fails or retries jobs whose worker died."""

    def __init__(self, runtime: "Runtime", *, threads: int):
        self.runtime = runtime
        settings = runtime.settings
        consumer = patient(_QuietConsumer, QueueOutage(describe=f"the job queue ({settings.queue_name})"))
        self.consumer = consumer(runtime.queue.huey, workers=threads, worker_type="thread",
                                 periodic=False, max_delay=1.0, check_worker_health=False)
        kind = "embedded" if settings.is_embedded_queue else "worker"
        self.heartbeat = WorkerHeartbeat(runtime.db, kind=kind, queue_name=settings.queue_name, threads=threads)
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="modelyard-reaper", daemon=True)

    def start(self) -> None:
        self.consumer.start()
        self._reaper.start()

    def stop(self) -> None:
        self._stop.set()
        self.consumer.stop(graceful=False)
        try:
            self.heartbeat.stop()
        except Exception:
            log.warning("could not remove this worker's heartbeat row", exc_info=True)

    def _reap_loop(self) -> None:
        from modelyard.data.retention import cleanup

        interval = max(1.0, min(self.runtime.settings.job_stale_seconds / 3, 30.0))
        next_cleanup = time.monotonic() + 60
        while True:
            try:
                self.heartbeat.beat()  # jobs/workers.py: /api/status counts live consumers by it
            except Exception as exc:
                log.warning("worker heartbeat failed: %s", exc)
            try:
                self.runtime.queue.runner.reap_stale()
            except Exception:
                log.warning("reaping stale jobs failed", exc_info=True)
            if time.monotonic() >= next_cleanup:
                next_cleanup = time.monotonic() + 3600
                try:
                    cleanup(self.runtime)
                except Exception:
                    log.warning("retention cleanup failed", exc_info=True)
            if self._stop.wait(interval):
                return
