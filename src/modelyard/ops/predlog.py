"""The prediction log: one compact row per prediction call, on every route, written off the hot path.

The pipeline appends an entry to an in-memory buffer (a deque append: no lock, no I/O on the request);
a thread writes the buffer in one multi-row INSERT every second (or as soon as it holds FLUSH_AT
entries). Entries a crashed process had not yet written are lost: at most a second of them, which is
what keeps the predict path within its latency targets. Rows older than MODELYARD_PREDICTION_LOG_DAYS
are deleted by the hourly retention task. Analytics, export and model status read from here.
"""
from __future__ import annotations

import logging
import threading
from collections import deque
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Boolean, DateTime, Float, Integer, String, delete, insert
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db.base import Base
from modelyard.serving.outputs import plain_value

if TYPE_CHECKING:
    from modelyard.db import Database
    from modelyard.serving.outputs import Outputs

log = logging.getLogger("modelyard.predlog")
SUMMARY_CHARS = 120
FLUSH_AT = 2000


class PredictionRecord(Base):
    __tablename__ = "prediction_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime, index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, index=True)  # no foreign key: a deleted user's log stays
    model_name: Mapped[str] = mapped_column(String(200), index=True)
    version_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer)
    rows: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(20))  # success | error
    error_code: Mapped[str | None] = mapped_column(String(40))
    confidence: Mapped[float | None] = mapped_column(Float)  # the mean over the call's rows, where the model has one
    summary: Mapped[str | None] = mapped_column(String(SUMMARY_CHARS))
    cached: Mapped[bool] = mapped_column(Boolean, default=False)


def confidence_of(outputs: "Outputs") -> float | None:
    """The mean top-class probability of a classifier's rows; None for a regressor."""
    if outputs.proba is None or not len(outputs):
        return None
    return round(float(outputs.proba.max(axis=1).mean()), 6)


def summary_of(value: Any) -> str | None:
    """A short text of the first prediction (JSON, cut to SUMMARY_CHARS)."""
    if value is None:
        return None
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return text[:SUMMARY_CHARS]


def digest(answer: dict[str, Any]) -> tuple[float | None, str | None]:
    """(confidence, summary) of an answer as a route returns it (cache hits: no Outputs to read): rows
    `{"predictions": [{prediction, confidence}]}`, a built-in's `{"prediction": {...}}`, or one row."""
    rows = answer.get("predictions")
    if isinstance(rows, list) and rows and isinstance(rows[0], dict):
        found = [r["confidence"] for r in rows if isinstance(r.get("confidence"), (int, float))]
        return (round(sum(found) / len(found), 6) if found else None), summary_of(rows[0].get("prediction"))
    inner = answer.get("prediction")
    holder = inner if isinstance(inner, dict) else answer
    confidence = holder.get("confidence")
    return (confidence if isinstance(confidence, (int, float)) else None), summary_of(inner)


class PredictionLog:
    def __init__(self, db: "Database", *, interval: float = 1.0, keep_days: int = 90):
        self._db = db
        self._interval = interval
        self.keep_days = keep_days
        self._pending: deque[dict[str, Any]] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="modelyard-predlog", daemon=True)

    def add(self, *, user_id: int | None, model_name: str, version_id: str, version: int, rows: int, seconds: float,
            status: str = "success", error_code: str | None = None, confidence: float | None = None,
            summary: str | None = None, cached: bool = False, outputs: "Outputs | None" = None) -> None:
        """One entry; with `outputs` (what the model answered), its confidence and summary are read from
        them when the entry is written, off the request."""
        self._pending.append(({
            "at": datetime.now(timezone.utc).replace(tzinfo=None), "user_id": user_id, "model_name": model_name[:200],
            "version_id": version_id[:64], "version": version, "rows": rows, "latency_ms": round(seconds * 1000, 3),
            "status": status, "error_code": error_code, "confidence": confidence, "summary": summary,
            "cached": cached}, outputs))
        if len(self._pending) >= FLUSH_AT:
            self._wake.set()

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.flush()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write what is buffered now (also what tests and readers call to see every entry); how many."""
        batch = []
        while self._pending:
            try:
                entry, outputs = self._pending.popleft()
            except IndexError:
                break
            if outputs is not None and len(outputs):
                entry["confidence"] = confidence_of(outputs)
                entry["summary"] = summary_of(plain_value(outputs.predictions[0]))
            batch.append(entry)
        if not batch:
            return 0
        try:
            with self._db.session() as session:
                session.execute(insert(PredictionRecord), batch)
        except Exception:
            log.warning("could not write %d prediction log entries", len(batch), exc_info=True)
            return 0
        return len(batch)

    def prune(self) -> int:
        """Delete entries older than `keep_days`; how many."""
        cutoff = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=self.keep_days)
        with self._db.session() as session:
            return session.execute(delete(PredictionRecord).where(PredictionRecord.at < cutoff)).rowcount or 0
