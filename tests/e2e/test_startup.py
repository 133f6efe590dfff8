"""What `modelyard serve` and `modelyard worker` say at start, and how they refuse a misconfiguration:
one line naming the setting and the fix, a non-zero exit, no traceback.
"""
from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import MODELYARD, Launcher, clean_env, login
from tests.support.servers import free_port

pytestmark = pytest.mark.slow


def run_modelyard(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([*MODELYARD, *args], env=clean_env(env), cwd=cwd, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def lines_of(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]


# --- misconfiguration -----------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_placeholder_secret_is_one_line_naming_the_setting_and_exit_2(tmp_path, command):
    result = run_modelyard([command], {"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_SECRET_KEY": "changeme"},
                           tmp_path)

    assert result.returncode == 2, result.stderr
    lines = lines_of(result)
    assert len(lines) == 1, "\n".join(lines)
    assert lines[0].startswith("modelyard: error: MODELYARD_SECRET_KEY: ")
    assert "32 or more characters" in lines[0] and "leave it unset" in lines[0]


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
def test_a_missing_postgresql_database_is_one_line_with_the_fix_and_exit_1(tmp_path, postgres_server, command):
    name = f"modelyard_missing_{secrets.token_hex(4)}"
    url = postgres_server.rsplit("/", 1)[0] + "/" + name

    result = run_modelyard([command], {"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_DATABASE_URL": url},
                           tmp_path)

    assert result.returncode == 1, result.stderr
    lines = [line for line in lines_of(result) if not line.startswith("modelyard: using data folder")]
    assert len(lines) == 1, "\n".join(lines_of(result))
    assert f"the database '{name}' does not exist" in lines[0]
    assert f"createdb {name}" in lines[0] and "MODELYARD_DATABASE_URL" in lines[0]


def test_an_unreachable_postgresql_server_is_one_line_and_exit_1(tmp_path):
    url = f"postgresql://modelyard:hunter2-secret@127.0.0.1:{free_port()}/modelyard"

    result = run_modelyard(["serve"], {"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_DATABASE_URL": url},
                           tmp_path)

    assert result.returncode == 1, result.stderr
    lines = lines_of(result)
    assert len(lines) == 1, "\n".join(lines)
    assert "cannot use the database of MODELYARD_DATABASE_URL" in lines[0] and "refused" in lines[0]
    assert "hunter2-secret" not in lines[0] and "modelyard:***@" in lines[0]


def test_a_mistyped_s3_bucket_is_refused_naming_it_and_is_not_created(tmp_path, s3_endpoint):
    import boto3

    bucket = f"modelyard-typo-{secrets.token_hex(4)}"
    env = {"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_BLOB_URL": f"s3://{bucket}/prod",
           "MODELYARD_S3_ENDPOINT_URL": s3_endpoint, "MODELYARD_S3_ACCESS_KEY_ID": "test",
           "MODELYARD_S3_SECRET_ACCESS_KEY": "test"}

    result = run_modelyard(["serve", "--port", str(free_port())], env, tmp_path)

    assert result.returncode == 1, result.stderr
    lines = lines_of(result)
    assert len(lines) == 1, "\n".join(lines)
    assert f"the S3 bucket '{bucket}' of MODELYARD_BLOB_URL" in lines[0]
    assert "MODELYARD_S3_CREATE_BUCKET=true" in lines[0]
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", aws_access_key_id="test",
                      aws_secret_access_key="test")
    assert bucket not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_with_s3_create_bucket_set_the_server_creates_the_bucket_and_starts(launch: Launcher, tmp_path, s3_endpoint):
    bucket = f"modelyard-new-{secrets.token_hex(4)}"
    server = launch.serve({"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_BLOB_URL": f"s3://{bucket}/prod",
                           "MODELYARD_S3_ENDPOINT_URL": s3_endpoint, "MODELYARD_S3_ACCESS_KEY_ID": "test",
                           "MODELYARD_S3_SECRET_ACCESS_KEY": "test", "MODELYARD_S3_CREATE_BUCKET": "true"})

    health = httpx.get(f"{server.url}/health").json()
    assert (health["checks"]["blob_store"]["status"], health["checks"]["blob_store"]["backend"]) == ("healthy", "s3")
    assert f"blob store  : s3://{bucket}/prod at {s3_endpoint}" in server.log()


# --- the start-up summary -------------------------------------------------------------------------


def test_serve_prints_a_summary_with_a_masked_database_password_and_no_alembic_lines(
        launch: Launcher, tmp_path, pg_database):
    password = f"pw-{secrets.token_hex(6)}"  # the local PostgreSQL trusts; the password only has to be hidden
    url = pg_database.replace("://postgres@", f"://postgres:{password}@")
    assert password in url

    server = launch.serve({"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_DATABASE_URL": url,
                           "MODELYARD_ADMIN_PASSWORD": "summary-admin-pw"})
    log = server.log()

    assert password not in log
    database = pg_database.split("://", 1)[1].split("@", 1)[1]
    expected = [
        "modelyard 0.1.0 serve",
        f"database    : postgresql://postgres:***@{database}",
        "blob store  : file://",
        "queue       : sqlite:///",
        "jobs        : run in this process (2 threads)",
        "rate limits : process memory",
        f"API docs    : http://127.0.0.1:{server.port}/docs (Swagger UI), http://127.0.0.1:{server.port}/redoc",
    ]
    for needle in expected:
        assert needle in log, f"{needle!r} is not in the start-up summary"
    assert f"data folder : {(tmp_path / 'home').resolve()}" in log
    assert "alembic" not in log.lower(), "Alembic's INFO lines are still printed"
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/docs").status_code == 200


def test_worker_prints_a_shorter_summary(launch: Launcher, tmp_path):
    worker = launch.worker({"MODELYARD_HOME": str(tmp_path / "home")})
    log = worker.log()

    assert "modelyard 0.1.0 worker" in log
    assert "jobs        : run in this process (2 threads)" in log
    assert "API docs" not in log and "rate limits" not in log
    assert "alembic" not in log.lower()


# --- the first account ----------------------------------------------------------------------------


def test_an_admin_password_given_after_the_first_start_is_not_applied_and_the_log_says_so(
        launch: Launcher, tmp_path):
    home = tmp_path / "home"
    first = launch.serve({"MODELYARD_HOME": str(home)}, name="first-start")
    generated = re.search(r"created user 'admin' with password: (\S+)", first.log()).group(1)
    first.terminate()

    second = launch.serve({"MODELYARD_HOME": str(home), "MODELYARD_ADMIN_PASSWORD": "given-too-late"},
                          name="second-start")
    second.wait_for_log("MODELYARD_ADMIN_PASSWORD not applied", 10, "the warning about the admin password")

    line = next(line for line in second.log().splitlines() if "not applied" in line)
    assert "admin exists; MODELYARD_ADMIN_PASSWORD not applied; use `modelyard users reset-password admin`" in line
    assert "given-too-late" not in second.log()
    with httpx.Client(base_url=second.url) as http:
        assert login(http, "admin", generated)
        refused = http.post("/api/auth/login", json={"username": "admin", "password": "given-too-late"})
        assert refused.status_code == 401


def test_no_warning_when_the_given_admin_password_is_the_admins(launch: Launcher, tmp_path):
    env = {"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_ADMIN_PASSWORD": "same-admin-pw"}
    launch.serve(env, name="first-start").terminate()

    again = launch.serve(env, name="second-start")

    assert "not applied" not in again.log()
    assert "modelyard 0.1.0 serve" in again.log()


def test_an_unreachable_s3_endpoint_is_one_line_naming_the_settings(tmp_path):
    env = {"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_BLOB_URL": "s3://models/prod",
           "MODELYARD_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "MODELYARD_S3_ACCESS_KEY_ID": "test",
           "MODELYARD_S3_SECRET_ACCESS_KEY": "test"}

    result = run_modelyard(["serve", "--port", str(free_port())], env, tmp_path, timeout=120)

    assert result.returncode == 1, result.stderr
    lines = lines_of(result)
    assert len(lines) == 1, "\n".join(lines)
    assert "cannot reach the S3 store of MODELYARD_BLOB_URL (s3://models/prod)" in lines[0]
    assert "MODELYARD_S3_ENDPOINT_URL" in lines[0]
