"""Plans and credits: starting credits by plan, admin allocation, exact charges under concurrency,
per-plan request limits, API key rotation (prediction-platform contract)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from modelyard.auth.credits import CreditService, InsufficientCredits
from modelyard.auth.models import CreditEvent, User


def register(client, name: str) -> dict:
    response = client.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com",
                                                        "password": "secret-pw"})
    assert response.status_code == 201, response.text
    return response.json()


def test_a_new_account_starts_on_the_basic_plan_with_its_credits(client):
    new = register(client, "alice")
    for headers in ({"X-API-Key": new["api_key"]}, {"Authorization": f"Bearer {new['api_key']}"}):
        me = client.get("/api/auth/user", headers=headers)
        assert me.status_code == 200, me.text
        assert (me.json()["plan"], me.json()["credits_remaining"]) == ("basic", 1000)


def test_an_admin_allocates_credits_and_the_history_says_who(client, accounts, app):
    new = register(client, "bob")
    admin = accounts["admin"].headers
    given = client.post(f"/admin/users/{new['user_id']}/credits", json={"credits": 250, "reason": "pilot"},
                        headers=admin)
    assert given.status_code == 200, given.text
    assert given.json() == {"user_id": new["user_id"], "credits_added": 250, "credits_remaining": 1250,
                            "plan": "basic"}
    assert client.get("/api/auth/user", headers={"X-API-Key": new["api_key"]}).json()["credits_remaining"] == 1250
    taken = client.post(f"/admin/users/{new['user_id']}/credits", json={"credits": -2000}, headers=admin)
    assert taken.status_code == 400 and "negative balance (1250 remain)" in taken.json()["message"]
    with app.state.runtime.db.session() as session:
        events = CreditService(session).history(new["user_id"])
        assert [(e.delta, e.balance, e.reason, e.detail) for e in events] == [
            (250, 1250, "allocation", "pilot"), (1000, 1000, "plan", "starting credits of the basic plan")]
        assert events[0].actor_id == accounts["admin"].id


@pytest.mark.parametrize(("body", "status"), [({"credits": 0}, 400), ({"credits": "10"}, 422),
                                              ({"credits": 10, "extra": 1}, 422), ({}, 422)])
def test_bad_allocations_are_refused_clearly(client, accounts, body, status):
    response = client.post(f"/admin/users/{accounts['user'].id}/credits", json=body, headers=accounts["admin"].headers)
    assert response.status_code == status, response.text


def test_only_admins_allocate_and_unknown_users_are_404(client, accounts):
    user = accounts["user"]
    assert client.post(f"/admin/users/{user.id}/credits", json={"credits": 5}, headers=user.headers).status_code == 403
    missing = client.post("/admin/users/999999/credits", json={"credits": 5}, headers=accounts["admin"].headers)
    assert missing.status_code == 404


def test_with_one_credit_left_exactly_one_of_fifty_concurrent_charges_succeeds(app, accounts):
    db, user_id = app.state.runtime.db, accounts["user"].id
    with db.session() as session:
        CreditService(session).allocate(user_id, 1 - CreditService(session).balance(user_id))

    def charge(_):
        with db.session() as session:
            try:
                return CreditService(session).charge(user_id, 1, detail="lead-score")
            except InsufficientCredits as refused:
                assert refused.status == 402 and refused.details == {"required": 1, "remaining": 0}
                return None

    with ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(charge, range(50)))
    assert results.count(0) == 1 and results.count(None) == 49
    with db.session() as session:
        assert session.get(User, user_id).credits == 0
        charges = session.query(CreditEvent).filter_by(user_id=user_id, reason="prediction").all()
        assert [(c.delta, c.balance) for c in charges] == [(-1, 0)]


def test_the_plan_sets_the_request_limit_and_changes_at_once(client, accounts):
    user, admin = accounts["user"], accounts["admin"].headers
    assert client.get("/api/auth/validate", headers=user.headers).headers["X-RateLimit-Limit"] == "5000"
    changed = client.patch(f"/admin/users/{user.id}", json={"plan": "pro"}, headers=admin)
    assert changed.status_code == 200 and changed.json()["plan"] == "pro"
    assert client.get("/api/auth/validate", headers=user.headers).headers["X-RateLimit-Limit"] == "50000"
    unknown = client.patch(f"/admin/users/{user.id}", json={"plan": "platinum"}, headers=admin)
    assert unknown.status_code == 400 and "unknown plan 'platinum'" in unknown.json()["message"]


def test_a_rotated_key_stops_working_and_its_successor_works(client):
    new = register(client, "carol")
    old = {"X-API-Key": new["api_key"]}
    key_id = client.get("/api/auth/keys", headers=old).json()[0]["id"]
    rotated = client.post(f"/api/auth/keys/{key_id}/rotate", headers=old)
    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["name"] == "default" and rotated.json()["api_key"] != new["api_key"]
    assert client.get("/api/auth/user", headers=old).status_code == 401
    assert client.get("/api/auth/user", headers={"X-API-Key": rotated.json()["api_key"]}).status_code == 200
    again = client.post(f"/api/auth/keys/{key_id}/rotate", headers={"X-API-Key": rotated.json()["api_key"]})
    assert again.status_code == 404


def test_the_owner_reads_their_own_credit_history_newest_first(client, accounts):
    user, admin = accounts["user"], accounts["admin"]
    for credits in (40, -15):
        assert client.post(f"/admin/users/{user.id}/credits", json={"credits": credits, "reason": "pilot"},
                           headers=admin.headers).status_code == 200
    assert client.post(f"/admin/users/{accounts['other'].id}/credits", json={"credits": 7},
                       headers=admin.headers).status_code == 200

    answer = client.get("/api/credits/history", headers=user.headers)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["user_id"], body["total"], body["limit"], body["offset"]) == (user.id, 3, 50, 0)
    assert body["credits_remaining"] == client.get("/api/auth/user", headers=user.headers).json()["credits_remaining"]
    assert [(e["delta"], e["reason"], e["detail"], e["actor_id"]) for e in body["events"]][:2] == [
        (-15, "allocation", "pilot", admin.id), (40, "allocation", "pilot", admin.id)]
    assert body["events"][2]["reason"] == "plan"  # the starting credits, and nothing of the other user
    assert body["events"][0]["balance"] == body["credits_remaining"]

    paged = client.get("/api/credits/history", params={"limit": 1, "offset": 1}, headers=user.headers).json()
    assert [e["delta"] for e in paged["events"]] == [40] and paged["total"] == 3


def test_an_admin_reads_any_users_credit_history_and_others_are_refused(client, accounts):
    user, admin = accounts["user"], accounts["admin"]
    assert client.post(f"/admin/users/{user.id}/credits", json={"credits": 9}, headers=admin.headers).status_code == 200

    answer = client.get(f"/admin/users/{user.id}/credits/history", headers=admin.headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["user_id"] == user.id and [e["delta"] for e in answer.json()["events"]][0] == 9
    assert client.get(f"/admin/users/{user.id}/credits/history", headers=user.headers).status_code == 403
    assert client.get(f"/admin/users/{accounts['other'].id}/credits/history",
                      headers=accounts["other"].headers).status_code == 403
    assert client.get("/admin/users/999999/credits/history", headers=admin.headers).status_code == 404


def test_credit_history_needs_a_signed_in_caller(client, accounts):
    assert client.get("/api/credits/history").status_code == 401
    assert client.get(f"/admin/users/{accounts['user'].id}/credits/history").status_code == 401


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 201}, {"offset": -1}, {"limit": "many"},
                                    {"offset": 10**10}])
def test_bad_limits_and_offsets_of_the_credit_history_are_422(client, accounts, params):
    user = accounts["user"]
    assert client.get("/api/credits/history", params=params, headers=user.headers).status_code == 422
    assert client.get(f"/admin/users/{user.id}/credits/history", params=params,
                      headers=accounts["admin"].headers).status_code == 422
