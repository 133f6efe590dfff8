"""Storage going away under running processes, seen from outside: a full disk in the embedded shape, and in
the scaled shape a database, a Redis and an S3 store that are unreachable for a while. Each request that
needs the missing part answers 503 naming it (never a 500 or a traceback), nothing half-written shows, the
earlier data stays intact, `/health` names the part, and the processes resume by themselves once it is back.

PostgreSQL and S3 are reached through a `FaultProxy` of the test (the machine's PostgreSQL is never stopped);
Redis is a throwaway `redis-server` of the test, killed and started again on the same port.
"""
from __future__ import annotations

import resource
import secrets
import signal
import socket
import threading
import time
from typing import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.e2e.conftest import ADMIN_PASSWORD as SCALED_ADMIN_PASSWORD, Env
from tests.e2e.processes import TERMINAL, Launcher, ModelyardProcess, bearer, login, wait_for_job
from tests.support.images import encode, scene

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "storage-faults-admin-pw"
FILE_LIMIT = 3 * 1024 * 1024  # RLIMIT_FSIZE of the "full disk" server: no file it writes may grow past this


# --- helpers -----------------------------------------------------------------------------------------


def csv_bytes(rows: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"spend": rng.uniform(0, 500, rows).round(4), "visits": rng.integers(0, 20, rows),
                          "tenure": rng.uniform(0, 10, rows).round(6), "label": rng.integers(0, 2, rows)})
    return frame.to_csv(index=False).encode()


def noise_png(seed: int, side: int) -> bytes:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    return encode(Image.fromarray(pixels, "RGB"))


def wait_until(condition, timeout: float, what: str, *processes: ModelyardProcess):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        try:
            value = condition()
        except httpx.TransportError as exc:
            value = None
            last = repr(exc)
        if value:
            return value
        time.sleep(0.25)
    logs = "\n".join(p.describe() for p in processes)
    pytest.fail(f"{what} did not happen within {timeout:.0f}s (last: {value!r})\n{logs}", pytrace=False)


def assert_refused_as_unavailable(response: httpx.Response, *names: str) -> None:
    assert response.status_code in (503, 507), f"{response.status_code}: {response.text}"
    body = response.json()
    assert body["code"] in ("SERVICE_UNAVAILABLE", "STORAGE_UNAVAILABLE", "INSUFFICIENT_STORAGE"), body
    assert "Traceback" not in response.text
    for name in names:
        assert name in body["message"], f"{name!r} not named in {body['message']!r}"


def no_tracebacks(*processes: ModelyardProcess) -> None:
    for process in processes:
        assert "Traceback" not in process.log(), f"{process.name} logged a traceback:\n{process.tail()}"


