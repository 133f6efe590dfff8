"""Parts going down, seen from outside: a worker waits for its queue without flooding the log, `/health`
names what is down, login keeps working, and `/api/status` warns when jobs wait with no worker alive.

Every Redis here is a throwaway `redis-server` started (and stopped) by the test itself.
"""
from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import TERMINAL, Launcher, ModelyardProcess, bearer, login, wait_for_job
from tests.support.servers import free_port, start_redis_server, stop

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "outage-admin-pw"


def outage_lines(process: ModelyardProcess) -> list[str]:
    return [line for line in process.log().splitlines() if "is unreachable" in line]


def wait_until(condition, timeout: float, what: str, process: ModelyardProcess | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    pytest.fail(f"{what} did not happen within {timeout:.0f}s" + (f"\n{process.describe_with_log()}" if process else ""),
                pytrace=False)


def queue_env(home: Path, queue_url: str, **extra: str) -> dict[str, str]:
    return {"MODELYARD_HOME": str(home), "MODELYARD_QUEUE_URL": queue_url, "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "MODELYARD_EMBEDDED_WORKER": "false", **extra}


def test_a_worker_waits_for_its_queue_with_one_line_per_attempt_and_backs_off_again_when_it_goes(
        launch: Launcher, tmp_path):
    port = free_port()
    worker = launch.worker(queue_env(tmp_path / "home", f"redis://127.0.0.1:{port}/0"), wait=False)

    worker.wait_for_log("is unreachable", 30, "the first attempt")  # after imports and migrations
    time.sleep(7.5)  # attempts at about 0, 1, 3 and 7 s after the first
    assert worker.alive(), worker.describe_with_log()
    waiting = outage_lines(worker)
    assert 3 <= len(waiting) <= 5, "\n".join(waiting)
    assert [int(line.split("attempt ")[1].split(",")[0]) for line in waiting] == list(range(1, len(waiting) + 1))
    assert "next in 4 s" in waiting[2]
    assert "Traceback" not in worker.log()

    redis_proc, _ = start_redis_server(port)
    try:
        worker.wait_for_log("worker started on queue", 25, "the start once Redis is there")
        before = len(worker.log().splitlines())
        stop(redis_proc)  # the queue goes away under a running consumer

        time.sleep(8)
        log = worker.log()
        new_lines = log.splitlines()[before:]
        assert worker.alive(), worker.describe_with_log()
        assert "Traceback" not in log, f"the consumer logged tracebacks:\n{worker.tail()}"
        assert 2 <= len([line for line in new_lines if "is unreachable" in line]) <= 5, "\n".join(new_lines)
        assert len(new_lines) <= 12, f"{len(new_lines)} log lines in 8 s of outage:\n" + "\n".join(new_lines)

        redis_proc, _ = start_redis_server(port)
        worker.wait_for_log("is reachable again", 25, "recovery after the queue came back")
    finally:
        stop(redis_proc)
    worker.terminate()
    assert worker.proc.returncode in (0, -15), worker.describe_with_log()


def test_status_warns_about_jobs_no_worker_takes_and_clears_once_a_worker_runs_them(launch: Launcher, tmp_path):
    redis_proc, redis_url = start_redis_server()
    try:
        env = queue_env(tmp_path / "home", redis_url)
        api = launch.serve(env, name="api")
        with httpx.Client(base_url=api.url, timeout=15.0) as client:
            admin = bearer(login(client, "admin", ADMIN_PASSWORD))
            submitted = client.post("/admin/diagnostics", headers=admin, json={"seconds": 0})
            assert submitted.status_code == 202, submitted.text
            time.sleep(1.5)

            stalled = client.get("/api/status", headers=admin).json()
            assert stalled["status"] == "degraded", stalled
            assert stalled["live_workers"] == 0 and stalled["queued_jobs"] == 1
            assert stalled["oldest_queued_job_age_seconds"] >= 1
            assert any("no worker is alive" in w and "modelyard worker" in w for w in stalled["warnings"]), stalled

            worker = launch.worker(env)
            job = wait_for_job(client, submitted.json()["job_id"], admin, until=lambda j: j["status"] in TERMINAL,
                               timeout=30, what="completion by the worker", processes=(api, worker))
            assert job["status"] == "completed", job

            healthy = client.get("/api/status", headers=admin).json()
            assert healthy["status"] == "operational", healthy
            assert healthy["warnings"] == []
            assert healthy["live_workers"] == 1
            assert healthy["workers"][0]["pid"] == worker.pid
            assert healthy["oldest_queued_job_age_seconds"] is None

            worker.terminate()
            after = client.get("/api/status", headers=admin).json()
            assert after["live_workers"] == 0, "a worker that stopped cleanly is still listed"
    finally:
        stop(redis_proc)


def test_with_redis_down_health_names_it_login_still_works_and_the_rest_answers_503(launch: Launcher, tmp_path):
    redis_proc, redis_url = start_redis_server()
    try:
        server = launch.serve(queue_env(tmp_path / "home", redis_url, MODELYARD_REDIS_URL=redis_url))
        with httpx.Client(base_url=server.url, timeout=15.0) as client:
            token = login(client, "admin", ADMIN_PASSWORD)
            stop(redis_proc)

            health = client.get("/health")
            relogin = client.post("/login", json={"username": "admin", "password": ADMIN_PASSWORD})
            status = client.get("/api/status", headers=bearer(token))
    finally:
        stop(redis_proc)

    assert health.status_code == 503, health.text
    body = health.json()
    assert body["status"] == "unhealthy"
    assert {k: v["status"] for k, v in body["checks"].items()} == {
        "database": "healthy", "blob_store": "healthy", "queue": "unhealthy", "rate_limits": "unhealthy"}
    assert "the job queue (MODELYARD_QUEUE_URL) is unreachable" in body["message"]
    assert "the Redis for rate limits (MODELYARD_REDIS_URL) is unreachable" in body["message"]
    assert relogin.status_code == 200, f"login answered {relogin.status_code} with Redis down: {relogin.text}"
    assert status.status_code == 503, status.text
    assert status.json()["code"] == "SERVICE_UNAVAILABLE"
    assert "MODELYARD_REDIS_URL" in status.json()["message"]
    assert "Traceback" not in server.log()


def test_a_job_submitted_while_the_queue_is_down_is_refused_with_503_and_recorded_failed(launch: Launcher, tmp_path):
    redis_proc, redis_url = start_redis_server()
    try:
        server = launch.serve(queue_env(tmp_path / "home", redis_url))
        with httpx.Client(base_url=server.url, timeout=15.0) as client:
            admin = bearer(login(client, "admin", ADMIN_PASSWORD))
            stop(redis_proc)

            refused = client.post("/admin/diagnostics", headers=admin, json={"seconds": 0})
            jobs = client.get("/api/jobs", headers=admin, params={"kind": "diagnostics"}).json()
            status = client.get("/api/status", headers=admin).json()
    finally:
        stop(redis_proc)

    assert refused.status_code == 503, refused.text
    assert "the job queue (MODELYARD_QUEUE_URL) is unreachable" in refused.json()["message"]
    assert [j["status"] for j in jobs] == ["failed"], "the refused job was left queued"
    assert status["status"] == "degraded"
    assert any("the job queue (MODELYARD_QUEUE_URL)" in w for w in status["warnings"])
