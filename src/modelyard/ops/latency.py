"""A rolling window of request latencies, for the live metrics (no lock on the hot path beyond a deque append)."""
from __future__ import annotations

import time
from collections import deque


class LatencyWindow:
    def __init__(self, size: int = 2000):
        self._samples: deque[tuple[float, float, bool]] = deque(maxlen=size)

    def add(self, millis: float, *, failed: bool = False) -> None:
        """One answered request; `failed`: answered with a 5xx."""
        self._samples.append((time.monotonic(), millis, failed))

    def average_ms(self, seconds: float = 300.0) -> float:
        cutoff = time.monotonic() - seconds
        recent = [ms for at, ms, _ in list(self._samples) if at >= cutoff]
        return round(sum(recent) / len(recent), 2) if recent else 0.0

    def per_minute(self) -> int:
        cutoff = time.monotonic() - 60
        return sum(1 for at, _, _ in list(self._samples) if at >= cutoff)

    def error_rate(self, seconds: float = 300.0) -> float | None:
        """The share of requests answered with a 5xx in the last `seconds`, in %; None without requests."""
        cutoff = time.monotonic() - seconds
        recent = [failed for at, _, failed in list(self._samples) if at >= cutoff]
        return round(100 * sum(recent) / len(recent), 2) if recent else None
