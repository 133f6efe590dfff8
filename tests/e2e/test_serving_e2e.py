"""The one prediction pipeline across processes: separate workers score uploaded models, several API
processes see each other's deploys, revocations and deactivations, `serve --workers 2` serves.
"""
from __future__ import annotations

import io
import json
import time

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.e2e.conftest import ADMIN_PASSWORD
from tests.e2e.processes import Launcher, bearer, login, wait_for_job
from tests.support import registry_models as rm

pytestmark = pytest.mark.slow


def upload_model(client: httpx.Client, headers: dict, name: str, filename: str, data: bytes,
                 artifacts: list[tuple[str, bytes]] = ()) -> dict:
    files = [("model_file", (filename, data, "application/octet-stream"))]
    files += [("artifact_files", (n, b, "application/json")) for n, b in artifacts]
    response = client.post("/upload_model", headers=headers, files=files,
                           params={"model_name": name, "model_version": "1", "deployment": "true"})
    assert response.status_code == 200, f"{filename}: {response.status_code} {response.text}"
    return response.json()


def local_predictions(fmt: str, data: bytes, frame: pd.DataFrame) -> list:
    """What the model says about `frame` when loaded here, outside modelyard."""
    X = frame[rm.FEATURES].to_numpy(dtype=float)
    if fmt == "lightgbm":
        import lightgbm

        p = lightgbm.Booster(model_str=data.decode()).predict(X)
        return [int(v > 0.5) for v in p]
    if fmt == "xgboost":
        import xgboost

        booster = xgboost.Booster()
        booster.load_model(bytearray(data))
        p = booster.predict(xgboost.DMatrix(X, feature_names=rm.FEATURES))
        return [int(v > 0.5) for v in p]
    import onnxruntime

    session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
    return [str(v) for v in session.run([session.get_outputs()[0].name], {session.get_inputs()[0].name:
                                                                         X.astype(np.float32)})[0]]


MODELS = {
    "onnx": ("model.onnx", lambda f: rm.onnx_bytes(rm.classifier(f)), [("signature.json", rm.signature_json())]),
    "lightgbm": ("model.txt", lambda f: rm.lightgbm_text(f, "binary"), []),
    "xgboost": ("model.json", lambda f: rm.xgboost_bytes(f), []),
}


@pytest.mark.parametrize("fmt", list(MODELS))
def test_a_separate_worker_scores_a_csv_with_an_uploaded_model(fmt, launch: Launcher, scaled_env):
    api = launch.serve(scaled_env("api"), name="api")
    worker = launch.worker(scaled_env("worker"))
    frame = rm.customers(200, seed=4)
    filename, make, artifacts = MODELS[fmt]
    data = make(frame)
    with httpx.Client(base_url=api.url, timeout=30) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        upload_model(client, admin, f"{fmt}-scorer", filename, data, artifacts)
        chosen = client.put("/api/scoring/active-model", json={"model": f"{fmt}-scorer"}, headers=admin)
        assert chosen.status_code == 200, chosen.text
        batch = frame[rm.FEATURES].head(120)
        uploaded = client.post("/upload", headers=admin, files={"file": ("batch.csv", rm.to_csv(batch), "text/csv")})
        assert uploaded.status_code == 200, uploaded.text
        upload_id = uploaded.json()["upload_id"]
        assert client.post("/validate", json={"upload_id": upload_id}, headers=admin).status_code == 200
        accepted = client.post("/predict", json={"upload_id": upload_id}, headers=admin)
        assert accepted.status_code == 200, accepted.text
        job = wait_for_job(client, accepted.json()["job_id"], admin, until=lambda j: j["status"] in
                           ("completed", "failed", "cancelled"), timeout=120, what=f"the {fmt} scoring job",
                           processes=(api, worker))
        assert job["status"] == "completed", job["error"]
        results = client.get("/download_results", params={"job_id": job["job_id"]}, headers=admin)
        assert results.status_code == 200, results.text
    scored = pd.read_csv(io.StringIO(results.text))
    assert len(scored) == 120
    assert scored["prediction"].tolist() == local_predictions(fmt, data, batch)
    assert "scoring" not in api.log().lower() or "Traceback" not in api.log()


