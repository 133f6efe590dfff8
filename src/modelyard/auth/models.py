"""Accounts, API keys and the login history."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db.base import Base, utcnow

ROLES = ("admin", "user", "labeler", "universal")


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(50), unique=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True, default=None)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20), default="user")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(default=None)
    plan: Mapped[str] = mapped_column(String(20), default="basic", server_default="basic")
    credits: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def is_admin(self) -> bool:
        return self.role in ("admin", "universal")

    def has_role(self, *roles: str) -> bool:
        """`universal` may act as any role."""
        return self.role == "universal" or self.role in roles

    def can_see(self, obj: object) -> bool:
        """Admins see everything; others their own, and built-in gallery models (``builtin``)."""
        return self.is_admin or getattr(obj, "owner_id", None) == self.id or bool(getattr(obj, "builtin", False))

    def can_change(self, obj: object) -> bool:
        """Built-in gallery models are changed by admins only; anything else by its owner or an admin."""
        if getattr(obj, "builtin", False):
            return self.is_admin
        return self.is_admin or getattr(obj, "owner_id", None) == self.id


class ApiKey(Base):
    __tablename__ = "api_key"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="default")
    prefix: Mapped[str] = mapped_column(String(20), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class CreditEvent(Base):
    """One change of a user's credits: a charge (negative) or an allocation; `balance` is after it."""

    __tablename__ = "credit_event"
    __table_args__ = (Index("ix_credit_event_user_at", "user_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(Integer, ForeignKey("user.id", ondelete="CASCADE"))
    delta: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(40))  # prediction | allocation | plan | registration | refund
    detail: Mapped[str | None] = mapped_column(String(200), default=None)
    actor_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("user.id", ondelete="SET NULL"), default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class LoginEvent(Base):
    """One login attempt, kept for the admin dashboard. Never holds a password or token."""

    __tablename__ = "login_event"
    __table_args__ = (  # login throttling counts recent failures per account and per address
        Index("ix_login_event_username_at", "username", "at"),
        Index("ix_login_event_address_at", "address", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(100))
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("user.id", ondelete="SET NULL"), default=None)
    success: Mapped[bool] = mapped_column(Boolean)
    address: Mapped[str | None] = mapped_column(String(64), default=None)
    reason: Mapped[str | None] = mapped_column(String(40), default=None)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
