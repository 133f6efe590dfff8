"""Accounts: logins (with throttling and history), users, API keys."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.auth import credentials
from modelyard.auth.models import ROLES, ApiKey, CreditEvent, LoginEvent, User
from modelyard.auth.throttle import LoginThrottle, ThrottlePolicy
from modelyard.config import DEFAULT_PLANS, Plan
from modelyard.db.base import new_id, utcnow
from modelyard.errors import BadRequest, Conflict, NotFound, TooManyRequests, Unauthorized
from modelyard.ratelimit import Limiter


@dataclass(frozen=True)
class Login:
    user: User
    token: str
    expires_in: int


@dataclass(frozen=True)
class AdminBootstrap:
    created: bool
    generated_password: str | None = None
    password_ignored: bool = False  # MODELYARD_ADMIN_PASSWORD given but not the admin's password
    exists: bool = True


@dataclass(frozen=True)
class NewKey:
    key: ApiKey
    full: str


class AuthService:
    def __init__(self, session: Session, *, secret: str, token_ttl: int, limiter: Limiter | None = None,
                 max_failures: int = 5, failure_window: int = 900, max_failures_account: int = 20,
                 max_failures_address: int = 100, plans: "Mapping[str, Plan] | None" = None,
                 default_plan: str = "basic"):
        # `limiter` is still accepted from callers; login throttling counts the login history instead
        # (auth/throttle.py), so that every process and `modelyard users unlock` share one count.
        self._session = session
        self._secret = secret
        self._ttl = token_ttl
        self._plans = dict(plans) if plans is not None else dict(DEFAULT_PLANS)
        self._default_plan = default_plan
        self.throttle = LoginThrottle(session, ThrottlePolicy(
            per_account_address=max_failures, per_account=max_failures_account,
            per_address=max_failures_address, window_seconds=failure_window))

    # Logins -------------------------------------------------------------

    def login(self, username: str, password: str, *, address: str | None) -> Login:
        """Same 401 for an unknown user and a wrong password; throttled as auth/throttle.py says."""
        try:
            self.throttle.check(username, address)
        except TooManyRequests:
            self._record(username, None, False, address, "throttled")
            raise
        user = self._session.scalar(select(User).where(User.username == username))
        ok = credentials.verify_password(user.password_hash if user else None, password)
        if not ok or user is None or not user.is_active:
            reason = "inactive" if ok and user is not None else "bad_credentials"
            self._record(username, user.id if user else None, False, address, reason)
            raise Unauthorized("invalid username or password")
        user.last_login_at = utcnow()
        self._record(username, user.id, True, address, None)
        return Login(user, self.issue_token(user), self._ttl)

    def issue_token(self, user: User) -> str:
        token, _ = credentials.issue_token(
            secret=self._secret, user_id=user.id, username=user.username, role=user.role, ttl=self._ttl,
            password_hash=user.password_hash,
        )
        return token

    def _record(self, username: str, user_id: int | None, success: bool, address: str | None, reason: str | None):
        self._session.add(LoginEvent(username=username[:100], user_id=user_id, success=success,
                                     address=address, reason=reason))
        self._session.commit()

    # Users --------------------------------------------------------------

    def create_user(self, username: str, password: str, *, role: str = "user", email: str | None = None,
                    plan: str | None = None) -> User:
        """A new account on `plan` (default: the configured default plan), with that plan's credits."""
        if role not in ROLES:
            raise BadRequest(f"unknown role {role!r}; one of {', '.join(ROLES)}")
        plan = plan or self._default_plan
        starting = self._plan(plan).credits
        user = User(username=username, email=email, password_hash=credentials.hash_password(password), role=role,
                    plan=plan, credits=starting)
        self._session.add(user)
        try:
            self._session.flush()
        except IntegrityError:
            self._session.rollback()
            raise Conflict("username or email already registered") from None
        self._session.add(CreditEvent(user_id=user.id, delta=starting, balance=starting, reason="plan",
                                      detail=f"starting credits of the {plan} plan"))
        self._session.commit()
        return user

    def _plan(self, name: str) -> "Plan":
        if name not in self._plans:
            raise BadRequest(f"unknown plan {name!r}; one of {', '.join(self._plans)}")
        return self._plans[name]

    def register(self, username: str, password: str, *, email: str | None) -> NewKey:
        """Self-service sign-up: a `user` with a first API key."""
        user = self.create_user(username, password, role="user", email=email)
        return self.create_api_key(user, name="default")

    def get_user(self, user_id: int) -> User:
        user = self._session.get(User, user_id)
        if user is None:
            raise NotFound("user", user_id)
        return user

    def get_by_username(self, username: str) -> User:
        user = self._session.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound("user", username)
        return user

    def find_by_username(self, username: str) -> User | None:
        return self._session.scalar(select(User).where(User.username == username))

    def unlock(self, username: str) -> int:
        """Lift an account's login throttling (auth/throttle.py); the count of failures forgiven."""
        return self.throttle.unlock(username)

    def list_users(self) -> list[User]:
        return list(self._session.scalars(select(User).order_by(User.id)))

    def count_users(self) -> int:
        return self._session.scalar(select(func.count()).select_from(User)) or 0

    def update_user(self, user: User, *, role: str | None = None, is_active: bool | None = None,
                    password: str | None = None, email: str | None = None, plan: str | None = None) -> User:
        """Changing the plan changes the limits at once; credits stay as they are (allocate to add)."""
        if plan is not None:
            self._plan(plan)
            user.plan = plan
        if role is not None:
            if role not in ROLES:
                raise BadRequest(f"unknown role {role!r}; one of {', '.join(ROLES)}")
            user.role = role
        if is_active is not None:
            user.is_active = is_active
        if password is not None:
            user.password_hash = credentials.hash_password(password)
        if email is not None:
            user.email = email
        try:
            self._session.flush()
        except IntegrityError:
            self._session.rollback()
            raise Conflict("email already registered") from None
        self._session.commit()
        return user

    def ensure_admin(self, username: str, password: str | None) -> AdminBootstrap:
        """On first start with no users: create the admin. Later starts never change a password, and
        report whether the configured one was not applied (so the log can say so)."""
        if self.count_users():
            if not password:
                return AdminBootstrap(created=False)
            user = self._session.scalar(select(User).where(User.username == username))
            applies = user is not None and credentials.verify_password(user.password_hash, password)
            return AdminBootstrap(created=False, password_ignored=not applies, exists=user is not None)
        generated = None if password else secrets.token_urlsafe(12)
        self.create_user(username, password or generated, role="admin")
        return AdminBootstrap(created=True, generated_password=generated)

    # API keys -----------------------------------------------------------

    def create_api_key(self, user: User, *, name: str = "default") -> NewKey:
        full, prefix, digest = credentials.new_api_key()
        key = ApiKey(id=new_id("key"), user_id=user.id, name=name, prefix=prefix, key_hash=digest)
        self._session.add(key)
        self._session.commit()
        return NewKey(key, full)

    def list_api_keys(self, user: User) -> list[ApiKey]:
        query = select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.revoked_at.is_(None))
        return list(self._session.scalars(query.order_by(ApiKey.created_at)))

    def revoke_api_key(self, user: User, key_id: str) -> None:
        key = self._session.get(ApiKey, key_id)
        if key is None or key.user_id != user.id or key.revoked_at is not None:
            raise NotFound("api key", key_id)
        key.revoked_at = utcnow()
        self._session.commit()

    def rotate_api_key(self, user: User, key_id: str) -> NewKey:
        """A new key with the old one's name; the old one is revoked in the same transaction."""
        key = self._session.get(ApiKey, key_id)
        if key is None or key.user_id != user.id or key.revoked_at is not None:
            raise NotFound("api key", key_id)
        key.revoked_at = utcnow()
        return self.create_api_key(user, name=key.name)  # commits both

    def user_for_api_key(self, full: str) -> User:
        """Look the key up by prefix, then compare hashes in constant time."""
        key = self._session.scalar(select(ApiKey).where(ApiKey.prefix == full[:12]))
        if key is None or key.revoked_at is not None or not credentials.api_key_matches(full, key.key_hash):
            raise Unauthorized("invalid API key")
        user = self._session.get(User, key.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("invalid API key")
        return user
