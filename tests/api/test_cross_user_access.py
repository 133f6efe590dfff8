"""No object of one user is reachable by another: every operation with an id in its path, called with user A's ids.

The operations come from the app's OpenAPI document, so a new route with a path parameter is covered (or fails
here until it is given an id below); the routes public by design are listed in ALLOWED with their reason.
"""
from __future__ import annotations

import json
import re
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from modelyard.app import create_app
from modelyard.auth.service import AuthService
from modelyard.config import Settings
from tests.support.datasets import buyers, to_csv
from tests.support.images import encode, scene
from tests.support.registry_models import customers, lightgbm_text

# Public by design: not an object of any user.
ALLOWED = {
    ("GET", "/blobs/{key}"): "a signed URL authorises itself; without A's signature it is refused (403), tested "
                             "in test_auth_matrix",
    ("PUT", "/blobs/{key}"): "the same: the signature, not the caller, grants the upload",
    ("POST", "/api/industry/{industry}/{name}"): "the built-in industry models are shared by every account",
}
SECRET = "zz-owner-a-secret"  # in every name A gives its objects; never in an answer to someone else
ROW = {"spend": 10.0, "visits": 2, "tenure": 1.5}
# Valid bodies, so that an answer is about ownership and not a 422 for a missing field.
BODIES = {
    ("POST", "/api/predict/{model_ref}"): {"json": {"data": [ROW]}},
    ("POST", "/tasks/{task_id}/labels"): {"json": {"image_id": "img", "labels": ["cat"]}},
    ("PATCH", "/api/webhooks/{webhook_id}"): {"json": {"active": False}},
    ("PATCH", "/admin/users/{user_id}"): {"json": {"role": "user"}},
    ("POST", "/admin/users/{user_id}/credits"): {"json": {"amount": 5}},
    ("POST", "/requests/{request_id}/uploads"): {"files": [("files", ("b.png", encode(scene(7)), "image/png"))]},
    ("PUT", "/api/feature-tables/{table_ref}"): {"files": {"file": ("t.csv", to_csv(customers(10)), "text/csv")}},
    ("POST", "/api/upload/csv/{model_name}"): {"files": {"file": ("s.csv", to_csv(customers(3)), "text/csv")}},
    ("POST", "/v2/models/{model_name}/infer"): {"json": {"inputs": [
        {"name": n, "shape": [1], "datatype": "FP64", "data": [v]} for n, v in ROW.items()]}},
    ("POST", "/v2/models/{model_name}/versions/{model_version}/infer"): {"json": {"inputs": [
        {"name": n, "shape": [1], "datatype": "FP64", "data": [v]} for n, v in ROW.items()]}},
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A's objects of every kind, and the credentials of A, B (another user) and two labelers."""
    home = tmp_path_factory.mktemp("cross")
    app = create_app(Settings(_env_file=None, home=home / "home", database_url=f"sqlite:///{home / 'x.db'}",
                              admin_password="admin-password-1", secret_key="test-secret-key-0123456789abcdef"),
                     run_worker=False)
    with TestClient(app) as client:
        runtime = app.state.runtime
        with runtime.db.session() as session:
            auth = AuthService(session, secret=runtime.settings.resolved_secret_key, token_ttl=3600,
                               limiter=runtime.limiter)
            users = {name: auth.create_user(name, f"{name}-password", role=role) for name, role in
                     (("owner-a", "user"), ("other-b", "user"), ("labeler-a", "labeler"), ("labeler-b", "labeler"))}
            headers = {name: {"Authorization": f"Bearer {auth.issue_token(u)}"} for name, u in users.items()}
            headers["admin"] = {"Authorization": f"Bearer {auth.issue_token(auth.get_by_username('admin'))}"}
            ids = {"user_id": str(users["owner-a"].id)}
        yield client, headers, ids | owned_by_a(client, headers)


def _ok(response, *codes):
    assert response.status_code in (codes or (200, 201, 202)), response.text
    return response.json()


def owned_by_a(client, headers) -> dict[str, str]:
    """Create one object of each kind as A; the ids by the path parameter names that name them."""
    a, admin = headers["owner-a"], headers["admin"]
    ids: dict[str, str] = {}
    dataset = _ok(client.post("/api/upload", headers=a,
                              files={"file": (f"{SECRET}.csv", to_csv(buyers(40)), "text/csv")}))
    ids["file_id"] = dataset["file_id"]
    ids["train_job_id"] = _ok(client.post("/api/train", headers=a, json={
        "file_id": dataset["file_id"], "model_name": f"{SECRET}-trained",
        "training_params": {"target": "will_buy"}}))["job_id"]
    model = _ok(client.post("/upload_model", headers=a, params={
        "model_name": f"{SECRET}-model", "model_version": "1", "deployment": "True"},
        files=[("model_file", ("model.txt", lightgbm_text(customers(60)), "application/octet-stream"))]))
    listed = _ok(client.get("/api/models", headers=a))
    ids["model_id"] = next(m["id"] for m in listed["models"] if m["name"] == f"{SECRET}-model")
    ids["model_name"], ids["model_version"] = f"{SECRET}-model", "1"
    assert model
    _ok(client.post(f"/api/predict/{ids['model_name']}", headers=a, json={"data": [ROW]}))  # in the logs and reports
    table = _ok(client.post("/api/feature-tables", headers=a, params={"name": f"{SECRET}-table",
                                                                      "key_columns": "customer_id"},
                            files={"file": ("t.csv", to_csv(customers(10)), "text/csv")}))
    ids["table_ref"] = table["id"]
    _ok(client.put("/api/settings", headers=admin, json={"webhooks": {"allowedTargets": ["127.0.0.1"]}}))
    hook = _ok(client.post("/api/webhooks/configure", headers=a,
                           json={"url": f"http://127.0.0.1:9/{SECRET}", "events": ["model.updated"]}))
    ids["webhook_id"] = hook["id"]
    ids["key_id"] = _ok(client.post("/api/auth/keys", headers=a, json={"name": f"{SECRET}-key"}))["id"]
    request = _ok(client.post("/requests", headers=a, json={"title": f"{SECRET} birds", "description": SECRET,
                                                            "classes": ["cat", "dog"]}))
    ids["request_id"] = request["id"]
    _ok(client.post(f"/requests/{request['id']}/uploads", headers=a,
                    files=[("files", (f"{SECRET}.png", encode(scene(1)), "image/png"))]))
    ids["task_id"] = _ok(client.post("/admin/assign", headers=admin, json={
        "request_id": request["id"], "labeler_username": "labeler-a"}))["task_id"]
    _ok(client.put("/api/scoring/active-model", headers=admin, json={"model": f"{SECRET}-model"}))
    upload = _ok(client.post("/upload", headers=a, files={"file": ("s.csv", to_csv(customers(5)), "text/csv")}))
    _ok(client.post("/validate", headers=a, json={"upload_id": upload["upload_id"]}))
    ids["scoring_job_id"] = _ok(client.post("/predict", headers=a, json={"upload_id": upload["upload_id"]}))["job_id"]
    ids["upload_id"] = upload["upload_id"]
    return ids


def job_for(path: str, ids: dict[str, str]) -> str:
    """Which of A's jobs a `{job_id}` names: a training job, or a scoring job for the scoring routes."""
    return ids["scoring_job_id"] if path.startswith(("/api/scoring/", "/retrain/", "/api/upload/csv/")) \
        else ids["train_job_id"]


def operations_with_ids(document: dict) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, ops in document["paths"].items() for method in ops
            if "{" in path]


