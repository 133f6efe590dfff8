"""Password hashing (argon2), JWTs, and API key material. No I/O here."""
from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
import time
import uuid
from dataclasses import dataclass

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from modelyard.errors import Unauthorized

# OWASP's recommended argon2id floor (19 MiB, 2 passes): ~45 ms here, where argon2-cffi's
# default (64 MiB, 3 passes) took ~450 ms and would let a handful of logins occupy both cores.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so both failures cost the same time. Made on first
    use, not at import: hashing touches 19 MiB, which would count in every job worker's peak memory."""
    return _hasher.hash(secrets.token_urlsafe(16))


ALGORITHM = "HS256"
API_KEY_PREFIX = "mdy_"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class TokenClaims:
    user_id: int
    username: str
    role: str
    jti: str
    issued_at: int
    expires_at: int
    password: str | None = None  # password_stamp() of the hash the token was issued under


def password_stamp(password_hash: str | None) -> str:
    """A short fingerprint of a stored password hash (a hash of it: nothing about the password itself). A
    token carries the one it was issued under, so changing the password ends every token issued before."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def issue_token(*, secret: str, user_id: int, username: str, role: str, ttl: int,
                password_hash: str | None) -> tuple[str, TokenClaims]:
    now = int(time.time())
    stamp = password_stamp(password_hash)
    claims = TokenClaims(user_id, username, role, uuid.uuid4().hex, now, now + ttl, stamp)
    payload = {"sub": str(user_id), "name": username, "role": role, "jti": claims.jti, "iat": now, "exp": now + ttl,
               "pwd": stamp}
    return jwt.encode(payload, secret, algorithm=ALGORITHM), claims


def check_password_stamp(claims: TokenClaims, password_hash: str | None) -> None:
    """Unauthorized when the password changed after the token was issued (or the token predates stamps)."""
    if claims.password != password_stamp(password_hash):
        raise Unauthorized("this token was issued before the account's password changed; log in again")


def decode_token(token: str, *, secret: str) -> TokenClaims:
    """Verify signature, algorithm (HS256 only: `alg: none` is refused) and expiry."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "iat", "sub", "jti"]}
        )
        return TokenClaims(
            int(payload["sub"]), str(payload.get("name", "")), str(payload.get("role", "")),
            str(payload["jti"]), int(payload["iat"]), int(payload["exp"]), payload.get("pwd"),
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except (jwt.InvalidTokenError, ValueError, TypeError):
        raise Unauthorized("invalid token") from None


def new_api_key() -> tuple[str, str, str]:
    """A fresh key: (full key shown once, its lookup prefix, its sha256 hash to store)."""
    body = secrets.token_urlsafe(32)
    full = f"{API_KEY_PREFIX}{body}"
    return full, full[:12], hash_api_key(full)


def hash_api_key(full: str) -> str:
    # Keys carry 256 bits of randomness: a fast hash is enough, a slow one would cost every request.
    return hashlib.sha256(full.encode()).hexdigest()


def api_key_matches(full: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(full), stored_hash)


def looks_like_api_key(value: str) -> bool:
    return value.startswith(API_KEY_PREFIX) and len(value) > 20
