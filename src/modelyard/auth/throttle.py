"""Login throttling, counted from the login history so every process and the CLI see the same counts.

Three moving windows of `window` seconds, each with its own threshold:
- per account from one address (the person who mistyped: low, default 5);
- per account from any address (a distributed guess at one account: higher, default 20);
- per address over all accounts (one client guessing many names: much higher, default 100, because a
  whole company may sit behind one proxy address).
A successful login clears its (account, address) window; `unlock` (an admin, `modelyard users unlock`)
clears the account's windows. Failures are the attempts recorded as `bad_credentials` or `inactive`;
refused (throttled) attempts are recorded too but do not count, so waiting always helps.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from modelyard.auth.models import LoginEvent
from modelyard.db.base import utcnow
from modelyard.errors import TooManyRequests

FAILURES = ("bad_credentials", "inactive")
UNLOCKED = "unlocked"


@dataclass(frozen=True)
class ThrottlePolicy:
    per_account_address: int = 5
    per_account: int = 20
    per_address: int = 100
    window_seconds: int = 900


class LoginThrottle:
    def __init__(self, session: Session, policy: ThrottlePolicy):
        self._session = session
        self._policy = policy

    def check(self, username: str, address: str | None) -> None:
        """Raise 429 (message and Retry-After say how long to wait) when a window of this attempt is full."""
        now = utcnow()
        since = now - timedelta(seconds=self._policy.window_seconds)
        account_since = max(since, self._last_unlock(username) or since)
        pair_since = max(account_since, self._last_success(username, address) or since)
        unlock = f"; an admin can lift it with `modelyard users unlock {username}`"
        windows = [
            (self._failures(pair_since).where(LoginEvent.username == username, _same_address(address)),
             self._policy.per_account_address, "for this account from your address", unlock),
            (self._failures(account_since).where(LoginEvent.username == username),
             self._policy.per_account, "for this account", unlock),
            (self._failures(since).where(_same_address(address)), self._policy.per_address,
             "from your address", ""),
        ]
        for query, limit, scope, hint in windows:
            oldest = self._session.scalar(query.order_by(LoginEvent.at.desc()).offset(limit - 1).limit(1))
            if oldest is None:
                continue
            wait = max(1, math.ceil((oldest + timedelta(seconds=self._policy.window_seconds) - now).total_seconds()))
            raise TooManyRequests(f"too many failed logins {scope}; try again in {_human(wait)}{hint}",
                                  details={"retry_after_seconds": wait}, headers={"Retry-After": str(wait)})

    def unlock(self, username: str) -> int:
        """Clear the account's windows; return how many failures in the window were forgiven."""
        since = utcnow() - timedelta(seconds=self._policy.window_seconds)
        since = max(since, self._last_unlock(username) or since)
        query = self._failures(since).where(LoginEvent.username == username)
        forgiven = self._session.scalar(select(func.count()).select_from(query.subquery())) or 0
        self._session.add(LoginEvent(username=username[:100], success=False, reason=UNLOCKED))
        self._session.commit()
        return forgiven

    def _failures(self, since: datetime) -> Select:
        return select(LoginEvent.at).where(LoginEvent.success.is_(False), LoginEvent.reason.in_(FAILURES),
                                           LoginEvent.at > since)

    def _last_unlock(self, username: str) -> datetime | None:
        return self._session.scalar(select(func.max(LoginEvent.at)).where(
            LoginEvent.username == username, LoginEvent.reason == UNLOCKED))

    def _last_success(self, username: str, address: str | None) -> datetime | None:
        return self._session.scalar(select(func.max(LoginEvent.at)).where(
            LoginEvent.username == username, LoginEvent.success.is_(True), _same_address(address)))


def _same_address(address: str | None):
    return LoginEvent.address.is_(None) if address is None else LoginEvent.address == address


def _human(seconds: int) -> str:
    if seconds < 90:
        return f"{seconds} seconds"
    return f"{math.ceil(seconds / 60)} minutes"
