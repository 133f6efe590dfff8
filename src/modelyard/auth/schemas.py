"""Request and response bodies of the login dialects, accounts and keys."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from modelyard.auth.models import User

if TYPE_CHECKING:
    from modelyard.auth.credits import CreditService

USERNAME = r"^[A-Za-z0-9_.@-]+$"
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# Each contract names roles in its own words; `labeling` calls a plain user a customer.
LABELING_ROLES = {"user": "customer"}
CSV_SCORING_ROLES = {"admin": "Admin", "universal": "Admin", "user": "User", "labeler": "User"}
ROLE_INPUT = {"customer": "user"}


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=100)
    password: str = Field(min_length=1, max_length=256)


class LoginOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    expires_in: int
    user_id: int
    username: str


class CsvLoginOut(LoginOut):
    token: str


class RegisterIn(BaseModel):
    username: str = Field(min_length=3, max_length=50, pattern=USERNAME)
    email: str = Field(max_length=254, pattern=EMAIL)
    password: str = Field(min_length=6, max_length=256)


class RegisterOut(BaseModel):
    message: str
    user_id: int
    username: str
    api_key: str


class UserOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    user_id: int
    username: str
    email: str | None
    role: str
    api_key: str | None = Field(None, description="prefix of the newest API key; the full key is shown only once")
    credits_remaining: int
    plan: str
    created_at: datetime


class RateLimitOut(BaseModel):
    limit: int
    remaining: int
    reset: int


class ValidateOut(BaseModel):
    valid: bool
    user_id: int
    username: str
    role: str
    rate_limit: RateLimitOut


class AdminUserOut(BaseModel):
    id: int
    user_id: int
    username: str
    email: str | None
    role: str = Field(description="in the labeling contract's words: customer|labeler|admin|universal")
    is_active: bool
    plan: str
    credits_remaining: int
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> "AdminUserOut":
        return cls(id=user.id, user_id=user.id, username=user.username, email=user.email,
                   role=LABELING_ROLES.get(user.role, user.role), is_active=user.is_active, plan=user.plan,
                   credits_remaining=user.credits, created_at=user.created_at, last_login_at=user.last_login_at)


class UserCreate(BaseModel):
    username: str = Field(min_length=3, max_length=50, pattern=USERNAME)
    password: str = Field(min_length=8, max_length=256)
    role: str = Field("user", pattern=r"^(admin|user|customer|labeler|universal)$")
    email: str | None = Field(None, max_length=254, pattern=EMAIL)


class UserUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: str | None = Field(None, pattern=r"^(admin|user|customer|labeler|universal)$")
    is_active: bool | None = Field(None, strict=True)  # `0` or `"no"` must not deactivate anyone
    password: str | None = Field(None, min_length=8, max_length=256)
    email: str | None = Field(None, max_length=254, pattern=EMAIL)
    plan: str | None = Field(None, min_length=1, max_length=20, description="one of the configured plans")


class CreditsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    credits: int = Field(ge=-1_000_000_000, le=1_000_000_000, strict=True,
                         description="credits to add (negative takes some back, never below zero)")
    reason: str | None = Field(None, max_length=200)


class CreditsOut(BaseModel):
    user_id: int
    credits_added: int
    credits_remaining: int
    plan: str


class CreditEventOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    delta: int = Field(description="credits added (positive) or taken (negative)")
    balance: int = Field(description="the balance after this change")
    reason: str = Field(description="prediction | allocation | plan | registration")
    detail: str | None
    actor_id: int | None = Field(description="the admin who allocated, for allocations")
    at: datetime


class CreditHistoryOut(BaseModel):
    user_id: int
    credits_remaining: int
    events: list[CreditEventOut] = Field(description="newest first")
    total: int = Field(description="events in the ledger of this user")
    limit: int
    offset: int

    @classmethod
    def of(cls, credits: "CreditService", user_id: int, *, limit: int, offset: int) -> "CreditHistoryOut":
        events = credits.history(user_id, limit=limit, offset=offset)
        return cls(user_id=user_id, credits_remaining=credits.balance(user_id), total=credits.history_count(user_id),
                   events=[CreditEventOut.model_validate(e) for e in events], limit=limit, offset=offset)


class KeyCreate(BaseModel):
    name: str = Field("default", min_length=1, max_length=100)


class KeyOut(BaseModel):
    id: str
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None = None


class NewKeyOut(KeyOut):
    api_key: str = Field(description="the full key; shown only in this response")
