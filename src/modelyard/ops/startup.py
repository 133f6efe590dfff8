"""What `modelyard serve` and `modelyard worker` say at start, and the checks that refuse to start.

A misconfiguration is answered with one line naming the setting and the fix, never a traceback.
"""
from __future__ import annotations

import logging
import re
import socket
import threading
from typing import TYPE_CHECKING, Callable
from urllib.parse import urlsplit, urlunsplit

from modelyard import __version__
from modelyard.errors import Misconfigured

if TYPE_CHECKING:
    from pydantic import ValidationError

    from modelyard.config import Settings

log = logging.getLogger("modelyard")

SETTING_FIXES = {
    "secret_key": "set it to a random string of 32 or more characters, e.g. the output of "
                  "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`, or leave it unset to have "
                  "one generated in the data folder",
}


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, for logs and summaries."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    user = f"{parts.username}:***" if parts.username else ":***"
    return urlunsplit(parts._replace(netloc=f"{user}@{host}"))


def settings_error_lines(exc: "ValidationError") -> list[str]:
    """One line per invalid setting: its variable name, what is wrong, and how to fix it."""
    lines = []
    for error in exc.errors():
        field = str(error["loc"][0]) if error.get("loc") else ""
        name = f"MODELYARD_{field.upper()}" if field else "settings"
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        message = message.removeprefix(f"{name} ")
        fix = SETTING_FIXES.get(field, "correct it in the environment or in .env")
        lines.append(f"modelyard: error: {name}: {message}; {fix}")
    return lines


def check_database(settings: "Settings") -> None:
    """Connect once; a missing database or an unreachable server becomes one Misconfigured line."""
    from sqlalchemy.exc import SQLAlchemyError

    from modelyard.db import Database

    url = settings.resolved_database_url
    db = Database(url)
    try:
        db.ping()
    except SQLAlchemyError as exc:
        raise Misconfigured(describe_database_error(settings, exc)) from None
    finally:
        db.dispose()


def describe_database_error(settings: "Settings", exc: Exception) -> str:
    shown = mask_url(settings.database_url) if settings.database_url else settings.resolved_database_url
    reason = str(getattr(exc, "orig", None) or exc).strip()
    missing = re.search(r'database "([^"]+)" does not exist', reason)
    if missing:
        return (f"the database {missing.group(1)!r} does not exist on the server of MODELYARD_DATABASE_URL "
                f"({shown}); create it (`createdb {missing.group(1)}`) or correct MODELYARD_DATABASE_URL")
    detail = re.sub(r"\s+", " ", reason.split("\n")[0]).removeprefix("connection failed: ")
    if settings.database_url:
        return (f"cannot use the database of MODELYARD_DATABASE_URL ({shown}): {detail}; start the server or "
                "correct MODELYARD_DATABASE_URL")
    return (f"cannot open the SQLite database {shown}: {detail}; check that MODELYARD_HOME "
            f"({settings.home}) is a writable folder")


def wait_for(probe: Callable[[], object], *, what: str, stop: threading.Event, first_delay: float = 1.0,
             max_delay: float = 30.0) -> bool:
    """Call `probe` until it succeeds, waiting 1, 2, 4 … `max_delay` seconds between attempts with one
    log line each. False when `stop` was set first."""
    delay, attempt = first_delay, 0
    while not stop.is_set():
        attempt += 1
        try:
            probe()
            if attempt > 1:
                log.info("%s is reachable again after %d attempts", what, attempt)
            return True
        except Exception as exc:
            log.warning("%s is unreachable (%s); attempt %d, next in %.0f s", what, _reason(exc), attempt, delay)
        if stop.wait(delay):
            break
        delay = min(delay * 2, max_delay)
    return False


def _reason(exc: Exception) -> str:
    text = re.sub(r"\s+", " ", str(exc)).strip()
    return f"{type(exc).__name__}: {text[:200]}" if text else type(exc).__name__


def _blob_line(settings: "Settings") -> str:
    url = settings.resolved_blob_url
    if url.startswith("s3://") and settings.s3_endpoint_url:
        return f"{url} at {settings.s3_endpoint_url}"
    return url


def _docs_base(host: str, port: int) -> str:
    shown = socket.gethostname() if host in ("0.0.0.0", "::") else host
    shown = f"[{shown}]" if ":" in shown else shown
    return f"http://{shown}:{port}"


def summary_lines(settings: "Settings", *, command: str, jobs_here: bool, threads: int,
                  host: str | None = None, port: int | None = None) -> list[str]:
    """What this process uses; `serve` adds where its API docs are."""
    queue = mask_url(settings.resolved_queue_url)
    if jobs_here:
        jobs = f"run in this process ({threads} threads)"
    else:
        jobs = "not run in this process: start `modelyard worker` on a host that shares the queue"
    lines = [
        f"modelyard {__version__} {command}",
        f"  data folder : {settings.home.expanduser().resolve()}",
        f"  database    : {mask_url(settings.resolved_database_url.replace('+psycopg', ''))}",
        f"  blob store  : {_blob_line(settings)}",
        f"  queue       : {queue} (name {settings.queue_name})",
        f"  jobs        : {jobs}",
    ]
    if command == "serve":
        limits = mask_url(settings.redis_url) if settings.redis_url else "process memory"
        lines.append(f"  rate limits : {limits}")
        if host is not None and port is not None:
            base = _docs_base(host, port)
            lines.append(f"  API docs    : {base}/docs (Swagger UI), {base}/redoc, {base}/openapi.json")
    return lines


def log_summary(lines: list[str]) -> None:
    for line in lines:
        log.info("%s", line)
