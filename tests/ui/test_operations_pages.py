"""The prediction platform's second set of pages (webhooks, alerts and operations, enterprise batch, credit
history, the alert rules in Settings) with Streamlit's AppTest, against a real `modelyard serve` of their own.
Webhooks deliver to a receiver in this process (127.0.0.1 is allowed as a target by an admin setting)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest

from modelyard.db.engine import Database
from modelyard.ops import alerts
from tests.e2e.processes import STARTED, Launcher
from tests.ui.conftest import start_backend
from tests.ui.test_pages import open_page, signed_in, texts
from tests.ui.test_platform_pages import balance, click, new_user


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module")
def backend(request, tmp_path_factory, home):
    launcher = Launcher(tmp_path_factory.mktemp("procs"), request.node.stash.setdefault(STARTED, []))
    try:
        started = start_backend(launcher, home)
        with started.client() as admin:
            allowed = admin.put("/api/settings", json={"webhooks": {"allowedTargets": ["127.0.0.1"]}})
            assert allowed.status_code == 200, allowed.text
        yield started
    finally:
        launcher.stop_all()


@pytest.fixture(autouse=True)
def backend_url(backend, monkeypatch):
    monkeypatch.setenv("BACKEND_URL", backend.url)


@pytest.fixture(scope="module")
def receiver():
    """A webhook receiver on a free port that answers 200 and keeps each delivery's event."""
    got: list[str] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"])))["event"])
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.server_port}/hook", got=got)
    server.shutdown()
    server.server_close()


def wait_for(check, *, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.3)
    raise AssertionError(f"not within {timeout} s")


