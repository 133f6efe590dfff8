"""Engine and session factory built from settings; migrations run through Alembic."""
from __future__ import annotations

import re
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from modelyard.errors import ServiceUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
# What a lost or refused connection (or a busy/full SQLite file) says; a bad query ("no such column") is not it.
_UNREACHABLE = re.compile(r"connect|closed the connection|terminat|timed? ?out|database is locked|disk is full|"
                          r"unable to open database", re.IGNORECASE)


class UnknownSchema(ServiceUnavailable):
    code, title = "SCHEMA_UNKNOWN", "Database schema unknown"


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def unreachable(exc: BaseException) -> str | None:
    """One line naming the database when `exc` says it cannot be reached (connection refused or lost, pool
    exhausted), else None: such failures are expected during an outage and are logged without a traceback."""
    from sqlalchemy.exc import OperationalError, TimeoutError as PoolTimeout

    if not isinstance(exc, (OperationalError, PoolTimeout)):
        return None
    detail = " ".join(str(getattr(exc, "orig", None) or exc).split())[:200]
    if isinstance(exc, OperationalError) and not (exc.connection_invalidated or _UNREACHABLE.search(detail)):
        return None
    return f"the database (MODELYARD_DATABASE_URL) is unreachable: {detail}"


class Database:
    """Owns the engine and hands out sessions; one per process."""

    def __init__(self, url: str):
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 10}, pool_size=10, max_overflow=20
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def ping(self) -> float:
        """Round-trip latency of `SELECT 1` in milliseconds (raises when unreachable)."""
        start = time.perf_counter()
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return (time.perf_counter() - start) * 1000

    def pool_status(self) -> dict[str, int]:
        pool = self.engine.pool
        size = getattr(pool, "size", lambda: 0)()
        checked = getattr(pool, "checkedout", lambda: 0)()
        overflow = getattr(pool, "_max_overflow", 0)
        return {"connections": checked, "max_connections": size + max(overflow, 0)}

    def migrate(self) -> None:
        """Bring the schema to the newest revision (safe to call from several processes). A database
        carrying a revision this code does not know (a newer modelyard's) is UnknownSchema, one line."""
        from alembic import command
        from alembic.config import Config
        from alembic.util.exc import CommandError

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as connection:
            if not self.is_sqlite:
                # Several API hosts may start at once: one migrates, the others wait.
                connection.execute(text("SELECT pg_advisory_xact_lock(7715013)"))
            config.attributes["connection"] = connection
            try:
                command.upgrade(config, "heads")  # each domain may branch from the last merge
            except CommandError as exc:
                if "Can't locate revision" not in str(exc):
                    raise
                raise UnknownSchema(
                    f"the database at {self.engine.url.render_as_string(hide_password=True)} was migrated by a newer "
                    f"modelyard ({exc}); run that version, or restore a backup made with this one "
                    "(docs/backup.md)") from None

    def dispose(self) -> None:
        self.engine.dispose()
