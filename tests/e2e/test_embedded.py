"""The embedded default end to end: one `modelyard serve` process with only a data folder configured.

SQLite database, SQLite queue and a local blob folder in MODELYARD_HOME; jobs run on threads of the
server process itself.
"""
from __future__ import annotations

import re
import secrets
import signal
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.e2e.processes import TERMINAL, Launcher, ModelyardProcess, bearer, hostname, login, wait_for_job

pytestmark = pytest.mark.slow


def embedded_env(home: Path, admin_password: str | None) -> dict[str, str]:
    env = {"MODELYARD_HOME": str(home)}
    if admin_password is not None:
        env["MODELYARD_ADMIN_PASSWORD"] = admin_password
    return env


@pytest.fixture(scope="module")
def admin_password() -> str:
    return f"admin-{secrets.token_hex(6)}"


@pytest.fixture(scope="module")
def server(module_launch: Launcher, tmp_path_factory, admin_password) -> ModelyardProcess:
    """One embedded server shared by the tests that do not restart or inspect it."""
    return module_launch.serve(embedded_env(tmp_path_factory.mktemp("home"), admin_password))


@pytest.fixture
def client(server: ModelyardProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=15.0) as http:
        yield http


@pytest.fixture
def admin(client, admin_password) -> dict[str, str]:
    return bearer(login(client, "admin", admin_password))


def create_user(client: httpx.Client, admin: dict[str, str], role: str = "user") -> tuple[str, str]:
    username, password = f"u{secrets.token_hex(4)}", f"pw-{secrets.token_hex(6)}"
    response = client.post("/admin/users", headers=admin,
                           json={"username": username, "password": password, "role": role})
    assert response.status_code == 201, f"POST /admin/users: {response.status_code} {response.text}"
    return username, password


def test_the_server_answers_health_as_healthy_with_a_reachable_database(client):
    response = client.get("/health")

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "healthy"
    assert body["checks"]["database"]["status"] == "healthy"


LOGIN_DIALECTS = {
    "query string on /login": (lambda u, p: {"url": "/login", "params": {"username": u, "password": p}}, "Admin"),
    "json on /login": (lambda u, p: {"url": "/login", "json": {"username": u, "password": p}}, "Admin"),
    "form on /login": (lambda u, p: {"url": "/login", "data": {"username": u, "password": p}}, "Admin"),
    "json on /auth/login": (lambda u, p: {"url": "/auth/login", "json": {"username": u, "password": p}}, "admin"),
    "json on /api/auth/login": (lambda u, p: {"url": "/api/auth/login", "json": {"username": u, "password": p}},
                                "admin"),
}


@pytest.mark.parametrize("dialect", list(LOGIN_DIALECTS))
def test_each_login_dialect_returns_a_token_that_opens_the_status_endpoints(client, admin_password, dialect):
    build, expected_role = LOGIN_DIALECTS[dialect]
    request = build("admin", admin_password)

    response = client.post(**request)

    assert response.status_code == 200, f"{dialect}: {response.status_code} {response.text}"
    body = response.json()
    assert body["username"] == "admin"
    assert body["role"] == expected_role
    assert body["expires_in"] > 0
    if request["url"] == "/login":
        assert body["token"] == body["access_token"]
    for path in ("/status", "/api/status"):
        status = client.get(path, headers=bearer(body["access_token"]))
        assert status.status_code == 200, f"{path} with the {dialect} token: {status.status_code} {status.text}"


def test_a_registered_account_gets_an_api_key_that_validates(client):
    username = f"reg{secrets.token_hex(4)}"
    response = client.post("/api/auth/register", json={"username": username, "email": f"{username}@example.com",
                                                       "password": "register-pw-1"})
    assert response.status_code == 201, response.text
    api_key = response.json()["api_key"]

    valid = client.get("/api/auth/validate", headers={"X-API-Key": api_key})
    forged = client.get("/api/auth/validate", headers={"X-API-Key": api_key[:-4] + "0000"})

    assert valid.status_code == 200, valid.text
    assert valid.json()["valid"] is True
    assert valid.json()["username"] == username
    assert valid.json()["role"] == "user"
    assert forged.status_code == 401, forged.text


def test_a_plain_user_is_forbidden_on_admin_routes_and_no_credential_is_unauthorized(client, admin):
    username, password = create_user(client, admin, role="user")
    user = bearer(login(client, username, password))
    new_user = {"username": f"x{secrets.token_hex(4)}", "password": "long-enough-pw", "role": "admin"}

    assert client.post("/admin/users", headers=user, json=new_user).status_code == 403
    assert client.get("/admin/users", headers=user).status_code == 403
    assert client.post("/admin/diagnostics", headers=user, json={"seconds": 0}).status_code == 403
    for method, path in (("POST", "/admin/users"), ("GET", "/admin/users"), ("GET", "/status"),
                         ("GET", "/api/status"), ("GET", "/api/auth/validate"), ("GET", "/api/jobs")):
        response = client.request(method, path, json=new_user if method == "POST" else None)
        assert response.status_code == 401, f"{method} {path} without a credential: {response.status_code}"
    names = [u["username"] for u in client.get("/admin/users", headers=admin).json()]
    assert new_user["username"] not in names, "a refused request still created the user"


