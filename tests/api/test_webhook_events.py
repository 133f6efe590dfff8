"""Raising webhook events (runtime.events): free when nobody listens, seen at once after a change,
safe from many threads, and `user.credit_low` exactly once per crossing however many charges race."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import event, func, select

from modelyard.auth.credits import CreditService, InsufficientCredits
from modelyard.webhooks.models import WebhookDelivery


@pytest.fixture
def runtime(app, client, accounts):
    runtime = app.state.runtime
    rules = {"allowedTargets": ["127.0.0.1"], "creditLowThreshold": 10}
    allowed = client.put("/api/settings", json={"webhooks": rules}, headers=accounts["admin"].headers)
    assert allowed.status_code == 200, allowed.text
    return runtime


def subscribe(client, account, events: list[str]) -> str:
    made = client.post("/api/webhooks/configure", json={"url": "http://127.0.0.1:9/closed", "events": events},
                       headers=account.headers)
    assert made.status_code == 201, made.text
    return made.json()["id"]


def deliveries(runtime, event_name: str) -> list[WebhookDelivery]:
    with runtime.db.session() as session:
        return list(session.scalars(select(WebhookDelivery).where(WebhookDelivery.event == event_name)))


def statements(runtime):
    seen: list[str] = []
    listener = lambda conn, cursor, statement, *args: seen.append(statement)  # noqa: E731
    event.listen(runtime.db.engine, "before_cursor_execute", listener)
    return seen, lambda: event.remove(runtime.db.engine, "before_cursor_execute", listener)


def test_an_event_nobody_subscribes_to_costs_no_database_round_trip(runtime, client, accounts):
    subscribe(client, accounts["other"], ["prediction.completed"])  # someone else's webhook
    runtime.invalidation.refresh()
    runtime.events.subscriptions()  # warm
    seen, stop = statements(runtime)
    built: list[int] = []
    try:
        started = time.perf_counter()
        for _ in range(10_000):
            assert runtime.events.emit("prediction.completed", lambda: built.append(1) or {},
                                       owner_id=accounts["user"].id) == []
        per_call = (time.perf_counter() - started) / 10_000
    finally:
        stop()
    assert seen == [] and built == []  # no query, and the payload was never built
    assert runtime.events.wants_cached("prediction.completed", owner_id=accounts["user"].id) is False
    assert runtime.events.wants_cached("prediction.completed", owner_id=accounts["other"].id) is True
    subscribe(client, accounts["user"], ["alert.triggered"])
    runtime.invalidation.refresh()
    assert runtime.events.wants_cached("alert.triggered", owner_id=accounts["user"].id) is None  # cold: ask in a thread
    assert per_call < 50e-6, f"{per_call * 1e6:.1f} µs per emit"


def test_a_new_webhook_is_seen_by_the_next_emit_and_gets_the_contract_payload(runtime, client, accounts):
    user = accounts["user"]
    assert runtime.events.emit("prediction.completed", {"x": 1}, owner_id=user.id) == []
    hook = subscribe(client, user, ["prediction.completed"])
    runtime.invalidation.refresh()  # what the API does before every request
    data = {"model": "lead-score", "user_id": user.id, "prediction_id": "p1", "result": {"score": 0.9}}
    (delivery_id,) = runtime.events.emit("prediction.completed", data, owner_id=user.id)
    with runtime.db.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery.webhook_id == hook and delivery.owner_id == user.id
        assert set(delivery.payload) == {"id", "event", "timestamp", "webhook_id", "data", "signature"}
        assert delivery.payload["data"] == data and delivery.payload["event"] == "prediction.completed"
    off = client.patch(f"/api/webhooks/{hook}", json={"active": False}, headers=user.headers)
    assert off.status_code == 200
    runtime.invalidation.refresh()
    assert runtime.events.emit("prediction.completed", data, owner_id=user.id) == []


def test_unknown_events_are_a_programming_error(runtime):
    with pytest.raises(ValueError, match="unknown webhook event"):
        runtime.events.emit("prediction.complete", {}, owner_id=1)


def test_emit_from_many_threads_queues_one_delivery_per_call(runtime, client, accounts):
    user = accounts["user"]
    subscribe(client, user, ["alert.triggered"])
    runtime.invalidation.refresh()
    with ThreadPoolExecutor(max_workers=8) as pool:
        ids = list(pool.map(lambda i: runtime.events.emit("alert.triggered", {"n": i}, owner_id=user.id), range(24)))
    assert all(len(found) == 1 for found in ids)
    assert sorted(d.payload["data"]["n"] for d in deliveries(runtime, "alert.triggered")) == list(range(24))


def test_fifty_concurrent_charges_crossing_the_threshold_raise_credit_low_exactly_once(runtime, client, accounts):
    user = accounts["user"]
    subscribe(client, user, ["user.credit_low"])
    runtime.invalidation.refresh()
    with runtime.db.session() as session:
        balance = CreditService(session).balance(user.id)
        CreditService(session).allocate(user.id, 30 - balance)  # 30 left; the threshold is 10

    def charge(_):
        try:
            with runtime.db.session() as session:
                return CreditService(session).charge(user.id, 1)
        except InsufficientCredits:
            return None

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(charge, range(50)))
    assert sum(r is not None for r in results) == 30
    (crossing,) = deliveries(runtime, "user.credit_low")
    assert crossing.payload["data"]["credits_remaining"] == 9 and crossing.payload["data"]["threshold"] == 10
    with runtime.db.session() as session:  # credits given back and spent again: a second crossing, a second event
        CreditService(session).allocate(user.id, 12)
        for _ in range(3):
            CreditService(session).charge(user.id, 1)
        assert session.scalar(select(func.count()).select_from(WebhookDelivery)
                              .where(WebhookDelivery.event == "user.credit_low")) == 2


def test_a_user_without_a_credit_low_webhook_triggers_nothing(runtime, client, accounts):
    subscribe(client, accounts["other"], ["user.credit_low"])
    runtime.invalidation.refresh()
    with runtime.db.session() as session:
        balance = CreditService(session).balance(accounts["user"].id)
        CreditService(session).charge(accounts["user"].id, balance - 5)
    assert deliveries(runtime, "user.credit_low") == []


def test_finished_deliveries_leave_the_log_after_the_retention_period(runtime, client, accounts):
    from datetime import timedelta

    from modelyard.db.base import utcnow
    from modelyard.webhooks.service import prune_deliveries

    user = accounts["user"]
    subscribe(client, user, ["alert.triggered"])
    runtime.invalidation.refresh()
    old, recent, pending = (runtime.events.emit("alert.triggered", {"n": i}, owner_id=user.id)[0] for i in range(3))
    with runtime.db.session() as session:
        for delivery_id, age, status in ((old, 31, "failed"), (recent, 29, "delivered"), (pending, 60, "retrying")):
            row = session.get(WebhookDelivery, delivery_id)
            row.created_at, row.status = utcnow() - timedelta(days=age), status
    assert prune_deliveries(runtime.db) == 1
    assert {d.id for d in deliveries(runtime, "alert.triggered")} == {recent, pending}


def test_test_pings_are_limited_per_user_so_the_server_is_no_free_amplifier(runtime, client, accounts):
    user = accounts["user"]
    hook = subscribe(client, user, ["model.updated"])
    answers = [client.post(f"/api/webhooks/{hook}/test", headers=user.headers).status_code for _ in range(61)]
    assert answers == [202] * 60 + [429]
    assert client.post(f"/api/webhooks/{subscribe(client, accounts['other'], ['model.updated'])}/test",
                       headers=accounts["other"].headers).status_code == 202


def test_a_prediction_call_queues_prediction_completed_for_the_callers_subscriptions(runtime, client, accounts):
    from tests.api.test_model_registry import upload
    from tests.support.registry_models import customers, lightgbm_text

    user = accounts["user"]
    upload(client, user, lightgbm_text(customers(60)), name="announced", filename="model.txt", deployment="True")
    row = {"spend": 1.0, "visits": 2, "tenure": 3.0}
    assert client.post("/api/predict/announced", json={"data": [row]}, headers=user.headers).status_code == 200
    assert deliveries(runtime, "prediction.completed") == [], "nobody listened: nothing was queued"
    subscribe(client, user, ["prediction.completed"])
    subscribe(client, accounts["other"], ["prediction.completed"])  # not the caller: gets nothing
    assert client.post("/api/predict/announced", json={"data": [row]}, headers=user.headers).status_code == 200
    deadline = time.monotonic() + 10
    while not deliveries(runtime, "prediction.completed") and time.monotonic() < deadline:
        time.sleep(0.05)
    queued = deliveries(runtime, "prediction.completed")
    assert len(queued) == 1, "one delivery, to the caller's own webhook"
    data = queued[0].payload["data"]
    assert (data["model"], data["user_id"], data["cached"]) == ("announced", user.id, True)
    assert data["result"]["predictions"][0]["prediction"] is not None and data["processing_time"] >= 0
