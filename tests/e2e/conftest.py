"""End-to-end fixtures: `modelyard serve` / `modelyard worker` processes, a database, a queue name.

Every process started here writes its stdout+stderr to a file in the test's tmp_path, is stopped
(SIGTERM, then SIGKILL) in fixture teardown, and has its log attached to the report of a failing test.

PostgreSQL and Redis availability come from the `postgres_server` / `redis_server` fixtures of
tests/conftest.py: when unreachable they skip locally and fail when CI=true.
"""
from __future__ import annotations

import secrets
from typing import Callable, Iterator

import pytest

from tests.conftest import fresh_pg_database
from tests.e2e.processes import STARTED, Launcher
from tests.support.servers import create_bucket


def _started_list(node: pytest.Item | pytest.Collector) -> list:
    return node.stash.setdefault(STARTED, [])


@pytest.fixture
def launch(request, tmp_path) -> Iterator[Launcher]:
    """Start modelyard processes for this test; all are stopped (SIGTERM, then SIGKILL) at teardown."""
    launcher = Launcher(tmp_path / "procs", _started_list(request.node))
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.fixture(scope="module")
def module_launch(request, tmp_path_factory) -> Iterator[Launcher]:
    """Like `launch`, for processes shared by the tests of one module."""
    launcher = Launcher(tmp_path_factory.mktemp("procs"), _started_list(request.node))
    try:
        yield launcher
    finally:
        launcher.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the log of every process this test could see (its own and shared ones)."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        processes = [p for node in item.listchain() for p in node.stash.get(STARTED, [])]
        for process in processes:
            report.sections.append((f"log of {process.name}", process.describe_with_log()))
    return report


# --- services --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_database(postgres_server) -> Iterator[str]:
    """A fresh PostgreSQL database for this test module, dropped afterwards."""
    with fresh_pg_database(postgres_server) as url:
        yield url


@pytest.fixture
def queue_name(redis_server) -> Iterator[str]:
    """A queue name of its own for this test; its Redis keys are removed afterwards."""
    import redis

    name = f"e2e{secrets.token_hex(6)}"
    try:
        yield name
    finally:
        client = redis.Redis.from_url(redis_server)
        try:
            keys = list(client.scan_iter(match=f"huey.*{name}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()


# --- the scaled shape ----------------------------------------------------------------------------

ADMIN_PASSWORD = "scaled-admin-password-1"
SECRET_KEY = "e2e-shared-secret-key-0123456789abcdef"

Env = Callable[..., dict[str, str]]



@pytest.fixture
def scaled_env(tmp_path, pg_database, redis_server, s3_endpoint, queue_name) -> Env:
    """`scaled_env(name, **overrides)`: the environment of one API or worker process of this test."""
    bucket = create_bucket(s3_endpoint, f"modelyard-e2e-{secrets.token_hex(4)}")

    def make(name: str, **overrides: str) -> dict[str, str]:
        env = {
            "MODELYARD_HOME": str(tmp_path / f"home-{name}"),  # nothing may be shared through a folder
            "MODELYARD_DATABASE_URL": pg_database,
            "MODELYARD_QUEUE_URL": redis_server,
            "MODELYARD_QUEUE_NAME": queue_name,
            "MODELYARD_REDIS_URL": redis_server,
            "MODELYARD_BLOB_URL": f"s3://{bucket}/e2e",
            "MODELYARD_S3_ENDPOINT_URL": s3_endpoint,
            "MODELYARD_S3_ACCESS_KEY_ID": "test",
            "MODELYARD_S3_SECRET_ACCESS_KEY": "test",
            "MODELYARD_SECRET_KEY": SECRET_KEY,
            "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MODELYARD_EMBEDDED_WORKER": "false",
            # Rate-limit counters live in the shared Redis keyed by user id (the admin is id 1 in every
            # fresh database), so repeated runs would add up; job polling and predictions must never hit them here.
            "MODELYARD_RATE_LIMIT_TOKEN": "1000000/hour",
            "MODELYARD_RATE_LIMIT_PREDICTIONS": "1000000/hour",
        }
        env.update({f"MODELYARD_{k.upper()}": str(v) for k, v in overrides.items()})
        return env

    return make
