"""Request-rate counters from the `limits` library: in memory, or in Redis when configured."""
from __future__ import annotations

import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterator

from limits import RateLimitItem
from limits import parse as _parse
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from modelyard.errors import ServiceUnavailable


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
        # The cancelled timer's target is a bound method of this storage: a reference cycle that would keep
        # a dropped storage (and its sweeper) alive until the next garbage collection. A timer of nothing.
        self.timer = threading.Timer(0, lambda: None)
        self.stopped = threading.Event()
        # The thread holds the storage weakly: a storage nobody uses any more ends its sweeper (a process
        # that builds many apps, as a test run does, would otherwise keep one spinning thread per app).
        self._sweeper = threading.Thread(target=SweptMemoryStorage._sweep, args=(weakref.ref(self), self.stopped),
                                         name="modelyard-limits-sweep", daemon=True)
        self._sweeper.start()

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 (overrides the private scheduler)
        return None

    def close(self) -> None:
        self.stopped.set()

    @staticmethod
    def _sweep(storage: "weakref.ref[SweptMemoryStorage]", stopped: threading.Event) -> None:
        while not stopped.wait(SweptMemoryStorage.SWEEP_SECONDS):
            held = storage()
            if held is None:
                return
            try:
                held._MemoryStorage__expire_events()
            except Exception:  # a key changed under the sweep; the next one gets it
                pass
            del held


class Limiter:
    """Counts requests per key with a sliding-window counter (O(1) time and memory per key, whatever the
    limit); shared across processes when backed by Redis.

    When that Redis cannot be reached every call raises ServiceUnavailable (503) naming it: requests
    are refused rather than let through unlimited, and never answered with a 500.
    """

    def __init__(self, redis_url: str = "", *, namespace: str = "modelyard"):
        self.redis_url = redis_url
        if redis_url:
            self.storage = storage_from_string(redis_url, key_prefix=f"{namespace}-limits")
        else:
            self.storage = SweptMemoryStorage()
        self.counter = SlidingWindowCounterRateLimiter(self.storage)
        self.blocking = bool(redis_url)  # every call is a network round trip

    def count(self, rule: str, *keys: str, cost: int = 1) -> tuple[bool, WindowStats]:
        """Count one request (or `cost` of them) against a rate: (allowed, stats after it)."""
        item = parse(rule)
        with self._reachable():
            allowed = self.counter.hit(item, *keys, cost=cost)
            window = self.counter.get_window_stats(item, *keys)
        return allowed, WindowStats(item.amount, max(0, window.remaining), int(window.reset_time))

    def hit(self, rule: str, *keys: str, cost: int = 1) -> bool:
        """Count `cost` against a rate without reading its window (one storage operation, not two): for
        limits whose headers are only needed when they refuse (`count` then gives them)."""
        with self._reachable():
            return self.counter.hit(parse(rule), *keys, cost=cost)

    def stats(self, rule: str, *keys: str) -> WindowStats:
        item = parse(rule)
        with self._reachable():
            window = self.counter.get_window_stats(item, *keys)
        return WindowStats(item.amount, max(0, window.remaining), int(window.reset_time))

    def close(self) -> None:
        """Stop the memory storage's sweeper (Redis storage: nothing to stop)."""
        if isinstance(self.storage, SweptMemoryStorage):
            self.storage.close()

    def ping(self) -> None:
        """One round trip to the counters' storage (a no-op in memory); ServiceUnavailable when down."""
        with self._reachable():
            if not self.storage.check():
                raise ConnectionError("no answer to PING")

    @contextmanager
    def _reachable(self) -> Iterator[None]:
        try:
            yield
        except ServiceUnavailable:
            raise
        except Exception as exc:
            if not self.redis_url:
                raise
            raise ServiceUnavailable(
                f"the Redis for rate limits (MODELYARD_REDIS_URL) is unreachable ({type(exc).__name__}); "
                "try again when it is back") from exc
