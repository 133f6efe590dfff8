"""A rolling window of request latencies, for the live metrics (no lock on the hot path beyond a deque append)."""
from __future__ import annotations

import time
from collections import deque


class LatencyWindow:
    def __init__(self, size: int = 2000):
        self._samples: deque[tuple[float, float]] = deque(maxlen=size)

    def add(self, millis: float) -> None:
        self._samples.append((time.monotonic(), millis))

    def average_ms(self, seconds: float = 300.0) -> float:
        cutoff = time.monotonic() - seconds
        recent = [ms for at, ms in list(self._samples) if at >= cutoff]
        return round(sum(recent) / len(recent), 2) if recent else 0.0

    def per_minute(self) -> int:
        cutoff = time.monotonic() - 60
        return sum(1 for at, _ in list(self._samples) if at >= cutoff)
