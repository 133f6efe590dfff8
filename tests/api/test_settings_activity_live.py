"""Settings (validated, persisted, used), the activity log, and the WebSocket."""
import pytest
from starlette.websockets import WebSocketDisconnect

from tests.api.test_mlops_flow import train, upload
from tests.support.datasets import buyers


def test_settings_have_the_contract_sections(client, accounts):
    body = client.get("/api/settings", headers=accounts["user"].headers).json()
    assert set(body) == {"general", "training", "notifications", "data", "scoring", "registry", "webhooks", "alerts"}
    assert body["training"]["defaultTimeout"] == 300


def test_updating_settings_reports_fields_and_persists(client, accounts):
    admin = accounts["admin"]
    response = client.put("/api/settings", headers=admin.headers, json={
        "training": {"defaultTimeout": 600},
        "notifications": {"emailEnabled": True, "emailAddress": "admin@example.com"}})
    assert response.status_code == 200
    assert response.json() == {"message": "Settings updated successfully", "updated_fields": [
        "training.defaultTimeout", "notifications.emailEnabled", "notifications.emailAddress"]}
    body = client.get("/api/settings", headers=admin.headers).json()
    assert body["training"]["defaultTimeout"] == 600 and body["notifications"]["emailAddress"] == "admin@example.com"


@pytest.mark.parametrize("change", [{"training": {"defaultTimeout": "600"}}, {"training": {"nope": 1}},
                                    {"bogus": {}}, {"general": {"timezone": "Mars/Olympus"}},
                                    {"data": {"retentionDays": 0}}])
def test_bad_settings_are_422_and_nothing_changes(client, accounts, change):
    admin = accounts["admin"]
    before = client.get("/api/settings", headers=admin.headers).json()
    assert client.put("/api/settings", json=change, headers=admin.headers).status_code == 422
    assert client.get("/api/settings", headers=admin.headers).json() == before


def test_only_admins_change_settings(client, accounts):
    response = client.put("/api/settings", json={"general": {"theme": "dark"}}, headers=accounts["user"].headers)
    assert response.status_code == 403


def test_training_defaults_come_from_settings(client, accounts, app):
    client.put("/api/settings", json={"training": {"defaultTimeout": 45, "defaultModelType": "classification"}},
               headers=accounts["admin"].headers)
    user = accounts["user"]
    file_id = upload(client, user, buyers(60))["file_id"]
    job_id = client.post("/api/train", json={"file_id": file_id}, headers=user.headers).json()["job_id"]
    job = client.get(f"/api/jobs/{job_id}", headers=user.headers).json()
    from modelyard.jobs.models import Job

    with app.state.runtime.db.session() as session:
        params = session.get(Job, job["job_id"]).params
    assert params["max_training_time"] == 45 and params["task"] == "classification"


def test_activity_records_upload_training_deployment_and_prediction(client, accounts):
    user = accounts["user"]
    file_id = upload(client, user, buyers())["file_id"]
    job = train(client, user, file_id, name="Act")
    model_id = client.get(f"/api/training/{job['job_id']}", headers=user.headers).json()["model_id"]
    client.post(f"/api/models/{model_id}/deploy", headers=user.headers)
    row = {"age": 30, "income": 100_000, "region": "west", "purchases": 2}
    for _ in range(3):
        client.post(f"/api/predict/{model_id}", json={"data": [row, row]}, headers=user.headers)
    body = client.get("/api/activity", headers=user.headers).json()
    types = [a["type"] for a in body["activities"]]
    assert {"upload", "training", "deployment", "prediction"} <= set(types)
    predictions = [a for a in body["activities"] if a["type"] == "prediction"]
    assert len(predictions) == 1 and predictions[0]["details"]["rows"] == 6
    assert predictions[0]["user"] == user.username
    only = client.get("/api/activity?type=deployment", headers=user.headers).json()
    assert [a["type"] for a in only["activities"]] == ["deployment"]
    assert client.get("/api/activity", headers=accounts["other"].headers).json()["total"] == 0


