"""The activity log: what happened, by whom. Its `prediction` entries are written by the prediction log
(ops/predlog.py), which summarizes the calls it records."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import new_id
from modelyard.ops.models import Activity

TYPES = ("upload", "training", "deployment", "prediction", "model", "settings", "user")


def record(session: Session, type: str, message: str, *, user: User | None, details: dict[str, Any] | None = None,
           commit: bool = True) -> Activity:
    entry = Activity(id=new_id("act"), type=type, message=message[:1000], user_id=user.id if user else None,
                     username=user.username if user else "system", details=details or {})
    session.add(entry)
    if commit:
        session.commit()
    return entry


def query(session: Session, *, viewer: User, type: str | None = None, since: datetime | None = None,
          limit: int = 50) -> tuple[list[Activity], int]:
    stmt = select(Activity)
    if not viewer.is_admin:
        stmt = stmt.where(Activity.user_id == viewer.id)
    if type:
        stmt = stmt.where(Activity.type == type)
    if since:
        stmt = stmt.where(Activity.timestamp > since)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Activity.timestamp.desc()).limit(limit))
    return list(rows), total
