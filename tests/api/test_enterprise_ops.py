"""The prediction log and what reads it: after a scripted mix of calls, every figure of usage analytics,
model status and export matches what the test itself counted."""
from __future__ import annotations

import csv
import io
import json

import pytest

from tests.api.test_model_registry import upload
from tests.support.registry_models import customers, lightgbm_text

ROW = {"spend": 120.5, "visits": 4, "tenure": 2.5}


@pytest.fixture
def scripted(client, accounts):
    """The user's own model: 3 distinct calls (one of 2 rows), 1 repeat (a cache hit), 1 refused (422);
    2 calls to the built-in sentiment model; the other user makes 1 call of their own."""
    user = accounts["user"]
    upload(client, user, lightgbm_text(customers(60)), name="mine", filename="model.txt", deployment="True")
    calls = [{"data": [ROW]}, {"data": [{**ROW, "visits": 7}]}, {"data": [ROW, {**ROW, "spend": 3.0}]},
             {"data": [ROW]}, {"data": [{"spend": "lots"}]}]
    codes = [client.post("/api/predict/mine", json=body, headers=user.headers).status_code for body in calls]
    assert codes == [200, 200, 200, 200, 422]
    for text in ("What a lovely day", "This is terrible"):
        assert client.post("/api/predict/sentiment", json={"text": text}, headers=user.headers).status_code == 200
    other = accounts["other"]
    assert client.post("/api/predict/sentiment", json={"text": "fine"}, headers=other.headers).status_code == 200
    return user


def test_usage_analytics_count_what_was_called(client, scripted, accounts):
    body = client.get("/api/enterprise/analytics/usage", headers=scripted.headers).json()
    summary = body["analytics"]["summary"]
    assert (summary["total_predictions"], summary["rows_predicted"], summary["unique_models"]) == (7, 8, 2)
    assert summary["success_rate"] == round(100 * 6 / 7, 2)
    assert summary["cache_hit_rate"] == round(100 * 1 / 7, 2)
    mine, sentiment = body["analytics"]["by_model"]["mine"], body["analytics"]["by_model"]["sentiment"]
    assert (mine["count"], mine["rows"], mine["success_rate"]) == (5, 6, 80.0)
    assert sentiment["count"] == 2 and sentiment["success_rate"] == 100.0
    assert mine["avg_confidence"] is None and mine["avg_processing_time"] > 0, "a regressor has no confidence"
    assert 0.5 <= sentiment["avg_confidence"] <= 1, "the sentiment model's own confidence, averaged"
    assert sum(body["analytics"]["by_day"].values()) == 7 and len(body["analytics"]["by_day"]) == 8  # 7 days + today
    assert sum(body["analytics"]["hourly_distribution"]) == 7 and len(body["analytics"]["hourly_distribution"]) == 24
    trends = body["analytics"]["trends"]
    assert sum(trends["volume_trend"]) == 7 and len(trends["volume_trend"]) == len(trends["bucket_starts"])
    assert body["filters"] == {**body["filters"], "days": 7, "model": None, "granularity": "day"}

    only = client.get("/api/enterprise/analytics/usage", params={"model": "mine", "granularity": "hour", "days": 1},
                      headers=scripted.headers).json()
    assert only["analytics"]["summary"]["total_predictions"] == 5 and list(only["analytics"]["by_model"]) == ["mine"]
    assert len(only["analytics"]["trends"]["volume_trend"]) >= 24

    other = client.get("/api/enterprise/analytics/usage", headers=accounts["other"].headers).json()
    assert other["analytics"]["summary"]["total_predictions"] == 1, "a user sees their own calls only"
    admin = client.get("/api/enterprise/analytics/usage", headers=accounts["admin"].headers).json()
    assert admin["analytics"]["summary"]["total_predictions"] == 8, "an admin sees everyone's"


@pytest.mark.parametrize("params", [{"days": 100000}, {"days": 0}, {"granularity": "decade"}, {"model": "x" * 201}])
def test_usage_refuses_bad_windows_clearly(client, accounts, params):
    response = client.get("/api/enterprise/analytics/usage", params=params, headers=accounts["user"].headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] != "INTERNAL_ERROR"