def limit_file_size() -> None:
    """In the child: files may not grow past FILE_LIMIT, and passing it fails the write (EFBIG) instead
    of killing the process with SIGXFSZ — what a full disk looks like to the writer."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


class FaultProxy:
    """127.0.0.1:<port> forwarded to a real service, until `cut()`: then every connection open through it
    is closed and new ones are closed as soon as they are accepted, until `restore()`."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_off = False
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True, name=f"proxy-{self.port}").start()

    def cut(self) -> None:
        with self._lock:
            self.cut_off = True
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def restore(self) -> None:
        self.cut_off = False

    def close(self) -> None:
        self.cut()
        _close(self.listener)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            if self.cut_off:
                _close(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _close(client)
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with self._lock:
                self._open.discard(source)
                self._open.discard(sink)
            _close(source)
            _close(sink)


def _close(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or 0


@pytest.fixture
def proxy() -> Iterator[Callable[[str], FaultProxy]]:
    made: list[FaultProxy] = []

    def make(url: str) -> FaultProxy:
        made.append(FaultProxy(host_port(url)))
        return made[-1]

    yield make
    for one in made:
        one.close()


def health_of(url: str) -> tuple[int, dict]:
    response = httpx.get(f"{url}/health", timeout=20.0)
    return response.status_code, response.json()


def submit_diagnostics(client: httpx.Client, headers: dict[str, str], seconds: float = 0) -> str:
    response = client.post("/admin/diagnostics", headers=headers, json={"seconds": seconds})
    assert response.status_code == 202, f"POST /admin/diagnostics: {response.status_code} {response.text}"
    return response.json()["job_id"]


# --- a. the disk fills up (embedded shape) -----------------------------------------------------------


def test_with_the_disk_full_uploads_answer_503_keep_nothing_half_written_and_work_again_once_space_returns(
        launch: Launcher, tmp_path):
    home = tmp_path / "home"
    env = {"MODELYARD_HOME": str(home), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "MODELYARD_SECRET_KEY": "storage-faults-secret-key-0123456789abcdef"}
    small_csv, big_csv = csv_bytes(200, seed=1), csv_bytes(160_000, seed=2)
    small_png, big_png = encode(scene(41, (160, 120))), noise_png(42, 1100)
    assert len(big_csv) > FILE_LIMIT and len(big_png) > FILE_LIMIT

    server = launch.serve(env, name="before")
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        first = client.post("/api/upload", headers=admin, files={"file": ("first.csv", small_csv, "text/csv")})
        assert first.status_code == 200, first.text
        request = client.post("/requests", headers=admin, json={"title": "Disk full", "classes": ["a", "b"]})
        assert request.status_code in (200, 201), request.text
        request_id = request.json()["id"]
        images = client.post(f"/requests/{request_id}/uploads", headers=admin,
                             files=[("files", ("first.png", small_png, "image/png"))])
        assert images.status_code == 200 and images.json()["uploaded"] == 1, images.text
    server.terminate()
    assert max(p.stat().st_size for p in home.rglob("*") if p.is_file()) < FILE_LIMIT // 2

    full = launch.serve(env, name="disk-full", preexec_fn=limit_file_size)
    with httpx.Client(base_url=full.url, timeout=30.0) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        csv_refused = client.post("/api/upload", headers=admin, files={"file": ("big.csv", big_csv, "text/csv")})
        image_refused = client.post(f"/requests/{request_id}/uploads", headers=admin,
                                    files=[("files", ("big.png", big_png, "image/png"))])
        signed = client.post("/uploads/presign", headers=admin, json={
            "request_id": request_id, "files": [{"filename": "put.png", "content_type": "image/png"}]})
        assert signed.status_code == 200, signed.text
        target = signed.json()["uploads"][0]
        # straight into the store; answered before the body ends, so on a connection of its own
        put_refused = httpx.put(target["url"], content=big_png, headers=target["headers"], timeout=30.0)
        datasets = client.get("/api/datasets", headers=admin)
        listed_images = client.get(f"/requests/{request_id}/uploads", headers=admin)
        still_small = client.post("/api/upload", headers=admin,
                                  files={"file": ("second.csv", csv_bytes(100, seed=3), "text/csv")})
    full.terminate()

    assert_refused_as_unavailable(csv_refused, "space")
    assert_refused_as_unavailable(image_refused, "space")
    assert_refused_as_unavailable(put_refused, "space")
    assert [d["file_id"] for d in datasets.json()] == [first.json()["file_id"]], datasets.text
    assert [i["filename"] for i in listed_images.json()] == ["first.png"], listed_images.text
    assert still_small.status_code == 200, f"a small upload failed on the nearly full disk: {still_small.text}"
    no_tracebacks(full)
    leftovers = [p for p in (home / "blobs" / ".tmp").glob("*")] if (home / "blobs" / ".tmp").exists() else []
    assert leftovers == [], f"half-written blobs left behind: {leftovers}"
    blob_sizes = [p.stat().st_size for p in (home / "blobs").rglob("*") if p.is_file()]
    assert max(blob_sizes) < FILE_LIMIT, "a blob of the refused uploads is in the store"

    after = launch.serve(env, name="space-back")
    with httpx.Client(base_url=after.url, timeout=60.0) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        kept = client.get(f"/api/datasets/{first.json()['file_id']}", headers=admin)
        csv_stored = client.post("/api/upload", headers=admin, files={"file": ("big.csv", big_csv, "text/csv")})
        image_stored = client.post(f"/requests/{request_id}/uploads", headers=admin,
                                   files=[("files", ("big.png", big_png, "image/png"))])
    assert kept.status_code == 200 and kept.json()["rows"] == 200, kept.text
    assert csv_stored.status_code == 200 and csv_stored.json()["rows"] == 160_000, csv_stored.text
    assert image_stored.status_code == 200 and image_stored.json()["uploaded"] == 1, image_stored.text
    no_tracebacks(after)


# --- b. the database is unreachable for a while (scaled shape) ---------------------------------------


def test_with_the_database_unreachable_requests_answer_503_naming_it_and_api_and_worker_resume_by_themselves(
        proxy, launch: Launcher, scaled_env: Env, pg_database: str):
    db = proxy(pg_database)
    proxied = pg_database.replace(f":{host_port(pg_database)[1]}/", f":{db.port}/")
    fast = {"database_url": proxied, "job_heartbeat_seconds": "0.5", "job_stale_seconds": "6"}
    api = launch.serve(scaled_env("api", **fast), name="api")
    worker = launch.worker(scaled_env("worker", **fast))
    with httpx.Client(base_url=api.url, timeout=30.0) as client:
        admin = bearer(login(client, "admin", SCALED_ADMIN_PASSWORD))
        before = submit_diagnostics(client, admin, seconds=6)
        wait_for_job(client, before, admin, until=lambda j: j["status"] == "in_progress", timeout=30,
                     what="the job running", processes=(api, worker))

        db.cut()
        time.sleep(2)  # the worker's heartbeats and progress reports fail meanwhile
        datasets = client.get("/api/datasets", headers=admin)
        during = client.post("/admin/diagnostics", headers=admin, json={"seconds": 0})
        health_code, health = health_of(api.url)
        detailed = client.get("/api/enterprise/health/detailed", headers=admin)
        time.sleep(4)
        db.restore()

        wait_until(lambda: health_of(api.url)[0] == 200, 30, "/health healthy again", api)
        job = wait_for_job(client, before, admin, until=lambda j: j["status"] in TERMINAL, timeout=60,
                           what="the job submitted before the outage finishing", processes=(api, worker))
        after = submit_diagnostics(client, admin)
        job_after = wait_for_job(client, after, admin, until=lambda j: j["status"] in TERMINAL, timeout=30,
                                 what="a job submitted after the outage finishing", processes=(api, worker))
        in_progress = client.get("/api/jobs", headers=admin, params={"status": "in_progress"}).json()
        listed = client.get("/api/datasets", headers=admin)

    assert_refused_as_unavailable(datasets, "the database (MODELYARD_DATABASE_URL)")
    assert_refused_as_unavailable(during, "the database (MODELYARD_DATABASE_URL)")
    assert health_code == 503 and health["checks"]["database"]["status"] == "unhealthy", health
    assert "the database (MODELYARD_DATABASE_URL) is unreachable" in health["message"]
    assert detailed.status_code in (200, 503), detailed.text
    assert detailed.json()["components"]["database"]["status"] == "unhealthy", detailed.text
    assert detailed.json()["status"] == "unhealthy", detailed.text
    assert job["status"] == "completed", f"the job running through the outage ended {job}"
    assert job_after["status"] == "completed", job_after
    assert in_progress == [], f"jobs left in_progress: {in_progress}"
    assert listed.status_code == 200, listed.text
    assert worker.alive() and api.alive()
    no_tracebacks(api, worker)


# --- c. Redis restarts (scaled shape) ----------------------------------------------------------------


def test_while_redis_restarts_health_names_it_and_api_and_worker_resume_by_themselves(
        launch: Launcher, scaled_env: Env):
    from tests.support.servers import start_redis_server, stop

    redis_proc, redis_url = start_redis_server()
    port = host_port(redis_url)[1]
    try:
        env = {"queue_url": redis_url, "redis_url": redis_url}
        api = launch.serve(scaled_env("api", **env), name="api")
        worker = launch.worker(scaled_env("worker", **env))
        with httpx.Client(base_url=api.url, timeout=30.0) as client:
            admin = bearer(login(client, "admin", SCALED_ADMIN_PASSWORD))
            first = submit_diagnostics(client, admin)
            assert wait_for_job(client, first, admin, until=lambda j: j["status"] in TERMINAL, timeout=30,
                                what="a job before the restart", processes=(api, worker))["status"] == "completed"

            stop(redis_proc)
            health_code, health = health_of(api.url)
            refused = client.post("/admin/diagnostics", headers=admin, json={"seconds": 0})
            time.sleep(3)
            redis_proc, _ = start_redis_server(port)

            wait_until(lambda: health_of(api.url)[0] == 200, 30, "/health healthy again", api)
            worker.wait_for_log("is reachable again", 30, "the worker's recovery")
            after = submit_diagnostics(client, admin)
            job = wait_for_job(client, after, admin, until=lambda j: j["status"] in TERMINAL, timeout=30,
                               what="a job after the restart", processes=(api, worker))
    finally:
        stop(redis_proc)

    assert health_code == 503, health
    assert health["checks"]["queue"]["status"] == "unhealthy"
    assert health["checks"]["rate_limits"]["status"] == "unhealthy"
    assert_refused_as_unavailable(refused, "MODELYARD_")
    assert job["status"] == "completed", job
    assert worker.alive() and api.alive()
    no_tracebacks(api, worker)


# --- d. S3 is unreachable for a while (scaled shape) -------------------------------------------------


def test_with_s3_unreachable_uploads_answer_503_naming_the_blob_store_and_the_service_resumes_by_itself(
        proxy, launch: Launcher, scaled_env: Env, s3_endpoint: str):
    s3 = proxy(s3_endpoint)
    env = {"s3_endpoint_url": f"http://127.0.0.1:{s3.port}"}
    api = launch.serve(scaled_env("api", **env), name="api")
    worker = launch.worker(scaled_env("worker", **env))
    small_csv = csv_bytes(200, seed=1)
    with httpx.Client(base_url=api.url, timeout=60.0) as client:
        admin = bearer(login(client, "admin", SCALED_ADMIN_PASSWORD))
        first = client.post("/api/upload", headers=admin, files={"file": ("first.csv", small_csv, "text/csv")})
        assert first.status_code == 200, first.text

        s3.cut()
        started = time.monotonic()
        refused = client.post("/api/upload", headers=admin, files={"file": ("second.csv", small_csv, "text/csv")})
        refused_after = time.monotonic() - started
        health_code, health = health_of(api.url)
        during = submit_diagnostics(client, admin)  # the job writes a blob: tried again later, not failed
        retrying = wait_for_job(client, during, admin, until=lambda j: j["attempts"] == 1 and j["status"] != "in_progress",
                                timeout=60, what="the first attempt during the outage ending", processes=(api, worker))
        datasets = client.get("/api/datasets", headers=admin)
        s3.restore()
        job_during = wait_for_job(client, during, admin, until=lambda j: j["status"] in TERMINAL, timeout=60,
                                  what="the job's retry once S3 is back", processes=(api, worker))

        wait_until(lambda: health_of(api.url)[0] == 200, 30, "/health healthy again", api)
        stored = client.post("/api/upload", headers=admin, files={"file": ("third.csv", small_csv, "text/csv")})
        after = submit_diagnostics(client, admin)
        job_after = wait_for_job(client, after, admin, until=lambda j: j["status"] in TERMINAL, timeout=30,
                                 what="a job after the outage", processes=(api, worker))

    assert_refused_as_unavailable(refused, "blob store", "MODELYARD_BLOB_URL")
    assert refused_after < 30, f"the refusal took {refused_after:.0f}s"
    assert health_code == 503 and health["checks"]["blob_store"]["status"] == "unhealthy", health
    assert "the blob store (MODELYARD_BLOB_URL) is unreachable" in health["message"]
    assert retrying["status"] == "queued" and "the blob store (MODELYARD_BLOB_URL)" in retrying["error"], retrying
    assert job_during["status"] == "completed" and job_during["attempts"] == 2, job_during
    assert [d["file_id"] for d in datasets.json()] == [first.json()["file_id"]], datasets.text
    assert stored.status_code == 200, stored.text
    assert job_after["status"] == "completed", job_after
    no_tracebacks(api, worker)
