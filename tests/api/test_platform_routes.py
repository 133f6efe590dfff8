"""The prediction platform's built-in model routes over the gallery and the one pipeline: the contract's
examples with both header variants, credits charged per call, the contract's errors."""
from __future__ import annotations

import pytest

from modelyard.gallery import catalog

SMALL = 400  # rows of synthetic training data: enough for the routes, quick to build


@pytest.fixture
def gallery(app):
    service = app.state.runtime.gallery
    for decl in catalog.tabular():
        service.training_rows[decl.name] = SMALL
    return service


def register(client, name: str) -> dict:
    response = client.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com",
                                                        "password": "secret-pw"})
    assert response.status_code == 201, response.text
    return response.json()


def credits(client, headers) -> int:
    return client.get("/api/auth/user", headers=headers).json()["credits_remaining"]


def test_lead_score_answers_the_contract_with_either_header_and_charges_a_credit_per_call(client, gallery):
    new = register(client, "dana")
    example = catalog.lookup("lead-score").example
    for headers in ({"X-API-Key": new["api_key"]}, {"Authorization": f"Bearer {new['api_key']}"}):
        before = credits(client, headers)
        response = client.post("/api/predict/lead-score", json=example, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["model"] == "lead_scoring_v1" and body["credits_consumed"] == 1
        assert 0 <= body["prediction"]["score"] <= 100 and body["prediction"]["quality"] in ("Cold", "Warm", "Hot")
        assert body["prediction"]["prediction"] in (0, 1) and 0 <= body["prediction"]["confidence"] <= 1
        assert isinstance(body["processing_time"], float) and body["processing_time"] >= 0
        assert credits(client, headers) == before - 1


def test_every_industry_model_answers_its_example(client, gallery, accounts):
    user = accounts["user"]
    for decl in [d for d in catalog.DECLARATIONS if d.industry]:
        response = client.post(f"/api/industry/{decl.industry}/{decl.name}", json=decl.example, headers=user.headers)
        assert response.status_code == 200, (decl.name, response.text)
        assert response.json()["credits_consumed"] == decl.credits and response.json()["prediction"], decl.name


def test_text_models_answer_on_the_predict_route(client, accounts):
    user = accounts["user"]
    response = client.post("/api/predict/sentiment", json={"text": "I love this product, it is wonderful!"},
                           headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["prediction"]["sentiment"] == "positive"


def test_the_contract_errors(client, gallery, accounts, app):
    user, admin = accounts["user"], accounts["admin"]
    example = catalog.lookup("lead-score").example
    missing = client.post("/api/predict/lead-score", json={k: v for k, v in example.items() if k != "budget"},
                          headers=user.headers)
    assert missing.status_code == 422 and missing.json()["code"] == "INVALID_INPUT"
    assert "budget" in missing.json()["message"]
    unknown = client.post("/api/industry/healthcare/crystal-ball", json={}, headers=user.headers)
    assert unknown.status_code == 404 and unknown.json()["code"] == "MODEL_NOT_FOUND"
    assert client.post("/api/predict/lead-score", json=example).status_code == 401

    left = credits(client, user.headers)
    assert client.post(f"/admin/users/{user.id}/credits", json={"credits": -left}, headers=admin.headers).status_code == 200
    broke = client.post("/api/predict/lead-score", json=example, headers=user.headers)
    assert broke.status_code == 402 and broke.json()["code"] == "INSUFFICIENT_CREDITS"
    assert credits(client, user.headers) == 0


def test_rows_for_a_name_that_is_no_model_and_no_builtin_say_how_to_call(client, accounts):
    response = client.post("/api/predict/nothing-here", json={"age": 3}, headers=accounts["user"].headers)
    assert response.status_code == 422 and 'send {"data": [rows]}' in response.json()["message"]


def test_the_gallery_lists_describes_and_admins_activate(client, gallery, accounts):
    user, admin = accounts["user"], accounts["admin"]
    gallery.ensure_trained("churn")
    listed = client.get("/api/model-gallery/models", headers=user.headers).json()
    assert listed["total"] == len(catalog.DECLARATIONS) and listed["active"] >= 1
    churn = next(m for m in listed["models"] if m["name"] == "churn")
    assert churn["status"] == "active" and churn["version"] == "v1.0"
    detail = client.get("/api/model-gallery/models/churn", headers=user.headers)
    assert detail.status_code == 200 and detail.json()["name"] == "churn"
    assert client.get("/api/model-gallery/models/nope", headers=user.headers).status_code == 404
    refused = client.post("/api/model-gallery/models/churn/activate", json={"version": "v1.0"}, headers=user.headers)
    assert refused.status_code == 403
    done = client.post("/api/model-gallery/models/churn/activate", json={"version": "v1.0"}, headers=admin.headers)
    assert done.status_code == 200, done.text
