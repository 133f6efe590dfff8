"""Alert rules over the prediction log: opened when a rule starts to hold (with an alert.triggered webhook
delivery queued for the model's owner), updated while it holds, resolved when it no longer does."""
from __future__ import annotations

from sqlalchemy import select

from modelyard.ops import alerts
from modelyard.webhooks.models import WebhookDelivery
from tests.api.test_model_registry import upload
from tests.support.registry_models import customers, lightgbm_text

ROW = {"spend": 120.5, "visits": 4, "tenure": 2.5}


def rules(client, admin, **values):
    response = client.put("/api/settings", json={"alerts": values}, headers=admin.headers)
    assert response.status_code == 200, response.text


def test_an_error_rate_alert_opens_once_fires_its_webhook_and_resolves(client, app, accounts):
    runtime, user, admin = app.state.runtime, accounts["user"], accounts["admin"]
    assert client.put("/api/settings", json={"webhooks": {"allowedTargets": ["127.0.0.1"]}},
                      headers=admin.headers).status_code == 200
    hook = client.post("/api/webhooks/configure", json={"url": "http://127.0.0.1:9/alerts",
                                                        "events": ["alert.triggered"]}, headers=user.headers)
    assert hook.status_code == 201, hook.text
    upload(client, user, lightgbm_text(customers(60)), name="flaky", filename="model.txt", deployment="True")
    rules(client, admin, minCalls=4, errorRatePercent=10, latencyMs=10_000, healthScore=10)
    bodies = [{"data": [ROW]}, {"data": [{**ROW, "visits": 2}]}, {"data": [{"spend": "x"}]}, {"data": [{"spend": "y"}]}]
    assert [client.post("/api/predict/flaky", json=b, headers=user.headers).status_code for b in bodies] == \
        [200, 200, 422, 422]

    assert alerts.evaluate(runtime) == {"opened": 1, "updated": 0, "resolved": 0}
    listed = client.get("/monitoring/api/alerts", headers=user.headers).json()
    assert listed["active"] == 1
    alert = listed["alerts"][0]
    assert (alert["rule"], alert["model"], alert["value"], alert["threshold"], alert["status"]) == \
        ("error_rate", "flaky", 50.0, 10.0, "active")
    assert alert["severity"] == "high" and "failed 50.0% of calls" in alert["message"]
    with runtime.db.session() as session:
        queued = list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.event == "alert.triggered")))
    assert len(queued) == 1, "the owner's alert.triggered webhook got one delivery"

    assert alerts.evaluate(runtime) == {"opened": 0, "updated": 1, "resolved": 0}, "still holding: the same alert"
    assert client.get("/monitoring/api/alerts", headers=accounts["other"].headers).json()["alerts"] == [], \
        "another user does not see alerts of models that are not theirs"
    assert client.get("/monitoring/api/alerts", headers=admin.headers).json()["active"] == 1

    rules(client, admin, errorRatePercent=60)
    assert alerts.evaluate(runtime) == {"opened": 0, "updated": 0, "resolved": 1}
    resolved = client.get("/monitoring/api/alerts", params={"status": "resolved"}, headers=user.headers).json()
    assert resolved["alerts"][0]["resolved_at"] and resolved["active"] == 0
    assert client.get("/monitoring/api/alerts", params={"status": "open"}, headers=user.headers).status_code == 422


def test_models_with_too_few_calls_are_not_judged_and_rules_can_be_off(client, app, accounts):
    runtime, user, admin = app.state.runtime, accounts["user"], accounts["admin"]
    upload(client, user, lightgbm_text(customers(60)), name="quiet", filename="model.txt", deployment="True")
    client.post("/api/predict/quiet", json={"data": [{"spend": "x"}]}, headers=user.headers)
    assert alerts.evaluate(runtime)["opened"] == 0, "1 call is below the default minCalls of 20"
    rules(client, admin, minCalls=1, enabled=False)
    assert alerts.evaluate(runtime) == {"opened": 0, "updated": 0, "resolved": 0}
    rules(client, admin, enabled=True)
    assert alerts.evaluate(runtime)["opened"] >= 1
    assert client.put("/api/settings", json={"alerts": {"errorRatePercent": 101}},
                      headers=admin.headers).status_code == 422
