"""Credentials to users with no database round trip on a warm cache (DESIGN: fast from the start).

A JWT is verified locally (its decoded claims are kept until they expire); an API key is looked up
once by its hash; users are kept by id. Both caches are epoch-checked (``invalidation.py``): revoking
a key, deactivating a user or changing a role empties them in every process at its next request.
"""
from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cachetools import LRUCache

from modelyard.auth import credentials
from modelyard.auth.models import User
from modelyard.errors import Unauthorized
from modelyard.invalidation import AUTH, Invalidation

if TYPE_CHECKING:
    from modelyard.db import Database


@dataclass(frozen=True)
class Identity:
    user: User
    kind: str  # "key" | "token": the rate-limit bucket
    ident: str


class CredentialCache:
    def __init__(self, db: "Database", invalidation: Invalidation, *, secret: str):
        self._db = db
        self._secret = secret
        self._users = invalidation.cache(AUTH)  # user id -> User (detached, read-only)
        self._keys = invalidation.cache(AUTH)  # sha256 of a key -> user id
        self._claims: LRUCache = LRUCache(maxsize=10_000)  # token -> verified TokenClaims
        self._lock = threading.Lock()

    def cached(self, token: str) -> Identity | None:
        """The identity when everything needed is in memory; None when the database must be asked."""
        if credentials.looks_like_api_key(token):
            digest = hashlib.sha256(token.encode()).hexdigest()
            user_id, kind, ident = self._keys.get(digest), "key", digest[:16]
            if user_id is None:
                return None
        else:
            claims = self._verified(token)
            user_id, kind, ident = claims.user_id, "token", str(claims.user_id)
        user = self._users.get(user_id)
        if user is not None and kind == "token":
            credentials.check_password_stamp(claims, user.password_hash)
        return None if user is None else self._active(Identity(user, kind, ident))

    def load(self, token: str) -> Identity:
        """Resolve through the database (cache miss); raises Unauthorized."""
        from modelyard.auth.service import AuthService

        if credentials.looks_like_api_key(token):
            digest = hashlib.sha256(token.encode()).hexdigest()
            with self._db.session() as session:
                user = AuthService(session, secret="", token_ttl=60, limiter=None).user_for_api_key(token)
            self._keys.put(digest, user.id)
            identity = Identity(user, "key", digest[:16])
        else:
            claims = self._verified(token)
            with self._db.session() as session:
                user = session.get(User, claims.user_id)
            if user is None:
                raise Unauthorized("account not found or deactivated")
            credentials.check_password_stamp(claims, user.password_hash)
            identity = Identity(user, "token", str(claims.user_id))
        self._users.put(identity.user.id, identity.user)
        return self._active(identity)

    def resolve(self, token: str) -> Identity:
        return self.cached(token) or self.load(token)

    def _verified(self, token: str) -> credentials.TokenClaims:
        with self._lock:
            claims = self._claims.get(token)
        if claims is None:
            claims = credentials.decode_token(token, secret=self._secret)  # raises Unauthorized
            with self._lock:
                self._claims[token] = claims
        elif claims.expires_at <= time.time():
            raise Unauthorized("token expired")
        return claims

    @staticmethod
    def _active(identity: Identity) -> Identity:
        if not identity.user.is_active:
            raise Unauthorized("account not found or deactivated")
        return identity
