"""The csv-scoring contract through the app: template → upload → validate → predict → download → retrain."""
import io

import pandas as pd
import pytest

from tests.api.test_mlops_flow import train, upload
from tests.support.datasets import buyers, to_csv


def csv_file(frame, name="batch.csv"):
    return {"file": (name, to_csv(frame), "text/csv")}


@pytest.fixture
def active(client, accounts):
    """The admin trains Buyers, deploys it and makes it the active scoring model."""
    admin = accounts["admin"]
    job = train(client, admin, upload(client, admin, buyers(300))["file_id"], name="Buyers")
    model_id = client.get(f"/api/training/{job['job_id']}", headers=admin.headers).json()["model_id"]
    client.post(f"/api/models/{model_id}/deploy", headers=admin.headers)
    response = client.put("/api/scoring/active-model", json={"model": "Buyers"}, headers=admin.headers)
    assert response.status_code == 200, response.text
    return model_id


def scored(client, account, frame):
    upload_id = client.post("/upload", files=csv_file(frame), headers=account.headers).json()["upload_id"]
    assert client.post("/validate", json={"upload_id": upload_id}, headers=account.headers).json()["valid"]
    return client.post("/predict", json={"upload_id": upload_id}, headers=account.headers).json()


def test_without_an_active_model_the_endpoints_say_how_to_choose_one(client, accounts):
    response = client.get("/download_template", headers=accounts["user"].headers)
    assert response.status_code == 409
    assert "active-model" in response.json()["message"]
    assert client.post("/upload", files=csv_file(buyers(5)), headers=accounts["user"].headers).status_code == 409


def test_template_lists_the_signature_with_the_target_last_and_one_example(client, accounts, active):
    response = client.get("/download_template", headers=accounts["user"].headers)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    frame = pd.read_csv(io.BytesIO(response.content))
    assert list(frame.columns) == ["age", "income", "region", "purchases", "will_buy"]
    assert len(frame) == 1


def test_clean_file_scores_and_downloads_inline_and_by_signed_url(client, accounts, active):
    user = accounts["user"]
    frame = buyers(120, seed=5).drop(columns=["will_buy"])
    uploaded = client.post("/upload", files=csv_file(frame), headers=user.headers).json()
    assert uploaded["upload_id"].startswith("upl_") and uploaded["status"] == "uploaded"
    report = client.post("/validate", json={"upload_id": uploaded["upload_id"]}, headers=user.headers).json()
    assert report["valid"] is True and report["rows"] == 120 and report["target_present"] is False
    job = client.post("/predict", json={"upload_id": uploaded["upload_id"]}, headers=user.headers).json()
    assert job["status"] == "completed" and job["model_id"] == active and job["model_version"] == 1
    inline = client.get(f"/download_results?job_id={job['job_id']}", headers=user.headers)
    assert inline.headers["content-type"].startswith("text/csv")
    results = pd.read_csv(io.BytesIO(inline.content))
    assert len(results) == 120
    assert {"prediction", "probability_yes", "probability_no"} <= set(results.columns)
    expected = ((frame.income > 60_000) & (frame.region != "south")).map({True: "yes", False: "no"})
    assert (results.prediction == expected).mean() > 0.9
    signed = client.get(job["download_url"].replace("http://testserver", ""))
    assert signed.status_code == 200 and signed.content == inline.content


def test_large_results_answer_a_signed_url(client, accounts, active):
    client.put("/api/settings", json={"scoring": {"inlineResultsMaxMB": 0}}, headers=accounts["admin"].headers)
    job = scored(client, accounts["user"], buyers(20).drop(columns=["will_buy"]))
    body = client.get(f"/download_results?job_id={job['job_id']}", headers=accounts["user"].headers).json()
    assert body["download_url"].startswith("http") and body["size"] > 0