def train_buyers(client: httpx.Client, headers: dict, name: str) -> str:
    from tests.support.datasets import buyers, to_csv

    file_id = client.post("/api/upload", headers=headers, files={"file": ("b.csv", to_csv(buyers(300)), "text/csv")}
                          ).json()["file_id"]
    job = client.post("/api/train", headers=headers, json={
        "file_id": file_id, "name": name, "training_params": {"target": "will_buy", "max_training_time": 20}}).json()
    done = wait_for_job(client, job["job_id"], headers, until=lambda j: j["status"] in ("completed", "failed"),
                        timeout=120, what="training")
    assert done["status"] == "completed", done["error"]
    return done["result"]["model_id"]


ROW = {"data": [{"age": 40, "income": 90_000, "region": "north", "purchases": 3}]}


def predict(url: str, headers: dict) -> httpx.Response:
    return httpx.post(f"{url}/api/predict/shared", json=ROW, headers=headers, timeout=30)


def check_two_api_processes(first, second) -> None:
    with httpx.Client(base_url=first.url, timeout=30) as one:
        admin = bearer(login(one, "admin", ADMIN_PASSWORD))
        v1 = train_buyers(one, admin, "shared")
        assert one.post(f"/api/models/{v1}/deploy", headers=admin).status_code == 200
        assert predict(second.url, admin).json()["model_id"] == v1  # the second process resolves and caches v1
        v2 = train_buyers(one, admin, "shared")
        assert one.post(f"/api/models/{v2}/deploy", headers=admin).status_code == 200
        deadline, served = time.monotonic() + 1.0, None
        while time.monotonic() < deadline and served != v2:
            served = predict(second.url, admin).json()["model_id"]
        assert served == v2, "the second process still serves the old version one second after the deploy"

        made = one.post("/admin/users", headers=admin, json={"username": "carol", "password": "carol-password-1",
                                                             "role": "user"}).json()
        key = one.post("/api/auth/keys", headers=bearer(login(one, "carol", "carol-password-1")),
                       json={"name": "k"}).json()
        carol_key = {"X-API-Key": key["api_key"]}
        carol_token = bearer(login(one, "carol", "carol-password-1"))
        assert httpx.get(f"{second.url}/api/auth/user", headers=carol_key).status_code == 200
        assert httpx.get(f"{second.url}/api/auth/user", headers=carol_token).status_code == 200
        assert one.delete(f"/api/auth/keys/{key['id']}", headers=carol_token).status_code == 204
        assert httpx.get(f"{second.url}/api/auth/user", headers=carol_key).status_code == 401
        assert one.delete(f"/admin/users/{made['id']}", headers=admin).status_code == 200
        assert httpx.get(f"{second.url}/api/auth/user", headers=carol_token).status_code == 401


