"""Crash safety end to end: SIGKILL the process doing the work at a known moment, restart on the same data,
and check what survived (docs/crash-safety.md).

Embedded shape: `modelyard serve` runs the jobs itself, so the server is killed — mid CSV upload (while the
body streams, then while the blob is written), mid training, mid csv-scoring job, mid QC, mid presigned
upload completion and mid webhook delivery — and started again on the same data folder. Scaled shape: the
API stays up and the `modelyard worker` running the job (training, csv-scoring, platform batch, QC,
webhook) is killed and replaced. Each kill waits for a sign that the work started (job progress, a temp or final blob on disk,
the receiver holding the request), never for a fixed time. After the restart: no temp file left in the
blob store, every blob readable, every record's blob present, no job left `in_progress` (retried or failed
within RECOVERY seconds), and the credits a chunked batch took equal the rows it delivered, once.
"""
from __future__ import annotations

import abc
import io
import json
import secrets
import threading
import time
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import numpy as np
import pandas as pd
import pytest
from sqlalchemy import create_engine, text

from tests.conftest import fresh_pg_database
from tests.e2e.conftest import ADMIN_PASSWORD as SCALED_ADMIN_PASSWORD
from tests.e2e.processes import TERMINAL, Launcher, ModelyardProcess, bearer, login, wait_for_job
from tests.support import registry_models as rm
from tests.support.datasets import buyers, to_csv
from tests.support.images import encode, scene
from tests.support.receiver import HANG, Receiver, running_receiver

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "crash-admin-password-1"
RECOVERY = 15.0  # seconds after a restart within which an interrupted job must have left `in_progress`
JOB_TIMEOUT = 120.0
KILL_TIMEOUT = 60.0
WEBHOOKS = {"allowedTargets": ["127.0.0.1"], "maxAttempts": 3, "retryBaseSeconds": 0.5, "retryMaxSeconds": 2,
            "timeoutSeconds": 30.0}  # a hanging receiver keeps the attempt in progress until the kill
PLATFORM_ROWS = 15_000  # three chunks of 5,000 rows (gallery/batches.py)
SCORING_ROWS = 300_000  # about 15 chunks of 20,000 rows (scoring/tasks.py)
QC_IMAGES = 300  # about 1 ms each embedded: 60 were once checked in 70 ms, between two polls of the job


# --- where the data lives: the database and the blob store -------------------------------------------


class Data:
    """The database and blob store of one deployment, read directly to check what a crash left."""

    def __init__(self, database_url: str, blobs: "LocalBlobs | S3Blobs"):
        self.engine = create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
        self.blobs = blobs

    def referenced_keys(self) -> list[tuple[str, str]]:
        """(what, key) for every blob a record points at."""
        found: list[tuple[str, str]] = []
        with self.engine.connect() as conn:
            found += [(f"dataset {r[0]}", r[1]) for r in conn.execute(text("SELECT id, blob_key FROM dataset"))]
            for image_id, key, thumb in conn.execute(text("SELECT id, blob_key, thumb_key FROM labeling_image")):
                found += [(f"image {image_id}", key)] + ([(f"thumbnail of {image_id}", thumb)] if thumb else [])
            found += [(f"model version {r[0]}", r[1])
                      for r in conn.execute(text("SELECT id, artifact_key FROM model_version"))]
            for job_id, result in conn.execute(text("SELECT id, result FROM job WHERE status = 'completed'")):
                result = json.loads(result) if isinstance(result, str) else (result or {})
                found += [(f"result of job {job_id}", result[k]) for k in ("result_key", "results_key") if k in result]
        return found

    def jobs_in_progress(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT id FROM job WHERE status = 'in_progress'"))]

    def check(self) -> None:
        """No temp file, every blob readable, no record pointing at a missing blob."""
        self.blobs.check_no_temp_files()
        keys = self.blobs.keys()
        for key in keys:
            self.blobs.read(key)
        missing = [f"{what}: {key}" for what, key in self.referenced_keys() if key not in keys]
        assert not missing, f"records point at blobs that do not exist: {missing}"

    def close(self) -> None:
        self.engine.dispose()


class LocalBlobs:
    def __init__(self, root: Path):
        self.root = root

    def temp_files(self) -> list[str]:
        tmp = self.root / ".tmp"
        return sorted(p.name for p in tmp.iterdir()) if tmp.is_dir() else []

    def check_no_temp_files(self) -> None:
        assert self.temp_files() == [], f"temp files left in {self.root / '.tmp'}: {self.temp_files()}"

    def keys(self) -> set[str]:
        return {str(p.relative_to(self.root)) for p in self.root.rglob("*")
                if p.is_file() and not any(part.startswith(".") for part in p.relative_to(self.root).parts)}

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def under(self, prefix: str) -> list[str]:
        return sorted(k for k in self.keys() if k.startswith(prefix))


class S3Blobs:
    def __init__(self, env: dict[str, str]):
        import boto3

        parts = urlsplit(env["MODELYARD_BLOB_URL"])
        self.bucket, self.prefix = parts.netloc, parts.path.strip("/") + "/"
        self.client = boto3.client("s3", endpoint_url=env["MODELYARD_S3_ENDPOINT_URL"], region_name="us-east-1",
                                   aws_access_key_id="test", aws_secret_access_key="test")

    def check_no_temp_files(self) -> None:
        pending = self.client.list_multipart_uploads(Bucket=self.bucket).get("Uploads", [])
        assert pending == [], f"unfinished multipart uploads in the bucket: {pending}"

    def keys(self) -> set[str]:
        keys: set[str] = set()
        for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=self.prefix):
            keys |= {o["Key"][len(self.prefix):] for o in page.get("Contents", [])}
        return keys

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()