def test_a_broken_file_lists_its_issues_and_cannot_be_scored(client, accounts, active):
    user = accounts["user"]
    frame = buyers(30).drop(columns=["purchases"])
    frame["age"] = frame["age"].astype(object)
    frame.loc[[3, 7], "age"] = "old"
    frame["shoe"] = 1
    upload_id = client.post("/upload", files=csv_file(frame), headers=user.headers).json()["upload_id"]
    report = client.post("/validate", json={"upload_id": upload_id}, headers=user.headers).json()
    assert report["valid"] is False
    kinds = {(i["kind"], i["column"]): i for i in report["issues"]}
    assert kinds[("missing_column", "purchases")]["severity"] == "error"
    assert kinds[("unexpected_column", "shoe")]["severity"] == "warning"
    assert kinds[("type_error", "age")]["rows"] == [4, 8] and kinds[("type_error", "age")]["count"] == 2
    assert kinds[("type_error", "age")]["message"].endswith("in rows 4, 8 of the data")
    refused = client.post("/predict", json={"upload_id": upload_id}, headers=user.headers)
    assert refused.status_code == 409 and refused.json()["details"]["issues"]


def test_unseen_categories_and_out_of_range_values_are_warnings(client, accounts, active):
    user = accounts["user"]
    frame = buyers(10).drop(columns=["will_buy"])
    frame.loc[0, "region"] = "atlantis"
    frame.loc[1, "income"] = 10_000_000
    upload_id = client.post("/upload", files=csv_file(frame), headers=user.headers).json()["upload_id"]
    report = client.post("/validate", json={"upload_id": upload_id}, headers=user.headers).json()
    kinds = {(i["kind"], i["column"]): i for i in report["issues"]}
    assert report["valid"] is True
    assert kinds[("unseen_category", "region")]["rows"] == [1]
    assert kinds[("unseen_category", "region")]["message"].endswith("in row 1 of the data")
    assert kinds[("out_of_range", "income")]["rows"] == [2]


def test_formula_cells_are_neutralized_in_results(client, accounts, active):
    frame = buyers(5).drop(columns=["will_buy"])
    frame["region"] = frame["region"].astype(object)
    frame.loc[0, "region"] = "=HYPERLINK(\"http://evil\")"
    job = scored(client, accounts["user"], frame)
    text = client.get(f"/download_results?job_id={job['job_id']}", headers=accounts["user"].headers).text
    assert "'=HYPERLINK" in text
    assert "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text


def test_someone_elses_upload_and_job_are_not_found(client, accounts, active):
    job = scored(client, accounts["user"], buyers(5).drop(columns=["will_buy"]))
    other = accounts["other"]
    assert client.post("/validate", json={"upload_id": job["upload_id"]}, headers=other.headers).status_code == 404
    assert client.get(f"/download_results?job_id={job['job_id']}", headers=other.headers).status_code == 404
    assert client.post("/validate", json={"upload_id": "upl_19700101_00001"}, headers=other.headers).status_code == 404


@pytest.mark.parametrize("how", [
    {},                                                        # no body at all
    {"files": {"csv": ("x.csv", b"a,b\n1,2\n", "text/csv")}},  # the file under another field name
    {"data": {"note": "hello"}},                               # a form without a file
    {"data": {"file": "batch.csv"}},                           # a text field named file
    {"json": {"file": "batch.csv"}},                           # JSON instead of multipart
])
def test_upload_without_a_file_is_400_in_the_error_shape_saying_how_to_send_one(client, accounts, active, how):
    response = client.post("/upload", headers=accounts["user"].headers, **how)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "INVALID_PARAMETERS" and body["error"] == "Bad request"
    assert "no file received" in body["message"] and "'file'" in body["message"]
    assert body["request_id"] == response.headers["x-request-id"] and body["timestamp"]


def test_upload_of_an_empty_file_is_400(client, accounts, active):
    junk = client.post("/upload", files={"file": ("x.csv", b"", "text/csv")}, headers=accounts["user"].headers)
    assert junk.status_code == 400


