"""The model-registry contract end to end on `modelyard serve`: models trained here, saved as skops and
ONNX, uploaded with artifacts, downloaded byte for byte, deployed, served by entity keys from a feature
table; a hostile pickle refused; /metrics read by promtool, across two processes in multiprocess mode."""
from __future__ import annotations

import json
import secrets
import selectors
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Iterator

import httpx
import pytest

from tests.conftest import unavailable
from tests.e2e.processes import Launcher, ModelyardProcess, bearer
from tests.support.registry_models import (
    FEATURES, customers, file_creating_pickle, onnx_bytes, regressor, signature_json, skops_bytes, to_csv,
)

pytestmark = pytest.mark.slow
CONFIG = json.dumps({"threshold": 0.5, "owner": "e2e"}).encode()


@pytest.fixture(scope="module")
def admin_password() -> str:
    return f"admin-{secrets.token_hex(6)}"


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def server(module_launch: Launcher, home, admin_password) -> ModelyardProcess:
    return module_launch.serve({"MODELYARD_HOME": str(home), "MODELYARD_ADMIN_PASSWORD": admin_password})


@pytest.fixture
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60.0) as http:
        yield http


@pytest.fixture
def admin(client, admin_password) -> dict[str, str]:
    response = client.post("/login", params={"username": "admin", "password": admin_password})  # the contract's way
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


@pytest.fixture(scope="module")
def frame():
    return customers(50, seed=7)


@pytest.fixture(scope="module")
def model(frame):
    return regressor(frame)


def upload(client, headers, data, filename, version, artifacts, **params):
    files = [("model_file", (filename, data))] + [("artifact_files", a) for a in artifacts]
    response = client.post("/upload_model", headers=headers, files=files,
                           params={"model_name": "test_model", "model_description": "This is a test model.",
                                   "model_version": version, **params})
    assert response.status_code == 200, response.text
    return response.json()


def test_skops_and_onnx_versions_upload_download_deploy_and_infer_like_the_local_model(client, admin, frame, model):
    table = client.post("/api/feature-tables", headers=admin, params={"name": "customers",
                                                                        "key_columns": "customer_id,purchase_date_id"},
                        files={"file": ("customers.csv", to_csv(frame.drop(columns=["amount"])), "text/csv")})
    assert table.status_code == 201, table.text
    skops_file, onnx_file = skops_bytes(model), onnx_bytes(model)

    first = upload(client, admin, skops_file, "Model_0.skops", "1", [("config.json", CONFIG)],
                   deployment="True", feature_table="customers")
    second = upload(client, admin, onnx_file, "Model_0.onnx", "2",
                    [("config.json", CONFIG), ("signature.json", signature_json())],
                    deployment="True", feature_table="customers")
    assert first["model_path"] == "test_model/1/Model_0.skops" and first["status"] == "deployed"
    assert second["artifact_paths"] == ["test_model/2/artifacts/config.json", "test_model/2/artifacts/signature.json"]
    assert client.get(f"/api/models/{first['model_version_id']}", headers=admin).json()["status"] == "trained"

    for version, original in (("1", skops_file), ("2", onnx_file)):
        download = client.get("/get_model", params={"model_name": "test_model", "model_version": version},
                              headers=admin)
        assert download.status_code == 200 and download.content == original
        config = client.get("/get_model", params={"model_name": "test_model", "model_version": version,
                                                  "artifact": "config.json"}, headers=admin)
        assert config.content == CONFIG

    for customer in (1, 17, 42):
        day = frame.loc[frame.customer_id == customer, "purchase_date_id"].item()
        expected = model.predict(frame.loc[frame.customer_id == customer, FEATURES])[0]
        for version, tolerance in (("1", 1e-9), ("2", 1e-4)):
            response = client.get(f"/inference?model_name=test_model&model_version={version}"
                                  f"&customer_id={customer}&purchase_date_id={day}", headers=admin)
            assert response.status_code == 200, response.text
            assert response.json() == {"prediction": pytest.approx(expected, rel=tolerance)}


def test_a_pickle_whose_loading_would_create_a_file_is_refused_and_the_file_is_never_created(client, admin,
                                                                                           tmp_path):
    marker = tmp_path / "pwned"
    response = client.post("/upload_model", headers=admin, params={"model_name": "evil", "model_version": "1"},
                           files={"model_file": ("Model_0.pkl", file_creating_pickle(marker))})
    assert response.status_code == 403, response.text
    assert "allowPickle" in response.json()["message"]
    assert not marker.exists()
    assert client.get("/get_model", params={"model_name": "evil", "model_version": "1"}, headers=admin).status_code == 404


def test_a_2_gb_upload_is_refused_413_without_the_server_reading_it(server, admin):
    boundary = "b" + secrets.token_hex(8)
    head = (f"POST /upload_model?model_name=huge&model_version=1 HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: {admin['Authorization']}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n"
            f"Transfer-Encoding: chunked\r\n\r\n").encode()
    part = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"model_file\"; filename=\"big.onnx\"\r\n"
            f"Content-Type: application/octet-stream\r\n\r\n").encode()
    chunk = b"\x00" * (1 << 20)
    sent, answer = 0, b""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock, \
            selectors.DefaultSelector() as ready:  # epoll: select() refuses descriptors above 1023
        ready.register(sock, selectors.EVENT_READ)
        sock.sendall(head + b"%x\r\n" % len(part) + part + b"\r\n")
        try:
            while sent < 2048 << 20 and not answer:  # at most 2 GiB, stopped as soon as the server answers
                sock.sendall(b"%x\r\n" % len(chunk) + chunk + b"\r\n")
                sent += len(chunk)
                if ready.select(timeout=0):
                    answer = sock.recv(65536)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = answer or sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert sent < 200 << 20  # refused after ~50 MiB (the limit), not after 2 GiB


def test_metrics_pass_promtool_and_count_the_registry(client, admin):
    text = client.get("/metrics").text
    assert 'modelyard_predictions_total{model="test_model",version="1"}' in text
    assert 'route="/upload_model"' in text
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool (Debian package prometheus)", FileNotFoundError("promtool"))
    result = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_two_processes_in_multiprocess_mode_answer_for_each_other(launch: Launcher, tmp_path):
    folder = tmp_path / "prometheus"
    folder.mkdir()
    env = {"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_ADMIN_PASSWORD": "admin-pw-123456",
           "PROMETHEUS_MULTIPROC_DIR": str(folder)}
    first = launch.serve(env, name="serve-a")
    second = launch.serve(env, name="serve-b")
    for _ in range(7):
        assert httpx.get(f"{first.url}/health").status_code == 200
    text = httpx.get(f"{second.url}/metrics").text
    line = next(x for x in text.splitlines()
                if x.startswith('modelyard_http_requests_total{method="GET",route="/health",status="200"}'))
    assert float(line.split()[-1]) >= 7
    pids = {f'pid="{p.pid}"' for p in (first, second)}
    assert all(pid in text for pid in pids), "each process's figures carry its pid"
