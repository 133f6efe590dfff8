"""The in-memory rate-limit storage sweeps expired counters on one thread per limiter, and that thread ends
when the limiter is closed or no longer used: a process that builds many apps (a test run builds hundreds)
must not keep one spinning thread per app (the suite's exit once hung behind ~900 of them)."""
from __future__ import annotations

import gc
import threading
import time
import weakref

from modelyard.ratelimit import Limiter, SweptMemoryStorage


def sweepers() -> int:
    return sum(t.name == "modelyard-limits-sweep" and t.is_alive() for t in threading.enumerate())


def test_a_closed_or_dropped_limiter_ends_its_sweeper(monkeypatch):
    monkeypatch.setattr(SweptMemoryStorage, "SWEEP_SECONDS", 0.05)
    gc.disable()  # freed by reference counting alone: no cycle keeps it for a later collection
    try:
        dropped = weakref.ref(SweptMemoryStorage())
        deadline = time.monotonic() + 2
        while dropped() is not None and time.monotonic() < deadline:
            time.sleep(0.01)  # limits' own timer, cancelled, holds the storage until its thread has ended
        assert dropped() is None, "a dropped storage outlived its cancelled timer without a collection"
    finally:
        gc.enable()
    before = sweepers()
    kept = Limiter()
    assert kept.hit("5/minute", "k") and sweepers() >= 1
    kept.close()
    for _ in range(20):
        Limiter()  # dropped at once
    deadline = time.monotonic() + 5
    while sweepers() > before and time.monotonic() < deadline:
        gc.collect()  # not needed since the storage's timer cycle is broken (CI once saw one sweeper outlive it)
        time.sleep(0.05)
    assert sweepers() <= before, "every sweeper of this test ended (others may have too)"
