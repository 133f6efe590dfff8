"""Webhooks and their delivery log."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db.base import Base, OwnedMixin

DELIVERY_STATUSES = ("queued", "retrying", "delivered", "failed")


class Webhook(OwnedMixin, Base):
    """A URL that receives signed JSON for the events it subscribes to. The secret is kept sealed
    (webhooks/signing.py) and never shown again after it is set, only its last four characters."""

    __tablename__ = "webhook"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # whk_<hex>
    url: Mapped[str] = mapped_column(String(2000))
    events: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str | None] = mapped_column(String(200), default=None)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    secret_sealed: Mapped[str] = mapped_column(Text)
    secret_hint: Mapped[str] = mapped_column(String(8))  # the last four characters
    updated_at: Mapped[datetime | None] = mapped_column(default=None)


class WebhookDelivery(OwnedMixin, Base):
    """One event sent (or being sent) to one webhook: what, how it went, each attempt's outcome."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (Index("ix_webhook_delivery_webhook_created", "webhook_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # dlv_<hex>
    webhook_id: Mapped[str] = mapped_column(String(40), ForeignKey("webhook.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(50))
    event_id: Mapped[str] = mapped_column(String(40))  # one event sent to several webhooks shares it
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)  # the body, signature included
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=5)
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)  # of the last attempt
    error: Mapped[str | None] = mapped_column(Text, default=None)
    response_excerpt: Mapped[str | None] = mapped_column(String(500), default=None)
    duration_ms: Mapped[int | None] = mapped_column(Integer, default=None)
    job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # one entry per attempt
    last_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    next_attempt_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
