"""Figures computed from the prediction log (ops/predlog.py): usage analytics, model status, export.

One log entry is one prediction call (a request to `/api/predict`, a built-in model, `/inference`, a
batch item, a CSV or scoring job's chunk); `rows` counts the rows it predicted. Admins see every
user's calls, anyone else their own. Rows are streamed from the database (`yield_per`) and folded into
per-bucket sums, so a year of calls never sits in memory.

Health score of a model (0-100) over its calls in the window: 60 % success rate, 20 % latency (1 at
≤ 100 ms mean, falling linearly to 0 at 1,000 ms), 20 % mean confidence (1 for models without one,
e.g. regressors). ≥ 80 healthy, ≥ 60 degraded, below unhealthy; no calls: no score, status "idle".
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import orjson
from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.data.safe_csv import neutralize
from modelyard.ops import drift
from modelyard.ops.predlog import PredictionRecord
from modelyard.registry.models import ModelVersion, RegisteredModel

GRANULARITIES = {"hour": timedelta(hours=1), "day": timedelta(days=1), "week": timedelta(weeks=1)}
EXPORT_COLUMNS = ("timestamp", "model_type", "confidence", "processing_time", "status", "prediction_summary",
                  "model_version", "rows", "cached", "error_code")
STREAM_BATCH = 5000


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None, microsecond=0)


def _iso(at: datetime) -> str:
    return at.replace(microsecond=0).isoformat() + "Z"


@dataclass
class _Sums:
    """Running sums of a set of calls."""

    calls: int = 0
    ok: int = 0
    rows: int = 0
    cached: int = 0
    latency_ms: float = 0.0
    confidence: float = 0.0
    confident: int = 0
    last: datetime | None = None
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, at: datetime, status: str, rows: int, latency_ms: float, confidence: float | None,
            cached: bool) -> None:
        self.calls += 1
        self.ok += status == "success"
        self.rows += rows
        self.cached += bool(cached)
        self.latency_ms += latency_ms
        if confidence is not None:
            self.confidence += confidence
            self.confident += 1
        self.last = at if self.last is None or at > self.last else self.last

    @property
    def success_rate(self) -> float | None:
        return round(100 * self.ok / self.calls, 2) if self.calls else None

    @property
    def error_rate(self) -> float | None:
        return round(100 * (self.calls - self.ok) / self.calls, 2) if self.calls else None

    @property
    def avg_confidence(self) -> float | None:
        return round(self.confidence / self.confident, 4) if self.confident else None

    @property
    def avg_seconds(self) -> float | None:
        return round(self.latency_ms / self.calls / 1000, 6) if self.calls else None

    @property
    def cache_hit_rate(self) -> float | None:
        return round(100 * self.cached / self.calls, 2) if self.calls else None

    @property
    def health_score(self) -> float | None:
        if not self.calls:
            return None
        latency = min(1.0, max(0.0, (1000 - self.latency_ms / self.calls) / 900))
        confidence = self.confidence / self.confident if self.confident else 1.0
        return round(100 * (0.6 * self.ok / self.calls + 0.2 * latency + 0.2 * confidence), 1)

    @property
    def health_status(self) -> str:
        score = self.health_score
        return "idle" if score is None else "healthy" if score >= 80 else "degraded" if score >= 60 else "unhealthy"


class Analytics:
    def __init__(self, session: Session):
        self._session = session

    def _records(self, *, viewer: User, since: datetime, model: str | None, columns: tuple) -> Iterator[Any]:
        query = select(*columns).where(PredictionRecord.at >= since)
        if not viewer.is_admin:
            query = query.where(PredictionRecord.user_id == viewer.id)
        if model:
            query = query.where(PredictionRecord.model_name == model)
        return self._session.execute(query.order_by(PredictionRecord.at).execution_options(
            yield_per=STREAM_BATCH))

    def usage(self, *, viewer: User, days: int, model: str | None, granularity: str) -> dict[str, Any]:
        """The contract's usage analytics over the last `days` (UTC), in buckets of `granularity`."""
        end = _now()
        start = (end - timedelta(days=days)).replace(hour=0, minute=0, second=0)
        step = GRANULARITIES[granularity]
        total, by_model = _Sums(), defaultdict(_Sums)
        by_day: dict[str, int] = {}
        day = start
        while day <= end:
            by_day[day.date().isoformat()] = 0
            day += timedelta(days=1)
        hourly = [0] * 24
        buckets: dict[int, _Sums] = defaultdict(_Sums)
        r = PredictionRecord
        for at, name, status, rows, latency, confidence, cached in self._records(
                viewer=viewer, since=start, model=model,
                columns=(r.at, r.model_name, r.status, r.rows, r.latency_ms, r.confidence, r.cached)):
            for sums in (total, by_model[name], buckets[int((at - start) / step)]):
                sums.add(at, status, rows, latency, confidence, cached)
            by_day[at.date().isoformat()] = by_day.get(at.date().isoformat(), 0) + 1
            hourly[at.hour] += 1
        count = int((end - start) / step) + 1
        series = [buckets.get(i, _Sums()) for i in range(count)]
        return {
            "analytics": {
                "summary": {"total_predictions": total.calls, "rows_predicted": total.rows,
                            "unique_models": len(by_model), "success_rate": total.success_rate,
                            "avg_confidence": total.avg_confidence, "avg_processing_time": total.avg_seconds,
                            "cache_hit_rate": total.cache_hit_rate},
                "by_model": {name: {"count": s.calls, "rows": s.rows, "success_rate": s.success_rate,
                                    "avg_confidence": s.avg_confidence, "avg_processing_time": s.avg_seconds}
                             for name, s in sorted(by_model.items())},
                "by_day": dict(sorted(by_day.items(), reverse=True)),
                "hourly_distribution": hourly,
                "trends": {"granularity": granularity,
                           "bucket_starts": [_iso(start + i * step) for i in range(count)],
                           "confidence_trend": [s.avg_confidence for s in series],
                           "performance_trend": [s.avg_seconds for s in series],
                           "volume_trend": [s.calls for s in series]},
            },
            "filters": {"days": days, "model": model, "granularity": granularity, "start_date": _iso(start),
                        "end_date": _iso(end)},
            "generated_at": _iso(end),
        }

    def model_status(self, *, viewer: User, days: int, cache: dict[str, Any]) -> dict[str, Any]:
        """Per model the viewer can see (their own and the built-ins; admins all) with a deployed version or
        calls in the window: counts, latency, errors, health, deployment; a system summary and alerts."""
        since = _now() - timedelta(days=days)
        per_model = self.per_model(since=since, viewer=viewer)
        deployed = self._deployed_versions(viewer)
        models: dict[str, Any] = {}
        for name in sorted(set(per_model) | set(deployed)):
            sums, version = per_model.get(name, _Sums()), deployed.get(name)
            data = (version.training_data or {}) if version else {}
            models[name] = {
                "predictions_count": sums.calls, "rows_predicted": sums.rows, "avg_confidence": sums.avg_confidence,
                "avg_processing_time": sums.avg_seconds, "error_rate": sums.error_rate,
                "health_score": sums.health_score, "status": sums.health_status,
                "cache_hit_rate": sums.cache_hit_rate,
                "deployment_status": "active" if version else "not deployed",
                "version": f"v{version.number}.0" if version else None,
                "last_trained": _iso(version.created_at) if version else None,
                "training_data_size": data.get("rows"),
                "features_count": len(version.signature or []) if version else None,
                "last_updated": _iso(sums.last) if sums.last else None,
                # the inputs' drift from the training data, per feature: for the model's owner and admins
                "drift": drift.drift(self._session, version.id, data.get("reference"), since=since)
                if version and (viewer.is_admin or version.owner_id == viewer.id) else None,
            }
        scored = [m["health_score"] for m in models.values() if m["health_score"] is not None]
        alerts = [{"severity": "high" if m["health_score"] < 60 else "medium",
                   "message": f"Model {name} health score is {m['health_score']}%", "model": name,
                   "timestamp": m["last_updated"]}
                  for name, m in models.items() if m["health_score"] is not None and m["health_score"] < 80]
        calls = sum(s.calls for s in per_model.values())
        return {
            "models": models,
            "system_summary": {
                "total_models": len(models),
                "healthy_models": sum(m["status"] == "healthy" for m in models.values()),
                "avg_health_score": round(sum(scored) / len(scored), 1) if scored else None,
                "cache_performance": {**cache, "total_requests": calls,
                                      "hit_rate": round(100 * sum(s.cached for s in per_model.values()) / calls, 2)
                                      if calls else None},
                "window_days": days,
            },
            "alerts": alerts,
            "timestamp": _iso(_now()),
        }

    def per_model(self, *, since: datetime, until: datetime | None = None,
                  viewer: User | None = None) -> dict[str, _Sums]:
        """Each model's sums from `since` (to `until`), aggregated by the database (one GROUP BY, indexed
        on time); `viewer` None: every user's calls."""
        r = PredictionRecord
        query = select(r.model_name, func.count(), func.sum(case((r.status == "success", 1), else_=0)),
                       func.sum(r.rows), func.sum(case((r.cached.is_(True), 1), else_=0)), func.sum(r.latency_ms),
                       func.sum(r.confidence), func.count(r.confidence), func.max(r.at)
                       ).where(r.at >= since).group_by(r.model_name)
        if until is not None:
            query = query.where(r.at < until)
        if viewer is not None and not viewer.is_admin:
            query = query.where(r.user_id == viewer.id)
        out = {}
        for name, calls, ok, rows, cached, latency, confidence, confident, last in self._session.execute(query):
            out[name] = _Sums(calls=calls, ok=ok or 0, rows=rows or 0, cached=cached or 0, latency_ms=latency or 0.0,
                              confidence=confidence or 0.0, confident=confident or 0, last=last)
        return out

    def hidden_names(self, viewer: User) -> set[str]:
        """The model names an operators' view must not show this viewer: other users' private models (none
        for an admin). Built-ins and the viewer's own names stay, even where another user shares the name."""
        if viewer.is_admin:
            return set()
        others = select(RegisteredModel.name).where(RegisteredModel.owner_id != viewer.id,
                                                    RegisteredModel.builtin.is_(False))
        own = select(RegisteredModel.name).where(RegisteredModel.owner_id == viewer.id)
        return set(self._session.scalars(others)) - set(self._session.scalars(own))

    def _deployed_versions(self, viewer: User) -> dict[str, ModelVersion]:
        query = select(ModelVersion).join(RegisteredModel, RegisteredModel.deployed_version_id == ModelVersion.id)
        if not viewer.is_admin:
            query = query.where(or_(RegisteredModel.owner_id == viewer.id, RegisteredModel.builtin.is_(True)))
        return {v.name: v for v in self._session.scalars(query)}

    def export(self, *, viewer: User, days: int, model: str | None, format: str) -> Iterator[bytes]:
        """The log as CSV (the contract's columns first; text cells neutralised against formula injection)
        or a JSON array, produced as it is read."""
        r = PredictionRecord
        records = self._records(viewer=viewer, since=_now() - timedelta(days=days), model=model,
                                columns=(r.at, r.model_name, r.confidence, r.latency_ms, r.status, r.summary,
                                         r.version, r.rows, r.cached, r.error_code))
        if format == "json":
            yield b"["
            first = True
            for at, name, confidence, latency, status, summary, version, rows, cached, code in records:
                item = {"timestamp": _iso(at), "model_type": name, "confidence": confidence,
                        "processing_time": round(latency / 1000, 6), "status": status,
                        "prediction_summary": summary, "model_version": version, "rows": rows,
                        "cached": bool(cached), "error_code": code}
                yield (b"" if first else b",") + orjson.dumps(item)
                first = False
            yield b"]"
            return
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(EXPORT_COLUMNS)
        for count, (at, name, confidence, latency, status, summary, version, rows, cached, code) in \
                enumerate(records, 1):
            writer.writerow([_iso(at), neutralize(name), "" if confidence is None else confidence,
                             round(latency / 1000, 6), status, neutralize(summary or ""), version, rows,
                             "true" if cached else "false", code or ""])
            if count % 1000 == 0:
                yield out.getvalue().encode()
                out.seek(0)
                out.truncate()
        yield out.getvalue().encode()
