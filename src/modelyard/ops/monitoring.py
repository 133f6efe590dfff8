"""Live figures for the `/monitoring` page: time series over the last minutes, read from the prediction log.

The window (`window` minutes, 1..1440) ends now and is cut into BUCKETS equal buckets (so a bucket is
`window` seconds long). Per bucket, over the prediction calls the viewer may see (admins: everyone's;
anyone else: their own): calls, errors, rows, calls per minute, error rate, latency percentiles p50/p95/p99
and calls per model. Percentiles come from a log-scaled histogram (DDSketch's idea): memory stays bounded by
the number of distinct ~2 % wide latency bins, not by the number of calls, and each reported percentile
is within 1 % of the exact nearest-rank value. Rows are streamed from the database (`yield_per`).

Jobs are counted from the jobs table by status (now, and those created in the window). Per-model health
is ops/analytics.py's `model_status`, reused as is, drift per feature included (ops/drift.py).
"""
from __future__ import annotations

import math
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.errors import Unprocessable
from modelyard.jobs.models import Job
from modelyard.ops.predlog import PredictionRecord

if TYPE_CHECKING:
    from modelyard.runtime import Runtime

BUCKETS = 60
MIN_WINDOW, MAX_WINDOW, DEFAULT_WINDOW = 1, 1440, 60
TOP_MODELS = 8  # the chart's series; further models are summed into OTHER
OTHER = "(other models)"
PERCENTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))
STREAM_BATCH = 5000
_GAMMA = 1.02  # bin width: a value v lands in (γ^(i-1), γ^i]; the bin's midpoint is within 1 % of v
_LOG_GAMMA = math.log(_GAMMA)
_FLOOR_MS = 0.001


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _iso(at: datetime) -> str:
    return at.replace(microsecond=0).isoformat() + "Z"


def check_window(window: int) -> int:
    """The window in minutes, or 422 naming the range."""
    if not MIN_WINDOW <= window <= MAX_WINDOW:
        raise Unprocessable(f"window must be between {MIN_WINDOW} and {MAX_WINDOW} minutes, not {window}",
                            details={"field": "window", "min": MIN_WINDOW, "max": MAX_WINDOW})
    return window


class LatencySketch:
    """Counts of latencies in log-scaled bins; percentiles within 1 % of the exact nearest-rank value."""

    def __init__(self) -> None:
        self.bins: dict[int, int] = defaultdict(int)
        self.count = 0

    def add(self, millis: float) -> None:
        self.bins[math.ceil(math.log(max(millis, _FLOOR_MS)) / _LOG_GAMMA)] += 1
        self.count += 1

    def merge(self, other: "LatencySketch") -> None:
        for index, count in other.bins.items():
            self.bins[index] += count
        self.count += other.count

    def percentile(self, q: float) -> float | None:
        if not self.count:
            return None
        rank = max(1, math.ceil(q * self.count))
        seen = 0
        for index in sorted(self.bins):
            seen += self.bins[index]
            if seen >= rank:
                return round(2 * _GAMMA ** index / (_GAMMA + 1), 3)
        return None  # unreachable: the counts sum to self.count


class _Bucket:
    __slots__ = ("calls", "errors", "rows", "latency", "models")

    def __init__(self) -> None:
        self.calls = self.errors = self.rows = 0
        self.latency = LatencySketch()
        self.models: dict[str, int] = defaultdict(int)


def _rate(part: int, whole: int) -> float | None:
    return round(100 * part / whole, 2) if whole else None


