"""Bodies of the health and status endpoints, in each contract's words."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class HealthOut(BaseModel):
    status: str  # healthy | unhealthy (then 503)
    timestamp: str
    version: str
    checks: dict[str, Any]  # database, blob_store, queue, rate_limits: {status, backend, latency_ms | message}
    message: str | None = None  # names the parts that are down


class WorkerOut(BaseModel):
    id: str
    hostname: str
    pid: int
    kind: str
    threads: int
    started_at: datetime
    last_beat_at: datetime


class SystemStatusOut(BaseModel):
    """mlops-dashboard `GET /api/status`."""

    status: str  # operational | degraded (see warnings)
    models_count: int
    active_jobs: int
    queued_jobs: int
    storage_used: str
    storage_used_bytes: int
    cpu_usage: str
    memory_usage: str
    uptime: str
    uptime_seconds: float
    components: dict[str, Any] = {}  # the same checks as /health
    live_workers: int = 0
    workers: list[WorkerOut] = []
    oldest_queued_job_age_seconds: float | None = None
    warnings: list[str] = []  # status is "degraded" when there are any
    periodic: dict[str, Any] = {}  # last run of each periodic task (retention, ...), whichever worker ran it


class MemoryOut(BaseModel):
    total: int
    available: int
    percent: float
    used: int
    free: int


class DiskOut(BaseModel):
    total: int
    used: int
    free: int
    percent: float


class HostStatusOut(BaseModel):
    """model-registry `GET /status`."""

    status: str
    memory: MemoryOut
    cpu_usage: str
    disk_usage: DiskOut


class SettingsOut(BaseModel):
    general: dict[str, Any]
    training: dict[str, Any]
    notifications: dict[str, Any]
    data: dict[str, Any]
    scoring: dict[str, Any]
    registry: dict[str, Any]
    webhooks: dict[str, Any]


class SettingsUpdated(BaseModel):
    message: str
    updated_fields: list[str]


class ActivityOut(BaseModel):
    id: str
    type: str
    message: str
    timestamp: datetime
    user: str
    details: dict[str, Any]


class ActivityPage(BaseModel):
    activities: list[ActivityOut]
    total: int
    limit: int
