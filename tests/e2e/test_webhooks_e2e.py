"""Webhooks against a real `modelyard serve` and a real receiver on 127.0.0.1: configure, list, update,
delete and test over HTTP; signatures and timestamps checked by the receiver; SSRF refusals at configure
and at delivery time; retries with backoff (500 then 200; a receiver that hangs); owners only; and the
`model.updated` and `user.credit_low` events raised by a deploy and by charges."""
from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.processes import Launcher, bearer, login
from tests.support.receiver import HANG, Receiver, running_receiver
from tests.support.registry_models import customers, regressor, skops_bytes

pytestmark = pytest.mark.slow
ADMIN_PASSWORD = "webhooks-admin-password-1"
FAST_RETRIES = {"allowedTargets": ["127.0.0.1"], "maxAttempts": 3, "retryBaseSeconds": 0.5, "retryMaxSeconds": 2,
                "timeoutSeconds": 1.0}


@pytest.fixture(scope="module")
def server(module_launch: Launcher, tmp_path_factory):
    home = tmp_path_factory.mktemp("webhooks") / "home"
    return module_launch.serve({"MODELYARD_HOME": str(home), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD})


@pytest.fixture(scope="module")
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        yield http


@pytest.fixture(scope="module")
def admin(client) -> dict[str, str]:
    headers = bearer(login(client, "admin", ADMIN_PASSWORD))
    allowed = client.put("/api/settings", json={"webhooks": FAST_RETRIES}, headers=headers)
    assert allowed.status_code == 200, allowed.text
    return headers


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    with running_receiver() as receiver:
        yield receiver


def new_user(client) -> tuple[dict[str, str], int]:
    name = f"hook{secrets.token_hex(3)}"
    made = client.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com",
                                                   "password": "secret-pw-1"})
    assert made.status_code == 201, made.text
    return {"X-API-Key": made.json()["api_key"]}, made.json()["user_id"]


