"""Moving-window counters from the `limits` library: in memory, or in Redis when configured."""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from modelyard.errors import ServiceUnavailable


@dataclass(frozen=True)
class WindowStats:
    limit: int
    remaining: int
    reset: int

    @property
    def retry_after(self) -> int:
        return max(1, self.reset - int(time.time()))


class Limiter:
    """Counts hits per key; shared across processes when backed by Redis.

    When that Redis cannot be reached every call raises ServiceUnavailable (503) naming it: requests
    are refused rather than let through unlimited, and never answered with a 500.
    """

    def __init__(self, redis_url: str = "", *, namespace: str = "modelyard"):
        options = {"key_prefix": f"{namespace}-limits"} if redis_url else {}
        self.redis_url = redis_url
        self.storage = storage_from_string(redis_url or "memory://", **options)
        self.limiter = MovingWindowRateLimiter(self.storage)

    def hit(self, rule: str, *keys: str) -> bool:
        """Record one hit; False when the rule was already exhausted."""
        item = parse(rule)
        with self._reachable():
            return self.limiter.hit(item, *keys)

    def exhausted(self, rule: str, *keys: str) -> bool:
        item = parse(rule)
        with self._reachable():
            return not self.limiter.test(item, *keys)

    def reset_at(self, rule: str, *keys: str) -> int:
        item = parse(rule)
        with self._reachable():
            return int(self.limiter.get_window_stats(item, *keys).reset_time)

    def stats(self, rule: str, *keys: str) -> WindowStats:
        item = parse(rule)
        with self._reachable():
            window = self.limiter.get_window_stats(item, *keys)
        return WindowStats(item.amount, max(0, window.remaining), int(window.reset_time))

    def clear(self, rule: str, *keys: str) -> None:
        item = parse(rule)
        with self._reachable():
            self.limiter.clear(item, *keys)

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
