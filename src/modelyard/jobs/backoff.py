"""Huey consumer parts that wait out an unreachable queue instead of flooding the log.

Huey's own worker logs a traceback on every failed poll (about a second apart, per thread, plus the
scheduler): thousands of lines a minute while Redis is down. Here every consumer thread shares one
`QueueOutage`: the first failure after a success or after a wait logs one line and sets the next
attempt 1, 2, 4 … 30 s later; the other threads wait for that time without logging.
"""
from __future__ import annotations

import logging
import re
import sys
import threading
import time

from huey.consumer import Scheduler, Worker

log = logging.getLogger("modelyard.jobs")


class QueueOutage:
    """Shared by the threads of one consumer: when to try the queue next, and one line per attempt."""

    def __init__(self, *, first_delay: float = 1.0, max_delay: float = 30.0, describe: str = "the job queue"):
        self.first_delay = first_delay
        self.max_delay = max_delay
        self.describe = describe
        self.attempts = 0
        self._delay = first_delay
        self._next_try = 0.0
        self._lock = threading.Lock()

    def wait_turn(self, stop: threading.Event) -> bool:
        """Block until the next attempt is due; False when the consumer is stopping."""
        with self._lock:
            due = self._next_try - time.monotonic()
        return due <= 0 or not stop.wait(due)

    def failed(self, exc: Exception) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._next_try:
                return  # another thread already logged this attempt
            self.attempts += 1
            delay = self._delay
            self._next_try = now + delay
            self._delay = min(delay * 2, self.max_delay)
        text = re.sub(r"\s+", " ", str(exc)).strip()[:200]
        log.warning("%s is unreachable (%s: %s); attempt %d, next in %.0f s",
                    self.describe, type(exc).__name__, text, self.attempts, delay)

    def succeeded(self) -> None:
        if not self.attempts:
            return
        with self._lock:
            attempts, self.attempts = self.attempts, 0
            self._delay = self.first_delay
            self._next_try = 0.0
        if attempts:
            log.info("%s is reachable again after %d failed attempts", self.describe, attempts)


class PatientWorker(Worker):
    """Huey's worker loop with the queue read guarded by the shared outage."""

    outage: QueueOutage

    def loop(self, now=None):
        if not self.outage.wait_turn(self.stop_flag):
            return
        try:
            task = self.huey.dequeue()
        except Exception as exc:
            self.outage.failed(exc)
            return
        self.outage.succeeded()
        if task is not None:
            self.delay = self.default_delay
            try:
                self.huey.execute(task, now)
            except Exception:
                self._logger.exception("Unhandled error during execution of task %s.", task.id)
        elif not self.huey.storage.blocking:
            self.sleep()


class PatientScheduler(Scheduler):
    """Huey's scheduler, which probes the queue first and waits its turn while it is unreachable.
    The queue can still go away between the probe and the read: the scheduler's logger then reports
    a connection error through the outage (one line) instead of as a traceback."""

    outage: QueueOutage

    def create_logger(self):
        return _OutageLogger(super().create_logger(), self.outage)

    def loop(self, now=None):
        if not self.outage.wait_turn(self.stop_flag):
            return
        try:
            self.huey.storage.schedule_size()  # a cheap probe, so that an outage is never a traceback
        except Exception as exc:
            self.outage.failed(exc)
            self.stop_flag.wait(self.interval)
            return
        super().loop(now)


class _OutageLogger:
    """A logger whose `exception()` reports queue connection errors through the outage, as one line;
    anything else is logged as before."""

    def __init__(self, logger: logging.Logger, outage: QueueOutage):
        self._logger = logger
        self._outage = outage

    def exception(self, msg, *args, **kwargs) -> None:
        exc = sys.exc_info()[1]
        if exc is not None and _is_connection_error(exc):
            self._outage.failed(exc)
        else:
            self._logger.exception(msg, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._logger, name)


def _is_connection_error(exc: BaseException) -> bool:
    import sqlite3

    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return isinstance(exc, (RedisConnectionError, RedisTimeoutError, ConnectionError, TimeoutError,
                            sqlite3.OperationalError))


def patient(consumer_cls: type, outage: QueueOutage) -> type:
    """`consumer_cls` whose worker and scheduler threads share `outage`."""
    worker = type("PatientWorker", (PatientWorker,), {"outage": outage})
    scheduler = type("PatientScheduler", (PatientScheduler,), {"outage": outage})
    return type(consumer_cls.__name__, (consumer_cls,), {"worker_class": worker, "scheduler_class": scheduler})