# --- helpers ---------------------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    pytest.fail(f"{what} did not happen within {timeout:.0f}s", pytrace=False)


def kill_when(client: httpx.Client, job_id: str, headers: dict[str, str], process: ModelyardProcess,
              ready: Callable[[dict], bool], what: str) -> dict:
    """Poll the job closely and SIGKILL `process` as soon as `ready(job)`; the job as last seen."""
    deadline = time.monotonic() + KILL_TIMEOUT
    job: dict = {}
    while time.monotonic() < deadline:
        job = client.get(f"/api/jobs/{job_id}", headers=headers).json()
        if job["status"] == "in_progress" and ready(job):
            process.sigkill()
            return job
        assert job["status"] not in TERMINAL, f"the job ended before {what}, so the kill cannot land there: {job}"
        time.sleep(0.02)
    pytest.fail(f"{what} was not reached within {KILL_TIMEOUT:.0f}s; last: {job}\n{process.describe()}",
                pytrace=False)


def recovered(client: httpx.Client, job_id: str, headers: dict[str, str], processes: tuple) -> dict:
    """The interrupted job leaves its first attempt's `in_progress` within RECOVERY s, then ends completed."""
    wait_for_job(client, job_id, headers, until=lambda j: j["status"] != "in_progress" or j["attempts"] >= 2,
                 timeout=RECOVERY, what="the recovery of the interrupted attempt", processes=processes)
    job = wait_for_job(client, job_id, headers, until=lambda j: j["status"] in TERMINAL, timeout=JOB_TIMEOUT,
                       what="the end of the retried job", processes=processes)
    assert job["attempts"] == 2, f"the job should have run exactly twice (killed, then retried): {job}"
    assert job["status"] == "completed", job
    return job


def new_account(client: httpx.Client, admin: dict[str, str], credits: int | None = None) -> tuple[dict, int]:
    name = f"crash{secrets.token_hex(3)}"
    made = client.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com",
                                                   "password": "crash-user-pw-1"})
    assert made.status_code == 201, made.text
    headers, user_id = {"X-API-Key": made.json()["api_key"]}, made.json()["user_id"]
    if credits is not None:
        given = client.post(f"/admin/users/{user_id}/credits", headers=admin,
                            json={"credits": credits - balance(client, headers)})
        assert given.status_code == 200, given.text
    return headers, user_id


def balance(client: httpx.Client, headers: dict[str, str]) -> int:
    return client.get("/api/auth/user", headers=headers).json()["credits_remaining"]


def leads(rows: int) -> bytes:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"company_size": rng.choice(["1-10", "11-50", "51-200", "201-1000", "1000+"], rows),
                          "budget": rng.integers(1_000, 500_000, rows), "industry_score": rng.integers(1, 11, rows),
                          "engagement_score": rng.integers(1, 11, rows)})
    return to_csv(frame)


def scoring_rows(rows: int) -> bytes:
    rng = np.random.default_rng(3)
    return to_csv(pd.DataFrame({"spend": rng.uniform(0, 500, rows).round(2), "visits": rng.integers(0, 20, rows),
                                "tenure": rng.uniform(0, 10, rows).round(3)}))


