"""For every route: anonymous → 401, wrong role → 403; public routes are a short, explicit list."""
import re

import pytest

PUBLIC = {
    ("GET", "/health"), ("GET", "/monitoring/api/health"), ("POST", "/login"), ("POST", "/auth/login"),
    ("POST", "/api/auth/login"), ("POST", "/api/auth/register"),
    ("GET", "/blobs/{key}"), ("PUT", "/blobs/{key}"),  # authorised by their signature instead
    ("GET", "/metrics"),  # the Prometheus scrape endpoint; MODELYARD_METRICS_TOKEN can close it
}


def routes(app):
    """Every operation the OpenAPI document lists (which is every route: none is hidden)."""
    for path, operations in app.openapi()["paths"].items():
        for method in operations:
            yield method.upper(), path


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def test_every_non_public_route_refuses_anonymous_callers(client, app):
    checked = 0
    for method, path in routes(app):
        if (method, path) in PUBLIC or path.startswith(("/docs", "/redoc", "/openapi")):
            continue
        response = client.request(method, concrete(path), json={})
        assert response.status_code == 401, f"{method} {path} answered {response.status_code}"
        checked += 1
    assert checked >= 10


def test_every_admin_route_refuses_other_roles(client, app, accounts):
    admin_routes = [(m, p) for m, p in routes(app) if p.startswith("/admin/")]
    assert admin_routes
    for role in ("user", "labeler"):
        for method, path in admin_routes:
            response = client.request(method, concrete(path), json={}, headers=accounts[role].headers)
            assert response.status_code == 403, f"{role}: {method} {path} answered {response.status_code}"


@pytest.mark.parametrize("role", ["admin", "universal"])
def test_admin_and_universal_may_use_admin_routes(client, accounts, role):
    assert client.get("/admin/users", headers=accounts[role].headers).status_code == 200


def test_signed_blob_routes_refuse_requests_without_a_signature(client):
    assert client.get("/blobs/some/key").status_code in (403, 422)
    assert client.put("/blobs/some/key", content=b"x").status_code in (403, 422)


def test_openapi_describes_every_route_with_typed_responses(client, app):
    spec = client.get("/openapi.json").json()
    for method, path in routes(app):
        operation = spec["paths"][path][method.lower()]
        success = [code for code in operation["responses"] if code.startswith("2")]
        assert success, f"{method} {path} has no success response"
        content = operation["responses"][success[0]].get("content", {})
        if success[0] != "204" and "application/json" in content:
            assert content["application/json"]["schema"], f"{method} {path} has an untyped response"
