"""The labeling platform end to end on real servers, with images the test generates.

Embedded shape: one `modelyard serve` (SQLite, local blob folder whose signed URLs it serves itself,
QC on its own job threads). Scaled shape: `modelyard serve` + `modelyard worker` sharing only
PostgreSQL, a Redis queue and an S3 bucket (moto): presigned PUTs go to S3 itself and QC runs on the
worker process.
"""
from __future__ import annotations

import secrets

import httpx
import pytest

from tests.support.servers import create_bucket
from tests.e2e.processes import Launcher, ModelyardProcess, bearer, login, wait_for_job
from tests.support.images import SD_PARAMETERS, center_crop, encode, jpeg, png_with_text, resized, scene
from tests.support.labeling import key_in

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = "labeling-admin-password-1"


class Platform:
    """A running modelyard with an admin, a customer, a second customer and a labeler."""

    def __init__(self, client: httpx.Client, processes: tuple[ModelyardProcess, ...]):
        self.client = client
        self.processes = processes
        self.admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        self.customer = self._account("user")
        self.stranger = self._account("user")
        self.labeler_name, self.labeler = self._account("labeler", named=True)

    def _account(self, role: str, named: bool = False):
        username, password = f"{role}{secrets.token_hex(4)}", f"pw-{secrets.token_hex(8)}"
        made = self.client.post("/admin/users", headers=self.admin,
                                json={"username": username, "password": password, "role": role})
        assert made.status_code == 201, made.text
        token = self.client.post("/auth/login", json={"username": username, "password": password})
        assert token.status_code == 200 and token.json()["role"] == ("customer" if role == "user" else role)
        headers = bearer(token.json()["access_token"])
        return (username, headers) if named else headers


def presigned_upload(platform: Platform, request_id: str, files: list[tuple[str, bytes]]) -> dict:
    client = platform.client
    slots = client.post("/uploads/presign", headers=platform.customer, json={
        "request_id": request_id, "files": [{"filename": n, "content_type": "image/png"} for n, _ in files]})
    assert slots.status_code == 200, slots.text
    uploaded = []
    for slot, (_, data) in zip(slots.json()["uploads"], files):
        assert slot["method"] == "PUT"
        put = httpx.put(slot["url"], content=data, headers=slot["headers"], timeout=30.0)  # straight to the store
        assert put.status_code == 200, f"PUT {slot['url']}: {put.status_code} {put.text[:300]}"
        uploaded.append({"filename": slot["filename"], "key": slot["key"], "etag": put.headers.get("etag")})
    done = client.post("/uploads/complete", headers=platform.customer,
                       json={"request_id": request_id, "uploaded": uploaded})
    assert done.status_code == 200, done.text
    return done.json()