def test_a_diagnostics_job_completes_on_a_thread_of_the_server_process(client, admin, server):
    submitted = client.post("/admin/diagnostics", headers=admin, json={"seconds": 1})
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["job_id"]

    job = wait_for_job(client, job_id, admin, until=lambda j: j["status"] in TERMINAL, timeout=30,
                       what="completion", processes=(server,))

    assert job["status"] == "completed", job
    assert job["progress"] == 100
    assert job["attempts"] == 1
    assert job["error"] is None
    assert job["result"]["blob_roundtrip"] is True
    host, pid, _thread = job["result"]["worker"].split(":")
    assert (host, int(pid)) == (hostname(), server.pid), "the job did not run inside the server process"


def test_a_diagnostics_job_asked_to_fail_is_reported_failed_with_its_reason(client, admin, server):
    submitted = client.post("/admin/diagnostics", headers=admin, json={"seconds": 0, "fail": True})
    assert submitted.status_code == 202, submitted.text

    job = wait_for_job(client, submitted.json()["job_id"], admin, until=lambda j: j["status"] in TERMINAL,
                       timeout=30, what="the end of the job", processes=(server,))

    assert job["status"] == "failed", job
    assert "failure requested" in (job["error"] or ""), job


def test_cancelling_a_running_job_stops_it_at_its_next_progress_report(client, admin, server):
    job_id = client.post("/admin/diagnostics", headers=admin, json={"seconds": 60}).json()["job_id"]
    wait_for_job(client, job_id, admin, until=lambda j: j["status"] == "in_progress", timeout=20,
                 what="the start of the job", processes=(server,))

    cancel = client.post(f"/api/jobs/{job_id}/cancel", headers=admin)
    assert cancel.status_code == 200, cancel.text

    job = wait_for_job(client, job_id, admin, until=lambda j: j["status"] in TERMINAL, timeout=10,
                       what="cancellation", processes=(server,))
    assert job["status"] == "cancelled", job


def test_users_keys_and_tokens_survive_a_restart_on_the_same_data_folder(launch: Launcher, tmp_path):
    home, password = tmp_path / "home", "restart-admin-pw"
    first = launch.serve(embedded_env(home, password), name="serve-before-restart")
    with httpx.Client(base_url=first.url, timeout=15.0) as http:
        admin_token = login(http, "admin", password)
        username, user_password = create_user(http, bearer(admin_token), role="labeler")
        registered = http.post("/api/auth/register", json={"username": "survivor", "email": "s@example.com",
                                                           "password": "survivor-pw"})
        assert registered.status_code == 201, registered.text
        api_key = registered.json()["api_key"]

    first.terminate()
    # uvicorn re-raises the signal after its graceful shutdown, so -SIGTERM is a clean exit too; a server
    # that ignored SIGTERM was SIGKILLed by terminate() and shows -SIGKILL. (The last shutdown log lines
    # are not checked: the log queue is not flushed before the process ends.)
    assert first.proc.returncode in (0, -signal.SIGTERM), \
        f"the server did not stop on SIGTERM:\n{first.describe()}"

    second = launch.serve(embedded_env(home, password), name="serve-after-restart")
    with httpx.Client(base_url=second.url, timeout=15.0) as http:
        relogin = http.post("/api/auth/login", json={"username": username, "password": user_password})
        assert relogin.status_code == 200, f"the user created before the restart cannot log in: {relogin.text}"
        assert relogin.json()["role"] == "labeler"
        validate = http.get("/api/auth/validate", headers={"X-API-Key": api_key})
        assert validate.status_code == 200, f"the API key from before the restart is refused: {validate.text}"
        assert validate.json()["username"] == "survivor"
        old_token = http.get("/admin/users", headers=bearer(admin_token))
        assert old_token.status_code == 200, f"a token from before the restart is refused: {old_token.text}"
        assert {username, "survivor", "admin"} <= {u["username"] for u in old_token.json()}


def test_a_first_start_without_an_admin_password_prints_a_generated_one_that_logs_in(launch: Launcher, tmp_path):
    server = launch.serve(embedded_env(tmp_path / "home", None))

    found = re.search(r"created user 'admin' with password: (\S+)", server.log())
    assert found, f"no generated admin password on stderr of {server.describe()}"
    with httpx.Client(base_url=server.url, timeout=15.0) as http:
        response = http.post("/api/auth/login", json={"username": "admin", "password": found.group(1)})
    assert response.status_code == 200, response.text


def test_passwords_in_the_login_query_string_never_reach_the_server_log(launch: Launcher, tmp_path):
    password = f"query-admin-{secrets.token_hex(8)}"
    wrong = f"query-wrong-{secrets.token_hex(8)}"
    server = launch.serve(embedded_env(tmp_path / "home", password))
    request_ids = {"ok": f"e2e-ok-{secrets.token_hex(4)}", "wrong": f"e2e-wrong-{secrets.token_hex(4)}"}

    with httpx.Client(base_url=server.url, timeout=15.0) as http:
        ok = http.post("/login", params={"username": "admin", "password": password},
                       headers={"X-Request-ID": request_ids["ok"]})
        refused = http.post("/login", params={"username": "admin", "password": wrong},
                            headers={"X-Request-ID": request_ids["wrong"]})
    assert ok.status_code == 200, ok.text
    assert refused.status_code == 401, refused.text
    # The access log is written by a background thread: wait until both requests were logged.
    for rid in request_ids.values():
        server.wait_for_log(rid, 10, f"the access log line of request {rid}")

    log = server.log()
    assert password not in log, "the admin password from the query string is in the server log"
    assert wrong not in log, "a wrong password from the query string is in the server log"
    assert "password=" not in log, "a password query parameter is in the server log"
    logged = [line for line in log.splitlines() if request_ids["ok"] in line]
    assert any("POST /login " in line for line in logged), f"the login was not logged as expected: {logged}"
