"""Which job consumers are alive: each one beats a row in `worker_beat`, so any API host can tell.

A consumer (the threads inside `modelyard serve` on the embedded default, or a `modelyard worker`)
beats from its reaper loop every few seconds and removes its row when it stops cleanly. A consumer
is alive while its last beat is younger than `alive_seconds`; rows of consumers silent for a day
are deleted by the next beat of any consumer.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import Integer, String, delete, func, select
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db import Base, Database, new_id, utcnow
from modelyard.jobs.models import Job

FORGET_AFTER = timedelta(days=1)


class WorkerBeat(Base):
    __tablename__ = "worker_beat"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(20))  # "embedded" (inside serve) or "worker"
    queue_name: Mapped[str] = mapped_column(String(100))
    threads: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_beat_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


@dataclass(frozen=True)
class LiveWorker:
    id: str
    hostname: str
    pid: int
    kind: str
    threads: int
    started_at: datetime
    last_beat_at: datetime


@dataclass(frozen=True)
class QueueState:
    live_workers: list[LiveWorker]
    queued_jobs: int
    oldest_queued_age_seconds: float | None

    @property
    def stalled(self) -> bool:
        """Jobs are waiting and no consumer is alive to take them."""
        return self.queued_jobs > 0 and not self.live_workers


class WorkerHeartbeat:
    """The beating side: one per consumer process."""

    def __init__(self, db: Database, *, kind: str, queue_name: str, threads: int):
        self._db = db
        self.id = new_id("wrk")
        self._row = dict(hostname=socket.gethostname()[:255], pid=os.getpid(), kind=kind,
                         queue_name=queue_name[:100], threads=threads)

    def beat(self) -> None:
        now = utcnow()
        with self._db.session() as session:
            row = session.get(WorkerBeat, self.id)
            if row is None:
                session.add(WorkerBeat(id=self.id, started_at=now, last_beat_at=now, **self._row))
                session.execute(delete(WorkerBeat).where(WorkerBeat.last_beat_at < now - FORGET_AFTER))
            else:
                row.last_beat_at = now

    def stop(self) -> None:
        with self._db.session() as session:
            session.execute(delete(WorkerBeat).where(WorkerBeat.id == self.id))


def queue_state(db: Database, *, queue_name: str, alive_seconds: float) -> QueueState:
    """Live consumers of `queue_name` and the queued jobs waiting for them."""
    now = utcnow()
    with db.session() as session:
        rows = session.scalars(select(WorkerBeat).where(
            WorkerBeat.queue_name == queue_name[:100],
            WorkerBeat.last_beat_at >= now - timedelta(seconds=alive_seconds),
        ).order_by(WorkerBeat.started_at)).all()
        count, oldest = session.execute(
            select(func.count(), func.min(Job.created_at)).where(Job.status == "queued")).one()
    live = [LiveWorker(r.id, r.hostname, r.pid, r.kind, r.threads, r.started_at, r.last_beat_at) for r in rows]
    if isinstance(oldest, str):  # in case an aggregate comes back untyped
        oldest = datetime.fromisoformat(oldest)
    if oldest is not None and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=timezone.utc)
    age = round((now - oldest).total_seconds(), 1) if oldest is not None else None
    return QueueState(live, int(count or 0), age)