def test_two_api_processes_on_one_data_folder_see_each_others_changes_at_once(launch: Launcher, tmp_path):
    env = {"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD}
    first = launch.serve(env, name="first")
    second = launch.serve(env, name="second")
    check_two_api_processes(first, second)


def test_two_api_hosts_of_the_scaled_shape_see_each_others_changes_at_once(launch: Launcher, scaled_env):
    first = launch.serve(scaled_env("first"), name="first")
    second = launch.serve(scaled_env("second"), name="second")
    launch.worker(scaled_env("worker"))
    check_two_api_processes(first, second)


def test_serve_with_two_workers_predicts_runs_jobs_once_and_sums_metrics(launch: Launcher, tmp_path):
    env = {"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD}
    server = launch.serve(env, workers=2)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        version = train_buyers(client, admin, "shared")
        assert client.post(f"/api/models/{version}/deploy", headers=admin).status_code == 200
        answers = [predict(server.url, admin) for _ in range(20)]
        assert {a.status_code for a in answers} == {200}
        text = client.get("/metrics").text
    served = [line for line in text.splitlines()
              if line.startswith("modelyard_predictions_total") and 'model="shared"' in line]
    assert served and float(served[0].rsplit(" ", 1)[1]) == 20.0, served  # both processes' counts, summed
    assert server.log().count("jobs of this data folder run in another process") == 1, server.tail()
    report = json.dumps(answers[0].json())
    assert "prediction" in report


def score(client: httpx.Client, headers: dict, upload_id: str, processes) -> tuple[dict, bytes]:
    accepted = client.post("/predict", json={"upload_id": upload_id}, headers=headers)
    assert accepted.status_code == 200, accepted.text
    job = wait_for_job(client, accepted.json()["job_id"], headers, until=lambda j: j["status"] in
                       ("completed", "failed", "cancelled"), timeout=180, what="the scoring job", processes=processes)
    assert job["status"] == "completed", job["error"]
    results = client.get("/download_results", params={"job_id": job["job_id"]}, headers=headers)
    assert results.status_code == 200, results.text
    return job, results.content


def test_two_workers_score_parts_of_one_file_and_the_result_equals_the_single_process_one(launch: Launcher,
                                                                                             scaled_env):
    """A file over scoring_part_bytes is split at record boundaries (quoted line breaks included), every
    live worker scores parts, and the assembled file is byte for byte what one process writes."""
    api = launch.serve(scaled_env("api"), name="api")
    split = {"scoring_part_bytes": "6000", "worker_threads": "1"}
    first = launch.worker(scaled_env("worker-a", **split), name="worker-a")
    second = launch.worker(scaled_env("worker-b", **split), name="worker-b")
    frame = rm.customers(3000, seed=7)
    batch = frame[rm.FEATURES].copy()
    batch.insert(0, "note", [f'row {i}, "quoted"\nsecond line' if i % 7 == 0 else f"row {i}" for i in range(len(batch))])
    with httpx.Client(base_url=api.url, timeout=30) as client:
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        data = rm.lightgbm_text(frame, "binary")
        upload_model(client, admin, "split-scorer", "model.txt", data)
        assert client.put("/api/scoring/active-model", json={"model": "split-scorer"}, headers=admin).status_code == 200
        uploaded = client.post("/upload", headers=admin, files={"file": ("batch.csv", rm.to_csv(batch), "text/csv")})
        assert uploaded.status_code == 200, uploaded.text
        upload_id = uploaded.json()["upload_id"]
        assert client.post("/validate", json={"upload_id": upload_id}, headers=admin).status_code == 200
        deadline = time.monotonic() + 30
        while client.get("/api/status", headers=admin).json().get("live_workers", 0) < 2:
            assert time.monotonic() < deadline, "both workers should beat within 30 s"
            time.sleep(0.5)

        split_job, split_bytes = score(client, admin, upload_id, (api, first, second))
        assert split_job["result"]["parts"] > 10
        assert len(split_job["result"]["workers"]) == 2, split_job["result"]
        assert split_job["progress"] == 100
        parts = client.get("/api/jobs", params={"kind": "scoring.part", "limit": 200}, headers=admin).json()
        mine = [j for j in parts if j["job_id"].startswith(split_job["job_id"] + ".")]
        assert len(mine) == split_job["result"]["parts"] and all(j["status"] == "completed" for j in mine)

        first.terminate()
        second.terminate()
        single = launch.worker(scaled_env("worker-c", scoring_part_bytes="0"), name="worker-c")
        single_job, single_bytes = score(client, admin, upload_id, (api, single))
        assert single_job["result"]["parts"] == 1
    assert split_bytes == single_bytes
    scored = pd.read_csv(io.BytesIO(split_bytes))
    assert len(scored) == 3000
    assert scored["note"].tolist() == batch["note"].tolist()
    assert scored["prediction"].tolist() == local_predictions("lightgbm", data, batch)
