"""Bad input gets the right 4xx in the one error shape, with a request id; never a 500."""
import base64
import json
import time

import jwt
import pytest

SHAPE = {"error", "message", "detail", "details", "code", "timestamp", "request_id"}


def assert_error(response, status, code=None):
    assert response.status_code == status, response.text
    body = response.json()
    assert SHAPE <= body.keys()
    assert body["request_id"] == response.headers["X-Request-ID"]
    if code:
        assert body["code"] == code
    return body


def test_every_response_carries_a_request_id(client):
    assert client.get("/health").headers["X-Request-ID"].startswith("req_")


def test_a_sane_inbound_request_id_is_kept_and_a_hostile_one_replaced(client):
    assert client.get("/health", headers={"X-Request-ID": "trace-42"}).headers["X-Request-ID"] == "trace-42"
    assert client.get("/health", headers={"X-Request-ID": "bad id\r\n"}).headers["X-Request-ID"].startswith("req_")


def test_malformed_json_is_400(client):
    response = client.post("/api/auth/login", content=b'{"username": "admin",',
                           headers={"content-type": "application/json"})
    assert_error(response, 400, "INVALID_JSON")
    response = client.post("/login", content=b"{nope", headers={"content-type": "application/json"})
    assert_error(response, 400, "INVALID_JSON")


def test_missing_fields_and_wrong_types_are_422(client):
    assert_error(client.post("/api/auth/login", json={"username": "admin"}), 422, "INVALID_INPUT")
    assert_error(client.post("/api/auth/login", json={"username": ["a"], "password": 3}), 422, "INVALID_INPUT")


def test_oversized_json_body_is_413_without_being_read(client, settings):
    big = b'{"username": "' + b"a" * (settings.max_json_bytes + 10) + b'"}'
    assert_error(client.post("/api/auth/login", content=big, headers={"content-type": "application/json"}),
                 413, "FILE_TOO_LARGE")


def test_chunked_body_over_the_limit_is_413(client, settings):
    def chunks():
        for _ in range(settings.max_json_bytes // 65536 + 2):
            yield b"a" * 65536

    response = client.post("/api/auth/login", content=chunks(), headers={"content-type": "application/json"})
    assert_error(response, 413, "FILE_TOO_LARGE")


def test_unknown_route_is_404_and_wrong_method_is_405(client):
    assert_error(client.get("/no/such/thing"), 404, "NOT_FOUND")
    assert_error(client.delete("/health"), 405, "METHOD_NOT_ALLOWED")


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize("kind", ["garbage", "alg_none", "tampered", "expired", "other_secret"])
def test_bad_tokens_are_401(client, accounts, settings, kind):
    now = int(time.time())
    claims = {"sub": str(accounts["admin"].id), "role": "admin", "jti": "x", "iat": now, "exp": now + 600}
    token = {
        "garbage": "not-a-token",
        "alg_none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "tampered": accounts["user"].token.rsplit(".", 2)[0] + "." + _b64({**claims}) + "."
        + accounts["user"].token.rsplit(".", 1)[1],
        "expired": jwt.encode({**claims, "iat": now - 100, "exp": now - 10}, settings.secret_key, algorithm="HS256"),
        "other_secret": jwt.encode(claims, "another-secret-key-0123456789", algorithm="HS256"),
    }[kind]
    body = assert_error(client.get("/admin/users", headers={"Authorization": f"Bearer {token}"}), 401)
    assert body["code"] == "AUTHENTICATION_REQUIRED"


def test_a_non_admin_on_an_admin_route_is_403(client, accounts):
    assert_error(client.get("/admin/users", headers=accounts["user"].headers), 403, "INSUFFICIENT_PERMISSIONS")


def test_html_responses_carry_security_headers(client):
    docs = client.get("/docs")
    assert docs.headers["content-type"].startswith("text/html")
    assert docs.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in docs.headers["Content-Security-Policy"]
    assert docs.headers["X-Content-Type-Options"] == "nosniff"


def test_an_unexpected_failure_is_a_500_in_the_error_shape(app, settings):
    from fastapi.testclient import TestClient

    @app.get("/boom-for-test")
    def boom():
        raise RuntimeError("kaput")

    with TestClient(app, raise_server_exceptions=False) as client:
        body = assert_error(client.get("/boom-for-test"), 500, "INTERNAL_ERROR")
    assert "kaput" not in json.dumps(body)


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/admin/users"), ("POST", "/admin/users/1"), ("PUT", "/api/models/x"), ("PATCH", "/api/feature-tables/t"),
])
def test_405_lists_every_method_any_route_on_the_path_accepts(client, method, path):
    expected = {"/admin/users": {"GET", "POST"}, "/admin/users/1": {"GET", "PATCH", "DELETE"},
                "/api/models/x": {"GET", "DELETE"}, "/api/feature-tables/t": {"GET", "PUT", "DELETE"}}[path]
    response = client.request(method, path)
    body = assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert set(response.headers["Allow"].split(", ")) == expected
    assert all(m in body["message"] for m in expected)


HUGE = str(2**70)


@pytest.mark.parametrize("url", [
    f"/api/datasets?offset={HUGE}", f"/api/jobs?offset={HUGE}", f"/requests?offset={HUGE}",
    f"/api/models?page={HUGE}",
    f"/admin/users/{HUGE}", f"/admin/users/{2**31}", "/admin/users/0", "/admin/users/-1",
])
def test_integers_beyond_what_the_database_holds_are_422_not_500(client, accounts, url):
    body = assert_error(client.get(url, headers=accounts["admin"].headers), 422, "INVALID_INPUT")
    assert body["details"][0]["type"] in ("less_than_equal", "greater_than_equal")


@pytest.mark.parametrize("method", ["PATCH", "DELETE"])
def test_changing_a_user_beyond_the_id_range_is_422_not_500(client, accounts, method):
    response = client.request(method, f"/admin/users/{2**63}", json={"is_active": True},
                              headers=accounts["admin"].headers)
    assert_error(response, 422, "INVALID_INPUT")


def test_the_largest_id_a_user_can_have_is_simply_not_found(client, accounts):
    assert_error(client.get(f"/admin/users/{2**31 - 1}", headers=accounts["admin"].headers), 404)


def test_offsets_of_a_labeling_request_beyond_the_database_are_422(client, accounts):
    created = client.post("/requests", json={"title": "cats", "classes": ["cat"]}, headers=accounts["user"].headers)
    url = f"/requests/{created.json()['id']}/uploads"
    assert_error(client.get(f"{url}?offset={HUGE}", headers=accounts["user"].headers), 422, "INVALID_INPUT")
    assert client.get(f"{url}?offset=5", headers=accounts["user"].headers).json() == []
