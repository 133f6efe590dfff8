"""One prediction pipeline: every predict route records the same metrics and activity, the compiled
predictor is reported on the version, and bad input gets the same clear 4xx on the fast (cached) path."""
from __future__ import annotations

import re

import pytest

from tests.api.test_model_registry import feature_table, upload
from tests.support.datasets import buyers, to_csv
from tests.support.registry_models import FEATURES, customers, lightgbm_text

ROW = {"spend": 120.5, "visits": 4, "tenure": 2.5}


def predictions_counted(client, name: str) -> float:
    text = client.get("/metrics").text
    found = re.search(rf'^modelyard_predictions_total\{{model="{name}",version="1"\}} (\S+)$', text, re.M)
    return float(found.group(1)) if found else 0.0


def prediction_rows(client, account, model_id: str) -> int:
    body = client.get("/api/activity", params={"type": "prediction", "limit": 1000}, headers=account.headers).json()
    return sum(a["details"]["rows"] for a in body["activities"] if a["details"].get("model_id") == model_id)


@pytest.fixture
def served(client, accounts):
    """A LightGBM model uploaded by the admin, deployed, linked to a feature table, active for scoring."""
    admin = accounts["admin"]
    frame = customers(60)
    feature_table(client, admin, frame.drop(columns=["amount"]))
    body = upload(client, admin, lightgbm_text(frame), name="scorer", filename="model.txt", deployment="True",
                  feature_table="customers")
    assert client.put("/api/scoring/active-model", json={"model": "scorer"}, headers=admin.headers).status_code == 200
    return body["model_version_id"]


def test_every_id_the_upload_answers_predicts(client, accounts):
    admin = accounts["admin"]
    body = upload(client, admin, lightgbm_text(customers(60)), name="ids", filename="model.txt", deployment="True")
    for ref in (body["model_id"], body["model_version_id"], "ids"):
        response = client.post(f"/api/predict/{ref}", json={"data": [ROW]}, headers=admin.headers)
        assert response.status_code == 200, (ref, response.text)
        assert response.json()["model_id"] == body["model_version_id"]


def test_every_predict_route_records_the_same_metrics_and_activity(client, accounts, served):
    admin = accounts["admin"]

    def one_prediction(route: str) -> None:
        if route == "predict":
            response = client.post("/api/predict/scorer", json={"data": [ROW]}, headers=admin.headers)
        elif route == "inference":
            response = client.get("/inference", params={"model_name": "scorer", "customer_id": 3,
                                                        "purchase_date_id": "2024-01-03"}, headers=admin.headers)
        else:
            up = client.post("/upload", files={"file": ("one.csv", to_csv(customers(1)[FEATURES]), "text/csv")},
                             headers=admin.headers).json()
            assert client.post("/validate", json={"upload_id": up["upload_id"]}, headers=admin.headers).status_code == 200
            response = client.post("/predict", json={"upload_id": up["upload_id"]}, headers=admin.headers)
            assert response.json()["status"] == "completed", response.text
        assert response.status_code == 200, f"{route}: {response.text}"

    for route in ("predict", "inference", "scoring job"):
        counted, rows = predictions_counted(client, "scorer"), prediction_rows(client, admin, served)
        one_prediction(route)
        assert predictions_counted(client, "scorer") == counted + 1, f"{route} did not count one prediction"
        assert prediction_rows(client, admin, served) == rows + 1, f"{route} did not record one row of activity"


def test_a_deployed_version_shows_which_predictor_serves_it_and_why(client, accounts, served):
    detail = client.get(f"/api/models/{served}", headers=accounts["admin"].headers).json()
    serving = detail["serving"]
    assert serving["predictor"] == "compiled" and serving["encoder"] == "array"
    assert serving["max_abs_diff"] <= 1e-5 and serving["labels_identical"] is True
    assert serving["checked_rows"] > 100 and serving["tried"]