class Monitoring:
    def __init__(self, session: Session):
        self._session = session

    def metrics(self, *, viewer: User, window: int, process: dict[str, Any] | None = None) -> dict[str, Any]:
        """Series and totals of the viewer's prediction calls over the last `window` minutes, jobs by
        status, and `process` (this API process's own request figures) as given."""
        check_window(window)
        end = _now()
        start = end - timedelta(minutes=window)
        step = timedelta(minutes=window) / BUCKETS
        buckets = [_Bucket() for _ in range(BUCKETS)]
        r = PredictionRecord
        query = select(r.at, r.model_name, r.status, r.rows, r.latency_ms).where(r.at >= start, r.at <= end)
        if not viewer.is_admin:
            query = query.where(r.user_id == viewer.id)
        for at, name, status, rows, latency in self._session.execute(
                query.execution_options(yield_per=STREAM_BATCH)):
            bucket = buckets[min(BUCKETS - 1, int((at - start) / step))]
            bucket.calls += 1
            bucket.errors += status != "success"
            bucket.rows += rows
            bucket.latency.add(latency)
            bucket.models[name] += 1
        return {
            "window_minutes": window, "bucket_seconds": round(step.total_seconds(), 3),
            "start": _iso(start), "end": _iso(end), "generated_at": _iso(end),
            "scope": "all users" if viewer.is_admin else "own calls",
            "totals": self._totals(buckets, window),
            "series": self._series(buckets, start, step),
            "jobs": self._jobs(viewer=viewer, since=start),
            "process": process or {},
        }

    @staticmethod
    def _totals(buckets: list[_Bucket], window: int) -> dict[str, Any]:
        latency = LatencySketch()
        models: dict[str, int] = defaultdict(int)
        for bucket in buckets:
            latency.merge(bucket.latency)
            for name, count in bucket.models.items():
                models[name] += count
        calls = sum(b.calls for b in buckets)
        errors = sum(b.errors for b in buckets)
        return {"calls": calls, "errors": errors, "rows": sum(b.rows for b in buckets),
                "error_rate": _rate(errors, calls), "calls_per_minute": round(calls / window, 3),
                "latency_ms": {key: latency.percentile(q) for key, q in PERCENTILES},
                "by_model": dict(sorted(models.items(), key=lambda item: (-item[1], item[0])))}

    @staticmethod
    def _series(buckets: list[_Bucket], start: datetime, step: timedelta) -> dict[str, Any]:
        per_minute = 60 / step.total_seconds()
        totals: dict[str, int] = defaultdict(int)
        for bucket in buckets:
            for name, count in bucket.models.items():
                totals[name] += count
        ranked = sorted(totals, key=lambda name: (-totals[name], name))
        shown, rest = ranked[:TOP_MODELS], set(ranked[TOP_MODELS:])
        by_model = {name: [b.models.get(name, 0) for b in buckets] for name in shown}
        if rest:
            by_model[OTHER] = [sum(count for name, count in b.models.items() if name in rest) for b in buckets]
        return {
            "bucket_starts": [_iso(start + i * step) for i in range(BUCKETS)],
            "calls": [b.calls for b in buckets],
            "errors": [b.errors for b in buckets],
            "rows": [b.rows for b in buckets],
            "calls_per_minute": [round(b.calls * per_minute, 3) for b in buckets],
            "errors_per_minute": [round(b.errors * per_minute, 3) for b in buckets],
            "error_rate": [_rate(b.errors, b.calls) for b in buckets],
            "latency_ms": {key: [b.latency.percentile(q) for b in buckets] for key, q in PERCENTILES},
            "by_model": by_model,
        }

    def _jobs(self, *, viewer: User, since: datetime) -> dict[str, Any]:
        def counts(query) -> dict[str, int]:
            if not viewer.is_admin:
                query = query.where(Job.owner_id == viewer.id)
            return {status: count for status, count in sorted(self._session.execute(query.group_by(Job.status)))}

        base = select(Job.status, func.count())
        return {"by_status": counts(base), "created_in_window": counts(base.where(Job.created_at >= since))}


def process_figures(latency: Any, websockets: int) -> dict[str, Any]:
    """This API process's own request figures (every route, from its rolling latency window)."""
    return {"requests_per_minute": latency.per_minute(), "avg_response_ms_5m": latency.average_ms(),
            "server_error_rate_5m": latency.error_rate(), "websocket_connections": websockets,
            "scope": "this API process"}
