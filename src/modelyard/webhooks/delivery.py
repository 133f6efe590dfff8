"""The `webhook.deliver` job: one attempt to POST a delivery's signed JSON to its webhook.

Each attempt checks the target again (webhooks/targets.py) and connects to the address it checked,
sends the stored body with a fresh `X-Modelyard-Timestamp` and signature (webhooks/signing.py),
follows no redirects, and waits `timeoutSeconds` at most to connect and for each read. A 2xx answer
delivers it. Anything else is recorded (status code, a 200-character excerpt of the answer, the
error) and retried `retryBaseSeconds` × 2^(attempt-1) later (at most `retryMaxSeconds`, ±10 %
jitter) until `maxAttempts`; then the delivery and its job are failed. A target that is refused
fails at once: it is a setting to fix, not a glitch to wait out.
"""
from __future__ import annotations

import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from modelyard import __version__
from modelyard.db.base import utcnow
from modelyard.jobs.context import AttemptFailed, JobContext
from modelyard.webhooks import signing, targets
from modelyard.webhooks.models import Webhook, WebhookDelivery

log = logging.getLogger("modelyard.webhooks")
EXCERPT = 200
CONNECT_SECONDS = 3.0
_tls: list = []  # one TLS context per process (building one costs ~0.5 s)
_quiet = threading.local()  # httpx logs each request's URL at INFO; a webhook URL may hold a token (Slack's do)


class _NoWebhookUrls(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_quiet, "on", False)


logging.getLogger("httpx").addFilter(_NoWebhookUrls())


def _tls_context():
    if not _tls:
        _tls.append(httpx.create_ssl_context())
    return _tls[0]


@dataclass(frozen=True)
class Outcome:
    status_code: int | None
    error: str | None
    excerpt: str | None
    ms: int
    retry: bool = True

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def deliver(ctx: JobContext, *, app_secret: str) -> dict[str, Any]:
    """One attempt (the job's attempt number); see the module docstring."""
    from modelyard.ops.settings import SettingsService

    with ctx.db.session() as session:
        delivery = session.get(WebhookDelivery, ctx.params["delivery_id"])
        hook = session.get(Webhook, delivery.webhook_id) if delivery is not None else None
        if delivery is None or hook is None:
            return {"delivered": False, "skipped": "the webhook was deleted"}
        if delivery.status in ("delivered", "failed"):
            return {"delivered": delivery.status == "delivered", "skipped": f"already {delivery.status}"}
        rules = SettingsService(session).section("webhooks")
        url, sealed, payload, event = hook.url, hook.secret_sealed, delivery.payload, delivery.event
        max_attempts = delivery.max_attempts
    outcome = attempt(url, sealed, payload, event, delivery_id=ctx.params["delivery_id"], app_secret=app_secret,
                      policy=targets.Policy.of(rules), timeout=rules.timeoutSeconds)
    final = outcome.delivered or not outcome.retry or ctx.attempt >= max_attempts
    wait = None if final else backoff(ctx.attempt, rules.retryBaseSeconds, rules.retryMaxSeconds)
    _record(ctx, outcome, final=final, wait=wait)
    if outcome.delivered:
        return {"delivered": True, "status_code": outcome.status_code, "attempts": ctx.attempt}
    raise AttemptFailed(f"attempt {ctx.attempt} of {max_attempts}: {outcome.error}", retry_in=wait)


def backoff(attempt: int, base: float, ceiling: float) -> float:
    return min(base * 2 ** (attempt - 1), ceiling) * random.uniform(0.9, 1.1)


def attempt(url: str, sealed: str, payload: dict[str, Any], event: str, *, delivery_id: str, app_secret: str,
            policy: targets.Policy, timeout: float) -> Outcome:
    started = time.perf_counter()

    def took() -> int:
        return int((time.perf_counter() - started) * 1000)

    try:
        secret = signing.unseal(sealed, app_secret=app_secret)
        target = targets.check(url, policy)
    except (targets.TargetRefused, signing.SecretUnreadable) as exc:
        return Outcome(None, exc.message, None, took(), retry=False)
    payload = {**payload, "signature": signing.body_signature(secret, payload)}  # the secret may have rotated
    raw = json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode()
    now = int(time.time())
    headers = {"Content-Type": "application/json", "User-Agent": f"modelyard-webhooks/{__version__}",
               "X-Modelyard-Event": event, "X-Modelyard-Delivery": delivery_id,
               "X-Modelyard-Timestamp": str(now), "X-Modelyard-Signature": signing.header_signature(secret, now, raw)}
    try:
        code, excerpt = _post(target, raw, headers, timeout)
    except httpx.TimeoutException as exc:
        return Outcome(None, f"no answer within {timeout:g} s ({type(exc).__name__})", None, took())
    except (httpx.HTTPError, OSError) as exc:
        reason = str(exc).splitlines()[0][:200] if str(exc) else ""
        return Outcome(None, f"could not reach the receiver: {type(exc).__name__} {reason}".strip(), None, took())
    except Exception as exc:  # recorded in the log like any failed attempt, never left `queued`
        log.warning("webhook delivery %s failed unexpectedly", delivery_id, exc_info=True)
        return Outcome(None, f"internal error: {type(exc).__name__}", None, took())
    if 200 <= code < 300:
        return Outcome(code, None, excerpt, took())
    note = " (redirects are not followed)" if 300 <= code < 400 else ""
    return Outcome(code, f"the receiver answered HTTP {code}{note}", excerpt, took())


def _post(target: targets.Target, raw: bytes, headers: dict[str, str], timeout: float) -> tuple[int, str]:
    """POST to the checked address (never resolving the name again), Host and TLS name kept; no proxies."""
    pinned = httpx.URL(target.url).copy_with(host=target.address)
    default = (target.scheme == "http" and target.port == 80) or (target.scheme == "https" and target.port == 443)
    name = f"[{target.host}]" if ":" in target.host else target.host
    headers = {**headers, "Host": name if default else f"{name}:{target.port}"}
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    limits = httpx.Timeout(timeout, connect=min(timeout, CONNECT_SECONDS))
    with httpx.Client(timeout=limits, follow_redirects=False, trust_env=False, verify=_tls_context()) as client:
        request = client.build_request("POST", pinned, content=raw, headers=headers, extensions=extensions)
        _quiet.on = True
        try:
            response = client.send(request, stream=True)
        finally:
            _quiet.on = False
        try:
            excerpt = b""
            for chunk in response.iter_raw():
                excerpt += chunk
                if len(excerpt) >= EXCERPT:
                    break
            return response.status_code, excerpt[:EXCERPT].decode(errors="replace")
        finally:
            response.close()


def _record(ctx: JobContext, outcome: Outcome, *, final: bool, wait: float | None) -> None:
    now = utcnow()
    status = "delivered" if outcome.delivered else ("failed" if final else "retrying")
    with ctx.db.session() as session:
        delivery = session.get(WebhookDelivery, ctx.params["delivery_id"])
        if delivery is None:
            return
        entry = {"attempt": ctx.attempt, "at": now.isoformat(), "status_code": outcome.status_code,
                 "error": outcome.error, "duration_ms": outcome.ms}
        delivery.history = [*(delivery.history or []), entry][-20:]
        delivery.attempts = ctx.attempt
        delivery.status, delivery.status_code, delivery.error = status, outcome.status_code, outcome.error
        delivery.response_excerpt, delivery.duration_ms, delivery.last_attempt_at = outcome.excerpt, outcome.ms, now
        delivery.next_attempt_at = now + timedelta(seconds=wait) if wait is not None else None
        delivery.finished_at = now if final else None