@pytest.fixture
def trained(client, accounts):
    """A model trained on buyers (numbers and a category), deployed, and warmed by one prediction."""
    user = accounts["user"]
    file_id = client.post("/api/upload", files={"file": ("b.csv", to_csv(buyers(300)), "text/csv")},
                          headers=user.headers).json()["file_id"]
    job = client.post("/api/train", json={"file_id": file_id, "name": "buyers", "training_params": {
        "target": "will_buy", "max_training_time": 20}}, headers=user.headers).json()
    model_id = client.get(f"/api/training/{job['job_id']}", headers=user.headers).json()["model_id"]
    assert client.post(f"/api/models/{model_id}/deploy", headers=user.headers).status_code == 200
    good = {"age": 40, "income": 90000, "region": "north", "purchases": 2}
    assert client.post("/api/predict/buyers", json={"data": [good]}, headers=user.headers).status_code == 200
    return user, good


BAD = [
    pytest.param(lambda good: [{k: v for k, v in good.items() if k != "income"}], "missing column(s): income",
                 id="missing-column"),
    pytest.param(lambda good: [good, {**good, "age": "forty"}],
                 "column 'age' expects an integer, got 'forty' (row 2 of the data)", id="wrong-type"),
    pytest.param(lambda good: [good] * 10_001, "at most 10000 rows per request", id="10001-rows"),
]


@pytest.mark.parametrize(("rows", "message"), BAD)
def test_bad_input_on_the_warm_fast_path_gets_a_clear_422(client, trained, rows, message):
    user, good = trained
    response = client.post("/api/predict/buyers", json={"data": rows(good)}, headers=user.headers)
    assert response.status_code == 422, response.text
    assert message in response.json()["message"]


def test_an_unknown_category_is_predicted_not_refused(client, trained):
    user, good = trained
    response = client.post("/api/predict/buyers", json={"data": [{**good, "region": "atlantis"}]},
                           headers=user.headers)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"][0]["prediction"] in ("yes", "no")


def test_a_compiled_predictor_is_saved_beside_the_artifact_loaded_from_there_and_deleted_with_it(client, accounts, app):
    """Once checked, an encoder + ONNX predictor is kept as data: a new process serves it without the
    artifact (no scikit-learn), predicting the same; deleting the version deletes it."""
    from modelyard.auth.models import User
    from modelyard.registry.service import RegistryService
    from modelyard.serving.loader import ModelCache
    from modelyard.serving.versions import VersionRef
    from modelyard.registry.models import ModelVersion
    from modelyard.training import artifacts
    from modelyard.training.candidates import candidates
    from modelyard.training.features import plan_columns, signature
    from modelyard.training.search import fit_candidate

    runtime, user = app.state.runtime, accounts["user"]
    frame = buyers(300)
    X, y = frame.drop(columns="will_buy"), frame["will_buy"].astype(str).to_numpy()
    sig = signature(X)
    logistic = next(c for c in candidates("classification", n_rows=300, random_state=0)
                    if c.algorithm == "LogisticRegression")
    pipeline = fit_candidate(logistic, plan_columns(X, sig), X, y)
    with runtime.db.session() as session:
        version_id = RegistryService(session, runtime.blobs).create_version(
            owner=session.get(User, user.id), name="saved", artifact=artifacts.dump(pipeline),
            artifact_name="model.skops", format="skops", task="classification", algorithm="LogisticRegression",
            signature=sig, target="will_buy", classes=sorted(set(y)), deploy=True).id
    rows = [{"age": 40, "income": 90000, "region": "north", "purchases": 2},
            {"age": None, "income": 20000, "region": "atlantis", "purchases": 9}]
    first = client.post("/api/predict/saved", json={"data": rows}, headers=user.headers)
    assert first.status_code == 200, first.text

    serving = client.get(f"/api/models/{version_id}", headers=user.headers).json()["serving"]
    assert (serving["predictor"], serving["core"]) == ("compiled", "onnx"), serving
    assert runtime.blobs.exists(serving["bundle"])
    with runtime.db.session() as session:
        ref = VersionRef.of(session.get(ModelVersion, version_id))
    fresh = ModelCache(runtime.blobs, {}, max_bytes=2**30)  # no loaders at all: the artifact cannot be read
    loaded = fresh.get(ref)
    assert loaded.native is None and loaded.predictor.core.name == "onnx"
    again = loaded.predictor.predict_rows(rows)
    assert list(again.predictions) == [p["prediction"] for p in first.json()["predictions"]]

    assert client.delete(f"/api/models/{version_id}", headers=user.headers).status_code in (200, 204)
    assert not runtime.blobs.exists(serving["bundle"])