def training_csv() -> bytes:
    return to_csv(buyers(2000, seed=5))


# --- the job kinds, as scenarios: prepare, submit, where to kill, what must hold afterwards ----------


class Scenario(abc.ABC):
    """One kind of job: `submit` returns the job id; `ready(job)` is the moment to kill; `after` checks."""

    kill_point = ""

    def __init__(self, client: httpx.Client, admin: dict[str, str]):
        self.client = client
        self.admin = admin

    @abc.abstractmethod
    def submit(self) -> str:
        """Prepare the data, start the job, return its id."""

    def ready(self, job: dict) -> bool:
        return job["progress"] > 0

    def after(self, job: dict) -> None:
        pass


class Training(Scenario):
    kill_point = "the model search under way"

    def submit(self) -> str:
        file_id = self.client.post("/api/upload", headers=self.admin,
                                   files={"file": ("buyers.csv", training_csv(), "text/csv")}).json()["file_id"]
        accepted = self.client.post("/api/train", headers=self.admin, json={
            "file_id": file_id, "name": "crash-buyers",
            "training_params": {"target": "will_buy", "max_training_time": 10}})
        assert accepted.status_code == 202, accepted.text
        return accepted.json()["job_id"]

    def ready(self, job: dict) -> bool:
        return 5 <= job["progress"] < 90

    def after(self, job: dict) -> None:
        status = self.client.get(f"/api/training/{job['job_id']}", headers=self.admin).json()
        model = self.client.get(f"/api/models/{status['model_id']}", headers=self.admin)
        assert model.status_code == 200, model.text
        versions = self.client.get("/api/models", headers=self.admin).json()
        named = [m for m in versions["models"] if m["name"] == "crash-buyers"]
        assert len(named) == 1, f"the interrupted attempt left a model version behind: {named}"


class CsvScoring(Scenario):
    kill_point = "the first chunks scored"

    def submit(self) -> str:
        model = rm.skops_bytes(rm.regressor(rm.customers(200, seed=4)))
        stored = self.client.post("/upload_model", headers=self.admin,
                                  files=[("model_file", ("model.skops", model, "application/octet-stream"))],
                                  params={"model_name": "crash-scorer", "model_version": "1", "deployment": "true"})
        assert stored.status_code == 200, stored.text
        chosen = self.client.put("/api/scoring/active-model", json={"model": "crash-scorer"}, headers=self.admin)
        assert chosen.status_code == 200, chosen.text
        uploaded = self.client.post("/upload", headers=self.admin,
                                    files={"file": ("batch.csv", scoring_rows(SCORING_ROWS), "text/csv")})
        assert uploaded.status_code == 200, uploaded.text
        upload_id = uploaded.json()["upload_id"]
        assert self.client.post("/validate", json={"upload_id": upload_id}, headers=self.admin).status_code == 200
        accepted = self.client.post("/predict", json={"upload_id": upload_id}, headers=self.admin)
        assert accepted.status_code == 200, accepted.text
        return accepted.json()["job_id"]

    def ready(self, job: dict) -> bool:
        return 1 < job["progress"] < 80

    def after(self, job: dict) -> None:
        results = self.client.get("/download_results", params={"job_id": job["job_id"]}, headers=self.admin)
        assert results.status_code == 200, results.text
        assert len(pd.read_csv(io.StringIO(results.text))) == SCORING_ROWS


class PlatformBatch(Scenario):
    """A built-in model's CSV batch scored by a job that charges each chunk of 5,000 rows as it goes."""

    kill_point = "the first chunk charged and scored"

    def submit(self) -> str:
        self.user, _ = new_account(self.client, self.admin, credits=2 * PLATFORM_ROWS)
        self.before = balance(self.client, self.user)
        accepted = self.client.post("/api/upload/csv/lead-score", headers=self.user,
                                    files={"file": ("leads.csv", leads(PLATFORM_ROWS), "text/csv")})
        assert accepted.status_code == 202, accepted.text
        return accepted.json()["job_id"]

    def ready(self, job: dict) -> bool:
        return 0 < job["progress"] < 60

    def after(self, job: dict) -> None:
        summary, consumed = job["result"]["summary"], job["result"]["credits_consumed"]
        assert summary["processed_rows"] == PLATFORM_ROWS, summary
        taken = self.before - balance(self.client, self.user)
        assert (taken, consumed) == (PLATFORM_ROWS, PLATFORM_ROWS), \
            f"{PLATFORM_ROWS} rows delivered once, but {taken} credits were taken (the job says {consumed})"
        results = self.client.get(f"/api/upload/csv/results/{job['job_id']}", headers=self.user)
        assert results.status_code == 200 and len(pd.read_csv(io.StringIO(results.text))) == PLATFORM_ROWS


