"""A database as the first release (Alembic revision 0001) left it, with rows in every one of its tables.

The rows are written with raw SQL in that revision's columns, so they do not depend on today's models.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Engine

from modelyard.auth.credentials import hash_api_key, hash_password
from modelyard.db.engine import MIGRATIONS

FIRST_REVISION = "0001"
USERS = [(1, "admin", "first-admin-pw-1", "admin", "admin@example.com"),
         (2, "ada", "ada-first-pw-2", "user", None),
         (3, "lin", "lin-first-pw-3", "labeler", "lin@example.com")]
API_KEY = "mdy_" + "k" * 43  # the shape new_api_key() makes
WHEN = datetime(2026, 11, 27, 12, 0, tzinfo=timezone.utc)


def alembic_config(url: str, connection=None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def run_alembic(engine: Engine, action, *args) -> None:
    """`action(config, *args)` (command.upgrade, command.downgrade) on a connection of `engine`."""
    with engine.begin() as connection:
        action(alembic_config(str(engine.url), connection), *args)


def seed_first_release(engine: Engine) -> None:
    """An empty database migrated to 0001 only, then users, an API key, jobs and login events in its columns."""
    run_alembic(engine, command.upgrade, FIRST_REVISION)
    with engine.begin() as conn:
        for user_id, name, password, role, email in USERS:
            conn.execute(text('INSERT INTO "user" (id, username, email, password_hash, role, is_active, created_at, '
                              "last_login_at) VALUES (:id, :name, :email, :hash, :role, :active, :at, :at)"),
                         dict(id=user_id, name=name, email=email, hash=hash_password(password), role=role,
                              active=True, at=WHEN))
        conn.execute(text("INSERT INTO api_key (id, user_id, name, prefix, key_hash, created_at) "
                          "VALUES ('key_first', 2, 'laptop', :prefix, :hash, :at)"),
                     dict(prefix=API_KEY[:12], hash=hash_api_key(API_KEY), at=WHEN))
        for job_id, status, result in (("job_done", "completed", {"rows": 3}), ("job_failed", "failed", None)):
            conn.execute(text("INSERT INTO job (id, kind, status, progress, step, params, result, error, attempts, "
                              "max_attempts, cancel_requested, owner_id, created_at, finished_at) VALUES "
                              "(:id, 'diagnostics', :status, 1.0, 'done', :params, :result, :error, 1, 2, :no, 2, "
                              ":at, :at)"),
                         dict(id=job_id, status=status, params=json.dumps({"n": 1}),
                              result=None if result is None else json.dumps(result),
                              error="boom" if status == "failed" else None, no=False, at=WHEN))
        conn.execute(text("INSERT INTO login_event (username, user_id, success, address, reason, at) "
                          "VALUES ('ada', 2, :yes, '10.0.0.1', NULL, :at)"), dict(yes=True, at=WHEN))
