"""Alerts: rules (admin settings, section `alerts`) evaluated over the prediction log by a periodic task.

Each run looks at every model's calls in the last `windowMinutes` (models with at least `minCalls`):

- `error_rate`: the share of failed calls above `errorRatePercent`;
- `latency`: the mean latency above `latencyMs`;
- `health_score`: the health score (ops/analytics.py) below `healthScore`;
- `confidence_drift`: the mean confidence fell by more than `confidenceDrop` from the model's own
  baseline, its mean confidence over the `baselineDays` before the window;
- `feature_drift`: a feature's population stability index against the training data (ops/drift.py)
  above `driftPsi`, for deployed versions with a training reference and at least `driftMinRows` inputs
  counted in the window.

A rule that starts to hold opens an alert (`active`) and fires the `alert.triggered` webhook to the
model's owner's subscriptions; while it holds, the same alert is updated (`value`, `last_seen_at`);
when it no longer holds, the alert is `resolved`. One active alert per rule and model, whatever the
number of processes (the unique key on the open alert makes a second opening a no-op).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from sqlalchemy import DateTime, Float, Integer, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from modelyard.auth.models import User
from modelyard.db.base import Base
from modelyard.ops import drift
from modelyard.ops.analytics import Analytics
from modelyard.registry.models import ModelVersion, RegisteredModel

if TYPE_CHECKING:
    from modelyard.runtime import Runtime

log = logging.getLogger("modelyard.alerts")
EVERY_SECONDS = 60.0


class Alert(Base):
    __tablename__ = "alert"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(40))
    model_name: Mapped[str] = mapped_column(String(200), index=True)
    owner_id: Mapped[int | None] = mapped_column(Integer, index=True)  # the model's owner (None: a built-in)
    severity: Mapped[str] = mapped_column(String(20))  # medium | high
    message: Mapped[str] = mapped_column(String(500))
    value: Mapped[float] = mapped_column(Float)
    threshold: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20), index=True)  # active | resolved
    # "rule:model" while active, NULL once resolved: unique, so two processes cannot open the same alert twice
    open_key: Mapped[str | None] = mapped_column(String(260), unique=True)
    triggered_at: Mapped[datetime] = mapped_column(DateTime, index=True)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime)


@dataclass(frozen=True)
class Breach:
    rule: str
    model: str
    value: float
    threshold: float
    severity: str
    message: str


def _now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _iso(at: datetime | None) -> str | None:
    return at.replace(microsecond=0).isoformat() + "Z" if at else None


def breaches(session: Session, rules: Any, *, now: datetime | None = None) -> list[Breach]:
    """Every rule that holds now, per model (see the module's docstring)."""
    now = now or _now()
    since = now - timedelta(minutes=rules.windowMinutes)
    analytics = Analytics(session)
    recent = analytics.per_model(since=since)
    baseline = analytics.per_model(since=since - timedelta(days=rules.baselineDays), until=since)
    found = []
    for model, sums in recent.items():
        if sums.calls < rules.minCalls:
            continue
        window = f"over the last {rules.windowMinutes} min ({sums.calls} calls)"
        if sums.error_rate > rules.errorRatePercent:
            found.append(Breach("error_rate", model, sums.error_rate, rules.errorRatePercent,
                                "high" if sums.error_rate > 2 * rules.errorRatePercent else "medium",
                                f"Model {model} failed {sums.error_rate}% of calls {window}"))
        latency_ms = sums.latency_ms / sums.calls
        if latency_ms > rules.latencyMs:
            found.append(Breach("latency", model, round(latency_ms, 1), rules.latencyMs,
                                "high" if latency_ms > 2 * rules.latencyMs else "medium",
                                f"Model {model} took {latency_ms:.0f} ms per call on average {window}"))
        if sums.health_score < rules.healthScore:
            found.append(Breach("health_score", model, sums.health_score, rules.healthScore,
                                "high" if sums.health_score < rules.healthScore - 20 else "medium",
                                f"Model {model} health score is {sums.health_score}% {window}"))
        before = baseline.get(model)
        if sums.avg_confidence is not None and before is not None and before.confident >= rules.minCalls \
                and before.avg_confidence - sums.avg_confidence > rules.confidenceDrop:
            drop = round(before.avg_confidence - sums.avg_confidence, 4)
            found.append(Breach("confidence_drift", model, drop, rules.confidenceDrop,
                                "high" if drop > 2 * rules.confidenceDrop else "medium",
                                f"Model {model} mean confidence fell from {before.avg_confidence} to "
                                f"{sums.avg_confidence} {window}"))
    found.extend(_drifted(session, rules, since))
    return found


def _drifted(session: Session, rules: Any, since: datetime) -> list[Breach]:
    found = []
    deployed = session.execute(select(RegisteredModel.name, ModelVersion.id, ModelVersion.training_data).join(
        RegisteredModel, RegisteredModel.deployed_version_id == ModelVersion.id))
    for name, version_id, data in deployed:
        reference = (data or {}).get("reference")
        if not reference:
            continue
        seen = drift.drift(session, version_id, reference, since=since)
        if seen["rows"] >= rules.driftMinRows and seen["max_psi"] is not None and seen["max_psi"] > rules.driftPsi:
            found.append(Breach("feature_drift", name, seen["max_psi"], rules.driftPsi,
                                "high" if seen["max_psi"] > 2 * rules.driftPsi else "medium",
                                f"Model {name} inputs drifted from its training data: feature "
                                f"{seen['worst_feature']!r} has PSI {seen['max_psi']} over the last "
                                f"{rules.windowMinutes} min ({seen['rows']} rows)"))
    return found


def evaluate(runtime: "Runtime") -> dict[str, int]:
    """One run of the rules: open, update and resolve alerts; fire `alert.triggered` for new ones."""
    from modelyard.ops.settings import SettingsService

    runtime.prediction_log.flush(drift_counts=True)
    opened: list[Alert] = []
    now = _now()
    with runtime.db.session() as session:
        rules = SettingsService(session).section("alerts")
        if not rules.enabled:
            return {"opened": 0, "updated": 0, "resolved": 0}
        holding = {(b.rule, b.model): b for b in breaches(session, rules, now=now)}
        active = {(a.rule, a.model_name): a for a in session.scalars(select(Alert).where(Alert.status == "active"))}
        updated = resolved = 0
        for key, alert in active.items():
            breach = holding.pop(key, None)
            if breach is None:
                alert.status, alert.resolved_at, alert.open_key = "resolved", now, None
                resolved += 1
            else:
                alert.value, alert.severity, alert.message, alert.last_seen_at = \
                    breach.value, breach.severity, breach.message, now
                updated += 1
        session.commit()
        owners = _owners(session, {b.model for b in holding.values()})
        for breach in holding.values():
            alert = Alert(rule=breach.rule, model_name=breach.model, owner_id=owners.get(breach.model),
                          severity=breach.severity, message=breach.message, value=breach.value,
                          threshold=breach.threshold, status="active", open_key=f"{breach.rule}:{breach.model}"[:260],
                          triggered_at=now, last_seen_at=now)
            session.add(alert)
            try:
                session.commit()
            except IntegrityError:  # another process opened it a moment ago
                session.rollback()
                continue
            opened.append(alert)
        payloads = [(a.owner_id, public(a)) for a in opened]
    for owner_id, body in payloads:
        runtime.events.emit("alert.triggered", {**body, "alert_id": body["id"]}, owner_id=owner_id,
                            broadcast=owner_id is None)
    return {"opened": len(opened), "updated": updated, "resolved": resolved}


def _owners(session: Session, names: set[str]) -> dict[str, int | None]:
    if not names:
        return {}
    rows = session.execute(select(RegisteredModel.name, RegisteredModel.owner_id, RegisteredModel.builtin)
                           .where(RegisteredModel.name.in_(names)))
    owners: dict[str, int | None] = {}
    for name, owner_id, builtin in rows:  # two users' models of one name: the alert is for neither alone
        owners[name] = None if builtin or (name in owners and owners[name] != owner_id) else owner_id
    return owners


def public(alert: Alert) -> dict[str, Any]:
    return {"id": alert.id, "rule": alert.rule, "model": alert.model_name, "severity": alert.severity,
            "message": alert.message, "value": alert.value, "threshold": alert.threshold, "status": alert.status,
            "triggered_at": _iso(alert.triggered_at), "last_seen_at": _iso(alert.last_seen_at),
            "resolved_at": _iso(alert.resolved_at)}


def listing(session: Session, *, viewer: User, status: str | None, limit: int) -> dict[str, Any]:
    """Active and recent alerts the viewer may see: an admin all; anyone else those of their own models."""
    query = select(Alert)
    if not viewer.is_admin:
        query = query.where(Alert.owner_id == viewer.id)
    if status:
        query = query.where(Alert.status == status)
    alerts = list(session.scalars(query.order_by(Alert.triggered_at.desc(), Alert.id.desc()).limit(limit)))
    return {"alerts": [public(a) for a in alerts], "active": sum(a.status == "active" for a in alerts),
            "timestamp": _iso(_now())}
