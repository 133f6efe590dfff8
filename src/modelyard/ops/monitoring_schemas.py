"""The shapes of the monitoring feeds (documentation in the OpenAPI document; the routes answer with
orjson directly, as ops/monitoring.py builds them)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class Percentiles(BaseModel):
    p50: float | None
    p95: float | None
    p99: float | None


class PercentileSeries(BaseModel):
    p50: list[float | None]
    p95: list[float | None]
    p99: list[float | None]


class MonitoringTotals(BaseModel):
    calls: int
    errors: int
    rows: int
    error_rate: float | None  # percent; None without calls
    calls_per_minute: float
    latency_ms: Percentiles
    by_model: dict[str, int]


class MonitoringSeries(BaseModel):
    bucket_starts: list[str]
    calls: list[int]
    errors: list[int]
    rows: list[int]
    calls_per_minute: list[float]
    errors_per_minute: list[float]
    error_rate: list[float | None]
    latency_ms: PercentileSeries
    by_model: dict[str, list[int]]  # the 8 busiest models, then "(other models)" summed


class JobCounts(BaseModel):
    by_status: dict[str, int]
    created_in_window: dict[str, int]


class MonitoringMetricsOut(BaseModel):
    window_minutes: int
    bucket_seconds: float
    start: str
    end: str
    generated_at: str
    scope: str  # "all users" (admins) or "own calls"
    totals: MonitoringTotals
    series: MonitoringSeries
    jobs: JobCounts
    process: dict[str, Any]

