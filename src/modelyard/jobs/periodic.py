"""Periodic work run by every worker (embedded or `modelyard worker`): a small in-process schedule.

Each task runs `every` seconds, the first time `first_after` seconds after the worker starts. Tasks
must be safe to run on several workers at once (they are: reaping uses compare-and-set updates,
retention deletes what is expired). The last run of each recorded task is kept in `periodic_run`, so
`/api/status` can say when it last ran and how it ended, whichever host ran it.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from modelyard.db.base import utcnow
from modelyard.db.engine import unreachable
from modelyard.jobs.models import PeriodicRun

if TYPE_CHECKING:
    from modelyard.db import Database

log = logging.getLogger("modelyard.jobs")


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    every: float  # seconds
    run: Callable[[], Any]
    first_after: float = 60.0
    record: bool = True  # keep its last run in the database


class Schedule:
    def __init__(self, tasks: Sequence[PeriodicTask], db: "Database"):
        self.tasks = list(tasks)
        self._db = db

    def loop(self, stop: threading.Event) -> None:
        start = time.monotonic()
        due = {task.name: start + task.first_after for task in self.tasks}
        while not stop.is_set():
            for task in self.tasks:
                if time.monotonic() >= due[task.name]:
                    due[task.name] = time.monotonic() + task.every
                    self.run(task)
            wait = max(0.05, min(due.values()) - time.monotonic())
            if stop.wait(min(wait, 1.0)):
                return

    def run(self, task: PeriodicTask) -> None:
        from modelyard.jobs.runner import worker_name

        started = utcnow()
        try:
            outcome = task.run()
            status, detail = "ok", _summary(outcome)
        except Exception as exc:  # an unreachable database is one line per run, not a traceback each time
            why = unreachable(exc)
            log.warning("periodic task %s failed%s", task.name, f": {why}" if why else "", exc_info=not why)
            status, detail = "failed", f"{type(exc).__name__}: {exc}"[:1000]
        if not task.record:
            return
        try:
            with self._db.session() as session:
                row = session.get(PeriodicRun, task.name) or PeriodicRun(name=task.name)
                row.started_at, row.finished_at, row.status, row.detail = started, utcnow(), status, detail
                row.worker = worker_name()
                session.merge(row)
        except Exception as exc:
            why = unreachable(exc)
            log.warning("could not record the run of periodic task %s%s", task.name, f": {why}" if why else "",
                        exc_info=not why)


def _summary(outcome: Any) -> str | None:
    if outcome is None:
        return None
    if isinstance(outcome, (list, tuple, set)):
        return f"{len(outcome)} item(s)"
    return str(outcome)[:1000]


def last_runs(db: "Database") -> dict[str, dict[str, Any]]:
    """{name: {started_at, finished_at, status, detail, worker}} for /api/status."""
    from sqlalchemy import select

    with db.session() as session:
        return {r.name: {"started_at": r.started_at, "finished_at": r.finished_at, "status": r.status,
                         "detail": r.detail, "worker": r.worker} for r in session.scalars(select(PeriodicRun))}