def test_model_status_reports_traffic_health_and_deployment(client, scripted):
    body = client.get("/api/enterprise/status/models", headers=scripted.headers).json()
    mine = body["models"]["mine"]
    assert (mine["predictions_count"], mine["rows_predicted"], mine["error_rate"]) == (5, 6, 20.0)
    assert mine["cache_hit_rate"] == 20.0 and mine["deployment_status"] == "active" and mine["version"] == "v1.0"
    assert mine["features_count"] == 3 and mine["last_updated"]
    # health = 100 × (0.6 × success + 0.2 × latency factor + 0.2 × mean confidence (1 for a regressor))
    expected = 100 * (0.6 * 0.8 + 0.2 * min(1.0, (1000 - 1000 * mine["avg_processing_time"]) / 900) + 0.2 * 1.0)
    assert mine["health_score"] == pytest.approx(expected, abs=0.2)
    assert mine["status"] == ("healthy" if expected >= 80 else "degraded" if expected >= 60 else "unhealthy")
    summary = body["system_summary"]
    assert summary["total_models"] == len(body["models"]) and summary["cache_performance"]["total_requests"] == 7
    assert summary["cache_performance"]["size"] >= 1 and summary["cache_performance"]["backend"] == "memory"
    assert all(a["model"] in body["models"] for a in body["alerts"])


def test_export_streams_every_call_as_csv_or_json_and_neutralises_formulas(client, app, scripted):
    runtime = app.state.runtime
    runtime.prediction_log.add(user_id=scripted.id, model_name="mine", version_id="v", version=1, rows=1,
                               seconds=0.001, summary="=HYPERLINK(\"http://x\")")
    text = client.get("/api/enterprise/export/predictions", headers=scripted.headers)
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert len(rows) == 8 and list(rows[0])[:6] == ["timestamp", "model_type", "confidence", "processing_time",
                                                    "status", "prediction_summary"]
    assert sorted(r["status"] for r in rows).count("error") == 1
    assert any(r["prediction_summary"] == "'=HYPERLINK(\"http://x\")" for r in rows), "a formula is shown as text"
    as_json = client.get("/api/enterprise/export/predictions", params={"format": "json", "model": "sentiment"},
                         headers=scripted.headers)
    items = json.loads(as_json.text)
    assert len(items) == 2 and {i["model_type"] for i in items} == {"sentiment"}
    assert client.get("/api/enterprise/export/predictions", params={"format": "xml"},
                      headers=scripted.headers).status_code == 422


def test_admins_clear_the_prediction_cache(client, scripted, accounts):
    assert client.post("/api/enterprise/admin/cache/clear", headers=scripted.headers).status_code == 403
    cleared = client.post("/api/enterprise/admin/cache/clear", headers=accounts["admin"].headers)
    assert cleared.status_code == 200 and cleared.json()["cleared"]["predictions"] >= 3
    again = client.post("/api/predict/mine", json={"data": [ROW]}, headers=scripted.headers).json()
    assert "_cached_at" not in again


def test_detailed_health_is_measured(client, scripted, accounts):
    response = client.get("/api/enterprise/health/detailed", headers=scripted.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] in ("healthy", "degraded") and 0 <= body["overall_health_score"] <= 100
    database = body["components"]["database"]
    assert database["status"] == "healthy" and database["latency_ms"] >= 0 and database["max_connections"] >= 1
    cache = body["components"]["cache"]
    assert (cache["hits"], cache["size"]) == (1, 6), "one repeat answered from the cache; six distinct answers stored"
    models = body["components"]["models"]
    assert models["loaded_models"] >= 1 and models["models"]["mine"]["predictions"] == 5
    assert models["models"]["mine"]["error_rate"] == 20.0
    api = body["components"]["api_performance"]
    assert api["requests_per_minute"] >= 8 and api["avg_response_time_ms"] > 0 and api["error_rate"] == 0.0
    factors = body["health_factors"]
    assert factors["database"] == 1.0 and factors["cache_hit_rate"] == round(cache["hits"] / (cache["hits"] + cache["misses"]), 4)
    assert body["overall_health_score"] == round(100 * sum(factors.values()) / len(factors), 1)
    assert body["uptime_seconds"] > 0 and body["version"]


