"""Shared fixtures: settings on a fresh database (SQLite and PostgreSQL), an app client, users."""
from __future__ import annotations

import contextlib
import os
import secrets

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before any OpenMP runtime loads (see cli.py)
from dataclasses import dataclass
from typing import Iterator

import pytest
from fastapi.testclient import TestClient

from modelyard.app import create_app
from modelyard.auth.models import ROLES
from modelyard.auth.service import AuthService
from modelyard.config import Settings

PG_ADMIN_URL = os.environ.get("MODELYARD_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("MODELYARD_TEST_REDIS", "redis://127.0.0.1:6379/0")
BACKENDS = os.environ.get("MODELYARD_TEST_DATABASES", "sqlite,postgresql").split(",")
IN_CI = os.environ.get("CI", "").lower() == "true"


def unavailable(what: str, error: Exception) -> None:
    """Locally a missing server skips; in CI it fails (the scaled shape must be tested there)."""
    message = f"{what} is not reachable: {error}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    import psycopg

    try:
        psycopg.connect(PG_ADMIN_URL, connect_timeout=3).close()
    except Exception as exc:
        unavailable("PostgreSQL", exc)
    yield PG_ADMIN_URL


def create_pg_database(admin_url: str) -> str:
    import psycopg

    name = f"modelyard_t_{secrets.token_hex(5)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


@contextlib.contextmanager
def fresh_pg_database(admin_url: str) -> Iterator[str]:
    """A new empty PostgreSQL database for the `with` block, dropped after it."""
    url = create_pg_database(admin_url)
    try:
        yield url
    finally:
        drop_pg_database(url, admin_url)


def drop_pg_database(url: str, admin_url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_server() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        unavailable("Redis", exc)
    return REDIS_URL


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """One moto S3 server for the whole run; every user of it makes buckets of its own."""
    from tests.support.servers import start_moto_server, stop

    proc, endpoint = start_moto_server()
    try:
        yield endpoint
    finally:
        stop(proc)


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path) -> Iterator[str]:
    """A fresh, empty database on each backend the suite runs on."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'modelyard.db'}"
        return
    with fresh_pg_database(request.getfixturevalue("postgres_server")) as url:
        yield url


@pytest.fixture
def settings(tmp_path, database_url) -> Settings:
    return Settings(
        _env_file=None, home=tmp_path / "home", database_url=database_url, admin_password="admin-password-1",
        secret_key="test-secret-key-0123456789abcdef", job_heartbeat_seconds=0.2, job_stale_seconds=1.0,
        job_modules=["tests.support.jobs"],
    )


@pytest.fixture
def app(settings):
    return create_app(settings, immediate_jobs=True)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


@dataclass
class Account:
    id: int
    username: str
    password: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def accounts(client, app) -> dict[str, Account]:
    """One account per role plus a second plain user; keyed by role (`other` for the second user)."""
    runtime = app.state.runtime
    made: dict[str, Account] = {}
    with runtime.db.session() as session:
        auth = AuthService(session, secret=runtime.settings.resolved_secret_key, token_ttl=3600,
                           limiter=runtime.limiter)
        admin = auth.get_by_username("admin")
        made["admin"] = Account(admin.id, "admin", "admin-password-1", "admin", auth.issue_token(admin))
        for role in [r for r in ROLES if r != "admin"] + ["other"]:
            name = f"{role}-account"
            user = auth.create_user(name, f"{name}-pw", role="user" if role == "other" else role)
            made[role] = Account(user.id, name, f"{name}-pw", user.role, auth.issue_token(user))
    return made
