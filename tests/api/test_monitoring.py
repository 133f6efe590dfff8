"""The monitoring routes: after a scripted mix of calls and jobs, every figure of `/monitoring/api/metrics`
(over HTTP and over `/ws`) and `/monitoring/api/models` matches what the test counted; bad windows are 422;
the page is public HTML whose assets all come from the package."""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone

import pytest

from modelyard.ops.monitoring import BUCKETS
from modelyard.ops.monitoring_schemas import MonitoringMetricsOut
from modelyard.ops.schemas import ModelStatusOut
from modelyard.ops.predlog import PredictionRecord
from tests.api.test_jobs_api import submit

TEXTS = ("What a lovely day", "This is terrible", "It is fine, I suppose")
BAD = ({"text": ""}, {})  # refused (422) after naming the model: logged as errors


@pytest.fixture
def scripted(client, app, accounts):
    """The user: 3 good sentiment calls, 2 refused; one echo job (completed) and one that fails.
    The other user: 1 call."""
    user = accounts["user"]
    for text in TEXTS:
        assert client.post("/api/predict/sentiment", json={"text": text}, headers=user.headers).status_code == 200
    for body in BAD:
        assert client.post("/api/predict/sentiment", json=body, headers=user.headers).status_code == 422
    submit(app, user, value="x")
    submit(app, user, kind="test.boom")
    other = accounts["other"]
    assert client.post("/api/predict/sentiment", json={"text": "ok"}, headers=other.headers).status_code == 200
    return user


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def test_metrics_count_the_viewers_calls_errors_rows_and_jobs(client, scripted, accounts):
    body = client.get("/monitoring/api/metrics", params={"window": 60}, headers=scripted.headers).json()
    totals = body["totals"]
    assert (totals["calls"], totals["errors"], totals["rows"]) == (5, 2, 5)
    assert totals["error_rate"] == 40.0 and totals["calls_per_minute"] == round(5 / 60, 3)
    assert totals["by_model"] == {"sentiment": 5}
    series = body["series"]
    assert all(len(series[key]) == BUCKETS for key in ("bucket_starts", "calls", "errors", "calls_per_minute"))
    assert (sum(series["calls"]), sum(series["errors"]), sum(series["rows"])) == (5, 2, 5)
    assert series["calls"][-1] == 5, "the calls were just made: the last bucket"
    assert series["calls_per_minute"][-1] == 5.0 and series["errors_per_minute"][-1] == 2.0  # 1-minute buckets
    assert series["by_model"] == {"sentiment": [0] * (BUCKETS - 1) + [5]}
    assert body["bucket_seconds"] == 60.0 and body["window_minutes"] == 60 and body["scope"] == "own calls"
    assert body["jobs"] == {"by_status": {"completed": 1, "failed": 1},
                            "created_in_window": {"completed": 1, "failed": 1}}
    assert body["process"]["requests_per_minute"] >= 6
    MonitoringMetricsOut.model_validate(body)  # the documented shape is the one answered

    other = client.get("/monitoring/api/metrics", headers=accounts["other"].headers).json()
    assert (other["totals"]["calls"], other["totals"]["errors"], other["jobs"]["by_status"]) == (1, 0, {})
    admin = client.get("/monitoring/api/metrics", headers=accounts["admin"].headers).json()
    assert (admin["totals"]["calls"], admin["scope"]) == (6, "all users")


def test_latency_percentiles_are_within_one_percent_of_the_logged_latencies(client, scripted):
    exported = client.get("/api/enterprise/export/predictions", params={"format": "json", "days": 1},
                          headers=scripted.headers).json()
    exported.sort(key=lambda row: row["timestamp"])
    latencies = [row["processing_time"] * 1000 for row in exported]
    assert len(latencies) == 5
    body = client.get("/monitoring/api/metrics", params={"window": 5}, headers=scripted.headers).json()
    series = body["series"]
    for key, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        assert body["totals"]["latency_ms"][key] == pytest.approx(nearest_rank(latencies, q), rel=0.011, abs=0.002)
    # 10-second buckets: on a slow machine the five calls may straddle a boundary, so each bucket is checked
    # against the calls it holds (taken in time order, as many as its count says).
    taken = 0
    for index, calls in enumerate(series["calls"]):
        held, taken = latencies[taken:taken + calls], taken + calls
        for key, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
            if not held:
                assert series["latency_ms"][key][index] is None, "an empty bucket has no percentile"
            else:
                assert series["latency_ms"][key][index] == pytest.approx(nearest_rank(held, q), rel=0.011, abs=0.002)
    assert taken == 5


