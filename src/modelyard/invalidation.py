"""Cross-process cache invalidation by epoch counters.

Every process caches what the hot path needs (users and API keys behind credentials, the version a
model reference resolves to). A change that makes such an entry wrong (a deploy, archive or delete; a
revoked key; a deactivated user or a changed role) increments an epoch once its transaction commits;
every process reads the epochs on each request (cheaply) and drops a cache whose epoch moved. So a
change made through one process is seen by every other at their next request.

Two stores, one interface:

- ``FileEpochs``: a file of four counters in the data folder, memory-mapped by every process on the host. A
  read is a memory load; a bump takes an exclusive ``flock``. For the embedded default and for
  ``modelyard serve --workers N`` (every process on one host).
- ``RedisEpochs``: four Redis integers, read with one ``MGET`` and bumped with ``INCR``. Chosen when
  ``MODELYARD_REDIS_URL`` is set, so API processes on many hosts see each other's changes.

Changes are detected in one place: ``watch(sessionmaker, epochs)`` listens to the ORM's flushes and
commits, so no service or route has to remember to invalidate anything.
"""
from __future__ import annotations

import fcntl
import logging
import mmap
import os
import struct
import threading
from pathlib import Path
from typing import Any, Hashable

from cachetools import TTLCache
from sqlalchemy import event, inspect
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger("modelyard.cache")
AUTH, REGISTRY, WEBHOOKS, RESTART = 0, 1, 2, 3
CACHE_TTL = 300.0  # a safety net only: entries are dropped at once when their epoch moves
NAMES = ("auth", "registry", "webhooks", "restart")
_FORMAT = "<QQQQ"  # a file of an older release (fewer counters) is extended with zeros when opened


