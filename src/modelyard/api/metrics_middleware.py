"""Pure ASGI middleware that records request metrics by route template (never by raw path).

Unmatched paths are one label (`unmatched`), so scanning for random URLs cannot grow the series.
Also counts file bodies (multipart, octet-stream, CSV) as uploads, carries the model cache's hit
counts and the open WebSocket count into their metrics, and at shutdown drops this process's live
gauges from the multiprocess folder.
"""
from __future__ import annotations

import time

from modelyard.ops import metrics

UPLOAD_TYPES = (b"multipart/", b"application/octet-stream", b"text/csv", b"application/vnd.apache.parquet")


def _route(scope) -> str:
    route = scope.get("route")
    return getattr(route, "path", None) or "unmatched"


def _websockets(scope) -> None:
    connections = getattr(getattr(scope.get("app"), "state", None), "ws_connections", None)
    if connections is not None:
        metrics.set_websockets(connections.count)


def _after(scope) -> None:
    runtime = getattr(getattr(scope.get("app"), "state", None), "runtime", None)
    metrics.sync_cache(getattr(runtime, "models", None))
    _websockets(scope)
    metrics.refresh_process()


class MetricsMiddleware:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self._lifespan(scope, receive, send)
        if scope["type"] == "websocket":
            async def counting_send(message):  # the count changes around accept: publish it as messages go
                await send(message)
                if message["type"] in ("websocket.accept", "websocket.send"):
                    _websockets(scope)

            try:
                return await self.app(scope, receive, counting_send)
            finally:
                _after(scope)
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        content_type = dict(scope["headers"]).get(b"content-type", b"").lower()
        is_upload = scope["method"] in ("POST", "PUT", "PATCH") and content_type.startswith(UPLOAD_TYPES)
        started = time.perf_counter()
        status = {"code": 500}
        received = {"bytes": 0}

        async def counting_receive():
            message = await receive()
            if message["type"] == "http.request":
                received["bytes"] += len(message.get("body", b""))
            return message

        async def status_send(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, counting_receive if is_upload else receive, status_send)
        finally:
            route = _route(scope)
            metrics.observe_request(scope["method"], route, status["code"], time.perf_counter() - started)
            if is_upload:
                metrics.observe_upload_body(route, status["code"], received["bytes"])
            _after(scope)

    async def _lifespan(self, scope, receive, send):
        async def watching_receive():
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                metrics.mark_process_dead()
            return message

        await self.app(scope, watching_receive, send)
