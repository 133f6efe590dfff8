"""The prediction log's writer: entries at every flush; the activity feed's summaries and the drift counts
only when a reader asks for them or on their own clocks, so a dashboard polled every second does not
write a row per poll."""
from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import func, select

import modelyard.models  # noqa: F401  (every table on Base.metadata)
from modelyard.auth.models import User
from modelyard.db import Database
from modelyard.db.base import Base
from modelyard.ops import drift
from modelyard.ops.models import Activity
from modelyard.ops.predlog import PredictionLog, PredictionRecord


def counts(db: Database) -> tuple[int, int, int]:
    with db.session() as session:
        return tuple(session.scalar(select(func.count()).select_from(t))
                     for t in (PredictionRecord, Activity, drift.DriftCounts))


def test_readers_write_entries_and_only_the_summaries_they_ask_for(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'log.db'}")
    Base.metadata.create_all(db.engine)
    with db.session() as session:
        session.add(User(id=1, username="ada", email="ada@example.com", password_hash="x", role="user"))
    frame = pd.DataFrame({"x": np.random.default_rng(0).normal(0, 1, 500)})
    reference = drift.reference(frame, ["x"])
    log = PredictionLog(db, activity_seconds=3600)
    for _ in range(3):
        for n in range(5):
            log.add(user_id=1, model_name="m", version_id="mv_1", version=1, rows=1, seconds=0.001,
                    inputs=[{"x": float(n)}], reference=reference)
        assert log.flush() == 5  # a poll of /monitoring/api/metrics: entries only
    assert counts(db) == (15, 0, 0)
    log.flush(drift_counts=True)  # a reader of drift (model status)
    assert counts(db) == (15, 0, 1)
    log.flush(activity=True)  # a reader of the activity feed: one summary of all 15 calls
    assert counts(db) == (15, 1, 1)
    with db.session() as session:
        entry = session.scalars(select(Activity)).one()
        assert entry.message == "15 prediction(s) from model 'm' in 15 request(s)" and entry.username == "ada"
        assert session.scalars(select(drift.DriftCounts)).one().rows == 15
    log.flush(activity=True, drift_counts=True)  # nothing new: nothing written
    assert counts(db) == (15, 1, 1)
    db.dispose()