def test_calls_land_in_the_bucket_of_their_time_and_older_ones_are_left_out(client, app, accounts):
    admin = accounts["admin"]
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    ages = {"in bucket 29": 30.5, "in bucket 0": 59.5, "outside": 61.0}
    with app.state.runtime.db.session() as session:
        for name, minutes in ages.items():
            session.add(PredictionRecord(at=now - timedelta(minutes=minutes), user_id=admin.id, model_name=name,
                                         version_id="v", version=1, rows=3, latency_ms=12.0, status="error"))
    body = client.get("/monitoring/api/metrics", params={"window": 60}, headers=admin.headers).json()
    by_model = body["series"]["by_model"]
    assert set(by_model) == {"in bucket 29", "in bucket 0"}
    assert by_model["in bucket 29"].index(1) == 29 and by_model["in bucket 0"].index(1) == 0
    assert body["series"]["error_rate"][29] == 100.0 and body["series"]["error_rate"][28] is None
    assert body["totals"]["rows"] == 6
    assert body["series"]["latency_ms"]["p99"][29] == pytest.approx(12.0, rel=0.01)


@pytest.mark.parametrize("window", [0, -5, 1441, 100000])
def test_a_window_out_of_range_is_422_naming_the_range(client, accounts, window):
    response = client.get("/monitoring/api/metrics", params={"window": window}, headers=accounts["user"].headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "INVALID_INPUT" and "between 1 and 1440 minutes" in response.json()["message"]


def test_a_window_that_is_no_number_is_422(client, accounts):
    response = client.get("/monitoring/api/metrics", params={"window": "hour"}, headers=accounts["user"].headers)
    assert response.status_code == 422 and response.json()["code"] != "INTERNAL_ERROR"


@pytest.mark.parametrize("window", [1, 1440])
def test_the_window_bounds_are_accepted(client, accounts, window):
    body = client.get("/monitoring/api/metrics", params={"window": window}, headers=accounts["user"].headers).json()
    assert body["window_minutes"] == window and body["bucket_seconds"] == window * 60 / BUCKETS


def test_model_metrics_are_the_model_status_figures(client, scripted):
    body = client.get("/monitoring/api/models", headers=scripted.headers).json()
    sentiment = body["models"]["sentiment"]
    assert (sentiment["predictions_count"], sentiment["error_rate"]) == (5, 40.0)
    assert body["models"] == client.get("/api/enterprise/status/models", headers=scripted.headers).json()["models"]
    assert any(alert["model"] == "sentiment" for alert in body["alerts"]) == (sentiment["health_score"] < 80)
    assert client.get("/monitoring/api/models", params={"days": 0}, headers=scripted.headers).status_code == 422
    ModelStatusOut.model_validate(body)


def test_the_feeds_are_typed_in_the_openapi_document(client):
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/monitoring/api/metrics", "/monitoring/api/models"):
        schema = paths[path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert schema.get("$ref", "").startswith("#/components/schemas/"), path


def test_the_json_routes_need_a_credential(client):
    for path in ("/monitoring/api/metrics", "/monitoring/api/models"):
        assert client.get(path).status_code == 401


def test_health_has_the_contract_fields(client):
    body = client.get("/monitoring/api/health").json()
    assert body["status"] == "healthy" and body["version"] and re.match(r"\d{4}-\d\d-\d\dT", body["timestamp"])


def test_the_page_is_public_html_whose_assets_come_from_the_package(client):
    page = client.get("/monitoring")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert {"static/monitoring/charts.js", "static/monitoring/monitoring.js",
            "static/monitoring/monitoring.css"} <= set(assets)
    for asset in assets:
        assert not asset.startswith(("http:", "https:", "//")), f"{asset}: the page must work offline"
        assert client.get(f"/{asset}").status_code == 200, asset


def test_the_websocket_answers_request_monitoring_with_the_same_figures(client, scripted):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": scripted.token})
        assert ws.receive_json()["type"] == "connected"
        ws.send_json({"type": "request_monitoring", "window": 15})
        message = ws.receive_json()
        while message["type"] != "monitoring":
            message = ws.receive_json()
        assert message["window_minutes"] == 15 and message["totals"]["calls"] == 5
        assert message["series"]["by_model"]["sentiment"][-1] == 5
        for window, code in ((0, "INVALID_INPUT"), ("60", "INVALID_MESSAGE")):
            ws.send_json({"type": "request_monitoring", "window": window})
            message = ws.receive_json()
            while message["type"] in ("system_metrics", "training_progress"):
                message = ws.receive_json()
            assert (message["type"], message["code"]) == ("error", code)
