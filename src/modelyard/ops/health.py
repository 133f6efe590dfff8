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
    from modelyard.auth.models import User
    from modelyard.config import Settings
    from modelyard.ops.latency import LatencyWindow
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


def detailed(runtime: "Runtime", latency: "LatencyWindow", now_iso: str, *, viewer: "User") -> dict[str, Any]:
    """The prediction platform's `/api/enterprise/health/detailed`, every figure measured now.

    Factors (0-1): the database (1 reachable, 0 not), the prediction cache's hit rate since this process
    started (1 before any lookup), the models' mean health over the last 24 hours (ops/analytics.py;
    1 without traffic), the share of this process's requests not answered with a 5xx in the last 5
    minutes. overall_health_score = 100 × their mean; unhealthy when a part this process depends on
    is down (as `/health`), degraded below 80, healthy otherwise. The scores count every model; the list
    of models names only those the viewer may see (not other users' private ones: ops/analytics.py `hidden_names`)."""
    from datetime import datetime, timedelta, timezone

    from modelyard.ops.analytics import Analytics

    report = check_parts(runtime)
    database = report.checks["database"]
    pool = runtime.db.pool_status()
    cache = runtime.predictions.cache.facts()
    since = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=24)
    runtime.prediction_log.flush()
    with runtime.db.session() as session:
        analytics = Analytics(session)
        per_model = analytics.per_model(since=since) if database["status"] == "healthy" else {}
        hidden = analytics.hidden_names(viewer) if database["status"] == "healthy" else set()
    scores = {name: sums.health_score for name, sums in per_model.items()}
    known = [score for score in scores.values() if score is not None]
    errors = latency.error_rate()
    factors = {
        "database": 1.0 if database["status"] == "healthy" else 0.0,
        "cache_hit_rate": round(cache["hit_rate"] / 100, 4) if cache["hit_rate"] is not None else 1.0,
        "model_health": round(sum(known) / len(known) / 100, 4) if known else 1.0,
        "api_success_rate": round(1 - errors / 100, 4) if errors is not None else 1.0,
    }
    score = round(100 * sum(factors.values()) / len(factors), 1)
    uptime = time.time() - runtime.started_at
    return {
        "status": "unhealthy" if not report.healthy else "degraded" if score < 80 else "healthy",
        "overall_health_score": score,
        "timestamp": now_iso,
        "components": {
            "database": {"status": database["status"], "latency_ms": database.get("latency_ms"),
                         "backend": database["backend"], **pool},
            "cache": cache,
            "models": {"loaded_models": len(runtime.models),
                       "avg_health_score": round(sum(known) / len(known), 1) if known else None,
                       "models": {name: {"health_score": sums.health_score, "status": sums.health_status,
                                         "predictions": sums.calls, "error_rate": sums.error_rate}
                                  for name, sums in sorted(per_model.items())
                                  if name not in hidden}},
            "api_performance": {"avg_response_time_ms": latency.average_ms(),
                                "requests_per_minute": latency.per_minute(), "error_rate": errors},
            "parts": report.checks,
        },
        "health_factors": factors,
        "uptime": _duration(uptime),
        "uptime_seconds": round(uptime, 1),
        "version": __version__,
    }


def _duration(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{days}d " if days else "") + (f"{hours}h " if days or hours else "") + f"{minutes}m {secs}s"


def restart_in_place(runtime: "Runtime") -> dict[str, Any]:
    """What `POST /api/enterprise/admin/system/restart` does, without stopping anything that serves:
    every process's epoch-checked caches (credentials, model references, webhook subscriptions) are
    dropped, and every process reloads each model it holds from its artifact and swaps it in (requests in
    flight finish on the old copy): this one now, the other API processes at their next request, the
    workers within EPOCHS_EVERY seconds (their `epochs` periodic task). Admin settings are read from the
    database where they are used, so they need no reload; buffered prediction log entries are written."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import select

    from modelyard.invalidation import AUTH, NAMES, REGISTRY, RESTART, WEBHOOKS
    from modelyard.jobs.workers import WorkerBeat
    from modelyard.runtime import EPOCHS_EVERY

    started = time.perf_counter()
    runtime.invalidation.epochs.bump(AUTH, REGISTRY, WEBHOOKS, RESTART)
    runtime.invalidation.settle(RESTART)  # this process reloads here, not again on its next request
    models = runtime.reload_models()
    written = runtime.prediction_log.flush()
    with runtime.db.session() as session:
        fresh = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(seconds=runtime.settings.job_stale_seconds)
        workers = sorted(f"{kind} {host}:{pid}" for kind, host, pid in session.execute(
            select(WorkerBeat.kind, WorkerBeat.hostname, WorkerBeat.pid).where(WorkerBeat.last_beat_at >= fresh)))
    return {
        "message": "Restarted in place: no process was stopped and no request was refused",
        "restarted": {"caches": {"scope": "every process, at its next request", "names": list(NAMES)},
                      "models": models,
                      "other_processes": {"api": "reload the models they hold at their next request",
                                          "workers": workers,
                                          "workers_reload": f"within {EPOCHS_EVERY:.0f} s, between jobs: a "
                                                            "running job finishes on the model it started with"},
                      "prediction_log": {"entries_written": written}},
        "not_restarted": {
            "environment_settings": "MODELYARD_* are read when a process starts: restart the processes to change "
                                    "them (admin settings, PUT /api/settings, apply at once and need no restart)",
        },
        "took_ms": round((time.perf_counter() - started) * 1000, 1),
    }
