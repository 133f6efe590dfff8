"""Events raised from what the database records, detected in one place (like invalidation.py's epochs).

`watch(sessions, events)` listens to the ORM's flushes and commits, so every path that deploys a
model or charges credits raises its event without remembering to (the mlops deploy route, gallery
activation, a retrain job that activates its version, a built-in model trained at first use; online,
batch and CSV charges alike):

- ``model.updated``: a model version became `deployed`. Sent to the model owner's webhooks; for a
  built-in gallery model (every user sees it) to every webhook subscribed to the event.
- ``user.credit_low``: a charge took a balance from at least `webhooks.creditLowThreshold` to below
  it. Each charge's ledger row holds the balance after it and the amount taken, so exactly one charge
  crosses, however many run at once; an allocation lifting the balance arms it again.

Events go out after the commit that recorded the change (a rolled-back deploy raises nothing) and
cost nothing when nobody subscribes (events.py's snapshot is asked before anything is read).
"""
from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Any

from sqlalchemy import event as orm_event
from sqlalchemy import inspect
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from modelyard.webhooks.events import Events

log = logging.getLogger("modelyard.webhooks")
PENDING = "modelyard_webhook_events"


def watch(sessions: sessionmaker, events: "Events") -> None:
    """Raise `model.updated` and `credit.charged` from what each transaction of `sessions` commits.

    The listeners hold `events` weakly: SQLAlchemy keeps a session class's listeners in a map keyed weakly
    by the class, with the listeners as values, and `events` reaches the class (through its database) and
    the runtime (through its queue), so a strong reference would keep both alive after the runtime is gone.
    The runtime holds `events` as long as it lives."""
    owner = weakref.ref(events)
    del events

    def after_flush(session: Session, _context) -> None:
        found = [*_deploys(session), *_charges(session)]
        if found:
            session.info.setdefault(PENDING, []).extend(found)

    def after_commit(session: Session) -> None:
        pending = session.info.pop(PENDING, ())
        events = owner()
        if events is None:  # the runtime that made these sessions is gone
            return
        unique = {(kind, facts.get("version_id") or id(facts)): (kind, facts) for kind, facts in pending}
        for kind, facts in unique.values():
            try:
                (_model_updated if kind == "deploy" else _credit_charged)(events, facts)
            except Exception:  # the change is committed; a webhook problem must not surface in the caller
                log.warning("could not raise the webhook event for %s %s", kind, facts, exc_info=True)

    orm_event.listen(sessions, "after_flush", after_flush)
    orm_event.listen(sessions, "after_commit", after_commit)
    orm_event.listen(sessions, "after_soft_rollback", lambda session, _tx: session.info.pop(PENDING, None))


def _deploys(session: Session) -> list[tuple[str, dict[str, Any]]]:
    from modelyard.registry.models import ModelVersion

    found = []
    for obj in [*session.new, *session.dirty]:
        if not isinstance(obj, ModelVersion) or obj.status != "deployed":
            continue
        if obj in session.new or inspect(obj).attrs.status.history.has_changes():
            found.append(("deploy", {"version_id": obj.id, "owner_id": obj.owner_id}))
    return found


def _charges(session: Session) -> list[tuple[str, dict[str, Any]]]:
    from modelyard.auth.models import CreditEvent

    return [("charge", {"user_id": obj.user_id, "before": obj.balance - obj.delta, "after": obj.balance,
                        "detail": obj.detail})
            for obj in session.new if isinstance(obj, CreditEvent) and obj.delta < 0]


def _model_updated(events: "Events", facts: dict[str, Any]) -> None:
    if not events.wants("model.updated", owner_id=None, broadcast=True):
        return  # nobody subscribes to the event at all: read nothing
    with events.db.session() as session:
        from modelyard.registry.models import ModelVersion

        version = session.get(ModelVersion, facts["version_id"])
        if version is None or version.status != "deployed":
            return
        data = {"action": "deployed", "model": version.name, "model_id": version.model_id,
                "version_id": version.id, "version": version.number, "label": version.label,
                "status": version.status, "task": version.task, "algorithm": version.algorithm,
                "metrics": version.metrics or {}, "builtin": version.builtin,
                "deployed_at": version.deployed_at.isoformat() if version.deployed_at else None,
                "user_id": version.owner_id}
        builtin = version.builtin
    events.emit("model.updated", data, owner_id=facts["owner_id"], broadcast=builtin)


def _credit_charged(events: "Events", facts: dict[str, Any]) -> None:
    user_id = facts["user_id"]
    if not events.wants("user.credit_low", owner_id=user_id):
        return
    threshold = events.subscriptions().credit_low_threshold
    if not facts["before"] >= threshold > facts["after"]:
        return
    data = {"user_id": user_id, "credits_remaining": facts["after"], "threshold": threshold,
            "credits_before": facts["before"], "charged_for": facts["detail"]}
    events.emit("user.credit_low", data, owner_id=user_id)
