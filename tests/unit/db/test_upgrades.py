"""Data written by the first release (revision 0001) survives `modelyard migrate` to today's schema, and every
migration can be undone: upgrade, downgrade to base, upgrade again."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select

import modelyard.models  # noqa: F401
from modelyard.auth.models import ApiKey, LoginEvent, User
from modelyard.auth.service import AuthService
from modelyard.db import Base, Database
from modelyard.jobs.models import Job
from modelyard.ratelimit import Limiter
from tests.support.first_release import API_KEY, USERS, WHEN, run_alembic, seed_first_release


def test_rows_of_the_first_release_are_all_readable_after_migrating_to_the_newest_schema(database_url):
    db = Database(database_url)
    seed_first_release(db.engine)

    db.migrate()  # what `modelyard migrate` and every start-up run

    with db.session() as session:
        users = {u.username: u for u in session.scalars(select(User))}
        assert sorted((u.id, u.username, u.role, u.email) for u in users.values()) == \
            sorted((i, n, r, e) for i, n, _, r, e in USERS)
        assert all(u.is_active and u.created_at == WHEN and u.plan for u in users.values())
        auth = AuthService(session, secret="s" * 40, token_ttl=60, limiter=Limiter())
        for user_id, name, password, _, _ in USERS:
            assert auth.login(name, password, address=None).user.id == user_id
        assert auth.user_for_api_key(API_KEY).username == "ada"
        key = session.get(ApiKey, "key_first")
        assert (key.name, key.prefix, key.revoked_at) == ("laptop", API_KEY[:12], None)
        done, failed = session.get(Job, "job_done"), session.get(Job, "job_failed")
        assert (done.status, done.result, done.params, done.owner_id) == ("completed", {"rows": 3}, {"n": 1}, 2)
        assert (failed.status, failed.error, failed.finished_at) == ("failed", "boom", WHEN)
        first_login = session.scalars(select(LoginEvent).where(LoginEvent.address == "10.0.0.1")).one()
        assert (first_login.username, first_login.user_id, first_login.success) == ("ada", 2, True)
    db.dispose()


def test_every_migration_downgrades_to_base_and_upgrades_again_on_sqlite(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'modelyard.db'}")
    db.migrate()

    run_alembic(db.engine, command.downgrade, "base")
    assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
    db.migrate()

    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM alembic_version").scalar() > 0
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    db.dispose()
    assert diff == []
