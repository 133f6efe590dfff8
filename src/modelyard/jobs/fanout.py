"""A job split into child jobs that every live worker takes part in, results gathered in order.

The parent keeps its thread while its children run, and spends it usefully: whenever one of its
children is still queued it claims and runs that child itself, so a parent never waits on a fleet
that is busy with other parents (no deadlock, whatever the number of workers and threads). Other
workers take the remaining children off the queue as they would any job. A failed child is retried
alone while it has attempts left; when one fails for good the parent fails naming it, and cancelling
the parent cancels its children. A parent whose worker dies is requeued by the stale-job reaper and
picks up the same children (their ids derive from the parent's), so finished ones are not redone.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Sequence

from sqlalchemy import select, update

from modelyard.db.base import utcnow
from modelyard.jobs.models import ACTIVE, Job

if TYPE_CHECKING:
    from modelyard.jobs.context import JobContext
    from modelyard.jobs.runner import Runner

log = logging.getLogger("modelyard.jobs")
POLL_SECONDS = 0.2


class ChildFailed(RuntimeError):
    """A child job failed after its last attempt; the parent fails with this message."""


@dataclass(frozen=True)
class ChildState:
    """What the parent sees of one child at a poll."""

    index: int
    id: str
    status: str
    progress: float
    attempts: int
    max_attempts: int
    error: str | None
    result: dict[str, Any] | None
    worker: str | None


def child_id(parent_id: str, index: int) -> str:
    return f"{parent_id}.{index:04d}"


class FanOut:
    """Run `params` as child jobs of `kind` under the job `parent`; see the module docstring."""

    def __init__(self, runner: "Runner", parent: "JobContext", kind: str, params: Sequence[dict[str, Any]], *,
                 max_attempts: int = 2):
        if kind not in runner.handlers:
            raise ValueError(f"no handler for child job kind {kind!r}")
        self.runner, self.parent, self.kind = runner, parent, kind
        self.ids = [child_id(parent.job_id, i) for i in range(len(params))]
        self._params = list(params)
        self._max_attempts = max_attempts

    def run(self, on_poll: Callable[[list[ChildState]], None] | None = None) -> list[ChildState]:
        """Every child's final state, in order, once all have completed; ChildFailed or JobCancelled otherwise."""
        self._create()
        try:
            while True:
                states = self._states()
                self._retry_or_fail(states)
                if all(s.status == "completed" for s in states):
                    return states
                if on_poll is not None:
                    on_poll(states)  # reports progress; raises JobCancelled when the parent was cancelled
                queued = next((s for s in states if s.status == "queued"), None)
                if queued is not None:
                    self.runner.run(queued.id)  # a no-op when another worker claimed it first
                else:
                    time.sleep(POLL_SECONDS)
        except BaseException:
            self._cancel_rest()
            raise

    def _create(self) -> None:
        """Insert the children that do not exist yet (a requeued parent finds its earlier ones) and enqueue them."""
        with self.runner.db.session() as session:
            existing = set(session.scalars(select(Job.id).where(Job.id.in_(self.ids))))
            fresh = [i for i, job_id in enumerate(self.ids) if job_id not in existing]
            for i in fresh:
                session.add(Job(id=self.ids[i], kind=self.kind, owner_id=self.parent.owner_id,
                                params={**self._params[i], "parent_job_id": self.parent.job_id},
                                max_attempts=self._max_attempts, step="queued", updated_at=utcnow()))
            session.commit()
            requeue = list(session.scalars(select(Job.id).where(Job.id.in_(self.ids), Job.status == "queued")))
        for job_id in requeue:  # fresh ones, and queued ones whose queue message a lost worker may have taken
            self.runner.enqueue(job_id)

    def _states(self) -> list[ChildState]:
        with self.runner.db.session() as session:
            rows = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_(self.ids)))}
            return [ChildState(i, job_id, rows[job_id].status, rows[job_id].progress, rows[job_id].attempts,
                               rows[job_id].max_attempts, rows[job_id].error, rows[job_id].result,
                               rows[job_id].worker)
                    for i, job_id in enumerate(self.ids)]

    def _retry_or_fail(self, states: list[ChildState]) -> None:
        for state in states:
            if state.status == "cancelled":
                raise ChildFailed(f"part {state.index + 1} of {len(states)} was cancelled")
            if state.status != "failed":
                continue
            if state.attempts >= state.max_attempts:
                raise ChildFailed(f"part {state.index + 1} of {len(states)} failed after {state.attempts} "
                                  f"attempt(s): {state.error}")
            with self.runner.db.session() as session:
                again = session.execute(
                    update(Job).where(Job.id == state.id, Job.status == "failed")
                    .values(status="queued", step=f"retrying after: {(state.error or '')[:150]}", worker=None,
                            finished_at=None, updated_at=utcnow())).rowcount
            if again:
                log.warning("retrying part %d of job %s alone: %s", state.index + 1, self.parent.job_id, state.error)
                self.runner.enqueue(state.id)

    def _cancel_rest(self) -> None:
        """Children that have not finished stop: queued ones at once, running ones at their next progress report."""
        try:
            with self.runner.db.session() as session:
                session.execute(update(Job).where(Job.id.in_(self.ids), Job.status == "queued")
                                .values(status="cancelled", cancel_requested=True, step="cancelled",
                                        finished_at=utcnow(), updated_at=utcnow()))
                session.execute(update(Job).where(Job.id.in_(self.ids), Job.status.in_(ACTIVE))
                                .values(cancel_requested=True, updated_at=utcnow()))
        except Exception:
            log.warning("could not cancel the children of job %s", self.parent.job_id, exc_info=True)
