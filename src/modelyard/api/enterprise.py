"""Prediction-platform contract, operations: usage analytics, export, model status, cache control.

Thin adapters over ``ops/analytics.py``, which reads the prediction log. Each call first writes this
process's buffered log entries, so a caller sees their own calls at once; other API processes write
theirs within a second (MODELYARD_PREDICTION_LOG_FLUSH_SECONDS).
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Iterator, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from modelyard.api.deps import AdminUser, CurrentUser, RuntimeDep, SessionDep, current_user
from modelyard.api.serving import JSONBody
from modelyard.auth.models import User
from modelyard.ops import alerts, metrics
from modelyard.ops.analytics import Analytics
from modelyard.ops.health import detailed, restart_in_place
from modelyard.ops.schemas import AlertsOut, CacheClearedOut, DetailedHealthOut, ModelStatusOut, RestartOut, UsageOut
from modelyard.serving.schemas import utc_now_text
from modelyard.runtime import Runtime

router = APIRouter(tags=["prediction-platform"], dependencies=[Depends(current_user)])

Days = Annotated[int, Query(ge=1, le=365, description="how many days back (at most 365)")]
Model = Annotated[str | None, Query(max_length=200, description="only this model (its name)")]


@router.get("/api/enterprise/health/detailed", response_model=DetailedHealthOut,
            summary="Health of every part, measured now")
def health_detailed(request: Request, user: CurrentUser, runtime: RuntimeDep):
    """healthy / degraded / unhealthy with the measured figures behind it (ops/health.py says how the
    score is made). Always 200: the body says how healthy; `/health` is the probe that answers 503."""
    return JSONBody(detailed(runtime, request.app.state.latency, utc_now_text(), viewer=user))


@router.get("/api/enterprise/metrics/prometheus", response_class=Response,
            responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                             "description": "Prometheus text exposition"}},
            summary="The /metrics registry and the contract's per-model series")
def prometheus(request: Request, user: CurrentUser, runtime: RuntimeDep, session: SessionDep):
    """Everything `/metrics` exposes, then the contract's `model_predictions_total`, `model_confidence_avg`,
    `model_response_time_avg`, `model_health_score` (and `model_error_rate`) per model over the last 24
    hours of the prediction log, `api_requests_total` and `cache_hit_rate`. A non-admin's copy names no other
    user's private model."""
    runtime.prediction_log.flush()
    metrics.sync_cache(runtime.models)
    metrics.set_websockets(request.app.state.ws_connections.count)
    since = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(hours=24)
    analytics = Analytics(session)
    hidden = analytics.hidden_names(user)
    body = metrics.platform_exposition(metrics.without_models(metrics.exposition(runtime.db), hidden),
                                       {name: sums for name, sums in analytics.per_model(since=since).items()
                                        if name not in hidden},
                                       runtime.predictions.cache.hit_rate)
    return Response(body, media_type=metrics.CONTENT_TYPE)


@router.get("/api/enterprise/analytics/usage", response_model=UsageOut,
            summary="Usage analytics from the prediction log")
def usage(user: CurrentUser, runtime: RuntimeDep, session: SessionDep, days: Days = 7, model: Model = None,
          granularity: Literal["hour", "day", "week"] = "day"):
    """Calls, success rate, confidence and latency: in total, by model, by day, by hour of day, and as
    trends in buckets of `granularity`. Admins see every user's calls, anyone else their own."""
    runtime.prediction_log.flush()
    return JSONBody(Analytics(session).usage(viewer=user, days=days, model=model, granularity=granularity))


@router.get("/api/enterprise/status/models", response_model=ModelStatusOut,
            summary="Each model's traffic, health and deployment")
def model_status(user: CurrentUser, runtime: RuntimeDep, session: SessionDep, days: Days = 1):
    """Per model over the last `days` (1: the last 24 hours): calls, confidence, latency, error rate,
    health score and status, cache hit rate, deployed version and its training facts; a system summary
    and an alert per model whose health is below 80."""
    runtime.prediction_log.flush(drift_counts=True)
    return JSONBody(Analytics(session).model_status(viewer=user, days=days, cache=runtime.predictions.cache.facts()))


@router.get("/api/enterprise/export/predictions", response_class=StreamingResponse,
            responses={200: {"content": {"text/csv": {"schema": {"type": "string"}},
                                         "application/json": {"schema": {"type": "array",
                                                                         "items": {"type": "object"}}}},
                             "description": "the prediction log, streamed"}},
            summary="Export the prediction log as CSV or JSON")
def export(user: CurrentUser, runtime: RuntimeDep, format: Literal["csv", "json"] = "csv", days: Days = 30,
           model: Model = None):
    """Streamed as it is read (a year of calls is never held in memory); CSV text cells are neutralised
    against formula injection. Admins export every user's calls, anyone else their own."""
    runtime.prediction_log.flush()
    media = "application/json" if format == "json" else "text/csv"
    return StreamingResponse(_exported(runtime, user, days, model, format), media_type=media,
                             headers={"Content-Disposition": f'attachment; filename="predictions.{format}"'})


def _exported(runtime: Runtime, user: User, days: int, model: str | None, format: str) -> Iterator[bytes]:
    with runtime.db.session() as session:  # the stream's own session: the request's closes before it runs
        yield from Analytics(session).export(viewer=user, days=days, model=model, format=format)


@router.post("/api/enterprise/admin/cache/clear", response_model=CacheClearedOut,
             summary="Empty the prediction cache (admin)")
def clear_cache(admin: AdminUser, runtime: RuntimeDep):
    """Every cached prediction is dropped, in every process (Redis) or in this one (memory)."""
    cache = runtime.predictions.cache
    cleared = cache.clear()
    return {"message": "Prediction cache cleared", "cleared": {"predictions": cleared},
            "backend": "redis" if cache.remote else "memory"}


@router.post("/api/enterprise/admin/system/restart", response_model=RestartOut,
             summary="Reload models and caches in place (admin)")
def restart(admin: AdminUser, runtime: RuntimeDep):
    """Not a process kill: caches dropped in every process, loaded models reloaded and swapped in here,
    with no request refused; the answer says what was restarted and what was not (ops/health.py)."""
    return restart_in_place(runtime)


@router.get("/monitoring/api/alerts", response_model=AlertsOut, summary="Active and recent alerts")
def alert_list(user: CurrentUser, session: SessionDep, status: Literal["active", "resolved"] | None = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100):
    """Alerts opened by the rules (admin settings, section `alerts`; ops/alerts.py), newest first: an
    admin sees all, anyone else those of their own models."""
    return alerts.listing(session, viewer=user, status=status, limit=limit)
