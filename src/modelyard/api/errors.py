"""One error shape for every contract: {error, message, detail, details, code, timestamp, request_id}."""
from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError as SQLAlchemyOperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import get_route_path

from modelyard.errors import AppError, InsufficientStorage
from modelyard.storage.base import NO_SPACE

log = logging.getLogger("modelyard.errors")
HTTP_CODES = {400: "INVALID_PARAMETERS", 401: "AUTHENTICATION_REQUIRED", 403: "INSUFFICIENT_PERMISSIONS",
              404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 409: "CONFLICT", 413: "FILE_TOO_LARGE",
              415: "UNSUPPORTED_MEDIA_TYPE", 422: "INVALID_INPUT", 429: "RATE_LIMIT_EXCEEDED"}
TITLES = {400: "Bad request", 401: "Authentication required", 403: "Insufficient permissions",
          404: "Not found", 405: "Method not allowed", 409: "Conflict", 413: "Payload too large",
          422: "Invalid input", 429: "Too many requests", 500: "Internal error"}


def request_id_of(scope_or_request: Any) -> str | None:
    scope = getattr(scope_or_request, "scope", scope_or_request)
    return scope.get("state", {}).get("request_id")


def error_body(status: int, code: str, message: str, *, request_id: str | None, details: Any = None,
               title: str | None = None) -> dict[str, Any]:
    return {
        "error": title or TITLES.get(status, "Error"),
        "message": message,
        "detail": message,
        "details": details if details is not None else message,
        "code": code,
        "timestamp": datetime.now(timezone.utc).isoformat().replace("+00:00", "Z"),
        "request_id": request_id,
    }


def error_response(request: Request, status: int, code: str, message: str, *, details: Any = None,
                   title: str | None = None, headers: dict[str, str] | None = None) -> JSONResponse:
    rid = request_id_of(request)
    body = error_body(status, code, message, request_id=rid, details=details, title=title)
    headers = dict(headers or {})
    if rid:
        headers["X-Request-ID"] = rid
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_details(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Never echo the input back: it may hold a password.
    return [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")} for e in exc.errors()]


def _flat_routes(app: Any) -> list[Any]:
    """The app's routes with included routers' prefixes applied (FastAPI ≥ 0.16x keeps included routers nested)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies every included route into app.routes
        return list(app.router.routes)
    return list(iter_route_contexts(app.router.routes))


def allowed_methods(request: Request) -> list[str]:
    """Every method any route on this path accepts (Starlette's 405 names only the first matching route's)."""
    path = get_route_path(request.scope)
    methods: set[str] = set()
    for route in _flat_routes(request.app):
        regex, route_methods = getattr(route, "path_regex", None), getattr(route, "methods", None)
        if regex is not None and route_methods and regex.match(path):
            methods.update(route_methods)
    order = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    return sorted(methods, key=lambda m: (order.index(m) if m in order else len(order), m))


def no_space(exc: BaseException | None) -> OSError | None:
    """The OSError saying a disk is full (ENOSPC, EDQUOT) or a file-size limit was hit (EFBIG), when it is
    `exc` or caused it (FastAPI wraps a failure to spool the request body into a 400)."""
    seen = 0
    while exc is not None and seen < 10:
        if isinstance(exc, OSError) and exc.errno in NO_SPACE:
            return exc
        exc, seen = exc.__cause__ or exc.__context__, seen + 1
    return None


def _no_space_response(request: Request, error: OSError) -> JSONResponse:
    log.warning("no space left on %s %s: %s", request.method, request.url.path, error.strerror)
    refused = InsufficientStorage(f"the server's disk is full ({error.strerror}): nothing of this request was "
                                  "kept; free space on the server and try again")
    return error_response(request, refused.status, refused.code, refused.message, title=refused.title)


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError):
        return error_response(request, exc.status, exc.code, exc.message, details=exc.details,
                              title=exc.title, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        details = _validation_details(exc)
        if any(d["type"] == "json_invalid" for d in details):
            return error_response(request, 400, "INVALID_JSON", "request body is not valid JSON", details=details)
        fields = ", ".join(".".join(str(p) for p in d["loc"][1:] or d["loc"]) + f": {d['msg']}" for d in details[:5])
        return error_response(request, 422, "INVALID_INPUT", f"invalid request: {fields}", details=details)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException):
        if exc.status_code == 400 and (full := no_space(exc.__cause__)):  # the body could not be spooled
            return _no_space_response(request, full)
        message = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "Error")
        headers = dict(getattr(exc, "headers", None) or {})
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}"
        return error_response(request, exc.status_code, HTTP_CODES.get(exc.status_code, "ERROR"), message,
                              headers=headers)

    @app.exception_handler(SQLAlchemyOperationalError)
    @app.exception_handler(SQLAlchemyTimeoutError)
    async def database_unavailable(request: Request, exc: Exception):
        # The database went away (or its pool is exhausted): a 503 naming the part, not a 500.
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path,
                    " ".join(str(getattr(exc, "orig", None) or exc).split())[:300])
        return error_response(request, 503, "SERVICE_UNAVAILABLE",
                              "the database (MODELYARD_DATABASE_URL) is unavailable; try again shortly",
                              title="Service unavailable", headers={"Retry-After": "5"})

    @app.exception_handler(OSError)
    async def os_error(request: Request, exc: OSError):
        # Handled here, not by the `Exception` handler below, which Starlette re-raises (a traceback) afterwards.
        if full := no_space(exc):
            return _no_space_response(request, full)
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "INTERNAL_ERROR", "internal error; quote the request id when reporting it")

    @app.exception_handler(Exception)
    async def unhandled(request: Request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(request, 500, "INTERNAL_ERROR", "internal error; quote the request id when reporting it")
