"""Sign-up, API keys, the current user, and admin user management."""
import pytest



def register(client, name="newbie"):
    return client.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com",
                                                     "password": "secret-1"})


def test_register_returns_an_api_key_once_that_authenticates(client):
    response = register(client)
    assert response.status_code == 201
    key = response.json()["api_key"]
    assert response.json()["message"] == "User registered successfully"
    me = client.get("/api/auth/user", headers={"X-API-Key": key})
    assert me.status_code == 200
    assert me.json()["username"] == "newbie"
    assert me.json()["api_key"] != key and key.startswith(me.json()["api_key"].rstrip("…"))


def test_api_key_works_as_bearer_too(client):
    key = register(client).json()["api_key"]
    assert client.get("/api/auth/validate", headers={"Authorization": f"Bearer {key}"}).status_code == 200


def test_validate_reports_the_rate_limit_window(client):
    key = register(client).json()["api_key"]
    first = client.get("/api/auth/validate", headers={"X-API-Key": key}).json()
    second = client.get("/api/auth/validate", headers={"X-API-Key": key}).json()
    assert first["valid"] is True
    assert first["rate_limit"]["remaining"] - 1 == second["rate_limit"]["remaining"]
    assert second["rate_limit"]["reset"] > 0


def test_registering_a_taken_username_is_409(client):
    register(client)
    assert register(client).status_code == 409


def test_register_refuses_a_bad_email_and_a_short_password(client):
    bad = client.post("/api/auth/register", json={"username": "abc", "email": "nope", "password": "x"})
    assert bad.status_code == 422
    fields = {tuple(d["loc"]) for d in bad.json()["details"]}
    assert ("body", "email") in fields and ("body", "password") in fields
    assert "x" not in [d.get("input") for d in bad.json()["details"]]


def test_revoked_api_key_stops_working(client, accounts):
    headers = accounts["user"].headers
    created = client.post("/api/auth/keys", json={"name": "ci"}, headers=headers)
    assert created.status_code == 201
    key, key_id = created.json()["api_key"], created.json()["id"]
    assert client.get("/api/auth/validate", headers={"X-API-Key": key}).status_code == 200
    listed = client.get("/api/auth/keys", headers=headers).json()
    assert [k["prefix"] for k in listed] == [key[:12]] and "api_key" not in listed[0]
    assert client.delete(f"/api/auth/keys/{key_id}", headers=headers).status_code == 204
    assert client.get("/api/auth/validate", headers={"X-API-Key": key}).status_code == 401


def test_a_user_cannot_revoke_someone_elses_key(client, accounts):
    key_id = client.post("/api/auth/keys", json={}, headers=accounts["user"].headers).json()["id"]
    assert client.delete(f"/api/auth/keys/{key_id}", headers=accounts["other"].headers).status_code == 404


def test_admin_lists_users_in_both_contracts_shapes(client, accounts):
    users = client.get("/admin/users", headers=accounts["admin"].headers).json()
    by_name = {u["username"]: u for u in users}
    assert by_name["user-account"]["role"] == "customer"
    assert by_name["labeler-account"]["role"] == "labeler"
    assert {"username", "role", "is_active", "user_id", "email"} <= by_name["admin"].keys()


def test_admin_creates_users_of_each_role_and_they_can_log_in(client, accounts):
    for role in ("admin", "customer", "labeler", "universal"):
        created = client.post("/admin/users", headers=accounts["admin"].headers,
                              json={"username": f"made-{role}", "password": "long-enough", "role": role})
        assert created.status_code == 201, created.text
        login = client.post("/auth/login", json={"username": f"made-{role}", "password": "long-enough"})
        assert login.json()["role"] == role


def test_admin_changes_a_role_and_the_next_request_sees_it(client, accounts):
    user = accounts["user"]
    assert client.get("/admin/users", headers=user.headers).status_code == 403
    patched = client.patch(f"/admin/users/{user.id}", json={"role": "admin"}, headers=accounts["admin"].headers)
    assert patched.status_code == 200
    assert client.get("/admin/users", headers=user.headers).status_code == 200


def test_deactivated_user_token_stops_working(client, accounts):
    user = accounts["user"]
    assert client.get("/api/auth/user", headers=user.headers).status_code == 200
    client.patch(f"/admin/users/{user.id}", json={"is_active": False}, headers=accounts["admin"].headers)
    assert client.get("/api/auth/user", headers=user.headers).status_code == 401


def test_a_password_change_ends_every_token_issued_before_it(client, accounts):
    """A stolen token does not outlive a password reset: tokens carry a stamp of the password hash they were
    issued under. API keys are separate credentials and keep working (revoke them on their own)."""
    user, admin = accounts["user"], accounts["admin"]
    key = client.post("/api/auth/keys", json={"name": "ci"}, headers=user.headers)
    assert key.status_code in (200, 201), key.text
    key_headers = {"X-API-Key": key.json()["api_key"]}
    assert client.get("/api/auth/user", headers=user.headers).status_code == 200  # cached from here on
    changed = client.patch(f"/admin/users/{user.id}", json={"password": "a-new-password-9"}, headers=admin.headers)
    assert changed.status_code == 200, changed.text
    refused = client.get("/api/auth/user", headers=user.headers)
    assert refused.status_code == 401 and "password changed" in refused.json()["message"]
    fresh = client.post("/api/auth/login", json={"username": user.username, "password": "a-new-password-9"})
    assert fresh.status_code == 200
    assert client.get("/api/auth/user", headers={"Authorization": f"Bearer {fresh.json()['access_token']}"}
                      ).status_code == 200
    assert client.get("/api/auth/user", headers=key_headers).status_code == 200
    assert client.get("/api/auth/user", headers=admin.headers).status_code == 200, "other accounts are untouched"


def test_admin_cannot_deactivate_themselves(client, accounts):
    admin = accounts["admin"]
    assert client.delete(f"/admin/users/{admin.id}", headers=admin.headers).status_code == 409


def test_unknown_role_is_refused(client, accounts):
    response = client.post("/admin/users", headers=accounts["admin"].headers,
                           json={"username": "someone", "password": "long-enough", "role": "root"})
    assert response.status_code == 422


def test_missing_user_is_404(client, accounts):
    assert client.get("/admin/users/99999", headers=accounts["admin"].headers).status_code == 404


def test_rate_limit_headers_are_sent_once_each_also_on_the_429(settings):
    from fastapi.testclient import TestClient

    from modelyard.app import create_app

    settings.rate_limit_api_key = "2/hour"
    with TestClient(create_app(settings, immediate_jobs=True)) as client:
        key = register(client).json()["api_key"]
        answers = [client.get("/api/models", headers={"X-API-Key": key}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    for answer, remaining in zip(answers, ["1", "0", "0"]):
        raw = [(k.decode().lower(), v.decode()) for k, v in answer.headers.raw]
        for name in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"):
            assert [n for n, _ in raw].count(name) == 1, (answer.status_code, raw)
        assert dict(raw)["x-ratelimit-limit"] == "2" and dict(raw)["x-ratelimit-remaining"] == remaining
    assert answers[2].headers["retry-after"].isdigit()


@pytest.mark.parametrize("value", [0, "false", "no", 1])
def test_is_active_must_be_a_json_boolean(client, accounts, value):
    user = accounts["user"]
    response = client.patch(f"/admin/users/{user.id}", json={"is_active": value}, headers=accounts["admin"].headers)
    assert response.status_code == 422, response.text
    assert client.get("/api/auth/user", headers=user.headers).status_code == 200