class Qc(Scenario):
    kill_point = "the first images checked"

    def submit(self) -> str:
        self.request = self.client.post("/requests", headers=self.admin,
                                        json={"title": "Crash QC", "classes": ["a", "b"]}).json()
        files = [("files", (f"{n}.png", encode(scene(9000 + n, (64, 48))), "image/png")) for n in range(QC_IMAGES)]
        uploaded = self.client.post(f"/requests/{self.request['id']}/uploads", headers=self.admin, files=files)
        assert uploaded.status_code == 200 and uploaded.json()["uploaded"] == QC_IMAGES, uploaded.text
        started = self.client.post(f"/requests/{self.request['id']}/qc/run", headers=self.admin)
        assert started.status_code == 200, started.text
        return started.json()["job_id"]

    def ready(self, job: dict) -> bool:
        return 20 < job["progress"] < 80

    def after(self, job: dict) -> None:
        results = self.client.get(f"/requests/{self.request['id']}/qc/results", headers=self.admin)
        assert results.status_code == 200, results.text
        assert len(results.json()) == QC_IMAGES, f"QC results of {len(results.json())} of {QC_IMAGES} images"


class Webhook(Scenario):
    """A delivery whose receiver holds the request without answering: the worker dies mid-request."""

    kill_point = "the receiver holding the first delivery attempt"

    def __init__(self, client, admin, receiver: Receiver):
        super().__init__(client, admin)
        self.receiver = receiver
        self.path = f"/hook-{secrets.token_hex(4)}"
        self.rules = WEBHOOKS

    def submit(self) -> str:
        allowed = self.client.put("/api/settings", json={"webhooks": self.rules}, headers=self.admin)
        assert allowed.status_code == 200, allowed.text
        made = self.client.post("/api/webhooks/configure", headers=self.admin, json={
            "url": self.receiver.script(self.path, HANG, 200), "events": ["model.updated"]})
        assert made.status_code == 201, made.text
        self.hook = made.json()["id"]
        queued = self.client.post(f"/api/webhooks/{self.hook}/test", headers=self.admin)
        assert queued.status_code == 202, queued.text
        return queued.json()["delivery"]["job_id"]

    def ready(self, job: dict) -> bool:
        return len(self.receiver.at(self.path)) >= 1

    def after(self, job: dict) -> None:
        rows = self.client.get(f"/api/webhooks/{self.hook}/deliveries", headers=self.admin).json()["deliveries"]
        assert [(r["status"], r["status_code"]) for r in rows] == [("delivered", 200)], rows
        assert len(self.receiver.at(self.path)) == 2, "the delivery was not sent again after the crash"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


def make_scenario(kind: str, client: httpx.Client, admin: dict[str, str], receiver: Receiver) -> Scenario:
    return {"training": Training, "csv-scoring": CsvScoring, "platform-batch": PlatformBatch, "qc": Qc,
            "webhook": lambda c, a: Webhook(c, a, receiver)}[kind](client, admin)


# --- the embedded shape: kill the server, start it again on the same data folder ------------------------


class Embedded:
    def __init__(self, launch: Launcher, home: Path, **settings: str):
        self.launch = launch
        self.env = {"MODELYARD_HOME": str(home), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
                    "MODELYARD_MAX_CSV_BATCH_ROWS": "1000", "MODELYARD_RATE_LIMIT_TOKEN": "1000000/hour",
                    **{f"MODELYARD_{k.upper()}": v for k, v in settings.items()}}
        self.home = home
        self.blobs = LocalBlobs(home / "blobs")
        self.server = launch.serve(self.env, name="serve")

    def restart(self) -> ModelyardProcess:
        assert not self.server.alive()
        self.server = self.launch.serve(self.env, name="serve-after-crash")
        return self.server

    def data(self) -> Data:
        return Data(f"sqlite:///{self.home / 'modelyard.db'}", self.blobs)