def test_retrain_below_then_above_the_threshold_and_dashboard(client, accounts, active):
    admin, user = accounts["admin"], accounts["user"]
    below = client.post("/retrain", json={"threshold_new_labels": 50}, headers=admin.headers).json()
    assert below["status"] == "skipped" and below["new_labels"] == 0 and below["trained"] is False
    client.post("/upload", files=csv_file(buyers(80, seed=9)), headers=user.headers)
    above = client.post("/retrain", json={"threshold_new_labels": 50}, headers=admin.headers).json()
    assert above["status"] == "started" and above["new_labels"] == 80 and above["new_version"] == 2
    assert above["status_url"] == f"http://testserver/retrain/{above['job_id']}"
    job = client.get(f"/api/jobs/{above['job_id']}", headers=admin.headers).json()
    assert job["status"] == "completed", job
    result = job["result"]
    assert result["metrics_new"]["accuracy"] > 0.8 and "accuracy" in result["metrics_current"]
    assert result["new_version"] == 2
    active_now = client.get("/api/scoring/active-model", headers=admin.headers).json()
    assert active_now["deployed_version"] == (2 if result["activated"] else 1)
    refused = client.post("/retrain", json={"threshold_new_labels": 50}, headers=user.headers)
    assert refused.status_code == 403
    assert refused.json()["message"] == "this action needs the role Admin; you are User"  # csv-scoring's words
    dashboard = client.get("/dashboard", headers=admin.headers).json()
    assert dashboard["totals"]["uploads"] == 1 and dashboard["totals"]["users"] == 5
    assert dashboard["last_retrain"]["status"] == "completed"
    assert dashboard["recent_uploads"][0]["user"] == user.username
    assert client.get("/dashboard", headers=user.headers).status_code == 403