def test_websocket_answers_ping_and_metrics(client, accounts):
    with client.websocket_connect(f"/ws?token={accounts['user'].token}") as ws:
        assert ws.receive_json()["type"] == "connected"
        ws.send_json({"type": "ping", "timestamp": 1640000000000})
        message = ws.receive_json()
        while message["type"] != "pong":
            message = ws.receive_json()
        assert message == {"type": "pong", "timestamp": 1640000000000}
        ws.send_json({"type": "request_metrics"})
        message = ws.receive_json()
        while message["type"] != "system_metrics":
            message = ws.receive_json()
        assert {"cpu_percent", "memory_percent", "disk_percent", "active_connections", "total_models",
                "active_training_jobs", "system_health", "api_response_time_ms"} <= message.keys()
        assert message["active_connections"] == 1
        ws.send_text("{not json")
        message = ws.receive_json()
        while message["type"] == "system_metrics":
            message = ws.receive_json()
        assert message["type"] == "error"


def test_websocket_authenticates_with_a_first_message(client, accounts):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": accounts["user"].token})
        assert ws.receive_json()["type"] == "connected"


def test_websocket_without_a_token_is_refused(client):
    with client.websocket_connect("/ws") as ws:
        ws.send_json({"type": "auth", "token": "forged"})
        assert ws.receive_json()["code"] == "AUTHENTICATION_REQUIRED"
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_json()
        assert closed.value.code == 1008


def test_retention_removes_old_unused_uploads_and_keeps_trained_on_ones(client, accounts, app):
    from datetime import timedelta

    from sqlalchemy import update

    from modelyard.data.models import Dataset
    from modelyard.db.base import utcnow

    user, admin = accounts["user"], accounts["admin"]
    old = upload(client, user, buyers(60))["file_id"]
    used = upload(client, user, buyers(60), "used.csv")["file_id"]
    train(client, user, used)
    fresh = upload(client, user, buyers(20), "fresh.csv")["file_id"]
    with app.state.runtime.db.session() as session:
        session.execute(update(Dataset).where(Dataset.id.in_([old, used])).values(created_at=utcnow() - timedelta(days=40)))
    removed = client.post("/admin/maintenance/cleanup", headers=admin.headers).json()["removed"]
    assert removed == [old]
    assert client.get(f"/api/datasets/{old}", headers=user.headers).status_code == 404
    assert client.get(f"/api/datasets/{used}", headers=user.headers).status_code == 200
    assert client.get(f"/api/datasets/{fresh}", headers=user.headers).status_code == 200
    client.put("/api/settings", json={"data": {"autoCleanup": False}}, headers=admin.headers)
    assert client.post("/admin/maintenance/cleanup", headers=admin.headers).json()["removed"] == []


def test_websocket_reports_a_training_job_that_ended_between_two_looks(client, accounts):
    user = accounts["user"]
    frame = buyers(40)
    frame["will_buy"] = "yes"  # one class: the job fails at once
    file_id = upload(client, user, frame)["file_id"]
    with client.websocket_connect(f"/ws?token={user.token}") as ws:
        assert ws.receive_json()["type"] == "connected"
        job_id = client.post("/api/train", json={"file_id": file_id}, headers=user.headers).json()["job_id"]
        for _ in range(20):  # a "queued" message may come first, if the socket looked mid-request
            message = ws.receive_json()
            if message["type"] == "training_progress" and message["job_id"] == job_id \
                    and message["status"] not in ("queued", "training"):
                break
        assert message["type"] == "training_progress" and message["status"] == "failed"
        assert "class" in message["error"].lower()


@pytest.mark.parametrize("since", ["0", "1700000000", "1.5e9", "yesterday"])
def test_activity_since_must_be_a_date_not_a_number(client, accounts, since):
    response = client.get(f"/api/activity?since={since}", headers=accounts["user"].headers)
    assert response.status_code == 422, response.text
    assert "since" in response.json()["message"]


@pytest.mark.parametrize("since", ["2020-01-31", "2020-01-31T12:00:00Z", "2020-01-31T12:00:00+02:00"])
def test_activity_since_takes_a_date_or_a_date_time(client, accounts, since):
    response = client.get("/api/activity", params={"since": since}, headers=accounts["user"].headers)
    assert response.status_code == 200, response.text
