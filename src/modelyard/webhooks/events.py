"""Raising webhook events: the one door the rest of modelyard uses (``runtime.events.emit``).

    runtime.events.emit("prediction.completed", data, owner_id=user.id)

- Near-free when nobody listens: one lookup in a per-process snapshot of who subscribes to what
  (no database access, no payload built when `data` is a callable). The snapshot is dropped when a
  webhook or a setting changes in any process (the `webhooks` epoch of invalidation.py, checked on
  every request) and lives at most SNAPSHOT_SECONDS in a process that serves no requests (a worker).
- With subscribers: one transaction writes a delivery row per matching webhook, then one
  `webhook.deliver` job each is queued (webhooks/delivery.py sends, signs and retries). The caller
  never waits for a receiver.
- Safe from any thread, and never raises into the caller for a delivery problem (logged instead):
  a webhook must not fail the prediction or deploy that raised it. Call it after your own commit.
  It may touch the database (a cold snapshot, or someone listening): on the event loop, ask
  `wants_cached(...)` first (no I/O) and run `emit` in the thread pool unless that says False.
- Who receives: the webhooks of `owner_id` that subscribe to the event; with `broadcast=True` (an
  object every user sees, such as a built-in gallery model) every webhook subscribed to it.
"""
from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

from sqlalchemy import select

from modelyard.invalidation import WEBHOOKS, Invalidation

if TYPE_CHECKING:
    from modelyard.config import Settings
    from modelyard.db import Database
    from modelyard.jobs.queue import JobQueue

log = logging.getLogger("modelyard.webhooks")
EVENTS = ("prediction.completed", "model.updated", "alert.triggered", "user.credit_low")
TEST_EVENT = "webhook.test"
SNAPSHOT_SECONDS = 5.0
Data = Mapping[str, Any] | Callable[[], Mapping[str, Any]]


@dataclass(frozen=True)
class Subscriptions:
    """event -> owner id -> ids of that owner's active webhooks subscribed to it."""

    by_event: dict[str, dict[int, tuple[str, ...]]] = field(default_factory=dict)
    credit_low_threshold: int = 100

    def targets(self, event: str, *, owner_id: int | None, broadcast: bool = False) -> list[str]:
        owners = self.by_event.get(event)
        if not owners:
            return []
        if broadcast:
            return [hook for hooks in owners.values() for hook in hooks]
        return list(owners.get(owner_id, ())) if owner_id is not None else []


class Events:
    def __init__(self, db: "Database", invalidation: Invalidation, queue: "JobQueue", settings: "Settings"):
        self.db = db
        self._queue = queue
        self._settings = settings
        self._snapshot = invalidation.cache(WEBHOOKS, maxsize=1, ttl=SNAPSHOT_SECONDS)
        self._loading = threading.Lock()

    def subscriptions(self) -> Subscriptions:
        """The snapshot, loaded with one query when missing (one thread loads; others wait for it)."""
        snapshot = self._snapshot.get("subscriptions")
        if snapshot is not None:
            return snapshot
        with self._loading:
            snapshot = self._snapshot.get("subscriptions")
            if snapshot is None:
                snapshot = self._load()
                self._snapshot.put("subscriptions", snapshot)
        return snapshot

    def wants(self, event: str, *, owner_id: int | None, broadcast: bool = False) -> bool:
        """Whether anyone listens (loads the snapshot when it is cold: one query)."""
        return bool(self.subscriptions().targets(event, owner_id=owner_id, broadcast=broadcast))

    def wants_cached(self, event: str, *, owner_id: int | None, broadcast: bool = False) -> bool | None:
        """Whether anyone listens, without any I/O; None when the snapshot is cold. For code on the event
        loop: False means skip; otherwise call `emit` in a thread (it queries and writes when someone listens)."""
        snapshot = self._snapshot.get("subscriptions")
        if snapshot is None:
            return None
        return bool(snapshot.targets(event, owner_id=owner_id, broadcast=broadcast))

    def emit(self, event: str, data: Data, *, owner_id: int | None, broadcast: bool = False) -> list[str]:
        """Queue a delivery of `event` to each matching webhook; the ids of the deliveries (none: nobody listens).

        `data` is the payload's `data` object, or a function returning it (built only when someone
        listens). Unknown events are a programming error (ValueError); anything else is logged."""
        if event not in EVENTS:
            raise ValueError(f"unknown webhook event {event!r}; known: {', '.join(EVENTS)}")
        try:
            hooks = self.subscriptions().targets(event, owner_id=owner_id, broadcast=broadcast)
            if not hooks:
                return []
            body = json.loads(json.dumps(dict(data() if callable(data) else data), default=str))  # JSON, now
            return self._deliver(hooks, event, body)
        except Exception:
            log.warning("could not queue the %s webhook deliveries (owner %s)", event, owner_id, exc_info=True)
            return []

    def _deliver(self, hooks: list[str], event: str, data: dict[str, Any]) -> list[str]:
        from modelyard.webhooks.service import WebhookService

        with self.db.session() as session:
            service = WebhookService(session, app_secret=self._settings.resolved_secret_key, queue=self._queue)
            return [d.id for d in service.send(hooks, event, data)]

    def _load(self) -> Subscriptions:
        from modelyard.ops.settings import SettingsService
        from modelyard.webhooks.models import Webhook

        by_event: dict[str, dict[int, list[str]]] = {}
        with self.db.session() as session:
            rows = session.execute(select(Webhook.id, Webhook.owner_id, Webhook.events).where(Webhook.active.is_(True)))
            for hook_id, owner_id, events in rows:
                for event in events or ():
                    by_event.setdefault(event, {}).setdefault(owner_id, []).append(hook_id)
            threshold = SettingsService(session).section("webhooks").creditLowThreshold
        return Subscriptions({e: {o: tuple(h) for o, h in owners.items()} for e, owners in by_event.items()},
                             threshold)
