"""Health that tells the truth: each part this process depends on, checked with one round trip.

Parts: the database, the blob store, the job queue, and the Redis for rate limits (when configured;
in process memory otherwise). `/health` is 503 when any part is down, with a message naming it;
`/api/status` adds the job consumers' heartbeats (jobs/workers.py) and warns when jobs wait with no
consumer alive.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from modelyard import __version__
from modelyard.jobs.workers import QueueState, queue_state
from modelyard.ops.startup import mask_url

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.runtime import Runtime

SETTING_OF = {"database": "MODELYARD_DATABASE_URL", "blob_store": "MODELYARD_BLOB_URL",
              "queue": "MODELYARD_QUEUE_URL", "rate_limits": "MODELYARD_REDIS_URL"}
WHAT = {"database": "the database", "blob_store": "the blob store", "queue": "the job queue",
        "rate_limits": "the Redis for rate limits"}


@dataclass
class Report:
    checks: dict[str, dict[str, Any]]
    down: list[str] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.down

    @property
    def message(self) -> str | None:
        if not self.down:
            return None
        parts = "; ".join(f"{WHAT[name]} ({SETTING_OF[name]}) is unreachable: {self.checks[name]['message']}"
                          for name in self.down)
        return parts


def _check(probe: Callable[[], object], backend: str) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        probe()
    except Exception as exc:  # reported, not raised: this is the health check
        text = " ".join(str(getattr(exc, "message", None) or exc).split())[:300]
        return {"status": "unhealthy", "backend": backend, "error": type(exc).__name__,
                "message": text or type(exc).__name__}
    return {"status": "healthy", "backend": backend, "latency_ms": round((time.perf_counter() - start) * 1000, 2)}


def _backend(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]


def check_parts(runtime: "Runtime") -> Report:
    settings = runtime.settings
    checks = {
        "database": _check(runtime.db.ping, _backend(settings.resolved_database_url)),
        "blob_store": _check(runtime.blobs.ping, _backend(settings.resolved_blob_url)),
        "queue": _check(runtime.queue.pending, _backend(settings.resolved_queue_url)),
        "rate_limits": _check(runtime.limiter.ping, "redis" if settings.redis_url else "memory"),
    }
    return Report(checks, [name for name, check in checks.items() if check["status"] != "healthy"])


def health_body(runtime: "Runtime", now_iso: str) -> tuple[dict[str, Any], int]:
    """The `/health` body and its status code (503 naming the parts that are down)."""
    report = check_parts(runtime)
    body = {"status": "healthy" if report.healthy else "unhealthy", "timestamp": now_iso,
            "version": __version__, "checks": report.checks}
    if not report.healthy:
        body["message"] = report.message
    return body, 200 if report.healthy else 503


def alive_seconds(settings: "Settings") -> float:
    """A consumer is alive while its last beat is younger than three of its beat intervals (the
    reaper loop's interval in jobs/queue.py)."""
    return 3 * max(1.0, min(settings.job_stale_seconds / 3, 30.0))


@dataclass
class Operations:
    """What `/api/status` adds to the dashboard's figures."""

    status: str
    report: Report
    queue: QueueState | None
    warnings: list[str]


def operations(runtime: "Runtime") -> Operations:
    settings = runtime.settings
    report = check_parts(runtime)
    warnings = [f"{WHAT[name]} ({SETTING_OF[name]}) is unreachable: {report.checks[name]['message']}"
                for name in report.down]
    state = None
    if "database" not in report.down:
        state = queue_state(runtime.db, queue_name=settings.queue_name, alive_seconds=alive_seconds(settings))
        if state.stalled:
            how = ("start `modelyard worker` with the same MODELYARD_QUEUE_URL "
                   f"({mask_url(settings.resolved_queue_url)})" if not settings.runs_embedded_worker
                   else "the job threads of the server stopped beating; restart `modelyard serve`")
            warnings.append(f"{state.queued_jobs} job(s) queued, the oldest for "
                            f"{state.oldest_queued_age_seconds:.0f} s, and no worker is alive: {how}")
    return Operations("degraded" if warnings else "operational", report, state, warnings)