class FileEpochs:
    def __init__(self, path: Path):
        self._path = path
        self._map: mmap.mmap | None = None
        self._mapped()

    def _mapped(self) -> mmap.mmap:
        """The file's counters, mapped (again after `close()`: a closed runtime may be started once more)."""
        if self._map is None:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                if os.fstat(fd).st_size < struct.calcsize(_FORMAT):
                    os.ftruncate(fd, struct.calcsize(_FORMAT))
                fcntl.flock(fd, fcntl.LOCK_UN)
                self._map = mmap.mmap(fd, struct.calcsize(_FORMAT))
            finally:
                os.close(fd)
        return self._map

    def close(self) -> None:
        """Unmap the file (the map holds a descriptor of its own)."""
        if self._map is not None:
            self._map.close()
            self._map = None

    def read(self) -> tuple[int, ...]:
        return struct.unpack_from(_FORMAT, self._mapped())

    def bump(self, *which: int) -> None:
        mapped = self._mapped()  # before the lock: mapping takes it too
        fd = os.open(self._path, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            values = list(struct.unpack_from(_FORMAT, mapped))
            for index in which:
                values[index] += 1
            struct.pack_into(_FORMAT, mapped, 0, *values)
            mapped.flush()
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class RedisEpochs:
    def __init__(self, url: str, namespace: str):
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self._keys = [f"{namespace}:epoch:{name}" for name in NAMES]

    def read(self) -> tuple[int, ...]:
        values = self._redis.mget(self._keys)
        return tuple(int(v or 0) for v in values)  # type: ignore[return-value]

    def bump(self, *which: int) -> None:
        with self._redis.pipeline() as pipe:
            for index in which:
                pipe.incr(self._keys[index])
            pipe.execute()

    def close(self) -> None:
        self._redis.close()  # its pool reconnects if the runtime is started again


def open_epochs(redis_url: str, home: Path, namespace: str) -> FileEpochs | RedisEpochs:
    return RedisEpochs(redis_url, namespace) if redis_url else FileEpochs(home / "epochs.bin")


class EpochCache:
    """A TTL cache that empties itself whenever epoch `which` has moved since it was filled."""

    def __init__(self, which: int, *, maxsize: int, ttl: float):
        self._which = which
        self._cache: TTLCache = TTLCache(maxsize=maxsize, ttl=ttl)
        self._seen = -1
        self._lock = threading.Lock()

    def check(self, epochs: tuple[int, ...]) -> None:
        if epochs[self._which] != self._seen:
            with self._lock:
                self._cache.clear()
                self._seen = epochs[self._which]

    def get(self, key: Hashable) -> Any:
        with self._lock:
            return self._cache.get(key)

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._cache[key] = value

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


class Invalidation:
    """The process's epoch-checked caches; `refresh()` (once per request) empties the stale ones."""

    def __init__(self, epochs: FileEpochs | RedisEpochs):
        self.epochs = epochs
        self._caches: list[EpochCache] = []
        self._watchers: list[list] = []  # [epoch index, last value seen, callback]

    @property
    def blocking(self) -> bool:
        """True when a refresh is a network round trip (Redis): callers keep it off the event loop."""
        return isinstance(self.epochs, RedisEpochs)

    def cache(self, which: int, *, maxsize: int = 10_000, ttl: float = CACHE_TTL) -> EpochCache:
        cache = EpochCache(which, maxsize=maxsize, ttl=ttl)
        self._caches.append(cache)
        return cache

    def on_move(self, which: int, callback) -> None:
        """Call `callback()` (on a thread of its own: never on the request) each time epoch `which` moves
        after this process first saw it."""
        try:
            seen = self.epochs.read()[which]
        except Exception:  # unreadable now (Redis away): the first refresh that reads it sets the mark
            seen = None
        self._watchers.append([which, seen, callback])

    def settle(self, which: int) -> None:
        """This process has done what a move of `which` asks for itself: its watchers skip the move."""
        now = self.epochs.read()[which]
        for watcher in self._watchers:
            if watcher[0] == which:
                watcher[1] = now

    def refresh(self) -> None:
        """Empty the caches whose epoch moved (and start the watchers of moved epochs). When the epochs cannot be read (Redis away), a revoked key
        could go unnoticed, so the request is refused with a 503 naming the setting, not served."""
        try:
            now = self.epochs.read()
        except Exception as exc:
            from modelyard.errors import ServiceUnavailable

            log.warning("could not read cache epochs: %s: %s", type(exc).__name__, str(exc).splitlines()[0][:200])
            raise ServiceUnavailable(f"the Redis for cache invalidation (MODELYARD_REDIS_URL) is unreachable "
                                     f"({type(exc).__name__}); try again when it is back") from None
        for cache in self._caches:
            cache.check(now)
        for watcher in self._watchers:
            which, seen, callback = watcher
            if now[which] != seen:
                watcher[1] = now[which]
                if seen is None:
                    continue
                threading.Thread(target=callback, name=f"modelyard-epoch-{NAMES[which]}", daemon=True).start()


# What changes which epoch: (model class name, attributes whose change matters; None = any change).
WATCHED: dict[str, tuple[int, tuple[str, ...] | None]] = {
    "User": (AUTH, ("is_active", "role", "password_hash", "plan")),  # not credits: read fresh when needed
    "ApiKey": (AUTH, ("revoked_at", "key_hash", "user_id")),
    "RegisteredModel": (REGISTRY, ("deployed_version_id", "name", "owner_id", "builtin")),
    "ModelVersion": (REGISTRY, ("status", "signature", "classes", "label")),
    "Webhook": (WEBHOOKS, ("events", "active", "owner_id")),  # who subscribes to what (webhooks/events.py)
    "AppSetting": (WEBHOOKS, ("values",)),  # the credit_low threshold the subscriptions snapshot carries
}


def _touched(session: Session) -> set[int]:
    found: set[int] = set()
    for obj in [*session.new, *session.deleted]:
        entry = WATCHED.get(type(obj).__name__)
        if entry and not (entry[0] == AUTH and obj in session.new):  # a new user or key invalidates nothing
            found.add(entry[0])
    for obj in session.dirty:
        entry = WATCHED.get(type(obj).__name__)
        if entry is None:
            continue
        state = inspect(obj)
        if any(state.attrs[name].history.has_changes() for name in entry[1] or ()):
            found.add(entry[0])
    return found


def watch(sessions: sessionmaker, epochs: Any) -> None:
    """Bump the epochs touched by each committed transaction of sessions made by `sessions`."""

    def after_flush(session: Session, _context) -> None:
        touched = _touched(session)
        if touched:
            session.info.setdefault("modelyard_epochs", set()).update(touched)

    def after_commit(session: Session) -> None:
        touched = session.info.pop("modelyard_epochs", None)
        if touched:
            try:
                epochs.bump(*sorted(touched))
            except Exception as exc:  # the change is committed; caches still expire by their TTL
                log.warning("could not publish a cache invalidation (%s): other processes see the change "
                            "within %.0f s", type(exc).__name__, CACHE_TTL)

    def after_rollback(session: Session) -> None:
        session.info.pop("modelyard_epochs", None)

    event.listen(sessions, "after_flush", after_flush)
    event.listen(sessions, "after_commit", after_commit)
    event.listen(sessions, "after_soft_rollback", lambda session, _tx: after_rollback(session))
