"""Huey from settings: SQLite storage (embedded) or Redis (scaled). It carries job ids only."""
from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer

from modelyard.jobs.runner import Runner

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
        self._task(job_id)

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
        self.consumer = _QuietConsumer(runtime.queue.huey, workers=threads, worker_type="thread",
                                       periodic=False, max_delay=1.0, check_worker_health=False)
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="modelyard-reaper", daemon=True)

    def start(self) -> None:
        self.consumer.start()
        self._reaper.start()

    def stop(self) -> None:
        self._stop.set()
        self.consumer.stop(graceful=False)

    def _reap_loop(self) -> None:
        from modelyard.data.retention import cleanup

        interval = max(1.0, min(self.runtime.settings.job_stale_seconds / 3, 30.0))
        next_cleanup = time.monotonic() + 60
        while True:
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
