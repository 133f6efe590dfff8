"""What a failed client call raises: one exception family carrying the server's status, code and message.

`status` is the HTTP status (0 when the server was not reached), `code` the error body's `code`
(`NOT_FOUND`, `AUTHENTICATION_REQUIRED`, ...), `message` its `message`, `request_id` its `X-Request-ID`,
so a log line can be matched with the server's.
"""
from __future__ import annotations

from typing import Any

import httpx


class ModelyardError(Exception):
    """A refused or failed API call, as one readable sentence."""

    def __init__(self, message: str, *, status: int = 0, code: str | None = None, request_id: str | None = None,
                 details: Any = None, retry_after: float | None = None):
        super().__init__(message)
        self.message, self.status, self.code = message, status, code
        self.request_id, self.details, self.retry_after = request_id, details, retry_after

    def __str__(self) -> str:
        return self.message


class Unreachable(ModelyardError):
    """The server was not reached (refused connection, unknown host, timeout): `status` 0."""

    def __init__(self, message: str):
        super().__init__(message, status=0, code="UNREACHABLE")


class JobFailed(ModelyardError):
    """A job the client waited for ended `failed` or `cancelled`; `job` is its last state."""

    def __init__(self, message: str, *, job: Any):
        super().__init__(message, status=0, code="JOB_" + str(getattr(job, "status", "failed")).upper())
        self.job = job


def error_from_response(response: httpx.Response) -> ModelyardError:
    """The API's error body (`message`, else `detail`/`error`) as a ModelyardError; any other body, its first line."""
    request_id = response.headers.get("x-request-id")
    try:
        retry_after = float(response.headers["retry-after"]) if "retry-after" in response.headers else None
    except ValueError:
        retry_after = None
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        text = response.text.strip().splitlines()[0][:300] if response.text.strip() else response.reason_phrase
        return ModelyardError(f"HTTP {response.status_code}: {text}", status=response.status_code,
                              request_id=request_id, retry_after=retry_after)
    message = next((body[k] for k in ("message", "detail", "error") if isinstance(body.get(k), str)),
                   response.reason_phrase)
    details = body.get("details")
    return ModelyardError(message, status=response.status_code, code=body.get("code"), request_id=request_id,
                          details=None if details == message else details, retry_after=retry_after)