def exercise(platform: Platform) -> None:
    """The whole journey: request, presigned and multipart uploads, QC, assignment, labels, visibility."""
    client = platform.client
    original = scene(8001, (640, 480))
    first = client.post("/requests", headers=platform.customer,
                        json={"title": "Shop shelves", "description": "", "classes": ["full", "empty"]}).json()
    done = presigned_upload(platform, first["id"], [("original.png", encode(original)),
                                                    ("other.png", encode(scene(8002)))])
    assert (done["status"], done["uploaded"]) == ("ok", 2), done
    original_key = next(i["key"] for i in client.get(f"/requests/{first['id']}/uploads",
                                                     headers=platform.customer).json()
                        if i["filename"] == "original.png")

    second = client.post("/requests", headers=platform.customer,
                         json={"title": "More shelves", "classes": ["full", "empty"]}).json()
    parts = [("exact.png", encode(original)), ("resized.png", encode(resized(original, 0.5))),
             ("recompressed.jpg", jpeg(original, 50)), ("cropped.png", encode(center_crop(original, 0.9))),
             ("distinct.png", encode(scene(8003))),
             ("sd.png", png_with_text(scene(8004), {"parameters": SD_PARAMETERS})),
             ("notes.png", b"a text file with an image name")]
    uploaded = client.post(f"/requests/{second['id']}/uploads", headers=platform.customer,
                           files=[("files", (name, data, "application/octet-stream")) for name, data in parts])
    assert uploaded.status_code == 200, uploaded.text
    assert uploaded.json()["uploaded"] == 6 and [e["filename"] for e in uploaded.json()["errors"]] == ["notes.png"]

    started = client.post(f"/requests/{second['id']}/qc/run", headers=platform.customer)
    assert started.status_code == 200, started.text
    job = wait_for_job(client, started.json()["job_id"], platform.customer, until=lambda j: j["status"] == "completed"
                       or j["status"] in ("failed", "cancelled"), timeout=60, what="QC", processes=platform.processes)
    assert job["status"] == "completed", job
    results = {r["filename"]: r for r in client.get(f"/requests/{second['id']}/qc/results",
                                                     headers=platform.customer).json()}
    for name in ("exact.png", "resized.png", "recompressed.jpg", "cropped.png"):
        assert results[name]["duplicate_score"] >= 0.9, results[name]
        assert key_in(results[name]["source_url"]).endswith(original_key), results[name]
    source = httpx.get(results["exact.png"]["source_url"], timeout=30.0)
    assert source.status_code == 200 and source.content == encode(original), "the source URL serves the original"
    assert results["distinct.png"]["duplicate_score"] < 0.5
    assert results["sd.png"]["ai_generated_score"] >= 0.9 and "ai_png_parameters" in results["sd.png"]["flags"]

    assign = client.post("/admin/assign", headers=platform.admin,
                         json={"request_id": second["id"], "labeler_username": platform.labeler_name})
    task_id = assign.json()["task_id"]
    task = client.get(f"/tasks/{task_id}", headers=platform.labeler).json()
    assert task["classes"] == ["full", "empty"] and len(task["images"]) == 6
    for image in task["images"]:
        saved = client.post(f"/tasks/{task_id}/labels", headers=platform.labeler,
                            json={"image_id": image["image_id"], "labels": ["full"]})
        assert saved.status_code == 200, saved.text
    assert saved.json()["task_status"] == "done"
    export = client.get(f"/requests/{second['id']}/export", params={"format": "csv"}, headers=platform.customer)
    assert export.status_code == 200 and export.text.count("\n") == 7

    # Who sees what.
    assert [r["id"] for r in client.get("/requests", headers=platform.stranger).json()] == []
    assert client.get(f"/requests/{second['id']}/qc/results", headers=platform.stranger).status_code == 404
    assert client.get(f"/tasks/{task_id}", headers=platform.stranger).status_code == 404
    assert client.get(f"/tasks/{task_id}", headers=platform.customer).status_code == 404
    assert [t["id"] for t in client.get("/tasks", headers=platform.labeler).json()] == [task_id]
    assert client.get("/admin/tasks", headers=platform.labeler).status_code == 403
    assert client.get("/admin/requests", headers=platform.customer).status_code == 403
    everything = client.get("/admin/requests", headers=platform.admin).json()
    assert {first["id"], second["id"]} <= {r["id"] for r in everything}
    assert client.get(f"/requests/{second['id']}", headers=platform.customer).json()["status"] == "labeled"


def test_the_labeling_journey_on_the_embedded_server(launch: Launcher, tmp_path):
    server = launch.serve({"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD})
    with httpx.Client(base_url=server.url, timeout=30.0) as client:
        exercise(Platform(client, (server,)))



def test_the_labeling_journey_on_the_scaled_shape_with_presigned_s3_uploads(
        launch: Launcher, tmp_path, pg_database, redis_server, s3_endpoint, queue_name):
    bucket = create_bucket(s3_endpoint, f"modelyard-labeling-{secrets.token_hex(4)}")

    def env(name: str) -> dict[str, str]:
        return {"MODELYARD_HOME": str(tmp_path / f"home-{name}"), "MODELYARD_DATABASE_URL": pg_database,
                "MODELYARD_QUEUE_URL": redis_server, "MODELYARD_QUEUE_NAME": queue_name,
                "MODELYARD_REDIS_URL": redis_server, "MODELYARD_BLOB_URL": f"s3://{bucket}/e2e",
                "MODELYARD_S3_ENDPOINT_URL": s3_endpoint, "MODELYARD_S3_ACCESS_KEY_ID": "test",
                "MODELYARD_S3_SECRET_ACCESS_KEY": "test",
                "MODELYARD_SECRET_KEY": "e2e-labeling-secret-0123456789abcdef",
                "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD, "MODELYARD_EMBEDDED_WORKER": "false",
                "MODELYARD_RATE_LIMIT_TOKEN": "1000000/hour"}

    api = launch.serve(env("api"), name="api")
    worker = launch.worker(env("worker"))
    with httpx.Client(base_url=api.url, timeout=30.0) as client:
        platform = Platform(client, (api, worker))
        request = client.post("/requests", headers=platform.customer, json={"title": "s3", "classes": ["a"]}).json()
        slot = client.post("/uploads/presign", headers=platform.customer, json={
            "request_id": request["id"], "files": [{"filename": "a.png", "content_type": "image/png"}]}).json()
        assert slot["uploads"][0]["url"].startswith(s3_endpoint), "S3 presigns the URL, not modelyard"
        exercise(platform)