def configure(client, headers, url: str, events: list[str], **extra) -> dict:
    response = client.post("/api/webhooks/configure", json={"url": url, "events": events, **extra}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(client, headers, hook_id: str, until, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    rows: list[dict] = []
    while time.monotonic() < deadline:
        response = client.get(f"/api/webhooks/{hook_id}/deliveries", headers=headers)
        assert response.status_code == 200, response.text
        rows = response.json()["deliveries"]
        if until(rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"the delivery log of {hook_id} did not reach the expected state: {rows}")


def finished(rows: list[dict]) -> bool:
    return bool(rows) and all(r["status"] in ("delivered", "failed") for r in rows)


def verified(request, secret: str) -> dict:
    """What a receiver does: a fresh timestamp, the header HMAC over `<timestamp>.<body>`, the body's own."""
    timestamp = request.headers["x-modelyard-timestamp"]
    assert abs(time.time() - int(timestamp)) < 300
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["x-modelyard-signature"], f"sha256={expected}")
    body = request.json
    unsigned = json.dumps({k: v for k, v in body.items() if k != "signature"}, sort_keys=True,
                          separators=(",", ":"), ensure_ascii=False).encode()
    assert body["signature"] == hmac.new(secret.encode(), unsigned, hashlib.sha256).hexdigest()
    return body


def test_file_metadata_and_loopback_targets_are_refused_clearly(client, admin):
    headers, _ = new_user(client)
    for url, words in (("file:///etc/passwd", "must be http:// or https://"),
                       ("http://169.254.169.254/latest/meta-data/", "link-local"),
                       ("http://[::ffff:169.254.169.254]/", "link-local"),
                       ("http://10.0.0.7/hook", "private"),
                       ("http://user:pw@127.0.0.1/hook", "user name or password")):
        response = client.post("/api/webhooks/configure", json={"url": url, "events": ["model.updated"]},
                               headers=headers)
        assert response.status_code == 422, (url, response.text)
        assert response.json()["code"] == "WEBHOOK_TARGET_REFUSED" and words in response.json()["message"], url
    bad = client.post("/api/webhooks/configure", json={"url": "http://127.0.0.1/", "events": ["model.deleted"]},
                      headers=headers)
    assert bad.status_code == 422


def test_loopback_is_refused_until_an_admin_allows_it(client, admin):
    headers, _ = new_user(client)
    closed = client.put("/api/settings", json={"webhooks": {"allowedTargets": []}}, headers=admin)
    assert closed.status_code == 200, closed.text
    try:
        refused = client.post("/api/webhooks/configure", headers=headers,
                              json={"url": "http://127.0.0.1:9/x", "events": ["model.updated"]})
        assert refused.status_code == 422 and "loopback" in refused.json()["message"], refused.text
        not_admin = client.put("/api/settings", json={"webhooks": {"allowedTargets": ["127.0.0.1"]}}, headers=headers)
        assert not_admin.status_code == 403
    finally:
        opened = client.put("/api/settings", json={"webhooks": {"allowedTargets": ["127.0.0.1"]}}, headers=admin)
        assert opened.status_code == 200, opened.text
    configure(client, headers, "http://127.0.0.1:9/x", ["model.updated"])


def test_configure_list_update_and_delete_over_http_never_echo_the_secret(client, admin, receiver):
    headers, user_id = new_user(client)
    url = receiver.script("/crud", 200)
    made = configure(client, headers, url, ["model.updated", "user.credit_low", "model.updated"],
                     secret="my-own-secret-0123456789", description="ops channel")
    assert made["events"] == ["model.updated", "user.credit_low"] and made["owner_id"] == user_id
    assert made["secret"] == "…6789" and made["secret_shown_once"] is False and made["url"] == url
    generated = configure(client, headers, url, ["alert.triggered"])
    assert generated["secret"].startswith("whsec_") and generated["secret_shown_once"] is True

    listed = client.get("/api/webhooks", headers=headers).json()
    assert listed["total"] == 2 and {h["id"] for h in listed["webhooks"]} == {made["id"], generated["id"]}
    assert all(h["secret"].startswith("…") and len(h["secret"]) == 5 for h in listed["webhooks"])
    assert "my-own-secret" not in json.dumps(listed) and generated["secret"] not in json.dumps(listed)

    changed = client.patch(f"/api/webhooks/{made['id']}", json={"events": ["prediction.completed"], "active": False},
                           headers=headers)
    assert changed.status_code == 200, changed.text
    assert (changed.json()["events"], changed.json()["active"], changed.json()["description"]) == (
        ["prediction.completed"], False, "ops channel")
    rotated = client.put(f"/api/webhooks/{made['id']}", json={"rotate_secret": True}, headers=headers).json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret_shown_once"] is True
    assert client.get(f"/api/webhooks/{made['id']}", headers=headers).json()["secret"] == "…" + rotated["secret"][-4:]
    moved = client.patch(f"/api/webhooks/{made['id']}", json={"url": "http://169.254.169.254/"}, headers=headers)
    assert moved.status_code == 422 and client.get(f"/api/webhooks/{made['id']}", headers=headers).json()["url"] == url
    assert client.patch(f"/api/webhooks/{made['id']}", json={"events": ["nope"]}, headers=headers).status_code == 422

    assert client.delete(f"/api/webhooks/{made['id']}", headers=headers).status_code == 204
    assert client.get(f"/api/webhooks/{made['id']}", headers=headers).status_code == 404
    assert client.get("/api/webhooks", headers=headers).json()["total"] == 1
    assert client.get("/api/webhooks").status_code == 401


def test_another_user_can_neither_see_nor_change_your_webhook_but_an_admin_can(client, admin, receiver):
    owner, _ = new_user(client)
    intruder, _ = new_user(client)
    hook = configure(client, owner, receiver.script("/private", 200), ["model.updated"])
    path = f"/api/webhooks/{hook['id']}"
    assert hook["id"] not in {h["id"] for h in client.get("/api/webhooks", headers=intruder).json()["webhooks"]}
    for method, suffix, body in (("GET", "", None), ("PATCH", "", {"active": False}), ("PUT", "", {"active": False}),
                                 ("DELETE", "", None), ("POST", "/test", None), ("GET", "/deliveries", None)):
        response = client.request(method, path + suffix, json=body, headers=intruder)
        assert response.status_code == 404, (method, suffix, response.text)
    assert client.get(path, headers=owner).json()["active"] is True
    assert hook["id"] in {h["id"] for h in client.get("/api/webhooks", headers=admin).json()["webhooks"]}
    assert client.get(path, headers=admin).status_code == 200


def test_a_test_ping_arrives_signed_with_a_fresh_timestamp_and_is_logged_delivered(client, admin, receiver):
    headers, user_id = new_user(client)
    hook = configure(client, headers, receiver.script("/ping", 200), ["model.updated"])
    queued = client.post(f"/api/webhooks/{hook['id']}/test", headers=headers)
    assert queued.status_code == 202, queued.text
    (request,) = receiver.wait_for("/ping", 1, timeout=20)
    body = verified(request, hook["secret"])
    assert body["event"] == "webhook.test" and body["data"]["user_id"] == user_id
    assert body["webhook_id"] == hook["id"] and body["timestamp"].endswith("Z")
    assert request.headers["x-modelyard-event"] == "webhook.test"
    assert request.headers["x-modelyard-delivery"] == queued.json()["delivery"]["delivery_id"]
    (row,) = deliveries(client, headers, hook["id"], finished)
    assert (row["status"], row["status_code"], row["attempts"], row["error"]) == ("delivered", 200, 1, None)
    tampered = request.body.replace(b"webhook.test", b"webhook.tost")
    expected = hmac.new(hook["secret"].encode(), request.headers["x-modelyard-timestamp"].encode() + b"." + tampered,
                        hashlib.sha256).hexdigest()
    assert request.headers["x-modelyard-signature"] != f"sha256={expected}"


def test_a_receiver_answering_500_then_200_gets_the_same_event_again_and_it_is_delivered(client, admin, receiver):
    headers, _ = new_user(client)
    hook = configure(client, headers, receiver.script("/flaky", 500, 200), ["model.updated"])
    assert client.post(f"/api/webhooks/{hook['id']}/test", headers=headers).status_code == 202
    first, second = receiver.wait_for("/flaky", 2, timeout=30)
    assert first.json == second.json  # the same delivery, same body signature
    assert second.at - first.at >= 0.4  # retryBaseSeconds 0.5, jitter ±10 %
    verified(second, hook["secret"])
    (row,) = deliveries(client, headers, hook["id"], finished)
    assert (row["status"], row["status_code"], row["attempts"]) == ("delivered", 200, 2)
    assert [a["status_code"] for a in row["history"]] == [500, 200]
    assert "HTTP 500" in row["history"][0]["error"]


def test_a_hanging_receiver_is_retried_then_marked_failed_while_the_api_stays_fast(client, admin, receiver):
    """"Stays fast" is shown by order, not by a time bound: the test call returns before the first attempt
    gives up, and API calls are answered while an attempt holds its connection to the hanging receiver."""
    headers, _ = new_user(client)
    hook = configure(client, headers, receiver.script("/hang", HANG), ["model.updated"])
    assert client.post(f"/api/webhooks/{hook['id']}/test", headers=headers).status_code == 202
    queued_at = time.time()
    calls: list[tuple[float, float]] = []  # (sent, answered), on the receiver's clock
    deadline = time.monotonic() + 40
    rows: list[dict] = []
    while time.monotonic() < deadline and not finished(rows):
        sent = time.time()
        response = client.get(f"/api/webhooks/{hook['id']}/deliveries", headers=headers)
        calls.append((sent, time.time()))
        rows = response.json()["deliveries"]
        time.sleep(0.1)
    (row,) = rows
    assert (row["status"], row["attempts"], row["status_code"]) == ("failed", 3, None), row
    assert "no answer within 1 s" in row["error"] and row["finished_at"] is not None
    attempts = receiver.wait_closed("/hang", timeout=5)
    assert len(attempts) == 3
    assert queued_at < attempts[0].closed_at, "the test call waited for the delivery to give up"
    answered_during = [(sent, answered) for sent, answered in calls for a in attempts
                       if a.at <= sent and answered <= a.closed_at]
    assert answered_during, f"no API call was answered while an attempt hung: attempts " \
                            f"{[(a.at, a.closed_at) for a in attempts]}, calls {calls}"
    job = client.get(f"/api/jobs/{row['job_id']}", headers=headers).json()
    assert (job["status"], job["attempts"]) == ("failed", 3)


def test_a_target_refused_at_delivery_time_fails_without_another_request(client, admin, receiver):
    headers, _ = new_user(client)
    hook = configure(client, headers, receiver.script("/closing", 500), ["model.updated"])
    slow = {**FAST_RETRIES, "retryBaseSeconds": 3.0}
    assert client.put("/api/settings", json={"webhooks": slow}, headers=admin).status_code == 200
    try:
        assert client.post(f"/api/webhooks/{hook['id']}/test", headers=headers).status_code == 202
        receiver.wait_for("/closing", 1, timeout=20)
        closed = client.put("/api/settings", json={"webhooks": {"allowedTargets": []}}, headers=admin)
        assert closed.status_code == 200
        (row,) = deliveries(client, headers, hook["id"], finished, timeout=30)
        assert row["status"] == "failed" and row["attempts"] == 2 and "loopback" in row["error"], row
        assert len(receiver.at("/closing")) == 1
        again = client.post(f"/api/webhooks/{hook['id']}/test", headers=headers)
        assert again.status_code == 422 and again.json()["code"] == "WEBHOOK_TARGET_REFUSED"
    finally:
        assert client.put("/api/settings", json={"webhooks": FAST_RETRIES}, headers=admin).status_code == 200


def test_deploying_a_model_sends_model_updated_to_its_owner_only(client, admin, receiver):
    owner, owner_id = new_user(client)
    other, _ = new_user(client)
    mine = configure(client, owner, receiver.script("/models-owner", 200), ["model.updated"])
    configure(client, other, receiver.script("/models-other", 200), ["model.updated"])
    configure(client, owner, receiver.script("/models-credits", 200), ["user.credit_low"])
    frame = customers(40, seed=3)
    model = ("m.skops", skops_bytes(regressor(frame)))
    uploaded = client.post("/upload_model", headers=owner, files=[("model_file", model)],
                           params={"model_name": "hooked", "model_version": "1", "deployment": "false"})
    assert uploaded.status_code == 200, uploaded.text
    version_id = uploaded.json()["model_version_id"]
    deployed = client.post(f"/api/models/{version_id}/deploy", headers=owner)
    assert deployed.status_code == 200, deployed.text
    (request,) = receiver.wait_for("/models-owner", 1, timeout=20)
    body = verified(request, mine["secret"])
    assert body["event"] == "model.updated"
    assert {k: body["data"][k] for k in ("action", "model", "version_id", "status", "user_id", "builtin")} == {
        "action": "deployed", "model": "hooked", "version_id": version_id, "status": "deployed",
        "user_id": owner_id, "builtin": False}
    time.sleep(1.0)
    assert receiver.at("/models-other") == [] and receiver.at("/models-credits") == []


def test_credit_low_fires_once_when_a_charge_crosses_the_threshold(client, admin, receiver):
    headers, user_id = new_user(client)
    hook = configure(client, headers, receiver.script("/credits", 200), ["user.credit_low"])
    current = client.get("/api/auth/user", headers=headers).json()["credits_remaining"]
    set_to = client.post(f"/admin/users/{user_id}/credits", json={"credits": 101 - current}, headers=admin)
    assert set_to.status_code == 200 and set_to.json()["credits_remaining"] == 101, set_to.text
    for i in range(3):  # 101 -> 100 -> 99 (crosses 100) -> 98
        answer = client.post("/api/predict/sentiment", json={"text": f"great service number {i}"}, headers=headers)
        assert answer.status_code == 200, answer.text
    (request,) = receiver.wait_for("/credits", 1, timeout=20)
    body = verified(request, hook["secret"])
    assert body["event"] == "user.credit_low"
    assert {k: body["data"][k] for k in ("user_id", "credits_remaining", "threshold", "credits_before")} == {
        "user_id": user_id, "credits_remaining": 99, "threshold": 100, "credits_before": 100}
    time.sleep(1.0)
    assert len(receiver.at("/credits")) == 1


def test_scaled_a_webhook_configured_on_one_host_hears_a_deploy_on_another_and_a_worker_retries_it(
        launch: Launcher, scaled_env, receiver):
    from tests.e2e.conftest import ADMIN_PASSWORD as SCALED_ADMIN

    first, second = launch.serve(scaled_env("first"), name="first"), launch.serve(scaled_env("second"), name="second")
    launch.worker(scaled_env("worker"))
    with httpx.Client(base_url=first.url, timeout=30) as one, httpx.Client(base_url=second.url, timeout=30) as two:
        admin_headers = bearer(login(one, "admin", SCALED_ADMIN))
        assert one.put("/api/settings", json={"webhooks": FAST_RETRIES}, headers=admin_headers).status_code == 200
        headers, _ = new_user(one)
        model = ("m.skops", skops_bytes(regressor(customers(40, seed=5))))

        def deploy(version: str) -> None:
            uploaded = two.post("/upload_model", headers=headers, files=[("model_file", model)],
                                params={"model_name": "scaled-hook", "model_version": version, "deployment": "true"})
            assert uploaded.status_code == 200, uploaded.text

        deploy("1")  # the second host now holds a snapshot in which nobody subscribes
        hook = configure(one, headers, receiver.script("/scaled", 500, 200), ["model.updated"])
        deploy("2")  # the second host sees the new webhook (the shared epoch in Redis; its snapshot lives 5 s at most)
        first_try, second_try = receiver.wait_for("/scaled", 2, timeout=30)
        body = verified(second_try, hook["secret"])
        assert first_try.json == body and (body["data"]["model"], body["data"]["version"]) == ("scaled-hook", 2)
        (row,) = deliveries(two, headers, hook["id"], finished)
        assert (row["status"], row["attempts"], [a["status_code"] for a in row["history"]]) == (
            "delivered", 2, [500, 200])
