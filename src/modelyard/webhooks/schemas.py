"""Webhook requests and answers (prediction-platform contract, `/api/webhooks/*`)."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from modelyard.webhooks.events import EVENTS
from modelyard.webhooks.models import Webhook, WebhookDelivery
from modelyard.webhooks.signing import masked

EventName = Literal["prediction.completed", "model.updated", "alert.triggered", "user.credit_low"]
assert set(EventName.__args__) == set(EVENTS)  # type: ignore[attr-defined]
NO_CONTROL = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"  # PostgreSQL text holds no NUL; none is needed here


def _unique(events: list[str] | None) -> list[str] | None:
    return None if events is None else list(dict.fromkeys(events))


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str = Field(max_length=2000, examples=["https://hooks.example.com/modelyard"])
    events: list[EventName] = Field(min_length=1, max_length=len(EVENTS), examples=[["prediction.completed"]])
    secret: str | None = Field(None, min_length=16, max_length=200,
                               description="signs every delivery; generated (and shown once) when not given")
    description: str | None = Field(None, max_length=200, pattern=NO_CONTROL)
    active: bool = True

    @field_validator("events")
    @classmethod
    def _once_each(cls, events: list[str] | None) -> list[str] | None:
        return _unique(events)


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, max_length=2000)
    events: list[EventName] | None = Field(None, min_length=1, max_length=len(EVENTS))
    secret: str | None = Field(None, min_length=16, max_length=200, description="a new secret (not shown again)")
    rotate_secret: bool = Field(False, description="generate a new secret, shown once in this answer")
    description: str | None = Field(None, max_length=200, pattern=NO_CONTROL)
    active: bool | None = None

    @field_validator("events")
    @classmethod
    def _once_each(cls, events: list[str] | None) -> list[str] | None:
        return _unique(events)


class WebhookOut(BaseModel):
    webhook_id: str
    id: str
    url: str
    events: list[str]
    active: bool
    description: str | None
    secret: str = Field(description="masked (its last four characters), except once, in the answer that generated it")
    owner_id: int
    created_at: datetime
    updated_at: datetime | None

    @classmethod
    def of(cls, hook: Webhook, *, secret: str | None = None) -> "WebhookOut":
        return cls(webhook_id=hook.id, id=hook.id, url=hook.url, events=list(hook.events), active=hook.active,
                   description=hook.description, secret=secret or masked(hook.secret_hint), owner_id=hook.owner_id,
                   created_at=hook.created_at, updated_at=hook.updated_at)


class WebhookConfigured(WebhookOut):
    status: Literal["configured", "updated"] = "configured"
    message: str
    secret_shown_once: bool = False


class WebhookPage(BaseModel):
    webhooks: list[WebhookOut]
    total: int
    events: list[str] = Field(default=list(EVENTS), description="every event a webhook may subscribe to")


class DeliveryOut(BaseModel):
    delivery_id: str
    webhook_id: str
    event: str
    event_id: str
    status: str
    status_code: int | None
    attempts: int
    max_attempts: int
    error: str | None
    response_excerpt: str | None
    duration_ms: int | None
    job_id: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    finished_at: datetime | None
    history: list[dict[str, Any]]

    @classmethod
    def of(cls, d: WebhookDelivery) -> "DeliveryOut":
        return cls(delivery_id=d.id, webhook_id=d.webhook_id, event=d.event, event_id=d.event_id, status=d.status,
                   status_code=d.status_code, attempts=d.attempts, max_attempts=d.max_attempts, error=d.error,
                   response_excerpt=d.response_excerpt, duration_ms=d.duration_ms, job_id=d.job_id,
                   created_at=d.created_at, last_attempt_at=d.last_attempt_at, next_attempt_at=d.next_attempt_at,
                   finished_at=d.finished_at, history=list(d.history or []))


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryOut]
    total: int


class TestQueued(BaseModel):
    message: str
    event: str
    delivery: DeliveryOut
