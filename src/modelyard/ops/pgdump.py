"""PostgreSQL in backups: pg_dump in an exported snapshot, pg_restore in one transaction.

The blob references, schema revisions and row counts are read in a REPEATABLE READ transaction that
exports its snapshot, and pg_dump runs in that same snapshot (`--snapshot`), so the manifest describes
exactly the dump. The password goes to pg_dump/pg_restore through PGPASSWORD, never on a command line.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from modelyard.ops.backup import BackupError, Contents

DUMP = "modelyard.dump"
TOOL_TIMEOUT = 6 * 3600


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BackupError(f"{name} is not on PATH: install the PostgreSQL client tools (Debian: postgresql-client, "
                          "the server's major version or newer), or back up with your own tools as docs/backup.md "
                          "describes. Nothing was written.")
    return path


def _libpq(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq URI without the password, and the environment that carries it."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    uri = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    return uri, env


def _engine(database_url: str):
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    if database_url.startswith(("postgresql://", "postgres://")):
        database_url = "postgresql+psycopg://" + database_url.split("://", 1)[1]
    return create_engine(database_url, poolclass=NullPool)


def _tables(conn) -> set[str]:
    return {t for (t,) in conn.exec_driver_sql(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
        "AND table_type = 'BASE TABLE'")}


def dump(database_url: str, target: Path) -> Contents:
    """`pg_dump -Fc` of the database into `target`, and what that dump holds."""
    pg_dump = _tool("pg_dump")
    uri, env = _libpq(database_url)
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                exported = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar()
                contents = Contents.read(lambda sql: conn.exec_driver_sql(sql).fetchall(), _tables(conn))
                _run([pg_dump, "--format=custom", "--no-owner", f"--snapshot={exported}", "--file", str(target),
                      "--dbname", uri], env, "pg_dump")
    finally:
        engine.dispose()
    return contents


def _existing_tables(database_url: str) -> set[str]:
    engine = _engine(database_url)
    try:
        with engine.connect() as conn:
            return _tables(conn)
    finally:
        engine.dispose()


def refuse_unless_empty(database_url: str, *, force: bool) -> None:
    _tool("pg_restore")
    tables = _existing_tables(database_url)
    if tables and not force:
        raise BackupError(f"the database holds {len(tables)} tables; restore into an empty database, or pass "
                          "--force to replace them. Nothing was changed.")


def restore(dump_file: Path, database_url: str, *, force: bool) -> None:
    """pg_restore into the database of `database_url`, all or nothing; an empty database unless `force`."""
    pg_restore = _tool("pg_restore")
    uri, env = _libpq(database_url)
    tables = _existing_tables(database_url)
    if tables and not force:
        raise BackupError(f"the database holds {len(tables)} tables; restore into an empty database, or pass "
                          "--force to replace them. Nothing was changed.")
    args = [pg_restore, "--no-owner", "--exit-on-error", "--single-transaction", "--dbname", uri]
    if tables:
        args += ["--clean", "--if-exists"]
    _run([*args, str(dump_file)], env, "pg_restore")


def _run(args: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise BackupError(f"{what} did not finish within {TOOL_TIMEOUT // 3600} hours. Nothing was written.") from None
    if done.returncode != 0:
        raise BackupError(f"{what} failed (exit {done.returncode}): {done.stderr.strip()[-2000:]}")
