"""Every login dialect answers the superset, with the role in its contract's words."""
import pytest

SUPERSET = {"access_token", "token_type", "role", "expires_in", "user_id", "username"}


def test_login_with_query_parameters_as_model_registry_shows(client):
    response = client.post("/login?username=admin&password=admin-password-1")
    assert response.status_code == 200
    body = response.json()
    assert SUPERSET <= body.keys()
    assert body["token"] == body["access_token"]
    assert body["role"] == "Admin"
    assert body["expires_in"] == 86400


def test_login_with_json_body_as_csv_scoring_shows(client, accounts):
    body = client.post("/login", json={"username": "user-account", "password": "user-account-pw"}).json()
    assert body["role"] == "User"
    assert body["username"] == "user-account"


def test_login_with_form_fields(client):
    response = client.post("/login", data={"username": "admin", "password": "admin-password-1"})
    assert response.status_code == 200
    assert response.json()["role"] == "Admin"


@pytest.mark.parametrize("role,word", [("user", "customer"), ("labeler", "labeler"), ("universal", "universal")])
def test_labeling_login_names_roles_in_its_words(client, accounts, role, word):
    account = accounts[role]
    response = client.post("/auth/login", json={"username": account.username, "password": account.password})
    assert response.status_code == 200
    assert response.json()["role"] == word
    assert SUPERSET <= response.json().keys()


def test_platform_login_returns_user_id_and_expiry(client, accounts):
    response = client.post("/api/auth/login", json={"username": "user-account", "password": "user-account-pw"})
    body = response.json()
    assert body["user_id"] == accounts["user"].id
    assert body["expires_in"] > 0


def test_token_from_login_opens_authenticated_routes(client):
    token = client.post("/auth/login", json={"username": "admin", "password": "admin-password-1"}).json()["access_token"]
    assert client.get("/status", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.parametrize("path", ["/login", "/auth/login", "/api/auth/login"])
def test_wrong_password_and_unknown_user_answer_the_same_401(client, path):
    wrong = client.post(path, json={"username": "admin", "password": "nope"})
    unknown = client.post(path, json={"username": "ghost", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["message"] == unknown.json()["message"]
    assert wrong.json()["code"] == "AUTHENTICATION_REQUIRED"


def test_login_without_credentials_is_422(client):
    response = client.post("/login")
    assert response.status_code == 422
    assert "username" in response.json()["message"]


def test_deactivated_user_cannot_log_in(client, accounts):
    admin = accounts["admin"]
    assert client.delete(f"/admin/users/{accounts['user'].id}", headers=admin.headers).status_code == 200
    response = client.post("/auth/login", json={"username": "user-account", "password": "user-account-pw"})
    assert response.status_code == 401


def test_repeated_failures_for_one_account_are_throttled(client, settings):
    for _ in range(settings.login_max_failures):
        assert client.post("/api/auth/login", json={"username": "admin", "password": "bad"}).status_code == 401
    throttled = client.post("/api/auth/login", json={"username": "admin", "password": "admin-password-1"})
    assert throttled.status_code == 429
    assert throttled.json()["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(throttled.headers["Retry-After"]) > 0


def test_login_history_records_successes_and_failures_without_secrets(client, app):
    from sqlalchemy import select

    from modelyard.auth.models import LoginEvent

    client.post("/login", json={"username": "admin", "password": "wrong-one"})
    client.post("/login", json={"username": "admin", "password": "admin-password-1"})
    with app.state.runtime.db.session() as session:
        events = session.scalars(select(LoginEvent).order_by(LoginEvent.id)).all()
    assert [(e.username, e.success, e.reason) for e in events] == [("admin", False, "bad_credentials"),
                                                                     ("admin", True, None)]
    assert events[0].address
