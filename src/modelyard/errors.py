"""The application's errors: each carries its HTTP status and the contract's error code."""
from __future__ import annotations

from typing import Any


class AppError(Exception):
    status = 500
    code = "INTERNAL_ERROR"
    title = "Internal error"

    def __init__(self, message: str | None = None, *, details: Any = None, headers: dict[str, str] | None = None):
        self.message = message or self.title
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(AppError):
    status, code, title = 400, "INVALID_PARAMETERS", "Bad request"


class InvalidFormat(BadRequest):
    code, title = "INVALID_FORMAT", "Invalid format"


class InvalidJson(BadRequest):
    code, title = "INVALID_JSON", "Invalid JSON"


class Unauthorized(AppError):
    status, code, title = 401, "AUTHENTICATION_REQUIRED", "Authentication required"

    def __init__(self, message: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(AppError):
    status, code, title = 403, "INSUFFICIENT_PERMISSIONS", "Insufficient permissions"


class NotFound(AppError):
    status, code, title = 404, "NOT_FOUND", "Not found"

    def __init__(self, kind: str, ref: Any = None, **kwargs: Any):
        message = f"{kind} {ref!s} not found" if ref is not None else f"{kind} not found"
        super().__init__(message, **kwargs)


class Conflict(AppError):
    status, code, title = 409, "CONFLICT", "Conflict"


class PayloadTooLarge(AppError):
    status, code, title = 413, "FILE_TOO_LARGE", "Payload too large"


class Unprocessable(AppError):
    status, code, title = 422, "INVALID_INPUT", "Invalid input"


class TooManyRequests(AppError):
    status, code, title = 429, "RATE_LIMIT_EXCEEDED", "Too many requests"


class ServiceUnavailable(AppError):
    status, code, title = 503, "SERVICE_UNAVAILABLE", "Service unavailable"


class InsufficientStorage(AppError):
    """A disk (or file-size limit) is full: nothing of the request was kept; retry once space is freed."""

    status, code, title = 507, "INSUFFICIENT_STORAGE", "Insufficient storage"


class Misconfigured(ServiceUnavailable):
    """A setting names something that is not there (a bucket, a database): the message names the
    setting and the fix. `modelyard` commands print it as one line and exit non-zero."""

    code, title = "MISCONFIGURED", "Misconfigured"
