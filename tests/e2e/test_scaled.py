"""The scaled shape end to end: API processes and `modelyard worker` processes that share only
PostgreSQL, a Redis queue and an S3 bucket (moto) — each process has a data folder of its own.
"""
from __future__ import annotations

import signal
import time

import httpx
import pytest

from tests.e2e.processes import TERMINAL, Launcher, ModelyardProcess, bearer, hostname, login, wait_for_job

pytestmark = pytest.mark.slow

from tests.e2e.conftest import ADMIN_PASSWORD, Env  # scaled_env itself is a conftest fixture


def submit_diagnostics(client: httpx.Client, headers: dict[str, str], **params) -> str:
    response = client.post("/admin/diagnostics", headers=headers, json=params)
    assert response.status_code == 202, f"POST /admin/diagnostics: {response.status_code} {response.text}"
    assert response.json()["status"] == "queued", response.json()
    return response.json()["job_id"]


def worker_pid(job: dict) -> tuple[str, int]:
    host, pid, _thread = job["result"]["worker"].split(":")
    return host, int(pid)


def test_a_job_submitted_to_the_api_runs_on_the_separate_worker_process(launch: Launcher, scaled_env: Env):
    api = launch.serve(scaled_env("api"), name="api")
    worker = launch.worker(scaled_env("worker"))
    with httpx.Client(base_url=api.url, timeout=15.0) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        job_id = submit_diagnostics(client, admin, seconds=0.5)

        job = wait_for_job(client, job_id, admin, until=lambda j: j["status"] in TERMINAL, timeout=30,
                           what="completion", processes=(api, worker))

    assert job["status"] == "completed", job
    assert job["attempts"] == 1
    assert job["result"]["blob_roundtrip"] is True, "the worker could not write and read back a blob on S3"
    host, pid = worker_pid(job)
    assert host == hostname()
    assert pid != api.pid, "the API process ran the job although its embedded worker is off"
    assert pid == worker.pid, f"the job ran in pid {pid}, not in the worker (pid {worker.pid})"
    assert "Huey consumer started" not in api.log(), "the API process started a job consumer"


def test_any_api_process_answers_for_a_job_submitted_to_another(launch: Launcher, scaled_env: Env):
    first = launch.serve(scaled_env("api-1"), name="api-1")
    launch.worker(scaled_env("worker"))
    second = launch.serve(scaled_env("api-2"), name="api-2")
    assert first.port != second.port

    with httpx.Client(base_url=first.url, timeout=15.0) as one, \
            httpx.Client(base_url=second.url, timeout=15.0) as two:
        admin = bearer(login(one, "admin", ADMIN_PASSWORD))  # issued by the first API only
        job_id = submit_diagnostics(one, admin, seconds=0.5)

        job = wait_for_job(two, job_id, admin, until=lambda j: j["status"] in TERMINAL, timeout=30,
                           what="completion, as seen by the second API", processes=(first, second))
        from_first = one.get(f"/api/jobs/{job_id}", headers=admin)
        listed = two.get("/api/jobs", headers=admin, params={"kind": "diagnostics"})

    assert job["status"] == "completed", job
    assert from_first.status_code == 200, from_first.text
    assert from_first.json() == job, "the two API processes disagree about the same job"
    assert listed.status_code == 200, listed.text
    assert job_id in [j["job_id"] for j in listed.json()]


def test_a_job_whose_workers_die_is_requeued_once_then_failed_and_never_left_in_progress(
        launch: Launcher, scaled_env: Env):
    fast = {"job_heartbeat_seconds": "0.5", "job_stale_seconds": "3", "job_max_attempts": "2"}
    api = launch.serve(scaled_env("api", **fast), name="api")
    first = launch.worker(scaled_env("worker-1", **fast), name="worker-1")
    processes: list[ModelyardProcess] = [api, first]

    with httpx.Client(base_url=api.url, timeout=15.0) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        job_id = submit_diagnostics(client, admin, seconds=60)

        def wait(until, timeout, what):
            return wait_for_job(client, job_id, admin, until=until, timeout=timeout, what=what,
                                processes=tuple(processes))

        running = wait(lambda j: j["status"] == "in_progress" or j["status"] in TERMINAL, 20,
                       "the start of the first attempt")
        assert (running["status"], running["attempts"]) == ("in_progress", 1), running

        first.sigkill()
        assert first.proc.returncode == -signal.SIGKILL
        second = launch.worker(scaled_env("worker-2", **fast), name="worker-2")
        processes.append(second)

        retried = wait(lambda j: (j["status"] == "in_progress" and j["attempts"] >= 2) or j["status"] in TERMINAL,
                       30, "the requeue and second attempt after the first worker was killed")
        assert (retried["status"], retried["attempts"]) == ("in_progress", 2), retried

        second.sigkill()
        third = launch.worker(scaled_env("worker-3", **fast), name="worker-3")
        processes.append(third)

        failed = wait(lambda j: j["status"] in TERMINAL or j["attempts"] > 2, 30,
                      "the end of the job after the second worker was killed")
        assert failed["attempts"] == 2, f"a third attempt ran although max attempts is 2: {failed}"
        assert failed["status"] == "failed", failed
        assert "stopped responding" in (failed["error"] or ""), failed
        assert failed["finished_at"] is not None

        time.sleep(2.5)  # more than two reaper rounds of the live worker
        later = client.get(f"/api/jobs/{job_id}", headers=admin).json()
        assert (later["status"], later["attempts"]) == ("failed", 2), f"the failed job changed again: {later}"
        assert third.alive(), f"the third worker died:\n{third.describe()}"