def frame(at, column: str):
    """The first table that has `column`."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


@pytest.mark.parametrize("username, expected, hidden", [
    ("alice", {"Webhooks", "Enterprise batch"}, {"Alerts and operations"}),
    ("lena", set(), {"Webhooks", "Enterprise batch", "Alerts and operations"}),
    ("admin", {"Webhooks", "Enterprise batch", "Alerts and operations", "Settings"}, set()),
    ("uma", {"Webhooks", "Enterprise batch", "Alerts and operations"}, set()),
])
def test_the_new_pages_follow_the_role(backend, username, expected, hidden):
    at = signed_in(backend, username)
    titles = {info["page_name"] for info in at._registered_pages.values()}

    assert expected <= titles and not hidden & titles, titles


def test_a_webhook_configured_on_the_page_is_tested_edited_and_deleted(backend, receiver):
    username = new_user(backend)
    at = open_page(signed_in(backend, username), "Webhooks")
    inputs = {t.label.split(" (")[0]: t for t in at.text_input}
    inputs["URL"].input(receiver.url)
    at.multiselect[0].set_value(["prediction.completed", "alert.triggered"])
    click(at, "Configure")
    assert not at.exception, [e.value for e in at.exception]

    with backend.client(username) as client:
        hooks = client.get("/api/webhooks").json()["webhooks"]
    assert [(h["url"], h["events"], h["active"]) for h in hooks] == \
        [(receiver.url, ["prediction.completed", "alert.triggered"], True)]
    secret = at.code[0].value
    assert len(secret) >= 16 and hooks[0]["secret"].endswith(secret[-4:]) and secret != hooks[0]["secret"]
    click(at, "I have copied it: hide the secret")
    assert not at.code

    click(at, "Send a test")
    assert any("delivery is queued" in s for s in texts(at, "success")), texts(at, "success") + texts(at, "error")
    hook_id = hooks[0]["id"]
    with backend.client(username) as client:
        wait_for(lambda: client.get(f"/api/webhooks/{hook_id}/deliveries").json()["deliveries"][0]["status"]
                 == "delivered")
    assert "webhook.test" in receiver.got
    click(at, "Refresh")
    log = frame(at, "status_code")
    assert list(log["status"]) == ["delivered"] and list(log["status_code"]) == [200]
    assert list(log["event"]) == ["webhook.test"]

    next(c for c in at.checkbox if c.label.startswith("Active")).uncheck()
    click(at, "Save changes")
    assert any(s.startswith("webhook updated") for s in texts(at, "success")), texts(at, "success")
    with backend.client(username) as client:
        assert client.get(f"/api/webhooks/{hook_id}").json()["active"] is False

    assert at.button(key=f"delete-{hook_id}").disabled  # nothing happens until the confirmation is ticked
    at.checkbox(key=f"sure-webhook-{hook_id}").check().run()
    at.button(key=f"delete-{hook_id}").click().run()
    assert f"Deleted the webhook of {receiver.url}" in texts(at, "success")
    assert "No webhooks yet." in texts(at, "caption")
    with backend.client(username) as client:
        assert client.get("/api/webhooks").json()["total"] == 0
        assert client.get(f"/api/webhooks/{hook_id}").status_code == 404


def test_a_refused_webhook_is_the_apis_sentence(backend):
    username = new_user(backend)
    at = open_page(signed_in(backend, username), "Webhooks")
    {t.label.split(" (")[0]: t for t in at.text_input}["URL"].input("http://10.1.2.3/private")
    click(at, "Configure")

    assert not at.exception
    errors = texts(at, "error")
    assert len(errors) == 1 and "10.1.2.3" in errors[0], errors
    with backend.client(username) as client:
        assert client.get("/api/webhooks").json()["total"] == 0


def test_the_delivery_log_is_paged_by_the_api(backend, receiver):
    username = new_user(backend)
    with backend.client(username) as client:
        hook = client.post("/api/webhooks/configure", json={"url": receiver.url, "events": ["model.updated"]}).json()
        for _ in range(23):
            assert client.post(f"/api/webhooks/{hook['id']}/test").status_code == 202
    at = open_page(signed_in(backend, username), "Webhooks")

    assert len(frame(at, "status_code")) == 20 and len(at.get("pagination")) == 1
    assert "23 rows, 20 per page" in texts(at, "caption")
    at.session_state[f"deliveries-{hook['id']}-page"] = 2
    at.run()
    assert len(frame(at, "status_code")) == 3


def test_alert_rules_set_in_settings_open_an_alert_the_operations_page_shows(backend, home):
    at = open_page(signed_in(backend, "admin"), "Settings")
    assert at.selectbox(key="settings-section").value == "alerts"
    numbers = {n.label: n for n in at.number_input}
    numbers["minCalls"].set_value(1)
    numbers["latencyMs"].set_value(0.001)  # every call is slower than this
    click(at, "Save alerts")
    assert "Saved alerts: latencyMs, minCalls" in texts(at, "success"), texts(at, "success") + texts(at, "error")
    with backend.client() as admin:
        rules = admin.get("/api/settings").json()["alerts"]
        assert (rules["minCalls"], rules["latencyMs"]) == (1, 0.001)
        for text in ("great product", "awful service"):
            assert admin.post("/api/predict/sentiment", json={"text": text}).status_code == 200
        assert admin.get("/api/enterprise/status/models").status_code == 200  # the server writes its log now
    # What the workers do every minute, done now on the server's database
    database = Database(f"sqlite:///{home / 'modelyard.db'}")
    try:
        runtime = SimpleNamespace(db=database, prediction_log=SimpleNamespace(flush=lambda **_: None),
                                  events=SimpleNamespace(emit=lambda *args, **kwargs: None))
        assert alerts.evaluate(runtime)["opened"] >= 1
    finally:
        database.engine.dispose()

    at = open_page(at, "Alerts and operations")
    assert {m.label: m.value for m in at.metric}["Active alerts"] != "0"
    table = frame(at, "rule")
    latency = table[(table["rule"] == "latency") & (table["model"] == "sentiment")]
    assert list(latency["status"]) == ["active"]
    assert any("Model sentiment took" in m for m in texts(at, "warning") + texts(at, "error"))
    assert "sentiment" in list(frame(at, "health_score")["model"])
    shown = {m.label: m.value for m in at.metric}
    assert int(shown["Predictions"]) >= 2
    assert len(at.get("vega_lite_chart")) == 4  # volume, confidence and latency, by model, by hour


    at.radio(key="alerts-status").set_value("resolved").run()
    assert {m.label: m.value for m in at.metric}["Active alerts"] == "0"
    assert all((d.value["status"] == "resolved").all() for d in at.dataframe if "rule" in d.value.columns)


def test_the_operations_page_exports_clears_the_cache_and_restarts(backend):
    with backend.client() as admin:
        assert admin.post("/api/predict/sentiment", json={"text": "fine"}).status_code == 200
        exported = admin.get("/api/enterprise/export/predictions", params={"format": "csv"}).content
    at = open_page(signed_in(backend, "admin"), "Alerts and operations")
    click(at, "Prepare the CSV export")
    download = [d for d in at.get("download_button") if d.proto.label == "Download predictions.csv"]
    assert len(download) == 1
    rows = len(exported.decode().strip().splitlines()) - 1
    assert any(c.startswith(f"{rows:,} predictions") for c in texts(at, "caption")), texts(at, "caption")

    click(at, "Clear the prediction cache")
    assert any(s.startswith("Prediction cache cleared:") and "(memory)" in s for s in texts(at, "success"))

    assert next(b for b in at.button if b.label == "Restart").disabled
    at.checkbox(key="sure-restart").check().run()
    click(at, "Restart")
    assert any(s.startswith("Restarted in place") for s in texts(at, "success")), texts(at, "success")


def test_an_enterprise_batch_answers_each_item_and_its_credits(backend):
    username = new_user(backend, credits=100)
    at = open_page(signed_in(backend, username), "Enterprise batch")
    at.selectbox(key="enterprise-batch-model").set_value("lead-score").run()
    click(at, "Add to the batch")  # the model's example request
    at.selectbox(key="enterprise-batch-model").set_value("sentiment").run()
    click(at, "Add to the batch")
    items = at.session_state["enterprise-batch-items"]
    assert [i["model"] for i in items] == ["lead-score", "sentiment"]

    batch = items + [{"model": "lead-score", "input": {"budget": "lots"}}]
    next(t for t in at.text_area if t.label.startswith("[")).input(json.dumps(batch))
    click(at, "Use this JSON")
    click(at, "Run the batch")
    assert not at.exception, [e.value for e in at.exception]

    shown = {m.label: m.value for m in at.metric}
    assert (shown["Requests"], shown["Successful"], shown["Failed"]) == ("3", "2", "1"), shown
    spent = 100 - balance(backend, username)
    assert spent > 0 and shown["Credits used"] == str(spent)
    results = frame(at, "prediction").set_index("index")
    assert list(results["status"]) == ["success", "success", "failed"]
    assert results.loc["2", "error"] and results.loc["0", "prediction"].startswith("{")


def test_the_credit_history_is_on_the_account_and_in_admin_credits(backend):
    username = new_user(backend, credits=50)  # starting credits, then an allocation down to 50
    with backend.client(username) as client:
        assert client.post("/api/predict/sentiment", json={"text": "ok"}).status_code == 200
    at = open_page(signed_in(backend, username), "Account")
    history = frame(at, "delta")
    assert list(history["reason"]) == ["prediction", "allocation", "plan"]
    assert list(history["balance"])[0] == balance(backend, username)
    assert f"3 change(s); {balance(backend, username)} credits remain" in texts(at, "caption")

    with backend.client() as admin:
        user_id = next(u["id"] for u in admin.get("/admin/users").json() if u["username"] == username)
        for _ in range(20):
            assert admin.post(f"/admin/users/{user_id}/credits", json={"credits": 1}).status_code == 200
    at = open_page(signed_in(backend, "admin"), "Credits")
    at.selectbox(key="credit-history-user").set_value(user_id).run()
    history = frame(at, "delta")
    assert len(history) == 20 and set(history["delta"]) == {1}
    assert "23 rows, 20 per page" in texts(at, "caption")
    at.session_state[f"credit-history-{user_id}-page"] = 2
    at.run()
    assert list(frame(at, "delta")["reason"]) == ["prediction", "allocation", "plan"]


def test_a_refused_setting_is_the_apis_sentence_and_nothing_changes(backend):
    at = open_page(signed_in(backend, "admin"), "Settings")
    {n.label: n for n in at.number_input}["windowMinutes"].set_value(5000)  # at most 1440
    click(at, "Save alerts")

    assert not at.exception
    errors = texts(at, "error")
    assert len(errors) == 1 and "windowMinutes" in errors[0], errors
    with backend.client() as admin:
        assert admin.get("/api/settings").json()["alerts"]["windowMinutes"] == 60
