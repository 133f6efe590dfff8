"""Webhooks (prediction-platform contract): configure, list, change, delete, test, and the delivery log."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, status

from modelyard.api.deps import CurrentUser, RuntimeDep, SessionDep, current_user
from modelyard.api.params import Offset
from modelyard.auth.limits import count_or_refuse
from modelyard.webhooks.models import DELIVERY_STATUSES, Webhook
from modelyard.webhooks.schemas import (
    DeliveryOut, DeliveryPage, TestQueued, WebhookConfigured, WebhookCreate, WebhookOut, WebhookPage, WebhookUpdate,
)
from modelyard.webhooks.service import WebhookService

router = APIRouter(tags=["webhooks"], dependencies=[Depends(current_user)])
TESTS_PER_USER = "60/hour"  # each test makes this server send a request: not a free amplifier


def webhook_service(session: SessionDep, runtime: RuntimeDep) -> WebhookService:
    return WebhookService(session, app_secret=runtime.settings.resolved_secret_key, queue=runtime.queue)


Webhooks = Annotated[WebhookService, Depends(webhook_service)]


def owned_webhook(webhook_id: str, user: CurrentUser, webhooks: Webhooks) -> Webhook:
    return webhooks.get(webhook_id, viewer=user)


OwnedWebhook = Annotated[Webhook, Depends(owned_webhook)]
STATUS = "^(" + "|".join(DELIVERY_STATUSES) + ")$"


def _answer(hook: Webhook, generated: str | None, state: Literal["configured", "updated"]) -> WebhookConfigured:
    shown = "; the secret is shown only in this answer: keep it to verify signatures" if generated else ""
    out = WebhookOut.of(hook, secret=generated).model_dump()
    return WebhookConfigured(**out, status=state, secret_shown_once=bool(generated),
                             message=f"webhook {state} for {', '.join(hook.events)}{shown}")


@router.post("/api/webhooks/configure", response_model=WebhookConfigured, status_code=status.HTTP_201_CREATED)
def configure_webhook(body: WebhookCreate, user: CurrentUser, webhooks: Webhooks):
    return _answer(*webhooks.configure(body, owner=user), "configured")


@router.get("/api/webhooks", response_model=WebhookPage)
def list_webhooks(user: CurrentUser, webhooks: Webhooks):
    hooks = webhooks.list(viewer=user)
    return WebhookPage(webhooks=[WebhookOut.of(h) for h in hooks], total=len(hooks))


@router.get("/api/webhooks/{webhook_id}", response_model=WebhookOut)
def get_webhook(hook: OwnedWebhook):
    return WebhookOut.of(hook)


@router.patch("/api/webhooks/{webhook_id}", response_model=WebhookConfigured)
@router.put("/api/webhooks/{webhook_id}", response_model=WebhookConfigured, include_in_schema=False)
def update_webhook(hook: OwnedWebhook, body: WebhookUpdate, webhooks: Webhooks):
    return _answer(*webhooks.update(hook, body), "updated")


@router.delete("/api/webhooks/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(hook: OwnedWebhook, webhooks: Webhooks):
    webhooks.delete(hook)


@router.post("/api/webhooks/{webhook_id}/test", response_model=TestQueued, status_code=status.HTTP_202_ACCEPTED)
def test_webhook(hook: OwnedWebhook, webhooks: Webhooks, user: CurrentUser, runtime: RuntimeDep):
    count_or_refuse(runtime.limiter, TESTS_PER_USER, "webhook-test", str(user.id), what="your webhook test limit")
    delivery = webhooks.test(hook)
    return TestQueued(message=f"a {delivery.event} delivery is queued; GET /api/webhooks/{hook.id}/deliveries "
                              "shows how it went", event=delivery.event, delivery=DeliveryOut.of(delivery))


@router.get("/api/webhooks/{webhook_id}/deliveries", response_model=DeliveryPage)
def list_deliveries(hook: OwnedWebhook, webhooks: Webhooks, limit: Annotated[int, Query(ge=1, le=200)] = 50,
                    offset: Offset = 0, status_: Annotated[str | None, Query(alias="status", pattern=STATUS)] = None):
    rows, total = webhooks.deliveries(hook, limit=limit, offset=offset, status=status_)
    return DeliveryPage(deliveries=[DeliveryOut.of(d) for d in rows], total=total)
