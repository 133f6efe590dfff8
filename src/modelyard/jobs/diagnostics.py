"""A job that proves a worker can reach the database and the blob store (admin self-test)."""
from __future__ import annotations

import os
import time

from modelyard.jobs.context import JobContext
from modelyard.jobs.runner import worker_name


def diagnostics(ctx: JobContext) -> dict:
    ctx.progress(5, "checking the database")
    database_ms = ctx.db.ping()
    ctx.progress(10, "writing and reading back a blob")
    payload = os.urandom(64 * 1024)
    key = f"diagnostics/{ctx.job_id}.bin"
    ctx.blobs.put(key, payload)
    roundtrip = ctx.blobs.read_bytes(key) == payload
    ctx.blobs.delete(key)
    if not roundtrip:
        raise RuntimeError("blob store returned different bytes than were written")
    seconds = float(ctx.params.get("seconds", 0))
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < seconds:
        ctx.progress(10 + 90 * elapsed / seconds, f"holding for {seconds:.0f}s")
        time.sleep(min(0.25, seconds - elapsed))
    if ctx.params.get("fail"):
        raise RuntimeError("failure requested by the diagnostics parameters")
    return {"database_ms": round(database_ms, 2), "blob_roundtrip": roundtrip, "worker": worker_name(),
            "attempt": ctx.attempt}
