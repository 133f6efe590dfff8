"""Pure ASGI middleware: request ids, access log, security headers, body size limits."""
from __future__ import annotations

import itertools
import json
import logging
import re
import secrets
import time
from urllib.parse import parse_qsl, urlencode

from modelyard.api.errors import error_body
from modelyard.errors import PayloadTooLarge

access_log = logging.getLogger("modelyard.access")
_RID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
AUTH_PATHS = ("/login", "/auth/", "/api/auth/")
SECRET_PARAMS = {"password", "token", "access_token", "api_key", "apikey", "key", "sig"}
HTML_HEADERS = [
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"content-security-policy", b"frame-ancestors 'none'; object-src 'none'; base-uri 'self'"),
]


def loggable_target(path: str, query: str) -> str:
    """The request target as logs may show it: no query on auth routes, secrets redacted elsewhere."""
    if not query or path.startswith(AUTH_PATHS):
        return path
    pairs = [(k, "***" if k.lower() in SECRET_PARAMS else v) for k, v in parse_qsl(query, keep_blank_values=True)]
    return f"{path}?{urlencode(pairs)}"


_PROCESS_TAG = secrets.token_hex(4)
_request_numbers = itertools.count(1)


def next_request_id() -> str:
    """Unique across processes and hosts (a random tag per process) without a system call per request."""
    return f"req_{_PROCESS_TAG}{next(_request_numbers):08x}"


class RequestContextMiddleware:
    """Gives every request an id (echoed as X-Request-ID), logs it once, adds security headers."""

    def __init__(self, app, latency=None):
        self.app = app
        self.latency = latency

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        inbound = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        rid = inbound if _RID.match(inbound) else next_request_id()
        scope.setdefault("state", {})["request_id"] = rid
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                content_type = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if content_type.startswith(b"text/html"):
                    headers.extend(HTML_HEADERS)
                # Headers set during the request (the credential's rate limit) fill in what the response
                # does not carry already: a 429 names its own limit (the credential's, or a per-user one of
                # the prediction platform), and each header is sent once.
                present = {k.lower() for k, _ in headers}
                headers = headers + [(name.lower().encode(), str(value).encode())
                                     for name, value in scope["state"].get("extra_headers", {}).items()
                                     if name.lower().encode() not in present]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = (time.perf_counter() - started) * 1000
            if self.latency is not None:
                self.latency.add(elapsed, failed=status_holder["status"] >= 500)
            access_log.info(
                '%s %s %s %d %.1fms %s', scope.get("client", ("-",))[0] if scope.get("client") else "-",
                scope["method"], loggable_target(scope["path"], scope.get("query_string", b"").decode("latin-1")),
                status_holder["status"], elapsed, rid,
            )


class BodyLimitMiddleware:
    """Refuses bodies over the limit (413) without reading them whole: by Content-Length, then by count."""

    def __init__(self, app, *, json_limit: int, upload_limit: int):
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    def _limit(self, scope) -> int:
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type", b"").lower()
        if content_type.startswith(b"multipart/") or scope["path"].startswith("/blobs/") \
                or content_type in (b"application/octet-stream", b"text/csv"):
            return self.upload_limit + 64 * 1024  # room for multipart framing
        return self.json_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS", "DELETE"):
            return await self.app(scope, receive, send)
        limit = self._limit(scope)
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return await self._refuse(scope, send, limit)
        seen = 0
        exceeded = False

        async def counted_receive():
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise PayloadTooLarge(f"request body exceeds the limit of {limit} bytes")
            return message

        refused = False

        async def guarded_send(message):
            # Whatever the app made of the interrupted body (400, 500...), the client is told 413.
            nonlocal refused
            if exceeded:
                if not refused:
                    refused = True
                    await self._refuse(scope, send, limit)
                return
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except PayloadTooLarge:
            if not refused:
                await self._refuse(scope, send, limit)

    async def _refuse(self, scope, send, limit: int) -> None:
        rid = scope.get("state", {}).get("request_id")
        body = json.dumps(error_body(413, "FILE_TOO_LARGE", f"request body exceeds the limit of {limit} bytes",
                                     request_id=rid)).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
