"""Webhook secrets: sealed at rest, used to sign every delivery.

A webhook's secret must be readable again (it signs each delivery), so it cannot be hashed like an API
key. It is sealed with AES-GCM under a key derived from MODELYARD_SECRET_KEY: a copy of the database
alone does not reveal it. A deployment whose secret key changed cannot unseal old secrets; such a
delivery fails saying to set a new secret.

What a receiver checks (docs/webhooks.md):

- header ``X-Modelyard-Signature: sha256=<hex>`` = HMAC-SHA256(secret, ``<timestamp>.<raw body>``), with
  ``X-Modelyard-Timestamp: <unix seconds>`` of this attempt; refuse timestamps older than five minutes
  (a replayed request carries an old one, and changing it breaks the signature);
- the body's ``signature`` field (the contract's) = HMAC-SHA256(secret, the body without that field,
  as JSON with sorted keys and no spaces): the same for every attempt of one delivery.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
from typing import Any

from modelyard.errors import Conflict

PREFIX = "v1:"
REPLAY_WINDOW_SECONDS = 300


class SecretUnreadable(Conflict):
    code = "WEBHOOK_SECRET_UNREADABLE"


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def hint(secret: str) -> str:
    return secret[-4:]


def masked(hint_chars: str) -> str:
    return "…" + hint_chars


def _key(app_secret: str) -> bytes:
    return hashlib.sha256(b"modelyard webhook secrets\x00" + app_secret.encode()).digest()


def seal(secret: str, *, app_secret: str) -> str:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    nonce = os.urandom(12)
    sealed = AESGCM(_key(app_secret)).encrypt(nonce, secret.encode(), b"webhook")
    return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(sealed: str, *, app_secret: str) -> str:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        raw = base64.urlsafe_b64decode(sealed.removeprefix(PREFIX).encode())
        return AESGCM(_key(app_secret)).decrypt(raw[:12], raw[12:], b"webhook").decode()
    except (InvalidTag, ValueError) as exc:
        raise SecretUnreadable("this webhook's secret cannot be read (MODELYARD_SECRET_KEY changed since it was "
                               "set); set a new secret with PATCH /api/webhooks/{id}") from exc


def canonical(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def body_signature(secret: str, body: dict[str, Any]) -> str:
    """The contract's `signature` field: HMAC-SHA256 of the body without it (canonical JSON), hex."""
    unsigned = {k: v for k, v in body.items() if k != "signature"}
    return hmac.new(secret.encode(), canonical(unsigned), hashlib.sha256).hexdigest()


def header_signature(secret: str, timestamp: int, raw_body: bytes) -> str:
    """`X-Modelyard-Signature`: sha256=HMAC-SHA256 of `<timestamp>.<raw body>`, hex."""
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, signature: str, raw_body: bytes, *, now: float,
           window: int = REPLAY_WINDOW_SECONDS) -> bool:
    """What a receiver does (and the tests do): a fresh timestamp and a matching signature."""
    try:
        sent = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs(now - sent) > window:
        return False
    return hmac.compare_digest(header_signature(secret, sent, raw_body), signature or "")
