"""Webhooks: configure, list, change, delete, test, and the delivery log; queueing deliveries.

Rules: a user sees and changes only their own webhooks (others' are a 404); admins all. The URL is
checked against the SSRF guard (webhooks/targets.py) whenever it is set, and again before every
attempt. A secret is shown once, in the answer that generated it, then only its last four characters.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, Iterable

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.db.base import new_id, utcnow
from modelyard.errors import Conflict, NotFound
from modelyard.webhooks import signing, targets
from modelyard.webhooks.events import TEST_EVENT
from modelyard.webhooks.models import Webhook, WebhookDelivery
from modelyard.webhooks.schemas import WebhookCreate, WebhookUpdate

if TYPE_CHECKING:
    from modelyard.db import Database
    from modelyard.jobs.queue import JobQueue

JOB_KIND = "webhook.deliver"
MAX_WEBHOOKS_PER_USER = 50


class WebhookService:
    def __init__(self, session: Session, *, app_secret: str, queue: "JobQueue"):
        self._session = session
        self._app_secret = app_secret
        self._queue = queue

    # Configuring -------------------------------------------------------------------------------

    def policy(self) -> targets.Policy:
        from modelyard.ops.settings import SettingsService

        return targets.Policy.of(SettingsService(self._session).section("webhooks"))

    def configure(self, body: WebhookCreate, *, owner: User) -> tuple[Webhook, str | None]:
        """A new webhook; the generated secret (to show once) when the body brought none."""
        url = targets.check(body.url, self.policy()).url
        count = self._session.scalar(select(func.count()).select_from(Webhook).where(Webhook.owner_id == owner.id))
        if count >= MAX_WEBHOOKS_PER_USER:
            raise Conflict(f"you have {count} webhooks, the most one account may have; delete one first")
        generated = signing.new_secret() if body.secret is None else None
        secret, now = body.secret or generated, utcnow()
        hook = Webhook(id=new_id("whk"), owner_id=owner.id, url=url, events=list(body.events), active=body.active,
                       description=body.description, secret_sealed=signing.seal(secret, app_secret=self._app_secret),
                       secret_hint=signing.hint(secret), created_at=now, updated_at=now)
        self._session.add(hook)
        self._session.commit()
        return hook, generated

    def get(self, webhook_id: str, *, viewer: User) -> Webhook:
        hook = self._session.get(Webhook, webhook_id)
        if hook is None or not viewer.can_see(hook):
            raise NotFound("webhook", webhook_id)
        return hook

    def list(self, *, viewer: User) -> list[Webhook]:
        query = select(Webhook).order_by(Webhook.created_at.desc())
        if not viewer.is_admin:
            query = query.where(Webhook.owner_id == viewer.id)
        return list(self._session.scalars(query))

    def update(self, hook: Webhook, changes: WebhookUpdate) -> tuple[Webhook, str | None]:
        """Apply the fields given; a new URL is checked; the generated secret when `rotate_secret`."""
        given = changes.model_dump(exclude_unset=True)
        if given.get("url") is not None:
            hook.url = targets.check(changes.url, self.policy()).url
        if given.get("events") is not None:
            hook.events = list(changes.events)
        if "description" in given:
            hook.description = changes.description
        if given.get("active") is not None:
            hook.active = changes.active
        generated = signing.new_secret() if changes.rotate_secret and not changes.secret else None
        if changes.secret or generated:
            secret = changes.secret or generated
            hook.secret_sealed = signing.seal(secret, app_secret=self._app_secret)
            hook.secret_hint = signing.hint(secret)
        hook.updated_at = utcnow()
        self._session.commit()
        return hook, generated

    def delete(self, hook: Webhook) -> None:
        """The webhook and its delivery log; queued deliveries find nothing and stop."""
        self._session.delete(hook)
        self._session.commit()

    # Delivering --------------------------------------------------------------------------------

    def test(self, hook: Webhook) -> WebhookDelivery:
        """A `webhook.test` ping through the same signed, retried delivery path as real events."""
        targets.check(hook.url, self.policy())  # refused now, with the reason, rather than in the log later
        data = {"message": "a test delivery from modelyard", "webhook_id": hook.id, "user_id": hook.owner_id}
        return self.send([hook.id], TEST_EVENT, data, raise_queue_errors=True)[0]

    def send(self, webhook_ids: Iterable[str], event: str, data: dict[str, Any], *,
             raise_queue_errors: bool = False) -> list[WebhookDelivery]:
        """One delivery row and one `webhook.deliver` job per webhook (committed before it is queued)."""
        from modelyard.jobs.models import Job
        from modelyard.ops.settings import SettingsService

        attempts = SettingsService(self._session).section("webhooks").maxAttempts
        event_id, now = new_id("evt"), utcnow()
        deliveries: list[WebhookDelivery] = []
        for hook in self._session.scalars(select(Webhook).where(Webhook.id.in_(list(webhook_ids)))):
            secret = signing.unseal(hook.secret_sealed, app_secret=self._app_secret)
            body: dict[str, Any] = {"id": event_id, "event": event, "timestamp": _iso(now),
                                    "webhook_id": hook.id, "data": data}
            body["signature"] = signing.body_signature(secret, body)
            delivery = WebhookDelivery(id=new_id("dlv"), webhook_id=hook.id, owner_id=hook.owner_id, event=event,
                                       event_id=event_id, payload=body, status="queued", attempts=0,
                                       max_attempts=attempts, history=[], created_at=now)
            delivery.job_id = new_id("job")
            self._session.add(delivery)
            self._session.add(Job(id=delivery.job_id, kind=JOB_KIND, owner_id=hook.owner_id,
                                  params={"delivery_id": delivery.id}, max_attempts=attempts, step="queued",
                                  updated_at=now))
            deliveries.append(delivery)
        self._session.commit()
        for delivery in deliveries:
            try:
                self._queue.enqueue(delivery.job_id)
            except Exception as exc:  # never leave a delivery `queued` that no worker will ever see
                self._unqueued(delivery, str(getattr(exc, "message", exc)))
                if raise_queue_errors:
                    raise
        return deliveries

    def _unqueued(self, delivery: WebhookDelivery, error: str) -> None:
        from modelyard.jobs.models import Job

        now = utcnow()
        self._session.execute(update(Job).where(Job.id == delivery.job_id)
                              .values(status="failed", error=error, finished_at=now, updated_at=now, step="failed"))
        delivery.status, delivery.error, delivery.finished_at = "failed", error, now
        self._session.commit()

    def deliveries(self, hook: Webhook, *, limit: int = 50, offset: int = 0,
                   status: str | None = None) -> tuple[list[WebhookDelivery], int]:
        settle_abandoned(self._session, WebhookDelivery.webhook_id == hook.id)
        query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id)
        if status:
            query = query.where(WebhookDelivery.status == status)
        total = self._session.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = self._session.scalars(query.order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id)
                                     .limit(limit).offset(offset))
        return list(rows), total


def settle_abandoned(session: Session, *where) -> None:
    """Deliveries whose job ended without them — its worker died during the last attempt, and the job system
    failed the job (jobs/runner.py) — are failed with the job's reason instead of staying queued forever."""
    from modelyard.jobs.models import Job

    stuck = session.execute(select(WebhookDelivery, Job).join(Job, Job.id == WebhookDelivery.job_id).where(
        WebhookDelivery.status.in_(("queued", "retrying")), Job.status.in_(("failed", "cancelled")), *where)).all()
    for delivery, job in stuck:
        delivery.status, delivery.error = "failed", job.error or f"its job was {job.status}"
        delivery.attempts, delivery.next_attempt_at = max(delivery.attempts or 0, job.attempts), None
        delivery.finished_at = job.finished_at or utcnow()
    if stuck:
        session.commit()


def prune_deliveries(db: "Database") -> int:
    """Delete finished deliveries older than `webhooks.logRetentionDays` (a periodic task of every worker)."""
    from modelyard.ops.settings import SettingsService

    with db.session() as session:
        settle_abandoned(session)
        days = SettingsService(session).section("webhooks").logRetentionDays
        cutoff = utcnow() - timedelta(days=days)
        return session.execute(delete(WebhookDelivery).where(
            WebhookDelivery.created_at < cutoff, WebhookDelivery.status.in_(("delivered", "failed")))).rowcount


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
