"""The prediction cache: an identical request to the same deployed version is answered from here.

Keys are the version's id and a digest of the request's canonical JSON, so a newly deployed or
activated version is a different key: nothing stale is served after a deploy, in any process, without
an explicit purge. In process memory on the embedded default (a TTL + LRU cache per process); in Redis
when MODELYARD_REDIS_URL is set, shared by every API process. A cache that cannot be reached is
skipped (the call is predicted), never an error.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

import orjson
from cachetools import TTLCache

log = logging.getLogger("modelyard.serving")


def request_key(version_key: str, request: Any) -> str:
    body = orjson.dumps(request, default=str, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return f"{version_key}:{hashlib.sha256(body).hexdigest()}"


class PredictionCache:
    def __init__(self, redis_url: str = "", *, namespace: str = "modelyard", seconds: int = 300,
                 entries: int = 10_000):
        self.seconds = seconds
        self.max_size = entries if not redis_url and seconds > 0 else None  # Redis: its own memory policy
        self._prefix = f"{namespace}:predictions:"
        self._redis = None
        self._memory: TTLCache | None = None
        self._lock = threading.Lock()
        self.hits = self.misses = 0
        if seconds <= 0:
            return
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5)
        else:
            self._memory = TTLCache(maxsize=entries, ttl=seconds)

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    @property
    def remote(self) -> bool:
        """True when a lookup is a network round trip (Redis): not for the event loop."""
        return self._redis is not None

    def get(self, version_key: str, request: Any) -> tuple[dict[str, Any], int] | None:
        """(the cached answer, when it was cached as a Unix time) or None."""
        if not self.enabled:
            return None
        key = request_key(version_key, request)
        try:
            if self._redis is not None:
                raw = self._redis.get(self._prefix + key)
                found = orjson.loads(raw) if raw else None
            else:
                with self._lock:
                    found = self._memory.get(key)
        except Exception as exc:  # an unreachable cache is skipped
            log.warning("prediction cache unreachable (%s); predicting", type(exc).__name__)
            return None
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        return found["answer"], found["at"]

    def put(self, version_key: str, request: Any, answer: dict[str, Any]) -> None:
        if not self.enabled:
            return
        key, entry = request_key(version_key, request), {"answer": answer, "at": int(time.time())}
        try:
            if self._redis is not None:
                self._redis.set(self._prefix + key, orjson.dumps(entry), ex=self.seconds)
            else:
                with self._lock:
                    self._memory[key] = entry
        except Exception as exc:
            log.warning("prediction cache unreachable (%s); not cached", type(exc).__name__)

    @property
    def hit_rate(self) -> float | None:
        """Hits per lookup since this process started, in %; None before any lookup."""
        lookups = self.hits + self.misses
        return round(100 * self.hits / lookups, 2) if lookups else None

    def facts(self) -> dict[str, Any]:
        """What health, status and monitoring report of the cache (one place)."""
        size, stored = self._measure()
        return {"enabled": self.enabled, "backend": "redis" if self.remote else "memory", "size": size,
                "max_size": self.max_size, "memory_usage_mb": None if stored is None else round(stored / 2**20, 3),
                "hits": self.hits, "misses": self.misses, "hit_rate": self.hit_rate}

    def _measure(self) -> tuple[int | None, int | None]:
        """(answers cached now, the bytes they take) or None for what cannot be read. Bytes are what Redis
        reports for each key (MEMORY USAGE), or in memory each entry's JSON length: the answers' payload,
        not Python's object overhead."""
        try:
            if self._redis is not None:
                keys = list(self._redis.scan_iter(match=self._prefix + "*", count=1000))
                pipe = self._redis.pipeline(transaction=False)
                for key in keys:
                    pipe.memory_usage(key)
                return len(keys), sum(n or 0 for n in pipe.execute())
            if self._memory is None:
                return 0, 0
            with self._lock:
                entries = list(self._memory.values())
            return len(entries), sum(len(orjson.dumps(entry)) for entry in entries)
        except Exception:
            return None, None

    def clear(self) -> int:
        """Drop every cached answer (admin); how many were dropped."""
        if self._redis is not None:
            keys = list(self._redis.scan_iter(match=self._prefix + "*", count=1000))
            return self._redis.delete(*keys) if keys else 0
        if self._memory is None:
            return 0
        with self._lock:
            count = len(self._memory)
            self._memory.clear()
            return count
