"""Following a job through `GET /api/jobs/{id}`: its states as they change, until it ends."""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from modelyard.client.errors import JobFailed

TERMINAL = ("completed", "failed", "cancelled")


@dataclass(frozen=True)
class JobState:
    """One reading of a job: `progress` in percent (0-100), `step` the server's words for what it does now."""

    job_id: str
    kind: str
    status: str
    progress: float
    step: str | None
    error: str | None
    result: dict[str, Any] | None
    elapsed_seconds: float | None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def of(cls, body: dict[str, Any]) -> "JobState":
        return cls(job_id=body["job_id"], kind=body.get("kind", ""), status=body["status"],
                   progress=float(body.get("progress") or 0), step=body.get("current_step"), error=body.get("error"),
                   result=body.get("result"), elapsed_seconds=body.get("elapsed_seconds"))


def follow(read: Callable[[], dict[str, Any]], *, interval: float = 0.5, timeout: float | None = None,
           ) -> Iterator[JobState]:
    """Each new state of a job (status, progress or step changed), the last one terminal.

    `read` answers the job's body; polling starts at 0.1 s and backs off to `interval`, and to 5 s once the
    job has run for a minute (a long job must not spend the key's hourly request limit). Past `timeout`
    seconds a TimeoutError names the job's last state (the job itself goes on)."""
    started = time.monotonic()
    deadline = None if timeout is None else started + timeout
    last, pause = None, 0.1
    while True:
        state = JobState.of(read())
        key = (state.status, state.progress, state.step)
        if key != last:
            last = key
            yield state
        if state.done:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"job {state.job_id} is still {state.status} ({state.progress:.0f}%) after "
                               f"{timeout:.0f} s; it goes on on the server")
        time.sleep(pause)
        ceiling = interval if time.monotonic() - started < 60 else max(interval, 5.0)
        pause = min(ceiling, pause * 1.5)


def completed(state: JobState, what: str = "job") -> JobState:
    """The state itself when the job completed; JobFailed with the server's reason otherwise."""
    if state.status != "completed":
        raise JobFailed(f"{what} {state.job_id} {state.status}: {state.error or 'no reason given'}", job=state)
    return state