@pytest.mark.parametrize("kind", ["training", "csv-scoring", "platform-batch", "qc", "webhook"])
def test_a_job_interrupted_by_killing_the_embedded_server_is_retried_after_restart_and_leaves_nothing_half_made(
        kind, launch: Launcher, tmp_path, receiver):
    embedded = Embedded(launch, tmp_path / "home")
    with httpx.Client(base_url=embedded.server.url, timeout=60.0) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        scenario = make_scenario(kind, client, admin, receiver)
        job_id = scenario.submit()
        kill_when(client, job_id, admin, embedded.server, scenario.ready, scenario.kill_point)

    server = embedded.restart()
    with httpx.Client(base_url=server.url, timeout=60.0) as client:
        scenario.client = client
        job = recovered(client, job_id, admin, (server,))
        scenario.after(job)
    data = embedded.data()
    try:
        data.check()
        assert data.jobs_in_progress() == []
    finally:
        data.close()


def test_a_webhook_delivery_killed_on_its_last_attempt_is_failed_with_the_reason_in_its_job_and_its_log(
        launch: Launcher, tmp_path, receiver):
    embedded = Embedded(launch, tmp_path / "home")
    with httpx.Client(base_url=embedded.server.url, timeout=60.0) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        scenario = Webhook(client, admin, receiver)
        scenario.rules = {**WEBHOOKS, "maxAttempts": 1}
        job_id = scenario.submit()
        kill_when(client, job_id, admin, embedded.server, scenario.ready, scenario.kill_point)

    server = embedded.restart()
    with httpx.Client(base_url=server.url, timeout=60.0) as client:
        job = wait_for_job(client, job_id, admin, until=lambda j: j["status"] in TERMINAL, timeout=RECOVERY,
                           what="the end of the interrupted last attempt", processes=(server,))
        assert (job["status"], job["attempts"]) == ("failed", 1), job
        assert "stopped responding (its process is gone)" in job["error"], job
        rows = client.get(f"/api/webhooks/{scenario.hook}/deliveries", headers=admin).json()["deliveries"]
    assert [(r["status"], r["error"]) for r in rows] == [("failed", job["error"])], \
        f"the delivery log does not say the delivery failed, and why: {rows}"
    assert len(receiver.at(scenario.path)) == 1


