"""GET /metrics: Prometheus text that promtool accepts, counting what the issue lists."""
import shutil
import subprocess

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from modelyard.app import create_app
from tests.api.test_jobs_api import submit
from tests.api.test_model_registry import feature_table, upload
from tests.conftest import unavailable
from tests.support.registry_models import customers, regressor, skops_bytes


def scrape(client, **headers) -> str:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def sample(text: str, name: str, **labels) -> float:
    """The value of one sample (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return 0.0


def test_metrics_are_open_prometheus_text_that_promtool_accepts(client, accounts, tmp_path):
    client.get("/api/models", headers=accounts["user"].headers)
    text = scrape(client)
    for name in ("modelyard_http_requests_total", "modelyard_http_request_duration_seconds_bucket",
                 "modelyard_build_info", "process_resident_memory_bytes", "modelyard_process_resident_memory_bytes"):
        assert name in text, name
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool (Debian package prometheus)", FileNotFoundError("promtool"))
    result = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()


def test_requests_are_counted_by_route_template_and_status_never_by_raw_path(client, accounts):
    labels = {"method": "GET", "route": "/api/models/{model_id}", "status": "404"}
    before = sample(scrape(client), "modelyard_http_requests_total", **labels)
    for ref in ("model_a", "model_b"):
        assert client.get(f"/api/models/{ref}", headers=accounts["user"].headers).status_code == 404
    client.get("/no/such/path/123")
    text = scrape(client)
    assert sample(text, "modelyard_http_requests_total", **labels) == before + 2
    assert sample(text, "modelyard_http_request_duration_seconds_count", **labels) == before + 2
    assert "model_a" not in text and "/no/such/path" not in text
    assert sample(text, "modelyard_http_requests_total", route="unmatched", status="404") >= 1


def test_predictions_uploads_and_cache_hits_are_counted(client, accounts):
    user = accounts["user"]
    frame = customers(20)
    feature_table(client, user, frame.drop(columns=["amount"]))
    before = scrape(client)
    data = skops_bytes(regressor(frame))
    upload(client, user, data, name="metered", feature_table="customers")
    for customer in (1, 2, 3):  # three different rows: the prediction cache answers none, the model cache two
        params = {"model_name": "metered", "model_version": "1", "customer_id": customer,
                  "purchase_date_id": f"2024-01-{customer:02d}"}
        assert client.get("/inference", params=params, headers=user.headers).status_code == 200
    after = scrape(client)

    def delta(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert delta("modelyard_predictions_total", model="metered", version="1") == 3
    assert delta("modelyard_prediction_duration_seconds_count", model="metered") == 3
    assert delta("modelyard_model_uploads_total", format="skops", outcome="accepted") == 1
    assert delta("modelyard_model_upload_bytes_total") == len(data)
    assert delta("modelyard_upload_requests_total", route="/upload_model", status="200") == 1
    assert delta("modelyard_upload_bytes_total", route="/upload_model") > len(data)
    assert delta("modelyard_model_cache_misses_total") == 1 and delta("modelyard_model_cache_hits_total") == 2


def test_jobs_are_counted_by_kind_and_status(client, app, accounts):
    submit(app, accounts["user"], "test.echo")
    submit(app, accounts["user"], "test.boom")
    text = scrape(client)
    assert sample(text, "modelyard_jobs", kind="test.echo", status="completed") == 1
    assert sample(text, "modelyard_jobs", kind="test.boom", status="failed") == 1


def test_open_websockets_are_counted(client, accounts):
    with client.websocket_connect(f"/ws?token={accounts['user'].token}") as socket:
        assert socket.receive_json()["type"] == "connected"
        assert sample(scrape(client), "modelyard_websocket_connections") == 1
    assert sample(scrape(client), "modelyard_websocket_connections") == 0


@pytest.fixture
def guarded(settings):
    with TestClient(create_app(settings.model_copy(update={"metrics_token": "scrape-token-1234"}),
                               immediate_jobs=True)) as guarded_client:
        yield guarded_client


def test_a_configured_scrape_token_is_required(guarded):
    assert guarded.get("/metrics").status_code == 401
    assert guarded.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert "modelyard_build_info" in scrape(guarded, Authorization="Bearer scrape-token-1234")
