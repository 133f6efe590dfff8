"""The migrations build exactly the schema the models declare, on every database backend."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import modelyard.models  # noqa: F401
from modelyard.db import Base, Database


def test_migrations_match_the_models(database_url):
    db = Database(database_url)
    db.migrate()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    db.dispose()
    assert diff == []


def test_migrating_twice_is_harmless(database_url):
    db = Database(database_url)
    db.migrate()
    db.migrate()
    assert {"user", "job", "dataset", "model_version", "alembic_version"} <= set(inspect(db.engine).get_table_names())
    db.dispose()


def test_sqlite_runs_in_wal_mode(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()
