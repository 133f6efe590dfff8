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
    alerts: dict[str, Any]


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


# The prediction platform's operations routes (api/enterprise.py, ops/analytics.py) ------------------

class UsageSummary(BaseModel):
    total_predictions: int
    rows_predicted: int
    unique_models: int
    success_rate: float | None
    avg_confidence: float | None
    avg_processing_time: float | None
    cache_hit_rate: float | None


class ModelUsage(BaseModel):
    count: int
    rows: int
    success_rate: float | None
    avg_confidence: float | None
    avg_processing_time: float | None


class UsageTrends(BaseModel):
    granularity: str
    bucket_starts: list[str]
    confidence_trend: list[float | None]
    performance_trend: list[float | None]
    volume_trend: list[int]


class Usage(BaseModel):
    summary: UsageSummary
    by_model: dict[str, ModelUsage]
    by_day: dict[str, int]
    hourly_distribution: list[int]
    trends: UsageTrends


class UsageFilters(BaseModel):
    days: int
    model: str | None
    granularity: str
    start_date: str
    end_date: str


class UsageOut(BaseModel):
    analytics: Usage
    filters: UsageFilters
    generated_at: str


class DriftOut(BaseModel):
    """Input drift per feature against the training data (ops/drift.py)."""

    status: str  # stable | moderate | significant | not measured
    features: dict[str, float | None]  # population stability index per feature
    max_psi: float | None
    worst_feature: str | None = None
    rows: int  # inputs counted in the window
    reason: str | None = None


class ModelStatus(BaseModel):
    predictions_count: int
    rows_predicted: int
    avg_confidence: float | None
    avg_processing_time: float | None
    error_rate: float | None
    health_score: float | None
    status: str  # healthy | degraded | unhealthy | idle
    cache_hit_rate: float | None
    deployment_status: str
    version: str | None
    last_trained: str | None
    training_data_size: int | None
    features_count: int | None
    last_updated: str | None
    drift: DriftOut | None = None


class StatusAlert(BaseModel):
    severity: str
    message: str
    model: str
    timestamp: str | None


class ModelStatusOut(BaseModel):
    models: dict[str, ModelStatus]
    system_summary: dict[str, Any]
    alerts: list[StatusAlert]
    timestamp: str


class CacheClearedOut(BaseModel):
    message: str
    cleared: dict[str, int]
    backend: str


class DetailedHealthOut(BaseModel):
    status: str  # healthy | degraded | unhealthy
    overall_health_score: float
    timestamp: str
    components: dict[str, Any]
    health_factors: dict[str, float]
    uptime: str
    uptime_seconds: float
    version: str


class RestartOut(BaseModel):
    message: str
    restarted: dict[str, Any]
    not_restarted: dict[str, str]
    took_ms: float


class AlertOut(BaseModel):
    id: int
    rule: str  # error_rate | latency | health_score | confidence_drift
    model: str
    severity: str  # medium | high
    message: str
    value: float
    threshold: float
    status: str  # active | resolved
    triggered_at: str
    last_seen_at: str
    resolved_at: str | None


class AlertsOut(BaseModel):
    alerts: list[AlertOut]
    active: int
    timestamp: str
