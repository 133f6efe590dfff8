"""The prediction log: one compact row per prediction call, on every route, written off the hot path.

The pipeline appends an entry to an in-memory buffer (a deque append: no lock, no I/O on the request);
a thread writes the buffer in one multi-row INSERT every second (or as soon as it holds FLUSH_AT
entries). Entries a crashed process had not yet written are lost: at most a second of them, which is
what keeps the predict path within its latency targets. Rows older than MODELYARD_PREDICTION_LOG_DAYS
are deleted by the hourly retention task. Analytics, export, model status, monitoring and alerts read
from here, and the activity feed's `prediction` entries are summaries of it: the writer adds one
activity row per (user, model version) every ACTIVITY_SECONDS for the calls it wrote, so every
prediction figure anywhere comes from these records.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Boolean, DateTime, Float, Integer, String, delete, insert, select
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.auth.models import User
from modelyard.db.base import Base, new_id
from modelyard.ops import drift
from modelyard.ops.models import Activity
from modelyard.serving.outputs import plain_value

if TYPE_CHECKING:
    from modelyard.db import Database
    from modelyard.serving.outputs import Outputs

log = logging.getLogger("modelyard.predlog")
SUMMARY_CHARS = 120
FLUSH_AT = 2000
ACTIVITY_SECONDS = 10.0
DRIFT_SECONDS = 60.0


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
    def __init__(self, db: "Database", *, interval: float = 1.0, keep_days: int = 90,
                 activity_seconds: float = ACTIVITY_SECONDS):
        self._db = db
        self._interval = interval
        self.keep_days = keep_days
        self._pending: deque[dict[str, Any]] = deque()
        self._write = threading.Lock()  # one writer at a time: the thread, or a reader that flushes first
        self._activity_seconds = activity_seconds
        self._summarized_at = time.monotonic()
        # (user id, version id, model name) -> [calls, rows] written to the log but not yet to the activity feed
        self._unsummarized: dict[tuple[int, str, str], list[int]] = defaultdict(lambda: [0, 0])
        self._drift = drift.Tally()
        self._drift_written_at = time.monotonic()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="modelyard-predlog", daemon=True)

    def add(self, *, user_id: int | None, model_name: str, version_id: str, version: int, rows: int, seconds: float,
            status: str = "success", error_code: str | None = None, confidence: float | None = None,
            summary: str | None = None, cached: bool = False, outputs: "Outputs | None" = None,
            inputs: Any = None, reference: dict[str, Any] | None = None) -> None:
        """One entry; with `outputs` (what the model answered), its confidence and summary are read from
        them when the entry is written, off the request; with `inputs` (JSON rows or a DataFrame) and the
        version's training `reference`, they are counted for drift (ops/drift.py) then too."""
        self._pending.append(({
            "at": datetime.now(timezone.utc).replace(tzinfo=None), "user_id": user_id, "model_name": model_name[:200],
            "version_id": version_id[:64], "version": version, "rows": rows, "latency_ms": round(seconds * 1000, 3),
            "status": status, "error_code": error_code, "confidence": confidence, "summary": summary,
            "cached": cached}, outputs, (inputs, reference) if inputs is not None and reference else None))
        if len(self._pending) >= FLUSH_AT:
            self._wake.set()

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self.flush(activity=True, drift_counts=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._interval)
            self._wake.clear()
            now = time.monotonic()
            self.flush(activity=now - self._summarized_at >= self._activity_seconds,
                       drift_counts=now - self._drift_written_at >= DRIFT_SECONDS)

    def flush(self, *, activity: bool = False, drift_counts: bool = False) -> int:
        """Write what is buffered now (readers call it to see every entry); how many. A reader of the
        activity feed asks for its `activity` summaries, a reader of drift for the `drift_counts`, so far;
        otherwise those are written on their own clocks (every ACTIVITY_SECONDS, DRIFT_SECONDS), which keeps
        a dashboard polled every second from writing a row per poll."""
        with self._write:
            batch, rows, references, frames = [], defaultdict(list), {}, []
            while self._pending:
                try:
                    entry, outputs, observed = self._pending.popleft()
                except IndexError:
                    break
                if outputs is not None and len(outputs):
                    entry["confidence"] = confidence_of(outputs)
                    entry["summary"] = summary_of(plain_value(outputs.predictions[0]))
                if observed is not None:
                    inputs, reference = observed
                    if isinstance(inputs, list):  # JSON rows: one flush's rows per version binned together
                        held = rows[entry["version_id"]]
                        held.extend(inputs[:drift.SAMPLE_ROWS - len(held)])
                        references[entry["version_id"]] = reference
                    else:
                        frames.append((entry["version_id"], reference, inputs))
                batch.append(entry)
            for version_id, inputs in rows.items():
                self._drift.add(version_id, references[version_id], inputs)
            for version_id, reference, frame in frames:
                self._drift.add(version_id, reference, frame)
            write_drift = drift_counts and bool(self._drift)
            if not batch and not (activity and self._unsummarized) and not write_drift:
                return 0
            try:
                with self._db.session() as session:
                    if batch:
                        session.execute(insert(PredictionRecord), batch)
                    self._tally(batch)
                    if activity:
                        self._summarize(session)
                    if write_drift:
                        self._drift.write(session, datetime.now(timezone.utc).replace(tzinfo=None))
                        self._drift_written_at = time.monotonic()
            except Exception:
                log.warning("could not write %d prediction log entries", len(batch), exc_info=True)
                return 0
            return len(batch)

    def _tally(self, batch: list[dict[str, Any]]) -> None:
        for entry in batch:
            if entry["status"] == "success" and entry["user_id"] is not None:
                counts = self._unsummarized[(entry["user_id"], entry["version_id"], entry["model_name"])]
                counts[0] += 1
                counts[1] += entry["rows"]

    def _summarize(self, session) -> None:
        """One `prediction` activity row per (user, model version) for the calls written since the last one."""
        self._summarized_at = time.monotonic()
        if not self._unsummarized:
            return
        counts, self._unsummarized = self._unsummarized, defaultdict(lambda: [0, 0])
        names = dict(session.execute(select(User.id, User.username).where(
            User.id.in_({user_id for user_id, _, _ in counts}))).all())
        session.add_all(Activity(
            id=new_id("act"), type="prediction", user_id=user_id, username=names.get(user_id, "?"),
            message=f"{rows} prediction(s) from model '{name}' in {calls} request(s)",
            details={"model_id": version_id, "rows": rows, "requests": calls})
            for (user_id, version_id, name), (calls, rows) in counts.items())

    def prune(self) -> int:
        """Delete entries older than `keep_days`; how many."""
        cutoff = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(days=self.keep_days)
        with self._db.session() as session:
            session.execute(delete(drift.DriftCounts).where(drift.DriftCounts.at < cutoff))
            return session.execute(delete(PredictionRecord).where(PredictionRecord.at < cutoff)).rowcount or 0
