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
    long = client.post("/api/predict/sentiment", json={"text": "x" * 10_001}, headers=user.headers)
    assert long.status_code == 422 and long.json()["code"] == "INVALID_INPUT"

    left = credits(client, user.headers)
    assert client.post(f"/admin/users/{user.id}/credits", json={"credits": -left}, headers=admin.headers).status_code == 200
    broke = client.post("/api/predict/lead-score", json=example, headers=user.headers)
    assert broke.status_code == 402 and broke.json()["code"] == "INSUFFICIENT_CREDITS"
    assert credits(client, user.headers) == 0


def test_a_refused_or_invalid_call_is_one_error_in_the_log_and_never_a_charge(client, gallery, accounts, app):
    """Credits are taken before the model runs: a 402 call predicts nothing (one error row, no success row),
    and input refused with 422 is checked before any charge (no ledger entry at all)."""
    from sqlalchemy import select

    from modelyard.auth.models import CreditEvent
    from modelyard.ops.predlog import PredictionRecord

    user, admin = accounts["user"], accounts["admin"]
    example = catalog.lookup("lead-score").example
    runtime = app.state.runtime

    def log_rows() -> list[tuple[str, str | None]]:
        runtime.prediction_log.flush()
        with runtime.db.session() as session:
            return [(r.status, r.error_code) for r in session.scalars(
                select(PredictionRecord).where(PredictionRecord.user_id == user.id,
                                               PredictionRecord.model_name == "lead-score"))]

    def ledger() -> list[tuple[int, str]]:
        with runtime.db.session() as session:
            return [(e.delta, e.reason) for e in session.scalars(
                select(CreditEvent).where(CreditEvent.user_id == user.id).order_by(CreditEvent.id))]

    assert client.post("/api/predict/lead-score", json=example, headers=user.headers).status_code == 200
    assert log_rows() == [("success", None)]
    entries = ledger()
    invalid = client.post("/api/predict/lead-score", json={**example, "budget": "lots"}, headers=user.headers)
    assert invalid.status_code == 422 and invalid.json()["code"] == "INVALID_INPUT"
    assert ledger() == entries, "input refused before the charge leaves the ledger alone"
    assert log_rows() == [("success", None), ("error", "INVALID_INPUT")]

    left = credits(client, user.headers)
    assert client.post(f"/admin/users/{user.id}/credits", json={"credits": -left}, headers=admin.headers).status_code == 200
    other = {**example, "budget": example["budget"] + 1}  # not the cached request
    assert client.post("/api/predict/lead-score", json=other, headers=user.headers).status_code == 402
    assert log_rows() == [("success", None), ("error", "INVALID_INPUT"), ("error", "INSUFFICIENT_CREDITS")]
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
    assert [m["id"] for m in listed["models"]] == list(range(1, len(catalog.DECLARATIONS) + 1)), "the contract's ints"
    assert churn["model_id"] == gallery.ensure_trained("churn").model_id
    detail = client.get("/api/model-gallery/models/churn", headers=user.headers)
    assert detail.status_code == 200 and detail.json()["name"] == "churn"
    assert client.get("/api/model-gallery/models/nope", headers=user.headers).status_code == 404
    refused = client.post("/api/model-gallery/models/churn/activate", json={"version": "v1.0"}, headers=user.headers)
    assert refused.status_code == 403
    done = client.post("/api/model-gallery/models/churn/activate", json={"version": "v1.0"}, headers=admin.headers)
    assert done.status_code == 200, done.text