def test_a_csv_upload_killed_mid_body_or_mid_blob_write_leaves_no_partial_blob_or_record(launch: Launcher,
                                                                                         tmp_path):
    embedded = Embedded(launch, tmp_path / "home")
    body = training_csv()
    big = body + b"".join(body.split(b"\n", 1)[1] for _ in range(120))  # ~7 MB more of the same rows
    with httpx.Client(base_url=embedded.server.url, timeout=60.0) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))

    # 1. While the request body streams: half of it sent, the rest held back until the server is gone.
    sent_half, server_gone = threading.Event(), threading.Event()

    def stalled():
        boundary = b"crashboundary"
        yield b"--" + boundary + b'\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n'
        yield b"Content-Type: text/csv\r\n\r\n" + big[:len(big) // 2]
        sent_half.set()
        server_gone.wait(60)
        yield big[len(big) // 2:] + b"\r\n--" + boundary + b"--\r\n"

    outcome: dict = {}

    def send():
        try:
            outcome["response"] = httpx.post(f"{embedded.server.url}/api/upload", content=stalled(), headers={
                **admin, "Content-Type": "multipart/form-data; boundary=crashboundary"}, timeout=60.0)
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    sender = threading.Thread(target=send)
    sender.start()
    assert sent_half.wait(30), "the first half of the body was never sent"
    time.sleep(0.3)  # let the server read what was sent (nothing of it may reach the blob store)
    embedded.server.sigkill()
    server_gone.set()
    sender.join(30)
    assert "response" not in outcome, f"the upload was answered although the server was killed: {outcome}"

    # 2. While the blob is written: killed as soon as the store's temp file appears.
    server = embedded.restart()
    killed = threading.Event()

    def watch():
        wait_until(lambda: bool(embedded.blobs.temp_files()) or not server.alive(), 60, "a temp blob file",
                   interval=0.001)
        if server.alive():
            server.sigkill()
            killed.set()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        httpx.post(f"{server.url}/api/upload", headers=admin, files={"file": ("big.csv", big, "text/csv")},
                   timeout=60.0)
        answered = True
    except httpx.HTTPError:
        answered = False
    watcher.join(60)
    assert killed.is_set() and not answered, "the server was not killed while it wrote the blob"
    assert embedded.blobs.temp_files(), "the kill left no temp file: it did not land during the write"

    server = embedded.restart()
    with httpx.Client(base_url=server.url, timeout=60.0) as client:
        assert client.get("/api/datasets", headers=admin).json() == [], "a dataset was recorded by a killed upload"
        again = client.post("/api/upload", headers=admin, files={"file": ("small.csv", body, "text/csv")})
        assert again.status_code == 200, again.text
    assert embedded.blobs.under("datasets/") == [f"datasets/1/{again.json()['file_id']}.csv"]
    data = embedded.data()
    try:
        data.check()
    finally:
        data.close()


def test_a_presigned_upload_completion_killed_midway_can_be_completed_again_without_losses_or_copies(
        launch: Launcher, tmp_path):
    embedded = Embedded(launch, tmp_path / "home")
    count = 40
    with httpx.Client(base_url=embedded.server.url, timeout=60.0) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        request = client.post("/requests", headers=admin, json={"title": "Crash uploads", "classes": ["a"]}).json()
        slots = client.post("/uploads/presign", headers=admin, json={
            "request_id": request["id"],
            "files": [{"filename": f"{n}.png", "content_type": "image/png"} for n in range(count)]})
        assert slots.status_code == 200, slots.text
        uploaded = []
        for n, slot in enumerate(slots.json()["uploads"]):
            put = httpx.put(slot["url"], content=encode(scene(7000 + n, (320, 240))), headers=slot["headers"],
                            timeout=30.0)
            assert put.status_code == 200, put.text
            uploaded.append({"filename": slot["filename"], "key": slot["key"], "etag": put.headers.get("etag")})
    final = f"labeling/1/{request['id']}/"
    server = embedded.server

    def watch():
        wait_until(lambda: bool(embedded.blobs.under(final)) or not server.alive(), 60, "the first stored image",
                   interval=0.001)
        server.sigkill()

    watcher = threading.Thread(target=watch)
    watcher.start()
    with pytest.raises(httpx.HTTPError):
        httpx.post(f"{server.url}/uploads/complete", headers=admin, timeout=60.0,
                   json={"request_id": request["id"], "uploaded": uploaded})
    watcher.join(60)

    server = embedded.restart()
    with httpx.Client(base_url=server.url, timeout=60.0) as client:
        data = embedded.data()
        try:
            data.check()  # before the client completes again: whatever the kill left is consistent
        finally:
            data.close()
        again = client.post("/uploads/complete", headers=admin,
                            json={"request_id": request["id"], "uploaded": uploaded})
        assert again.status_code == 200, again.text
        body = again.json()
        assert body["errors"] == [], body
        assert body["uploaded"] + body["skipped"] == count, body
        images = client.get(f"/requests/{request['id']}/uploads", headers=admin).json()
        assert sorted(i["filename"] for i in images) == sorted(f"{n}.png" for n in range(count))
    data = embedded.data()
    try:
        data.check()
    finally:
        data.close()


# --- the scaled shape: the API stays, the worker running the job is killed and replaced -----------------


@pytest.fixture
def pg_database(postgres_server) -> Iterator[str]:
    """A fresh PostgreSQL database for each test here (the bucket is per test too: records and blobs must match)."""
    with fresh_pg_database(postgres_server) as url:
        yield url


@pytest.mark.parametrize("kind", ["training", "csv-scoring", "platform-batch", "qc", "webhook"])
def test_a_job_interrupted_by_killing_its_worker_is_retried_by_the_next_worker_and_leaves_nothing_half_made(
        kind, launch: Launcher, scaled_env, pg_database, receiver):
    api = launch.serve(scaled_env("api"), name="api")
    worker = launch.worker(scaled_env("worker-1"), name="worker-1")
    with httpx.Client(base_url=api.url, timeout=60.0) as client:
        admin = bearer(login(client, "admin", SCALED_ADMIN_PASSWORD))
        scenario = make_scenario(kind, client, admin, receiver)
        job_id = scenario.submit()
        kill_when(client, job_id, admin, worker, scenario.ready, scenario.kill_point)
        second = launch.worker(scaled_env("worker-2"), name="worker-2")
        job = recovered(client, job_id, admin, (api, second))
        scenario.after(job)
    data = Data(pg_database, S3Blobs(scaled_env("check")))
    try:
        data.check()
        assert data.jobs_in_progress() == []
    finally:
        data.close()