def test_the_prometheus_route_adds_the_contracts_series_and_parses(client, scripted):
    from prometheus_client.parser import text_string_to_metric_families

    response = client.get("/api/enterprise/metrics/prometheus", headers=scripted.headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    value = lambda name, model=None: next(s.value for s in families[name].samples  # noqa: E731
                                          if model is None or s.labels.get("model") == model)
    assert "modelyard_http_requests" in families, "the /metrics registry comes first"
    assert value("model_predictions_total", "mine") == 5 and value("model_predictions_total", "sentiment") == 3
    assert value("model_error_rate", "mine") == 20.0 and 0 < value("model_health_score", "mine") <= 100
    assert value("api_requests_total") >= 8 and value("cache_hit_rate") > 0
    assert client.get("/api/enterprise/metrics/prometheus").status_code == 401


def test_detailed_health_and_prometheus_name_no_other_users_model(client, scripted, accounts):
    """Found by the cross-user fuzzing (tests/api/test_cross_user_access.py): any signed-in user read every
    user's private model names, with their traffic, in these two operator views."""
    other, labeler, admin = accounts["other"].headers, accounts["labeler"].headers, accounts["admin"].headers
    for headers in (other, labeler):
        health = client.get("/api/enterprise/health/detailed", headers=headers)
        assert health.status_code == 200 and "mine" not in health.json()["components"]["models"]["models"]
        assert "sentiment" in health.json()["components"]["models"]["models"], "the built-ins are everyone's"
        exposition = client.get("/api/enterprise/metrics/prometheus", headers=headers).text
        assert 'model="mine"' not in exposition and 'model="sentiment"' in exposition
    assert "mine" in client.get("/api/enterprise/health/detailed", headers=scripted.headers
                                ).json()["components"]["models"]["models"]
    assert "mine" in client.get("/api/enterprise/health/detailed", headers=admin).json()["components"]["models"]["models"]
    assert 'model="mine"' in client.get("/api/enterprise/metrics/prometheus", headers=admin).text


def test_an_admin_restart_reloads_models_in_place_and_serves_on(client, scripted, accounts):
    assert client.post("/api/enterprise/admin/system/restart", headers=scripted.headers).status_code == 403
    done = client.post("/api/enterprise/admin/system/restart", headers=accounts["admin"].headers)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["restarted"]["models"]["reloaded"] and not body["restarted"]["models"]["failed"]
    assert "environment_settings" in body["not_restarted"]
    after = client.post("/api/predict/mine", json={"data": [{**ROW, "visits": 11}]}, headers=scripted.headers)
    assert after.status_code == 200, "a user's token still works and the model still serves"


def test_a_restart_reaches_the_other_processes_which_reload_the_models_they_hold(client, scripted, accounts, app):
    """A second Runtime on the same settings stands for another API process or a worker: after a restart
    answered by the first, its next epoch check (a request, or a worker's `epochs` task) reloads its model."""
    import time

    from modelyard.runtime import Runtime, periodic_tasks

    other = Runtime(app.state.runtime.settings)
    try:
        version = other.predictions.resolve("mine", viewer=_user(app, accounts["user"].id))
        first = other.models.get(version)
        assert other.models.held() == [version.id]
        other.invalidation.refresh()  # nothing moved yet: nothing reloaded
        assert other.models.get(version) is first

        done = client.post("/api/enterprise/admin/system/restart", headers=accounts["admin"].headers).json()
        assert done["restarted"]["other_processes"]["workers_reload"].startswith("within 5 s")
        epochs = next(t for t in periodic_tasks(other) if t.name == "epochs")
        epochs.run()  # what a worker runs every 5 s
        deadline = time.monotonic() + 30
        while other.models.get(version) is first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert other.models.get(version) is not first, "the other process loaded the model again"
        assert other.predictions.predict(version, [ROW], viewer=_user(app, accounts["user"].id)).outputs.predictions
    finally:
        other.close()


def _user(app, user_id: int):
    from modelyard.auth.models import User

    with app.state.runtime.db.session() as session:
        user = session.get(User, user_id)
        session.expunge(user)
        return user