def test_a_batch_runs_each_request_on_its_own_and_charges_the_successes(client, gallery, accounts):
    user = accounts["user"]
    lead, churn = catalog.lookup("lead-score"), catalog.lookup("churn")
    requests = [{"model": "lead_scoring", "input": lead.example}, {"model": "churn", "input": churn.example},
                {"model": "lead-score", "input": {"budget": 5}}, {"model": "crystal-ball", "input": {}}]
    before = credits(client, user.headers)
    response = client.post("/api/enterprise/batch/predict", json={"requests": requests}, headers=user.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["success", "success", "failed", "failed"]
    assert [r["model"] for r in body["results"]] == [r["model"] for r in requests], "each item names its model as asked"
    assert [r["index"] for r in body["results"]] == [0, 1, 2, 3]
    assert body["results"][2]["error"]["code"] == "INVALID_INPUT"
    assert body["results"][3]["error"]["code"] == "MODEL_NOT_FOUND"
    stats = body["batch_stats"]
    assert (stats["total_requests"], stats["successful"], stats["failed"], stats["success_rate"]) == (4, 2, 2, 50.0)
    assert body["credits_consumed"] == lead.credits + churn.credits
    assert credits(client, user.headers) == before - body["credits_consumed"]


def test_an_oversized_or_empty_batch_is_refused(client, app, accounts):
    app.state.runtime.settings.max_batch_requests = 3
    items = [{"model": "sentiment", "input": {"text": "fine"}}] * 4
    too_many = client.post("/api/enterprise/batch/predict", json={"requests": items}, headers=accounts["user"].headers)
    assert too_many.status_code == 413 and "at most 3" in too_many.json()["message"]
    empty = client.post("/api/enterprise/batch/predict", json={"requests": []}, headers=accounts["user"].headers)
    assert empty.status_code == 422


def test_a_csv_batch_scores_every_row_and_reports_data_quality(client, gallery, accounts):
    user = accounts["user"]
    text = ("company_size,budget,industry_score,engagement_score\n"  # the contract's example rows, then bad ones
            "51-200,150000,8.5,7.2\n11-50,75000,6.8,5.9\n"
            "1-10,lots,5,5\n201-1000,,7,\n1000+,99999999999,9,9\n")
    before = credits(client, user.headers)
    response = client.post("/api/upload/csv/lead-scoring", files={"file": ("leads.csv", text, "text/csv")},
                           headers=user.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert [r["row"] for r in body["results"]] == [1, 2, 3, 4, 5]
    assert [r["status"] for r in body["results"]][:3] == ["success", "success", "failed"]
    assert body["results"][0]["prediction"]["quality"] in ("Cold", "Warm", "Hot")
    summary = body["summary"]
    assert summary["total_rows"] == 5 and summary["processed_rows"] + summary["failed_rows"] == 5
    quality = body["data_quality"]
    assert quality["invalid_formats"] == 1 and quality["missing_values"] == 2
    assert 0 <= quality["quality_score"] < 100
    assert body["credits_consumed"] == summary["processed_rows"]
    assert credits(client, user.headers) == before - summary["processed_rows"]
    missing = client.post("/api/upload/csv/lead-scoring", headers=user.headers)
    assert missing.status_code == 400


def test_identical_calls_are_cached_until_a_new_version_is_activated(client, gallery, accounts):
    import numpy as np

    user, admin = accounts["user"], accounts["admin"]
    churn = catalog.lookup("churn")
    first = client.post("/api/predict/churn", json=churn.example, headers=user.headers).json()
    second = client.post("/api/predict/churn", json=churn.example, headers=user.headers).json()
    assert "_cached_at" not in first and isinstance(second["_cached_at"], int)
    assert second["prediction"] == first["prediction"] and second["credits_consumed"] == churn.credits
    other = client.post("/api/predict/churn", json={**churn.example, "tenure": 3}, headers=user.headers).json()
    assert "_cached_at" not in other

    labeled = churn.simulate(np.random.default_rng(5), 300).to_csv(index=False)
    assert client.post("/api/model-gallery/models/churn/retrain", files={"file": ("c.csv", labeled, "text/csv")},
                       headers=user.headers).status_code == 403
    retrained = client.post("/api/model-gallery/models/churn/retrain", files={"file": ("c.csv", labeled, "text/csv")},
                            headers=admin.headers)
    assert retrained.status_code == 200, retrained.text
    assert retrained.json()["version"] == "v2.0" and retrained.json()["activated"] is True
    third = client.post("/api/predict/churn", json=churn.example, headers=user.headers).json()
    assert "_cached_at" not in third and third["prediction"]["model_version"] == "v2.0"


def test_a_custom_model_uploaded_to_the_gallery_lands_in_the_registry_and_predicts(client, accounts):
    import json

    from tests.support.registry_models import FEATURES, customers, onnx_bytes, regressor

    user = accounts["user"]
    frame = customers(80)
    meta = {"name": "my-spend", "version": "1.0", "description": "spend", "activate": True,
            "signature": [{"name": n, "type": "number"} for n in FEATURES]}
    sent = client.post("/api/model-gallery/upload", headers=user.headers,
                       files={"model_file": ("model.onnx", onnx_bytes(regressor(frame)), "application/octet-stream")},
                       data={"metadata": json.dumps(meta)})
    assert sent.status_code == 200, sent.text
    row = {n: float(frame[n].iloc[0]) for n in FEATURES}
    predicted = client.post("/api/predict/my-spend", json={"data": [row]}, headers=user.headers)
    assert predicted.status_code == 200, predicted.text
    assert isinstance(predicted.json()["predictions"][0]["prediction"], float)
    assert client.get("/api/models", headers=user.headers).json()["models"][0]["name"] == "my-spend"


@pytest.mark.parametrize("metadata", ["not json", "[]", '{"version": "1"}', '{"name": "x", "extra": 1}'])
def test_gallery_upload_metadata_is_checked(client, accounts, metadata):
    sent = client.post("/api/model-gallery/upload", headers=accounts["user"].headers,
                       files={"model_file": ("model.onnx", b"x", "application/octet-stream")},
                       data={"metadata": metadata})
    assert sent.status_code == 422 and "metadata must be a JSON object" in sent.json()["message"], sent.text


def test_gallery_upload_refuses_a_pickle_as_the_registry_does(client, accounts):
    import pickle

    sent = client.post("/api/model-gallery/upload", headers=accounts["user"].headers,
                       files={"model_file": ("model.pkl", pickle.dumps({"a": 1}), "application/octet-stream")},
                       data={"metadata": '{"name": "pickled"}'})
    assert sent.status_code in (400, 403, 422) and sent.json()["code"] != "INTERNAL_ERROR", sent.text


def test_the_contracts_per_user_prediction_and_upload_limits_and_per_address_sign_ups(client, app, accounts):
    settings = app.state.runtime.settings
    settings.rate_limit_predictions, settings.rate_limit_uploads, settings.rate_limit_address = \
        "3/hour", "1/hour", "2/hour"
    user, other = accounts["user"], accounts["other"]
    call = lambda who: client.post("/api/predict/sentiment", json={"text": "fine"}, headers=who.headers)  # noqa: E731
    assert [call(user).status_code for _ in range(4)] == [200, 200, 200, 429]
    refused = call(user)
    assert refused.json()["code"] == "RATE_LIMIT_EXCEEDED" and refused.headers["X-RateLimit-Limit"] == "3"
    assert int(refused.headers["Retry-After"]) > 0 and "predictions limit" in refused.json()["message"]
    assert call(other).status_code == 200  # per user
    batch = client.post("/api/enterprise/batch/predict", headers=other.headers,
                        json={"requests": [{"model": "sentiment", "input": {"text": "ok"}}] * 3})
    assert batch.status_code == 429  # 1 + 3 items > 3
    csv = lambda: client.post("/api/upload/csv/sentiment", files={"file": ("t.csv", "text\nnice day\n", "text/csv")},  # noqa: E731
                              headers=other.headers)
    assert [csv().status_code for _ in range(2)] == [200, 429]
    signups = [client.post("/api/auth/register", json={"username": f"sign{i}", "email": f"sign{i}@example.com",
                                                       "password": "secret-pw"}) for i in range(3)]
    assert [r.status_code for r in signups] == [201, 201, 429]
    assert [(r.headers["X-RateLimit-Limit"], r.headers["X-RateLimit-Remaining"]) for r in signups] == \
        [("2", "1"), ("2", "0"), ("2", "0")], "an unauthenticated sign-up reports the address limit it counts against"


def test_a_large_csv_is_scored_by_a_job_whose_results_are_downloaded(client, app, gallery, accounts):
    import csv as csvlib
    import io
    import json

    app.state.runtime.settings.max_csv_batch_rows = 2
    user, other, admin = accounts["user"], accounts["other"], accounts["admin"]
    text = ("company_size,budget,industry_score\n51-200,150000,8.5\n11-50,75000,6.8\n1-10,lots,5\n"
            "201-1000,90000,7\n")
    before = credits(client, user.headers)
    accepted = client.post("/api/upload/csv/lead-scoring", files={"file": ("big.csv", text, "text/csv")},
                           headers=user.headers)
    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["rows"] == 4 and body["status_url"] == f"/api/jobs/{body['job_id']}"
    job = client.get(body["status_url"], headers=user.headers).json()
    assert job["status"] == "completed", job
    assert job["result"]["summary"]["processed_rows"] == 3 and job["result"]["credits_consumed"] == 3
    assert job["result"]["data_quality"]["invalid_formats"] == 1
    assert credits(client, user.headers) == before - 3
    results = client.get(body["results_url"], headers=user.headers)
    assert results.status_code == 200 and results.headers["content-type"].startswith("text/csv")
    rows = list(csvlib.DictReader(io.StringIO(results.text)))
    assert [r["status"] for r in rows] == ["success", "success", "failed", "success"]
    assert json.loads(rows[0]["prediction"])["quality"] in ("Cold", "Warm", "Hot")
    assert rows[2]["error"].startswith("INVALID_INPUT")
    assert client.get(body["results_url"], headers=other.headers).status_code == 404

    assert client.post(f"/admin/users/{user.id}/credits", json={"credits": 2 - credits(client, user.headers)},
                       headers=admin.headers).status_code == 200
    broke = client.post("/api/upload/csv/lead-scoring", files={"file": ("big.csv", text, "text/csv")},
                        headers=user.headers)
    assert broke.status_code == 402 and broke.json()["details"] == {"required": 4, "remaining": 2}
