"""The mlops-dashboard contract through the app: upload, train, inspect, deploy, predict."""
import pytest

from tests.support.datasets import buyers, prices, to_csv

UPLOAD_FIELDS = {"file_id", "filename", "size", "rows", "columns", "column_names", "upload_time", "validation"}


def upload(client, account, frame, name="customer_data.csv"):
    response = client.post("/api/upload", files={"file": (name, to_csv(frame), "text/csv")}, headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()


def train(client, account, file_id, **body):
    response = client.post("/api/train", json={"file_id": file_id, "model_type": "auto",
                                               "training_params": {"max_training_time": 30}, **body},
                           headers=account.headers)
    assert response.status_code == 202, response.text
    return response.json()


@pytest.fixture
def trained(client, accounts):
    """A classifier trained on the buyers data (immediate jobs: done when /api/train answers)."""
    user = accounts["user"]
    file_id = upload(client, user, buyers())["file_id"]
    job = train(client, user, file_id, name="Buyers")
    status = client.get(f"/api/training/{job['job_id']}", headers=user.headers).json()
    assert status["status"] == "completed", status
    return status


def test_upload_answers_the_contract_fields(client, accounts):
    body = upload(client, accounts["user"], buyers(50))
    assert UPLOAD_FIELDS <= body.keys()
    assert body["rows"] == 50 and body["columns"] == 5
    assert body["column_names"] == ["age", "income", "region", "purchases", "will_buy"]
    assert body["validation"]["status"] in ("valid", "warning")
    assert body["file_id"].startswith("file_")


def test_a_file_that_is_not_csv_is_400_invalid_format(client, accounts):
    response = client.post("/api/upload", files={"file": ("x.csv", b"\x89PNG\r\n\x1a\n\x00\x00binary", "text/csv")},
                           headers=accounts["user"].headers)
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_FORMAT"


def test_an_upload_over_the_limit_is_413(client, accounts):
    client.put("/api/settings", json={"data": {"maxUploadMB": 1}}, headers=accounts["admin"].headers)
    big = b"a,b\n" + b"1,2\n" * 300_000
    response = client.post("/api/upload", files={"file": ("big.csv", big, "text/csv")},
                           headers=accounts["user"].headers)
    assert response.status_code == 413
    assert response.json()["code"] == "FILE_TOO_LARGE"


def test_training_a_learnable_rule_reaches_high_accuracy(client, accounts, trained):
    assert trained["metrics"]["accuracy"] > 0.9
    assert trained["progress"] == 100
    assert trained["model_id"].startswith("model_")
    model = client.get(f"/api/models/{trained['model_id']}", headers=accounts["user"].headers).json()
    assert model["type"] == "classification"
    assert model["status"] == "trained"
    assert model["training_data"]["features"] == ["age", "income", "region", "purchases"]
    assert set(model["metrics"]) >= {"accuracy", "precision", "recall", "f1_score", "confusion_matrix"}
    assert model["signature"][0] == {"name": "age", "type": model["signature"][0]["type"]}
    assert abs(sum(model["feature_importances"].values()) - 1) < 0.01


def test_regression_reaches_a_high_r2(client, accounts):
    user = accounts["user"]
    file_id = upload(client, user, prices(), "prices.csv")["file_id"]
    job = train(client, user, file_id, model_type="regression")
    status = client.get(f"/api/training/{job['job_id']}", headers=user.headers).json()
    assert status["status"] == "completed", status
    assert status["metrics"]["r2"] > 0.8


def test_deploy_then_predict_by_id_and_by_name(client, accounts, trained):
    user = accounts["user"]
    model_id = trained["model_id"]
    deployed = client.post(f"/api/models/{model_id}/deploy", headers=user.headers).json()
    assert deployed == {**deployed, "model_id": model_id, "status": "deployed", "endpoint": f"/api/predict/{model_id}"}
    rows = [{"age": 30, "income": 100_000, "region": "west", "purchases": 2},
            {"age": 30, "income": 25_000, "region": "west", "purchases": 2}]
    by_id = client.post(f"/api/predict/{model_id}", json={"data": rows}, headers=user.headers).json()
    assert [p["prediction"] for p in by_id["predictions"]] == ["yes", "no"]
    assert set(by_id["predictions"][0]["probabilities"]) == {"yes", "no"}
    assert by_id["predictions"][0]["confidence"] == max(by_id["predictions"][0]["probabilities"].values())
    by_name = client.post("/api/predict/Buyers", json={"data": rows}, headers=user.headers).json()
    assert by_name["predictions"] == by_id["predictions"]


def test_predicting_on_an_undeployed_version_is_409(client, accounts, trained):
    response = client.post(f"/api/predict/{trained['model_id']}", json={"data": [{"age": 1}]},
                           headers=accounts["user"].headers)
    assert response.status_code == 409


def test_missing_columns_are_named_and_extra_columns_reported(client, accounts, trained):
    user = accounts["user"]
    client.post(f"/api/models/{trained['model_id']}/deploy", headers=user.headers)
    missing = client.post(f"/api/predict/{trained['model_id']}", json={"data": [{"age": 30, "income": 5}]},
                          headers=user.headers)
    assert missing.status_code == 422
    assert "region" in missing.json()["message"] and "purchases" in missing.json()["message"]
    extra = client.post(f"/api/predict/{trained['model_id']}", headers=user.headers, json={"data": [
        {"age": 30, "income": 99_000, "region": "mars", "purchases": 1, "shoe_size": 44}]})
    assert extra.status_code == 200
    assert extra.json()["ignored_columns"] == ["shoe_size"]
    junk = client.post(f"/api/predict/{trained['model_id']}", headers=user.headers, json={"data": [
        {"age": "old", "income": 99_000, "region": "west", "purchases": 1}]})
    assert junk.status_code == 422 and "age" in junk.json()["message"]


def test_a_bad_value_is_reported_as_row_n_of_the_data_counting_from_1(client, accounts, trained):
    user = accounts["user"]
    client.post(f"/api/models/{trained['model_id']}/deploy", headers=user.headers)
    kinds = {f["name"]: f["type"] for f in
             client.get(f"/api/models/{trained['model_id']}", headers=user.headers).json()["signature"]}
    assert kinds["purchases"] == "integer"
    good = {"age": 30, "income": 99_000, "region": "west", "purchases": 1}
    junk = client.post(f"/api/predict/{trained['model_id']}", headers=user.headers,
                       json={"data": [good, {**good, "purchases": "lots"}]})
    assert junk.status_code == 422
    assert junk.json()["message"].startswith(
        "column 'purchases' expects an integer, got 'lots' (row 2 of the data); 1 bad value(s) in all")
    assert junk.json()["details"]["errors"] == [
        {"row": 2, "column": "purchases", "value": "lots", "expected": "integer"}]


def test_another_users_model_and_job_are_not_found(client, accounts, trained):
    other = accounts["other"]
    assert client.get(f"/api/models/{trained['model_id']}", headers=other.headers).status_code == 404
    assert client.post(f"/api/models/{trained['model_id']}/deploy", headers=other.headers).status_code == 404
    assert client.get(f"/api/training/{trained['job_id']}", headers=other.headers).status_code == 404
    assert client.get("/api/models", headers=other.headers).json()["total"] == 0
    assert client.get(f"/api/models/{trained['model_id']}", headers=accounts["admin"].headers).status_code == 200


def test_unknown_model_is_404_model_not_found(client, accounts):
    response = client.post("/api/predict/model_nope", json={"data": [{"a": 1}]}, headers=accounts["user"].headers)
    assert (response.status_code, response.json()["code"]) == (404, "MODEL_NOT_FOUND")


def test_list_filters_sorts_and_pages(client, accounts, trained):
    user = accounts["user"]
    client.post(f"/api/models/{trained['model_id']}/deploy", headers=user.headers)
    page = client.get("/api/models?status=deployed&sort=accuracy&limit=5", headers=user.headers).json()
    assert page["total"] == 1 and page["limit"] == 5 and page["page"] == 1
    assert page["models"][0]["id"] == page["models"][0]["model_id"] == trained["model_id"]
    assert client.get("/api/models?status=archived", headers=user.headers).json()["total"] == 0
    assert client.get("/api/models?status=bogus", headers=user.headers).status_code == 422


def test_archive_stops_serving_and_delete_removes(client, accounts, trained):
    user = accounts["user"]
    model_id = trained["model_id"]
    client.post(f"/api/models/{model_id}/deploy", headers=user.headers)
    assert client.post(f"/api/models/{model_id}/archive", headers=user.headers).json()["status"] == "archived"
    assert client.post("/api/predict/Buyers", json={"data": [{"age": 1}]}, headers=user.headers).status_code == 409
    assert client.delete(f"/api/models/{model_id}", headers=user.headers).status_code == 204
    assert client.get(f"/api/models/{model_id}", headers=user.headers).status_code == 404


def test_training_with_a_target_that_has_one_value_fails_with_a_reason(client, accounts):
    user = accounts["user"]
    frame = buyers(60)
    frame["will_buy"] = "yes"
    job = train(client, user, upload(client, user, frame)["file_id"])
    status = client.get(f"/api/training/{job['job_id']}", headers=user.headers).json()
    assert status["status"] == "failed"
    assert status["code"] == "TRAINING_FAILED"
    assert "class" in status["error"].lower()


def test_training_refuses_an_unknown_target_and_a_foreign_file(client, accounts):
    user = accounts["user"]
    file_id = upload(client, user, buyers(50))["file_id"]
    bad = client.post("/api/train", json={"file_id": file_id, "training_params": {"target": "nope"}},
                      headers=user.headers)
    assert bad.status_code == 422 and "will_buy" in bad.json()["message"]
    foreign = client.post("/api/train", json={"file_id": file_id}, headers=accounts["other"].headers)
    assert foreign.status_code == 404
    split = client.post("/api/train", json={"file_id": file_id, "training_params": {"test_split": 1.5}},
                        headers=user.headers)
    assert split.status_code == 422
