"""Who owns the built-in models, and the lock that lets one process train each of them.

Built-ins belong to the system account ``modelyard:gallery``: inactive, with no usable password, and a
name (with ``:``) that registration and the admin API refuse, so no person can ever be it. Their
registered models carry ``builtin = true``: every user sees them, only admins change them, and a
user's own model of the same name shadows the built-in for that user alone (registry/service.py).

Training is lazy (first use) or explicit (``modelyard gallery build``); two processes must not both
train a model. The lock is a PostgreSQL advisory lock on PostgreSQL (every host shares it) and an
exclusive ``flock`` on a file in the data folder on SQLite (every process of the one host), plus a
thread lock within the process. Whoever gets it second finds the model registered and trains nothing.
"""

from __future__ import annotations

import fcntl
import threading
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from modelyard.auth.models import User

SYSTEM_USERNAME = "modelyard:gallery"
LOCK_CLASS = 7715014  # first key of the advisory lock (7715013 is the migration lock)
_threads: dict[str, threading.Lock] = {}
_guard = threading.Lock()


def system_account(session: Session) -> User:
    """The system account that owns the built-in models (made on first need)."""
    user = session.scalar(select(User).where(User.username == SYSTEM_USERNAME))
    if user is not None:
        return user
    try:
        with session.begin_nested():
            user = User(username=SYSTEM_USERNAME, password_hash="!", role="user", is_active=False)
            session.add(user)
    except IntegrityError:  # another process made it first
        user = session.scalar(select(User).where(User.username == SYSTEM_USERNAME))
    return user


@contextmanager
def training_lock(db, home: Path, name: str) -> Iterator[None]:
    """Held while `name` is checked for and, when missing, trained and registered."""
    with _guard:
        local = _threads.setdefault(name, threading.Lock())
    with local:
        if db.is_sqlite:
            folder = Path(home) / "gallery"
            folder.mkdir(parents=True, exist_ok=True)
            with open(folder / f"{name}.lock", "a+") as handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)
            return
        key = zlib.crc32(name.encode()) - 2**31  # a signed 32-bit int
        with db.engine.connect() as connection:
            connection.execute(text("SELECT pg_advisory_lock(:a, :b)"), {"a": LOCK_CLASS, "b": key})
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:a, :b)"), {"a": LOCK_CLASS, "b": key})
                connection.commit()
