"""The prediction platform's per-user limits, as any layer needs them (routes, the prediction pipeline).

A plan names its limits (config.Plan); a limit a plan leaves out is the global MODELYARD_RATE_LIMIT_*.
Counting is the `Limiter`'s (memory, or Redis shared by every process); a spent limit is 429
RATE_LIMIT_EXCEEDED with that limit's X-RateLimit-* headers and Retry-After.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from modelyard.errors import TooManyRequests
from modelyard.ratelimit import Limiter, WindowStats

if TYPE_CHECKING:
    from modelyard.auth.models import User
    from modelyard.config import Settings


def plan_limit(settings: "Settings", plan: str, kind: str) -> str:
    """A plan's limit of `kind`: requests per API key ("key") or JWT user ("token"), "predictions" or
    "uploads" per user; the global MODELYARD_RATE_LIMIT_* where the plan sets none."""
    attribute = {"key": "api_key"}.get(kind, kind)
    found = settings.plans.get(plan)
    return (getattr(found, attribute) if found else None) or getattr(settings, f"rate_limit_{attribute}")


def limit_headers(stats: WindowStats) -> dict[str, str]:
    return {"X-RateLimit-Limit": str(stats.limit), "X-RateLimit-Remaining": str(stats.remaining),
            "X-RateLimit-Reset": str(stats.reset)}


def count_or_refuse(limiter: Limiter, rule: str, *keys: str, cost: int = 1, what: str) -> WindowStats:
    """Count against `rule` under `keys`; 429 naming `what`, with that limit's headers and Retry-After,
    when it is spent."""
    allowed, stats = limiter.count(rule, *keys, cost=cost)
    if not allowed:
        raise TooManyRequests(f"{what} ({rule}) is spent; try again in {stats.retry_after} s",
                              headers={**limit_headers(stats), "Retry-After": str(stats.retry_after)})
    return stats


class UserLimits:
    """The per-user rows of the contract's table: "predictions" (every prediction call, on any route) and
    "uploads" (files sent to be scored)."""

    def __init__(self, limiter: Limiter, settings: "Settings"):
        self._limiter = limiter
        self._settings = settings

    @property
    def blocking(self) -> bool:
        """True when counting is a network round trip (Redis): not for the event loop."""
        return self._limiter.blocking

    def count(self, user: "User", kind: str, *, cost: int = 1) -> None:
        """Count `cost` against the user's `kind` limit; 429 with that limit's headers when it is spent.
        (The credential's own limit already gives every response its X-RateLimit headers, so the
        window of this one is read only when it refuses: one storage operation per call, not two.)"""
        rule = plan_limit(self._settings, user.plan, kind)
        keys = (kind, "user", str(user.id))
        if not self._limiter.hit(rule, *keys, cost=cost):
            stats = self._limiter.stats(rule, *keys)
            raise TooManyRequests(f"the {kind} limit of your plan ({rule}) is spent; try again in "
                                  f"{stats.retry_after} s",
                                  headers={**limit_headers(stats), "Retry-After": str(stats.retry_after)})
