"""Prediction-platform contract, monitoring: the `/monitoring` page and the JSON that feeds it.

The page (`/monitoring`) is public HTML shipped in the package (api/static/monitoring/, no CDN): it asks
for a login or an API key, keeps the token in the tab's sessionStorage, reads the authenticated routes
below and refreshes over `/ws` (`{"type": "request_monitoring", "window": N}`; the token goes in the
socket's first message, never in a URL). `/monitoring/api/health` is in api/system.py (public).
"""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse

from modelyard.api.deps import CurrentUser, RuntimeDep, SessionDep, current_user
from modelyard.api.docs import STATIC
from modelyard.api.serving import JSONBody
from modelyard.ops.analytics import Analytics
from modelyard.ops.monitoring import DEFAULT_WINDOW, Monitoring, process_figures
from modelyard.ops.monitoring_schemas import MonitoringMetricsOut
from modelyard.ops.schemas import ModelStatusOut

PAGE = STATIC / "monitoring" / "index.html"

public = APIRouter(tags=["prediction-platform"])
router = APIRouter(tags=["prediction-platform"], dependencies=[Depends(current_user)])

# Range checked in ops/monitoring.py (422 with the app's error body, as over the WebSocket).
Window = Annotated[int, Query(description="minutes back, 1 to 1440; cut into 60 buckets")]
Days = Annotated[int, Query(ge=1, le=365, description="how many days back (at most 365)")]


@public.get("/monitoring", include_in_schema=False)
def page() -> FileResponse:
    """The monitoring page (it signs in itself; the figures it shows come from the routes below)."""
    return FileResponse(PAGE, media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/monitoring/api/metrics", response_model=MonitoringMetricsOut,
            summary="Request rate, errors, latency and jobs over the last minutes")
def metrics(request: Request, user: CurrentUser, runtime: RuntimeDep, session: SessionDep,
            window: Window = DEFAULT_WINDOW):
    """Prediction calls over the last `window` minutes in 60 buckets (calls and errors per minute,
    latency p50/p95/p99, calls per model), totals, jobs by status, this process's request figures.
    Admins see every user's calls, anyone else their own."""
    runtime.prediction_log.flush()
    state = request.app.state
    return JSONBody(Monitoring(session).metrics(
        viewer=user, window=window, process=process_figures(state.latency, state.ws_connections.count)))


@router.get("/monitoring/api/models", response_model=ModelStatusOut,
            summary="Each model's traffic, health and deployment")
def models(user: CurrentUser, runtime: RuntimeDep, session: SessionDep, days: Days = 1):
    """The same figures as `/api/enterprise/status/models` (per model, a system summary, alerts)."""
    runtime.prediction_log.flush(drift_counts=True)
    return JSONBody(Analytics(session).model_status(viewer=user, days=days, cache=runtime.predictions.cache.facts()))
