"""Bad input to the mlops routes: each gets a clear 4xx or a job that fails with a reason."""
import numpy as np
import pandas as pd
import pytest

from modelyard.training.search import SKIPPED

from tests.api.test_mlops_flow import train, upload
from tests.support.datasets import buyers, to_csv


def status_of(client, account, job):
    return client.get(f"/api/training/{job['job_id']}", headers=account.headers).json()


def test_a_one_row_file_uploads_with_a_warning_and_training_says_too_few_rows(client, accounts):
    user = accounts["user"]
    body = upload(client, user, buyers(1))
    assert body["validation"]["status"] == "warning" and body["rows"] == 1
    status = status_of(client, user, train(client, user, body["file_id"]))
    assert status["status"] == "failed" and "rows" in status["error"].lower()


def test_ragged_rows_are_skipped_and_reported(client, accounts):
    user = accounts["user"]
    text = b"a,b,target\n1,2,x\n3,4,y,EXTRA\n5,6,x\n7,y\n" + b"".join(b"%d,%d,%s\n" % (i, i, b"xy"[i % 2:i % 2 + 1])
                                                                     for i in range(20))
    response = client.post("/api/upload", files={"file": ("r.csv", text, "text/csv")}, headers=user.headers)
    assert response.status_code == 200, response.text
    warnings = " ".join(response.json()["validation"]["warnings"])
    assert "wrong number of fields" in warnings and response.json()["rows"] == 22


def test_all_null_and_junk_numeric_columns_still_train(client, accounts):
    user = accounts["user"]
    frame = buyers(200)
    frame["empty"] = np.nan
    frame["income"] = frame["income"].astype(object)
    frame.loc[[1, 2, 3], "income"] = "n/a"
    body = upload(client, user, frame)
    assert any("empty" in w for w in body["validation"]["warnings"])
    job = client.post("/api/train", json={"file_id": body["file_id"], "training_params": {
        "target": "will_buy", "max_training_time": 30}}, headers=user.headers).json()
    status = status_of(client, user, job)
    assert status["status"] == "completed", status
    assert status["metrics"]["accuracy"] > 0.85


def test_ten_thousand_columns_upload_and_train_within_the_budget(client, accounts):
    user = accounts["user"]
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(rng.integers(0, 9, size=(40, 10_000)), columns=[f"c{i}" for i in range(10_000)])
    frame["target"] = np.where(frame["c0"] > 4, "hi", "lo")
    body = client.post("/api/upload", files={"file": ("wide.csv", to_csv(frame), "text/csv")},
                       headers=user.headers).json()
    assert body["columns"] == 10_001
    assert any("column" in w.lower() for w in body["validation"]["warnings"])
    job = client.post("/api/train", json={"file_id": body["file_id"], "training_params": {"max_training_time": 10}},
                      headers=user.headers).json()
    status = status_of(client, user, job)
    assert status["status"] in ("completed", "failed")
    if status["elapsed_time"] >= 10 + 15:  # very wide data: one fold may overrun (see docs), more on a busy machine
        result = client.get(f"/api/jobs/{job['job_id']}", headers=user.headers).json()["result"] or {}
        bound = [c["algorithm"] for c in result.get("candidates", []) if c["status"] == SKIPPED] \
            + [n for n in result.get("notes", []) if "budget" in n]
        assert bound, f"{status['elapsed_time']} s on a 10 s budget, and the trainer's record shows no budget cut: {result}"
    if status["status"] == "failed":
        assert status["error"]


def test_predicting_rows_that_are_not_objects_is_422(client, accounts):
    response = client.post("/api/predict/anything", json={"data": [1, 2]}, headers=accounts["user"].headers)
    assert response.status_code == 422
    assert client.post("/api/predict/anything", json={"data": []}, headers=accounts["user"].headers).status_code == 422


@pytest.mark.parametrize("params", [{"random_state": True}, {"random_state": 2**40}, {"max_training_time": "30"},
                                    {"test_split": "0.2"}])
def test_training_parameters_must_be_json_numbers_in_range(client, accounts, params):
    user = accounts["user"]
    file_id = upload(client, user, buyers(60))["file_id"]
    response = client.post("/api/train", json={"file_id": file_id, "training_params": params}, headers=user.headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "INVALID_INPUT"