def follow(client, url, headers):
    response = client.get(url.replace("http://testserver", ""), headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("activate", ["if_not_worse", "never"])
def test_a_client_following_links_gets_from_retrain_to_both_versions_metrics_and_the_outcome(
        client, accounts, active, activate):
    admin, user = accounts["admin"], accounts["user"]
    client.post("/upload", files=csv_file(buyers(80, seed=9)), headers=user.headers)
    started = client.post("/retrain", json={"threshold_new_labels": 50, "activate": activate}, headers=admin.headers)
    assert started.status_code == 200, started.text
    status = follow(client, started.json()["status_url"], admin.headers)
    assert status["ready"] is True and status["status"] == "completed"
    assert status["new_version"] == started.json()["new_version"] == 2 and status["current_version"] == 1
    assert status["metrics"]["new"]["accuracy"] > 0.8 and "accuracy" in status["metrics"]["current"]
    assert status["compared_on_rows"] > 0
    if activate == "never":
        assert status["activated"] is False and status["outcome"] == "not activated"
        assert "'never'" in status["reason"]
    else:
        better = status["metrics"]["new"]["accuracy"] >= status["metrics"]["current"]["accuracy"]
        assert status["activated"] is better
        assert status["reason"].startswith("activated because it is not worse" if better else "not activated")
    assert "accuracy" in status["reason"]
    version = follow(client, status["new_model_url"], admin.headers)
    assert version["version"] == 2 and version["id"] == status["new_model_id"]
    assert follow(client, status["status_url"], admin.headers)["job_id"] == status["job_id"]
    active_now = client.get("/api/scoring/active-model", headers=admin.headers).json()
    assert active_now["deployed_version"] == (2 if status["activated"] else 1)


def test_the_retrain_status_is_only_for_its_owner_and_admins(client, accounts, active):
    admin, user = accounts["admin"], accounts["user"]
    client.post("/upload", files=csv_file(buyers(60, seed=3)), headers=user.headers)
    url = client.post("/retrain", json={"threshold_new_labels": 50}, headers=admin.headers).json()["status_url"]
    path = url.replace("http://testserver", "")
    assert client.get(path, headers=user.headers).status_code == 404
    assert client.get(path).status_code == 401
    assert client.get("/retrain/job_doesnotexist", headers=admin.headers).status_code == 404
    scoring_job = scored(client, user, buyers(5).drop(columns=["will_buy"]))["job_id"]
    assert client.get(f"/retrain/{scoring_job}", headers=admin.headers).status_code == 404


def test_a_second_retrain_while_one_is_queued_is_409_pointing_at_it(client, accounts, active, app):
    from modelyard.db.base import new_id
    from modelyard.jobs.models import Job
    from modelyard.registry.models import ModelVersion

    admin, user = accounts["admin"], accounts["user"]
    client.post("/upload", files=csv_file(buyers(60, seed=3)), headers=user.headers)
    with app.state.runtime.db.session() as session:  # a retraining no worker has picked up yet
        version = session.get(ModelVersion, active)
        queued = Job(id=new_id("job"), kind="scoring.retrain", owner_id=admin.id, status="queued", step="queued",
                     params={"model_id": version.model_id, "base_version_id": version.id, "upload_ids": [],
                             "activate": "if_not_worse", "new_version": 2})
        session.add(queued)
        session.commit()
        job_id = queued.id
    second = client.post("/retrain", json={"threshold_new_labels": 50}, headers=admin.headers)
    assert second.status_code == 409, second.text
    assert second.json()["details"]["job_id"] == job_id
    assert f"/retrain/{job_id}" in second.json()["message"]
    status = client.get(f"/retrain/{job_id}", headers=admin.headers).json()
    assert status["ready"] is False and status["status"] == "queued"
    assert status["activated"] is None and status["outcome"] is None and status["new_version"] == 2
    assert status["metrics"] == {"new": None, "current": None}
    with app.state.runtime.db.session() as session:
        failed = session.get(Job, job_id)
        failed.status, failed.error = "failed", "no labeled rows with the model's columns were found"
        session.commit()
    status = client.get(f"/retrain/{job_id}", headers=admin.headers).json()
    assert status["ready"] is False and status["outcome"] == "failed" and status["activated"] is False
    assert "no labeled rows" in status["reason"] and "current version stays active" in status["reason"]


def test_result_csvs_quote_no_numbers_and_only_the_cells_that_need_it(client, accounts, active):
    user = accounts["user"]
    frame = buyers(6, seed=2).drop(columns=["will_buy"]).assign(age=[30, 41, 52, 63, 24, 35])
    job = scored(client, user, frame)
    text = client.get(f"/download_results?job_id={job['job_id']}", headers=user.headers).text
    lines = text.splitlines()
    assert lines[0] == "age,income,region,purchases,prediction,probability_no,probability_yes" or \
        lines[0] == "age,income,region,purchases,prediction,probability_yes,probability_no"
    assert '"' not in text
    first = frame.iloc[0]
    assert lines[1].startswith(f"{first.age},{first.income},{first.region},{first.purchases},")
    # a cell holding the delimiter or a quote is quoted (and only that cell), so the file still parses
    odd = frame.astype(object)
    odd.loc[2, "region"] = 'west, "upper"'
    job = scored(client, user, odd)
    text = client.get(f"/download_results?job_id={job['job_id']}", headers=user.headers).text
    assert '"west, ""upper"""' in text and f"\n{odd.iloc[3].age},{odd.iloc[3].income}," in text
    assert pd.read_csv(io.StringIO(text)).loc[2, "region"] == 'west, "upper"'


@pytest.mark.parametrize("threshold", ["5", True, 10**12, 0])
def test_retrain_threshold_must_be_a_json_number_in_range(client, accounts, threshold):
    response = client.post("/retrain", json={"threshold_new_labels": threshold}, headers=accounts["admin"].headers)
    assert response.status_code == 422, response.text
    assert "threshold_new_labels" in response.json()["message"]


def test_the_dashboard_counts_predictions_of_every_route_from_the_prediction_log(client, accounts, active):
    admin, user = accounts["admin"], accounts["user"]
    before = client.get("/dashboard", headers=admin.headers).json()["predictions_24h"]
    result = scored(client, user, buyers(40, seed=4))
    assert result["status"] in ("completed", "queued", "in_progress"), result
    rows = [{"age": 30, "income": 100_000, "region": "west", "purchases": 2}] * 2
    assert client.post("/api/predict/Buyers", json={"data": rows}, headers=admin.headers).status_code == 200
    after = client.get("/dashboard", headers=admin.headers).json()["predictions_24h"]
    assert after["rows"] - before["rows"] == 40 + 2, (before, after)
    assert after["by_model"]["Buyers"] - before["by_model"].get("Buyers", 0) >= 2  # ≥ 1 chunk + 1 online call
    usage = client.get("/api/enterprise/analytics/usage", params={"days": 1}, headers=admin.headers).json()
    assert usage["analytics"]["summary"]["rows_predicted"] == after["rows"], "one record, the same figure"
