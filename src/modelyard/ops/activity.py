"""The activity log: what happened, by whom. Predictions are aggregated off the request path."""
from __future__ import annotations

import logging
import threading
from collections import defaultdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import new_id
from modelyard.ops.models import Activity

if TYPE_CHECKING:
    from modelyard.db import Database

log = logging.getLogger("modelyard.activity")
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


class PredictionTally:
    """Counts predictions in memory and writes one activity row per (user, model) per flush."""

    def __init__(self, db: "Database", *, interval: float = 10.0):
        self._db = db
        self._interval = interval
        self._lock = threading.Lock()
        self._counts: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0, 0])
        self._users: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="modelyard-activity", daemon=True)

    def add(self, user_id: int, username: str, version_id: str, model_name: str, rows: int) -> None:
        with self._lock:
            entry = self._counts[(user_id, version_id, model_name)]
            entry[0] += 1
            entry[1] += rows
            self._users[user_id] = username

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush()

    def flush(self) -> None:
        with self._lock:
            counts, self._counts = self._counts, defaultdict(lambda: [0, 0])
            users = dict(self._users)
        if not counts:
            return
        try:
            with self._db.session() as session:
                for (user_id, version_id, name), (requests, rows) in counts.items():
                    session.add(Activity(
                        id=new_id("act"), type="prediction", user_id=user_id, username=users.get(user_id, "?"),
                        message=f"{rows} prediction(s) from model '{name}' in {requests} request(s)",
                        details={"model_id": version_id, "rows": rows, "requests": requests}))
        except Exception:
            log.warning("could not write prediction activity", exc_info=True)
