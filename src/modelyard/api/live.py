"""WebSocket /ws: ping/pong, system metrics every few seconds, the user's training progress, and the
monitoring page's series on request (`{"type": "request_monitoring", "window": minutes}`)."""
from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool


from modelyard.auth.models import User
from modelyard.db.base import utcnow
from modelyard.errors import AppError
from modelyard.jobs.models import Job
from modelyard.ops import status
from modelyard.ops.health import check_parts
from modelyard.ops.monitoring import DEFAULT_WINDOW, Monitoring, process_figures
from modelyard.registry.models import ModelVersion

router = APIRouter()
AUTH_TIMEOUT = 10.0


class Connections:
    """Counts open sockets so that the cap holds (per process)."""

    def __init__(self) -> None:
        self.count = 0


def _remaining(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def _system_metrics(app, user: User) -> dict[str, Any]:
    runtime = app.state.runtime
    started = time.perf_counter()
    host = status.host_figures(str(runtime.settings.home_dir))
    with runtime.db.session() as session:
        owned = (lambda q, col: q if user.is_admin else q.where(col == user.id))
        models = session.scalar(owned(select(func.count()).select_from(ModelVersion), ModelVersion.owner_id))
        training = session.scalar(owned(select(func.count()).select_from(Job).where(
            Job.kind == "training", Job.status == "in_progress"), Job.owner_id))
    health = "healthy" if check_parts(runtime).healthy else "unhealthy"
    return {
        "type": "system_metrics", "timestamp": status.now_iso(), "cpu_percent": host["cpu_percent"],
        "memory_percent": host["memory"]["percent"], "disk_percent": host["disk_usage"]["percent"],
        "active_connections": app.state.ws_connections.count, "total_models": models or 0,
        "active_training_jobs": training or 0, "system_health": health,
        "api_response_time_ms": app.state.latency.average_ms(),
        "ws_response_time_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def _training_updates(app, user: User, seen: dict[str, tuple], since) -> list[dict[str, Any]]:
    """Messages for this user's training jobs whose progress or status changed since last time
    (a job that started and ended between two looks is reported too: it finished after `since`)."""
    from modelyard.training.schemas import TrainingStatusOut

    runtime = app.state.runtime
    with runtime.db.session() as session:
        query = select(Job).where(Job.kind == "training", Job.owner_id == user.id,
                                  Job.status.in_(("queued", "in_progress")) | Job.id.in_(list(seen))
                                  | (Job.finished_at >= since))
        jobs = list(session.scalars(query))
    messages = []
    for job in jobs:
        state = (job.status, round(job.progress, 1), job.step)
        if seen.get(job.id) == state:
            continue
        seen[job.id] = state
        out = TrainingStatusOut.of(job)
        stage = job.step or job.status
        messages.append({
            "type": "training_progress", "job_id": job.id,
            "status": {"in_progress": "training"}.get(job.status, job.status), "progress": out.progress,
            "current_stage": stage, "message": f"{stage} - {out.progress:.0f}% complete",
            "live_accuracy": (out.metrics or {}).get("accuracy"), "estimated_remaining": _remaining(out.estimated_remaining),
            "model_id": out.model_id, "error": job.error,
        })
    return messages


def _monitoring(app, user: User, window: Any) -> dict[str, Any]:
    """`/monitoring/api/metrics` as a message (an error message for a window out of range)."""
    if not isinstance(window, int) or isinstance(window, bool):
        return {"type": "error", "code": "INVALID_MESSAGE",
                "message": "window must be a whole number of minutes"}
    runtime = app.state.runtime
    runtime.prediction_log.flush()
    try:
        with runtime.db.session() as session:
            figures = Monitoring(session).metrics(viewer=user, window=window, process=process_figures(
                app.state.latency, app.state.ws_connections.count))
    except AppError as error:
        return {"type": "error", "code": error.code, "message": error.message}
    return {"type": "monitoring", **figures}


async def _authenticate(websocket: WebSocket) -> User | None:
    token = websocket.query_params.get("token")
    if not token:
        try:
            first = json.loads(await asyncio.wait_for(websocket.receive_text(), AUTH_TIMEOUT))
            token = first.get("token") if isinstance(first, dict) and first.get("type") == "auth" else None
        except (asyncio.TimeoutError, ValueError):
            token = None
    if not token:
        return None
    app = websocket.app
    try:
        runtime = app.state.runtime
        runtime.invalidation.refresh()
        return (await run_in_threadpool(runtime.credentials.resolve, token)).user
    except AppError:
        return None


@router.websocket("/ws")
async def live(websocket: WebSocket) -> None:
    app = websocket.app
    connections: Connections = app.state.ws_connections
    await websocket.accept()
    if connections.count >= app.state.runtime.settings.ws_max_connections:
        await websocket.send_json({"type": "error", "code": "TOO_MANY_CONNECTIONS",
                                   "message": "connection limit reached; retry later"})
        await websocket.close(code=1013)
        return
    connections.count += 1
    try:
        user = await _authenticate(websocket)
        if user is None:
            await websocket.send_json({"type": "error", "code": "AUTHENTICATION_REQUIRED",
                                       "message": "send ?token=<jwt or api key> or a first message "
                                                  "{\"type\": \"auth\", \"token\": ...}"})
            await websocket.close(code=1008)
            return
        await websocket.send_json({"type": "connected", "user": user.username, "timestamp": status.now_iso()})
        await _serve(websocket, user)
    except WebSocketDisconnect:
        pass
    finally:
        connections.count -= 1


async def _serve(websocket: WebSocket, user: User) -> None:
    app = websocket.app
    interval = app.state.runtime.settings.ws_metrics_interval
    lock = asyncio.Lock()

    async def send(message: dict[str, Any]) -> None:
        async with lock:
            await websocket.send_json(message)

    async def push() -> None:
        seen: dict[str, tuple] = {}
        since = utcnow()
        next_metrics = time.monotonic()
        while True:
            if time.monotonic() >= next_metrics:
                await send(await run_in_threadpool(_system_metrics, app, user))
                next_metrics = time.monotonic() + interval
            for message in await run_in_threadpool(_training_updates, app, user, seen, since):
                await send(message)
            await asyncio.sleep(min(1.0, interval))

    pusher = asyncio.create_task(push())
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                message = json.loads(raw)
                kind = message.get("type") if isinstance(message, dict) else None
            except ValueError:
                kind, message = None, None
            if kind == "ping":
                await send({"type": "pong", "timestamp": message.get("timestamp")})
            elif kind == "request_metrics":
                await send(await run_in_threadpool(_system_metrics, app, user))
            elif kind == "request_monitoring":
                window = message.get("window", DEFAULT_WINDOW)
                await send(await run_in_threadpool(_monitoring, app, user, window))
            else:
                await send({"type": "error", "code": "INVALID_MESSAGE",
                            "message": "expected a JSON object with type 'ping', 'request_metrics' or "
                                       "'request_monitoring'"})
    finally:
        pusher.cancel()
