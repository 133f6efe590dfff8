"""Shared dependencies: the runtime, a database session, the current user, role checks."""
from __future__ import annotations

from typing import Annotated, Iterator

from fastapi import Depends, Request
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from modelyard.auth.cache import Identity
from modelyard.auth.limits import limit_headers, plan_limit
from modelyard.auth.models import User
from modelyard.auth.service import AuthService
from modelyard.config import Settings
from modelyard.errors import Forbidden, TooManyRequests, Unauthorized
from modelyard.jobs.service import JobService
from modelyard.ops.settings import SettingsService
from modelyard.registry.service import RegistryService
from modelyard.ratelimit import WindowStats
from modelyard.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
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


# scope="function": the commit happens before the response is sent, so a database lost meanwhile is a 503,
# not a 200 for a write that never landed (nor an error raised after the response started).
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def get_auth(session: SessionDep, runtime: RuntimeDep) -> AuthService:
    s = runtime.settings
    return AuthService(session, secret=s.resolved_secret_key, token_ttl=s.token_ttl_seconds,
                       limiter=runtime.limiter, max_failures=s.login_max_failures,
                       failure_window=s.login_failure_window_seconds,
                       max_failures_account=s.login_max_failures_account,
                       max_failures_address=s.login_max_failures_address, plans=s.plans,
                       default_plan=s.default_plan)


AuthDep = Annotated[AuthService, Depends(get_auth)]


def get_jobs(session: SessionDep, runtime: RuntimeDep) -> JobService:
    return JobService(session, runtime.queue, max_attempts=runtime.settings.job_max_attempts)


JobsDep = Annotated[JobService, Depends(get_jobs)]


def get_registry(session: SessionDep, runtime: RuntimeDep) -> RegistryService:
    return RegistryService(session, runtime.blobs, on_deploy=runtime.predictions.prepare)


RegistryDep = Annotated[RegistryService, Depends(get_registry)]


def get_settings_service(session: SessionDep) -> SettingsService:
    return SettingsService(session)


AppSettingsDep = Annotated[SettingsService, Depends(get_settings_service)]


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return request.headers.get("x-api-key") or None


def admit(runtime: Runtime, token: str, *, cached_only: bool = False) -> tuple[Identity, WindowStats, bool] | None:
    """Refresh stale caches, resolve the credential, count the request against its rate limit.

    With `cached_only`, None when the database would have to be asked (the caller retries off the loop)."""
    runtime.invalidation.refresh()
    credentials = runtime.credentials
    identity = credentials.cached(token) if cached_only else credentials.resolve(token)
    if identity is None:
        return None
    rule = plan_limit(runtime.settings, identity.user.plan, identity.kind)
    allowed, stats = runtime.limiter.count(rule, "auth", identity.kind, identity.ident)
    return identity, stats, allowed


async def current_user(request: Request) -> User:
    """Bearer JWT, or an API key as `X-API-Key` or `Authorization: Bearer`; active users only.

    On a warm cache with the embedded stores this runs on the event loop with no I/O at all; anything
    that needs the database or Redis runs in the thread pool."""
    runtime: Runtime = request.app.state.runtime
    token = _credential(request)
    if not token:
        raise Unauthorized("authentication required: send 'Authorization: Bearer <token>' or 'X-API-Key'")
    admitted = None
    if not (runtime.limiter.blocking or runtime.invalidation.blocking):
        admitted = admit(runtime, token, cached_only=True)
    if admitted is None:
        admitted = await run_in_threadpool(admit, runtime, token)
    identity, stats, allowed = admitted
    request.state.user = identity.user
    headers = limit_headers(stats)
    request.state.rate_limit = stats
    request.scope.setdefault("state", {})["extra_headers"] = headers
    if not allowed:
        raise TooManyRequests("rate limit exceeded for this credential",
                              headers={**headers, "Retry-After": str(stats.retry_after)})
    return identity.user


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


def limit_user(runtime: Runtime, user: User, kind: str, *, cost: int = 1) -> None:
    """Count `cost` against the user's `kind` limit ("predictions", "uploads"); 429 when it is spent."""
    runtime.limits.count(user, kind, cost=cost)

