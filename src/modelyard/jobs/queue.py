"""Huey from settings: SQLite storage (embedded) or Redis (scaled). It carries job ids only."""
from __future__ import annotations

import logging
import threading
from typing import Mapping, Sequence

from huey import RedisHuey, SqliteHuey
from huey.consumer import Consumer

from modelyard.config import Settings
from modelyard.errors import ServiceUnavailable
from modelyard.jobs.backoff import QueueOutage, patient
from modelyard.jobs.context import Handler, JobResources
from modelyard.jobs.periodic import PeriodicTask, Schedule
from modelyard.jobs.runner import Runner
from modelyard.jobs.workers import WorkerHeartbeat

log = logging.getLogger("modelyard.jobs")
TASK_NAME = "modelyard.run_job"


class JobQueue:
    """The queue of job ids and the runner that executes them with the `handlers` table it is given."""

    def __init__(self, settings: Settings, resources: JobResources, handlers: Mapping[str, Handler], *,
                 immediate: bool = False):
        url = settings.resolved_queue_url
        if url.startswith("sqlite:///"):
            self.huey = SqliteHuey(settings.queue_name, filename=url.removeprefix("sqlite:///"), results=False,
                                   utc=True, immediate=immediate)
        elif url.startswith(("redis://", "rediss://")):
            self.huey = RedisHuey(settings.queue_name, url=url, results=False, utc=True, immediate=immediate)
        else:
            raise ValueError(f"unsupported queue URL {url!r}: use sqlite:///path or redis://host:port/db")
        self.handlers = dict(handlers)
        self.runner = Runner(resources, self.handlers, self.enqueue)
        self._task = self.huey.task(name=TASK_NAME)(self.runner.run)

    def knows(self, kind: str) -> bool:
        return kind in self.handlers

    def enqueue(self, job_id: str, *, delay: float | None = None) -> None:
        """Queue a job id now, or `delay` seconds from now (a retry with backoff: Huey's schedule)."""
        try:
            if delay:
                self._task.schedule(args=(job_id,), delay=delay)
            else:
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
    """Consumer threads, plus one thread for the periodic tasks it is given (the stale-job reaper first)."""

    def __init__(self, queue: JobQueue, settings: Settings, *, threads: int,
                 periodic: Sequence[PeriodicTask] = ()):
        consumer = patient(_QuietConsumer, QueueOutage(describe=f"the job queue ({settings.queue_name})"))
        self.consumer = consumer(queue.huey, workers=threads, worker_type="thread",
                                 periodic=False, max_delay=1.0, check_worker_health=False)
        kind = "embedded" if settings.is_embedded_queue else "worker"
        self.heartbeat = WorkerHeartbeat(queue.runner.db, kind=kind, queue_name=settings.queue_name, threads=threads)
        every = max(1.0, min(settings.job_stale_seconds / 3, 30.0))
        own = [PeriodicTask("worker-heartbeat", every, self.heartbeat.beat, first_after=0.0, record=False),
               PeriodicTask("reap-stale-jobs", every, queue.runner.reap_stale, first_after=0.0, record=False)]
        self.schedule = Schedule([*own, *periodic], queue.runner.db)
        self.runner = queue.runner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.schedule.loop, args=(self._stop,), name="modelyard-periodic",
                                        daemon=True)

    def start(self) -> None:
        try:  # jobs a killed process of this host left in progress: retried (or failed) now, not in 30 s
            self.runner.recover_interrupted()
        except Exception:
            log.warning("could not recover the jobs interrupted by a previous process", exc_info=True)
        self.consumer.start()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.consumer.stop(graceful=False)
        try:
            self.heartbeat.stop()  # jobs/workers.py: /api/status counts live consumers by its rows
        except Exception:
            log.warning("could not remove this worker's heartbeat row", exc_info=True)