def concrete(path: str, ids: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "job_id":
            return job_for(path, ids)
        if name in ("model_ref", "model_version_id"):
            return ids["model_id"]
        return ids[name]

    return re.sub(r"\{([^}:]+)(?::[^}]*)?\}", value, path)


def leaks(text: str, url: str) -> bool:
    """Whether an answer carries A's secret beyond echoing the name the caller put in the URL."""
    for segment in url.split("/"):
        if SECRET in segment:
            text = text.replace(segment, "")
    return SECRET in text


def test_every_operation_with_an_id_refuses_another_users_and_a_labelers_ids(world):
    client, headers, ids = world
    operations = operations_with_ids(client.app.openapi())
    assert len(operations) >= 40
    failures = []
    for method, path in operations:
        if (method, path) in ALLOWED:
            continue
        url = concrete(path, ids)
        for intruder in ("other-b", "labeler-b"):
            response = client.request(method, url, headers=headers[intruder], **BODIES.get((method, path), {}))
            if response.status_code not in (403, 404) or leaks(response.text, url):
                failures.append(f"{intruder}: {method} {url} -> {response.status_code} {response.text[:200]}")
    assert not failures, "\n".join(failures)


def test_a_owns_what_the_intruders_are_refused(world):
    """The ids are real: A reads each of its objects (so the refusals above are about ownership)."""
    client, headers, ids = world
    a = headers["owner-a"]
    for url in (f"/api/datasets/{ids['file_id']}", f"/api/models/{ids['model_id']}", f"/api/jobs/{ids['train_job_id']}",
                f"/api/webhooks/{ids['webhook_id']}", f"/requests/{ids['request_id']}",
                f"/api/feature-tables/{ids['table_ref']}", f"/api/scoring/jobs/{ids['scoring_job_id']}",
                f"/v2/models/{ids['model_name']}"):
        assert client.get(url, headers=a).status_code == 200, url
    assert client.get(f"/tasks/{ids['task_id']}", headers=headers["labeler-a"]).status_code == 200


def test_ids_in_a_query_or_body_are_refused_to_another_user_too(world):
    client, headers, ids = world
    b = headers["other-b"]
    for method, url, body in (("POST", "/validate", {"upload_id": ids["upload_id"]}),
                              ("POST", "/predict", {"upload_id": ids["upload_id"]}),
                              ("GET", f"/download_results?job_id={ids['scoring_job_id']}", None),
                              ("POST", "/api/train", {"file_id": ids["file_id"], "training_params": {}}),
                              ("POST", "/admin/assign", {"request_id": ids["request_id"],
                                                         "labeler_username": "labeler-b"}),
                              ("GET", f"/get_model?model_name={ids['model_name']}&model_version=1", None),
                              ("GET", f"/inference?model_name={ids['model_name']}&spend=1&visits=2&tenure=3", None)):
        response = client.request(method, url, headers=b, json=body)
        assert response.status_code in (403, 404), f"{method} {url} -> {response.status_code} {response.text}"
        assert SECRET not in response.text.replace(ids["model_name"], ""), response.text
    for url in (f"/api/enterprise/export/predictions?model={ids['model_name']}",  # filters: nothing, or B's own
                f"/api/enterprise/analytics/usage?model={ids['model_name']}",
                f"/api/enterprise/status/models?days=1"):
        response = client.get(url, headers=b)
        assert response.status_code == 200 and SECRET not in response.text.replace(ids["model_name"], ""), url


def test_the_allow_list_names_only_real_routes(world):
    client, _, _ = world
    assert set(ALLOWED) <= set(operations_with_ids(client.app.openapi()))
    assert all(reason for reason in ALLOWED.values())


# Lists and reports that show an object to everyone by design (the admin made A's model the active scoring model).
SHARED = {
    ("GET", "/api/scoring/active-model"): "the active scoring model is every account's, chosen by the admin",
    ("GET", "/download_template"): "the active scoring model's template",
    ("GET", "/metrics"): "the operators' Prometheus scrape endpoint (public, see test_auth_matrix); "
                         "MODELYARD_METRICS_TOKEN closes it",
}


def test_no_list_or_report_shows_another_users_objects(world):
    """Every GET without an id in its path (lists, reports, exports, metadata) as B and as a labeler."""
    client, headers, _ = world
    document = client.app.openapi()
    reads = [path for path, ops in document["paths"].items() if "get" in ops and "{" not in path
             and ("GET", path) not in SHARED and not path.startswith(("/docs", "/redoc", "/openapi"))]
    assert len(reads) >= 30
    failures = []
    for path in reads:
        for intruder in ("other-b", "labeler-b"):
            response = client.get(path, headers=headers[intruder])
            if SECRET in response.text:
                failures.append(f"{intruder}: GET {path} -> {response.status_code} {response.text[:300]}")
    assert not failures, "\n".join(failures)
