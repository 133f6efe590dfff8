"""`modelyard backup` of a running embedded server while it writes, restored into an empty home and served again.

Users, a dataset, a trained model, a labeling request with an image and its label, and a csv-scoring
result are made over HTTP; the backup runs while a thread keeps uploading datasets; the restored home is
served by a new process, and everything made before the backup is found there through the API, with the
same bytes. Datasets uploaded during the backup may or may not be in it, but each one that is has its blob.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.processes import MODELYARD, Launcher, bearer, clean_env, login, wait_for_job
from tests.support.datasets import buyers, to_csv
from tests.support.images import encode, scene

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = f"backup-admin-{secrets.token_hex(6)}"
TARGET = "will_buy"


def cli(*args: str, home: Path, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*MODELYARD, *args], env=clean_env({"MODELYARD_HOME": str(home)}), cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def make_user(client: httpx.Client, admin: dict, role: str) -> tuple[str, dict]:
    name, password = f"{role}{secrets.token_hex(3)}", f"pw-{secrets.token_hex(8)}"
    made = client.post("/admin/users", headers=admin, json={"username": name, "password": password, "role": role})
    assert made.status_code == 201, made.text
    return name, bearer(login(client, name, password))


def fill(client: httpx.Client, admin: dict) -> dict:
    """Every kind of thing the backup must keep; returns what to look for afterwards."""
    customer_name, customer = make_user(client, admin, "user")
    labeler_name, labeler = make_user(client, admin, "labeler")
    dataset = client.post("/api/upload", headers=admin,
                          files={"file": ("buyers.csv", to_csv(buyers(300)), "text/csv")})
    assert dataset.status_code == 200, dataset.text
    file_id = dataset.json()["file_id"]
    train = client.post("/api/train", headers=admin, json={
        "file_id": file_id, "name": "Buyers", "training_params": {"target": TARGET, "max_training_time": 5}})
    assert train.status_code == 202, train.text
    trained = wait_for_job(client, train.json()["job_id"], admin, until=lambda j: j["status"] in (
        "completed", "failed", "cancelled"), timeout=90, what="training")
    assert trained["status"] == "completed", trained
    model_id = trained["result"]["model_id"]
    assert client.post(f"/api/models/{model_id}/deploy", headers=admin).status_code == 200
    assert client.put("/api/scoring/active-model", json={"model": "Buyers"}, headers=admin).status_code == 200

    upload = client.post("/upload", headers=customer,
                         files={"file": ("rows.csv", to_csv(buyers(50, seed=4).drop(columns=[TARGET])), "text/csv")})
    assert upload.status_code == 200, upload.text
    checked = client.post("/validate", json={"upload_id": upload.json()["upload_id"]}, headers=customer)
    assert checked.status_code == 200 and checked.json()["valid"], checked.text
    predict = client.post("/predict", json={"upload_id": upload.json()["upload_id"]}, headers=customer)
    assert predict.status_code == 200, predict.text
    scoring_job = predict.json()["job_id"]
    scored = wait_for_job(client, scoring_job, customer, until=lambda j: j["status"] in ("completed", "failed"),
                          timeout=60, what="scoring")
    assert scored["status"] == "completed", scored

    image = encode(scene(4242))
    request = client.post("/requests", headers=customer, json={"title": "Birds", "classes": ["owl", "crow"]}).json()
    sent = client.post(f"/requests/{request['id']}/uploads", headers=customer,
                       files=[("files", ("owl.png", image, "image/png"))])
    assert sent.status_code == 200 and sent.json()["uploaded"] == 1, sent.text
    task_id = client.post("/admin/assign", headers=admin, json={"request_id": request["id"],
                                                                "labeler_username": labeler_name}).json()["task_id"]
    image_id = client.get(f"/tasks/{task_id}", headers=labeler).json()["images"][0]["image_id"]
    saved = client.post(f"/tasks/{task_id}/labels", headers=labeler, json={"image_id": image_id, "labels": ["owl"]})
    assert saved.status_code == 200, saved.text

    return {"users": {u["username"] for u in client.get("/admin/users", headers=admin).json()},
            "customer": customer, "labeler": labeler, "file_id": file_id, "model_id": model_id,
            "model_bytes": client.get("/get_model", params={"model_name": "Buyers"}, headers=admin).content,
            "scoring_job": scoring_job,
            "results": client.get("/download_results", params={"job_id": scoring_job}, headers=customer).content,
            "task_id": task_id, "image": image}


def keep_uploading(client: httpx.Client, admin: dict, stop: threading.Event, sent: list[tuple]) -> None:
    """Upload datasets back to back until stopped; `sent` gets (file_id, started, finished) of each."""
    n = 0
    while not stop.is_set():
        n += 1
        started = time.monotonic()
        response = client.post("/api/upload", headers=admin,
                               files={"file": (f"during-{n}.csv", to_csv(buyers(200, seed=n)), "text/csv")})
        assert response.status_code == 200, response.text
        sent.append((response.json()["file_id"], started, time.monotonic()))


def wait_until(condition, writer: threading.Thread, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and writer.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)


def test_a_backup_taken_while_the_server_writes_restores_into_a_home_that_serves_everything(
        launch: Launcher, tmp_path):
    home, restored_home, backup = tmp_path / "home", tmp_path / "restored", tmp_path / "backup"
    server = launch.serve({"MODELYARD_HOME": str(home), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD})
    with httpx.Client(base_url=server.url, timeout=60.0) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        made = fill(client, admin)
        stop, sent = threading.Event(), []
        writer = threading.Thread(target=keep_uploading, args=(client, admin, stop, sent))
        writer.start()
        try:
            wait_until(lambda: len(sent) >= 1, writer)  # the writer is busy before the backup starts
            began = time.monotonic()
            taken = cli("backup", str(backup), home=home, cwd=tmp_path)
            ended, count = time.monotonic(), len(sent)
            wait_until(lambda: len(sent) >= count + 2, writer)  # and after it: uploads the snapshot cannot hold
        finally:
            stop.set()
            writer.join(60)
        assert not writer.is_alive() and len(sent) >= count + 2, f"the writer stopped early: {sent}"
        assert any(start < ended and end > began for _, start, end in sent), "no upload overlapped the backup"
    during = [file_id for file_id, _, _ in sent]
    assert taken.returncode == 0, taken.stderr + taken.stdout
    assert "backup written to" in taken.stdout and "secret   : included" in taken.stdout
    manifest = json.loads((backup / "manifest.json").read_text())
    for blob in manifest["blobs"]:  # the backup's bytes are the store's
        assert (backup / "blobs" / blob["key"]).read_bytes() == (home / "blobs" / blob["key"]).read_bytes()

    over_running = cli("restore", str(backup), "--force", home=home, cwd=tmp_path)
    assert over_running.returncode == 1 and "a modelyard server is running on" in over_running.stderr
    put_back = cli("restore", str(backup), home=restored_home, cwd=tmp_path)
    assert put_back.returncode == 0, put_back.stderr + put_back.stdout
    second = launch.serve({"MODELYARD_HOME": str(restored_home), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD},
                          name="restored")

    with httpx.Client(base_url=second.url, timeout=60.0) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        assert {u["username"] for u in client.get("/admin/users", headers=admin).json()} == made["users"]
        customer = made["customer"]  # tokens stay valid: the secret came back with the backup
        dataset = client.get(f"/api/datasets/{made['file_id']}", headers=admin)  # the list is newest first, paged
        assert dataset.status_code == 200 and dataset.json()["rows"] == 300, dataset.text
        assert client.get(f"/api/models/{made['model_id']}", headers=admin).status_code == 200
        assert client.get("/get_model", params={"model_name": "Buyers"}, headers=admin).content == made["model_bytes"]
        results = client.get("/download_results", params={"job_id": made["scoring_job"]}, headers=customer)
        assert results.status_code == 200 and results.content == made["results"]
        task = client.get(f"/tasks/{made['task_id']}", headers=made["labeler"]).json()
        assert [i["labels"] for i in task["images"]] == [["owl"]]
        assert httpx.get(task["images"][0]["url"], timeout=30).content == made["image"]
        predicted = client.post("/api/predict/Buyers", headers=admin, json={"data": [
            {"age": 40, "income": 90_000, "region": "north", "purchases": 3}]})
        assert predicted.status_code == 200, predicted.text
    for blob in manifest["blobs"]:
        assert (restored_home / "blobs" / blob["key"]).read_bytes() == (backup / "blobs" / blob["key"]).read_bytes()
    with sqlite3.connect(restored_home / "modelyard.db") as db:  # uploaded during the backup and in it: blob too
        kept = dict(db.execute("SELECT id, blob_key FROM dataset").fetchall())
    assert set(during) - set(kept), "some uploads came after the snapshot (else the test proves nothing)"
    for file_id, key in kept.items():
        assert (restored_home / "blobs" / key).is_file(), f"dataset {file_id} lost its blob {key}"