@pytest.fixture
def four_per_hour(settings):
    settings.rate_limit_predictions = "4/hour"  # the basic plan sets none: the global default applies
    return settings


def test_every_predict_route_counts_against_one_predictions_limit_and_user_models_cost_nothing(
        four_per_hour, client, accounts, served):
    admin = accounts["admin"]
    credits = client.get("/api/auth/user", headers=admin.headers).json()["credits_remaining"]
    assert client.post("/api/predict/scorer", json={"data": [ROW]}, headers=admin.headers).status_code == 200
    assert client.get("/inference", params={"model_name": "scorer", "customer_id": 3, "purchase_date_id": "2024-01-03"},
                      headers=admin.headers).status_code == 200
    up = client.post("/upload", files={"file": ("one.csv", to_csv(customers(3)[FEATURES]), "text/csv")},
                     headers=admin.headers).json()
    assert client.post("/validate", json={"upload_id": up["upload_id"]}, headers=admin.headers).status_code == 200
    assert client.post("/predict", json={"upload_id": up["upload_id"]}, headers=admin.headers).status_code == 200
    # a cached answer is still a call: the fourth is the same request as the first
    assert client.post("/api/predict/scorer", json={"data": [ROW]}, headers=admin.headers).status_code == 200

    for refused in (client.post("/api/predict/scorer", json={"data": [ROW]}, headers=admin.headers),
                    client.get("/inference", params={"model_name": "scorer", "customer_id": 3,
                                                     "purchase_date_id": "2024-01-03"}, headers=admin.headers),
                    client.post("/predict", json={"upload_id": up["upload_id"]}, headers=admin.headers)):
        assert refused.status_code == 429, refused.text
        assert refused.json()["code"] == "RATE_LIMIT_EXCEEDED"
        assert "predictions limit of your plan (4/hour)" in refused.json()["message"]
        assert refused.headers["X-RateLimit-Limit"] == "4" and refused.headers["X-RateLimit-Remaining"] == "0"
        assert int(refused.headers["Retry-After"]) >= 1
    assert client.get("/api/auth/user", headers=admin.headers).json()["credits_remaining"] == credits
    # the limit is per user: another user's calls are their own
    other = accounts["other"]
    assert client.post("/api/predict/scorer", json={"data": [ROW]}, headers=other.headers).status_code == 404


def test_an_identical_request_is_answered_from_the_prediction_cache_until_another_version_serves(client, accounts):
    admin = accounts["admin"]
    first_version = upload(client, admin, lightgbm_text(customers(60)), name="cached", filename="model.txt",
                           deployment="True")["model_version_id"]
    counted = predictions_counted(client, "cached")
    first = client.post("/api/predict/cached", json={"data": [ROW]}, headers=admin.headers).json()
    again = client.post("/api/predict/cached", json={"data": [ROW]}, headers=admin.headers).json()
    assert "_cached_at" not in first
    assert isinstance(again["_cached_at"], int) and again["predictions"] == first["predictions"]
    assert again["model_id"] == first["model_id"] == first_version
    assert predictions_counted(client, "cached") == counted + 2, "a cached answer is still a recorded prediction"
    other_row = client.post("/api/predict/cached", json={"data": [{**ROW, "visits": 9}]}, headers=admin.headers).json()
    assert "_cached_at" not in other_row

    second_version = upload(client, admin, lightgbm_text(customers(80)), name="cached", version="2",
                            filename="model.txt", deployment="True")["model_version_id"]
    fresh = client.post("/api/predict/cached", json={"data": [ROW]}, headers=admin.headers).json()
    assert "_cached_at" not in fresh and fresh["model_id"] == second_version
    stale = client.post(f"/api/predict/{first_version}", json={"data": [ROW]}, headers=admin.headers)
    assert stale.status_code == 409, "a version that no longer serves is refused, cached answer or not"
