"""Shared dependencies: the runtime, a database session, the current user, role checks."""
from __future__ import annotations

import hashlib
import threading
from typing import Annotated, Iterator

from cachetools import TTLCache
from fastapi import Depends, Request
from sqlalchemy.orm import Session

from modelyard.auth import credentials
from modelyard.auth.models import User
from modelyard.auth.service import AuthService
from modelyard.config import Settings
from modelyard.errors import Forbidden, TooManyRequests, Unauthorized
from modelyard.jobs.service import JobService
from modelyard.ops.settings import SettingsService
from modelyard.registry.service import RegistryService
from modelyard.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def get_settings(runtime: RuntimeDep) -> Settings:
    return runtime.settings


SettingsDep = Annotated[Settings, Depends(get_settings)]


def get_session(runtime: RuntimeDep) -> Iterator[Session]:
    session = runtime.db.sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


def get_auth(session: SessionDep, runtime: RuntimeDep) -> AuthService:
    s = runtime.settings
    return AuthService(session, secret=s.resolved_secret_key, token_ttl=s.token_ttl_seconds,
                       limiter=runtime.limiter, max_failures=s.login_max_failures,
                       failure_window=s.login_failure_window_seconds)


AuthDep = Annotated[AuthService, Depends(get_auth)]


def get_jobs(session: SessionDep, runtime: RuntimeDep) -> JobService:
    return JobService(session, runtime.queue, max_attempts=runtime.settings.job_max_attempts)


JobsDep = Annotated[JobService, Depends(get_jobs)]


def get_registry(session: SessionDep, runtime: RuntimeDep) -> RegistryService:
    return RegistryService(session, runtime.blobs)


RegistryDep = Annotated[RegistryService, Depends(get_registry)]


def get_settings_service(session: SessionDep) -> SettingsService:
    return SettingsService(session)


AppSettingsDep = Annotated[SettingsService, Depends(get_settings_service)]


class AuthCache:
    """Short-lived caches so that most requests authenticate without a database round trip."""

    def __init__(self):
        self.users: TTLCache = TTLCache(maxsize=10_000, ttl=5)
        self.keys: TTLCache = TTLCache(maxsize=10_000, ttl=30)
        self.lock = threading.Lock()


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


def _load_user(runtime: Runtime, cache: AuthCache, user_id: int) -> User | None:
    with cache.lock:
        user = cache.users.get(user_id)
    if user is None:
        with runtime.db.session() as session:
            user = session.get(User, user_id)
        if user is not None:
            with cache.lock:
                cache.users[user_id] = user
    return user


def _apply_rate_limit(request: Request, runtime: Runtime, kind: str, ident: str) -> None:
    rule = runtime.settings.rate_limit_api_key if kind == "key" else runtime.settings.rate_limit_token
    allowed = runtime.limiter.hit(rule, "auth", kind, ident)
    stats = runtime.limiter.stats(rule, "auth", kind, ident)
    headers = {"X-RateLimit-Limit": stats.limit, "X-RateLimit-Remaining": stats.remaining,
               "X-RateLimit-Reset": stats.reset}
    request.state.rate_limit = stats
    request.scope.setdefault("state", {}).setdefault("extra_headers", {}).update(headers)
    if not allowed:
        raise TooManyRequests("rate limit exceeded for this credential",
                              headers={**{k: str(v) for k, v in headers.items()},
                                       "Retry-After": str(stats.retry_after)})


def resolve_credential(runtime: Runtime, cache: AuthCache, token: str) -> tuple[User, str, str]:
    """The active user behind a JWT or API key, plus the rate-limit bucket it counts against."""
    if credentials.looks_like_api_key(token):
        digest = hashlib.sha256(token.encode()).hexdigest()
        with cache.lock:
            user_id = cache.keys.get(digest)
        if user_id is None:
            with runtime.db.session() as session:
                user_id = AuthService(session, secret="", token_ttl=60, limiter=runtime.limiter) \
                    .user_for_api_key(token).id
            with cache.lock:
                cache.keys[digest] = user_id
        kind, ident = "key", digest[:16]
    else:
        claims = credentials.decode_token(token, secret=runtime.settings.resolved_secret_key)
        user_id, kind, ident = claims.user_id, "token", str(claims.user_id)
    user = _load_user(runtime, cache, user_id)
    if user is None or not user.is_active:
        raise Unauthorized("account not found or deactivated")
    return user, kind, ident


def current_user(request: Request, runtime: RuntimeDep) -> User:
    """Bearer JWT, or an API key as `X-API-Key` or `Authorization: Bearer`; active users only."""
    token = _credential(request)
    if not token:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key'")
    user, kind, ident = resolve_credential(runtime, request.app.state.auth_cache, token)
    request.state.user = user
    _apply_rate_limit(request, runtime, kind, ident)
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(*roles: str, words: dict[str, str] | None = None):
    """A dependency that admits users holding one of `roles` (or `universal`); a refusal names the
    roles in `words`, the contract's own (labeling calls a user a customer)."""
    words = words or {}

    def check(user: CurrentUser) -> User:
        if not user.has_role(*roles):
            needed = " or ".join(dict.fromkeys(words.get(r, r) for r in roles))
            raise Forbidden(f"this action needs the role {needed}; you are {words.get(user.role, user.role)}")
        return user

    return check


AdminUser = Annotated[User, Depends(require_roles("admin"))]
