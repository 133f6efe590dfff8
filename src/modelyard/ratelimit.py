"""Moving-window counters from the `limits` library: in memory, or in Redis when configured."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from functools import lru_cache

from limits import RateLimitItem
from limits import parse as _parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter, SlidingWindowCounterRateLimiter


@lru_cache(maxsize=256)
def parse(rule: str) -> RateLimitItem:
    return _parse(rule)


@dataclass(frozen=True)
class WindowStats:
    limit: int
    remaining: int
    reset: int

    @property
    def retry_after(self) -> int:
        return max(1, self.reset - int(time.time()))


class SweptMemoryStorage(MemoryStorage):
    """limits' memory storage without its per-call timer thread.

    MemoryStorage restarts a 10 ms `threading.Timer` whenever the last one has finished, so under load it
    starts a thread every few requests (5 % of the API's CPU in a profile here). Expired counters are
    already ignored on read; one long-lived thread sweeps them away every few seconds instead."""

    SWEEP_SECONDS = 5.0

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.timer.cancel()
        self._sweeper = threading.Thread(target=self._sweep, name="modelyard-limits-sweep", daemon=True)
        self._sweeper.start()

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 (overrides the private scheduler)
        return None

    def _sweep(self) -> None:
        while True:
            time.sleep(self.SWEEP_SECONDS)
            try:
                self._MemoryStorage__expire_events()
            except Exception:  # a key changed under the sweep; the next one gets it
                pass


class Limiter:
    """Counts hits per key; shared across processes when backed by Redis.

    Two strategies over one storage: an exact moving window for small limits (login throttling), and
    a sliding-window counter (O(1) time and memory per key, whatever the limit) for request rates.
    """

    def __init__(self, redis_url: str = "", *, namespace: str = "modelyard"):
        if redis_url:
            self.storage = storage_from_string(redis_url, key_prefix=f"{namespace}-limits")
        else:
            self.storage = SweptMemoryStorage()
        self.limiter = MovingWindowRateLimiter(self.storage)
        self.counter = SlidingWindowCounterRateLimiter(self.storage)
        self.blocking = bool(redis_url)  # every call is a network round trip

    def count(self, rule: str, *keys: str) -> tuple[bool, WindowStats]:
        """Count one request against a rate (sliding-window counter): (allowed, stats after it)."""
        item = parse(rule)
        allowed = self.counter.hit(item, *keys)
        window = self.counter.get_window_stats(item, *keys)
        return allowed, WindowStats(item.amount, max(0, window.remaining), int(window.reset_time))

    def hit(self, rule: str, *keys: str) -> bool:
        """Record one hit; False when the rule was already exhausted."""
        return self.limiter.hit(parse(rule), *keys)

    def exhausted(self, rule: str, *keys: str) -> bool:
        return not self.limiter.test(parse(rule), *keys)

    def reset_at(self, rule: str, *keys: str) -> int:
        return int(self.limiter.get_window_stats(parse(rule), *keys).reset_time)

    def stats(self, rule: str, *keys: str) -> WindowStats:
        item = parse(rule)
        window = self.limiter.get_window_stats(item, *keys)
        return WindowStats(item.amount, max(0, window.remaining), int(window.reset_time))

    def clear(self, rule: str, *keys: str) -> None:
        self.limiter.clear(parse(rule), *keys)
