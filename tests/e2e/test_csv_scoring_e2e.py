"""The csv-scoring contract end to end on a real `modelyard serve` process (embedded default).

Login in the query-string dialect → the admin trains, deploys and activates a model through the mlops
routes → template → fill → upload → validate (clean and broken) → predict → job → download inline and
by signed URL → labeled rows → retrain below and above the threshold → the admin dashboard.

The module shares one server. Every step that changes it (uploads, scoring, retraining, a failed login)
runs once in a module fixture, so that each test can ask for what it needs in any order.
"""
from __future__ import annotations

import io
import secrets
import time
from typing import Iterator

import httpx
import pandas as pd
import pytest

from tests.e2e.processes import TERMINAL, Launcher, ModelyardProcess, bearer, wait_for_job
from tests.support.datasets import buyers, to_csv

pytestmark = pytest.mark.slow

ADMIN_PASSWORD = f"scoring-admin-{secrets.token_hex(6)}"
MODEL_NAME = "Buyers"
FEATURES = ["age", "income", "region", "purchases"]
TARGET = "will_buy"
JOB_TIMEOUT = 120.0
THRESHOLD = 50
CLEAN_ROWS = 200
LABELED_BELOW, LABELED_MORE = 30, 40  # 30 new labels are below the threshold, 70 are above


# --- helpers -----------------------------------------------------------------------------------------


def query_login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/login", params={"username": username, "password": password})


def token_of(client: httpx.Client, username: str, password: str) -> dict[str, str]:
    response = query_login(client, username, password)
    assert response.status_code == 200, f"POST /login?username={username}: {response.status_code} {response.text}"
    return bearer(response.json()["token"])


def csv_upload(client: httpx.Client, headers: dict[str, str], frame: pd.DataFrame, name: str) -> dict:
    response = client.post("/upload", files={"file": (name, to_csv(frame), "text/csv")}, headers=headers)
    assert response.status_code == 200, f"POST /upload of {name}: {response.status_code} {response.text}"
    return response.json()


def validate(client: httpx.Client, headers: dict[str, str], upload_id: str) -> dict:
    response = client.post("/validate", json={"upload_id": upload_id}, headers=headers)
    assert response.status_code == 200, f"POST /validate {upload_id}: {response.status_code} {response.text}"
    return response.json()


def the_rule(frame: pd.DataFrame) -> pd.Series:
    return ((frame.income > 60_000) & (frame.region != "south")).map({True: "yes", False: "no"})


def poll(client: httpx.Client, path: str, headers: dict[str, str], *, what: str, server: ModelyardProcess,
         timeout: float = JOB_TIMEOUT) -> dict:
    """GET `path` until its status is terminal; fail with the states seen after `timeout`."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    body: dict = {}
    while time.monotonic() < deadline:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        body = response.json()
        if not seen or seen[-1] != body["status"]:
            seen.append(body["status"])
        if body["status"] in TERMINAL:
            return body
        time.sleep(0.2)
    pytest.fail(f"{what} did not finish within {timeout:.0f}s; states: {' -> '.join(seen)}; last: {body}\n"
                f"{server.describe()}", pytrace=False)


# --- the server, accounts and the active model --------------------------------------------------------


@pytest.fixture(scope="module")
def server(module_launch: Launcher, tmp_path_factory) -> ModelyardProcess:
    return module_launch.serve({"MODELYARD_HOME": str(tmp_path_factory.mktemp("home")),
                                "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD})


@pytest.fixture(scope="module")
def client(server: ModelyardProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60.0) as http:
        yield http


@pytest.fixture(scope="module")
def admin(client) -> dict[str, str]:
    return token_of(client, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def scorer(client, admin) -> tuple[str, str]:
    """A plain user who scores files (created by the admin)."""
    username, password = f"scorer{secrets.token_hex(3)}", f"pw-{secrets.token_hex(8)}"
    response = client.post("/admin/users", headers=admin, json={"username": username, "password": password,
                                                                "role": "user"})
    assert response.status_code == 201, f"POST /admin/users: {response.status_code} {response.text}"
    return username, password


@pytest.fixture(scope="module")
def user(client, scorer) -> dict[str, str]:
    return token_of(client, *scorer)


@pytest.fixture(scope="module")
def failed_login(client, scorer) -> httpx.Response:
    """One login of the scorer with a wrong password."""
    return query_login(client, scorer[0], "not-the-password")


@pytest.fixture(scope="module")
def uploads() -> list[str]:
    """Every upload_id this module sends to POST /upload, in order."""
    return []


@pytest.fixture(scope="module")
def active_model(client, admin, server) -> dict:
    """The admin trains Buyers through the mlops routes, deploys it and makes it the active scoring model."""
    response = client.post("/api/upload", headers=admin,
                           files={"file": ("buyers.csv", to_csv(buyers(1000, seed=2)), "text/csv")})
    assert response.status_code == 200, f"POST /api/upload: {response.status_code} {response.text}"
    train = client.post("/api/train", headers=admin, json={
        "file_id": response.json()["file_id"], "model_type": "auto", "name": MODEL_NAME,
        "training_params": {"max_training_time": 60}})
    assert train.status_code == 202, f"POST /api/train: {train.status_code} {train.text}"
    status = poll(client, f"/api/training/{train.json()['job_id']}", admin, what="training Buyers", server=server)
    assert status["status"] == "completed", status
    deployed = client.post(f"/api/models/{status['model_id']}/deploy", headers=admin)
    assert deployed.status_code == 200, deployed.text
    chosen = client.put("/api/scoring/active-model", json={"model": MODEL_NAME}, headers=admin)
    assert chosen.status_code == 200, f"PUT /api/scoring/active-model: {chosen.status_code} {chosen.text}"
    return {"model_id": status["model_id"], "accuracy": status["metrics"]["accuracy"], **chosen.json()}


@pytest.fixture(scope="module")
def template(client, user, active_model) -> httpx.Response:
    return client.get("/download_template", headers=user)


@pytest.fixture(scope="module")
def clean_file(client, user, template, uploads) -> dict:
    """The template filled with rows (target left empty), uploaded and validated."""
    assert template.status_code == 200, f"GET /download_template: {template.status_code} {template.text}"
    columns = list(pd.read_csv(io.BytesIO(template.content)).columns)
    rows = buyers(CLEAN_ROWS, seed=5)
    filled = rows.reindex(columns=columns)
    filled[TARGET] = None
    uploaded = csv_upload(client, user, filled, "filled_template.csv")
    uploads.append(uploaded["upload_id"])
    return {"frame": filled, "upload": uploaded, "report": validate(client, user, uploaded["upload_id"])}


@pytest.fixture(scope="module")
def broken_file(client, user, active_model, uploads) -> dict:
    """A file without `purchases`, with words in the numeric `age` and an extra column."""
    frame = buyers(30, seed=7).drop(columns=["purchases", TARGET])
    frame["age"] = frame["age"].astype(object)
    frame.loc[[3, 7], "age"] = "old"
    frame["shoe_size"] = 42
    uploaded = csv_upload(client, user, frame, "broken.csv")
    uploads.append(uploaded["upload_id"])
    return {"upload": uploaded, "report": validate(client, user, uploaded["upload_id"])}


@pytest.fixture(scope="module")
def scored(client, user, clean_file, server) -> dict:
    """POST /predict on the clean upload, polled until the job finishes, and its inline CSV."""
    active = client.get("/api/scoring/active-model", headers=user)
    assert active.status_code == 200, active.text
    response = client.post("/predict", json={"upload_id": clean_file["upload"]["upload_id"]}, headers=user)
    assert response.status_code == 200, f"POST /predict: {response.status_code} {response.text}"
    accepted = response.json()
    job = poll(client, f"/api/scoring/jobs/{accepted['job_id']}", user, what="the scoring job", server=server)
    inline = client.get("/download_results", params={"job_id": accepted["job_id"]}, headers=user)
    return {"active": active.json(), "accepted": accepted, "job": job, "inline": inline}


@pytest.fixture(scope="module")
def retraining(client, admin, user, active_model, uploads, server) -> dict:
    """Labeled uploads, then POST /retrain below and above the threshold, the retrain job followed to its end."""
    # A bound on the retraining job, whose time budget is the training default (300 s unless set).
    bounded = client.put("/api/settings", json={"training": {"defaultTimeout": 60}}, headers=admin)
    assert bounded.status_code == 200, bounded.text
    first = csv_upload(client, user, buyers(LABELED_BELOW, seed=11), "labels_1.csv")
    uploads.append(first["upload_id"])
    below = client.post("/retrain", json={"threshold_new_labels": THRESHOLD}, headers=admin)
    second = csv_upload(client, user, buyers(LABELED_MORE, seed=12), "labels_2.csv")
    uploads.append(second["upload_id"])
    by_user = client.post("/retrain", json={"threshold_new_labels": THRESHOLD}, headers=user)
    above = client.post("/retrain", json={"threshold_new_labels": THRESHOLD}, headers=admin)
    assert below.status_code == 200, f"POST /retrain (below): {below.status_code} {below.text}"
    assert above.status_code == 200, f"POST /retrain (above): {above.status_code} {above.text}"
    job = None
    if above.json().get("job_id"):
        job = wait_for_job(client, above.json()["job_id"], admin, until=lambda j: j["status"] in TERMINAL,
                           timeout=JOB_TIMEOUT, what="the end of the retraining", processes=(server,))
    return {"uploads": (first, second), "below": below.json(), "above": above.json(), "by_user": by_user,
            "job": job, "active_after": client.get("/api/scoring/active-model", headers=admin).json()}


# --- tests -------------------------------------------------------------------------------------------


def test_the_query_string_login_gives_a_token_with_role_and_expiry_and_a_wrong_password_is_401(
        client, scorer, failed_login):
    response = query_login(client, *scorer)

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token"] and body["role"] == "User" and body["expires_in"] > 0, body
    assert failed_login.status_code == 401, f"a wrong password answered {failed_login.status_code}"
    assert "token" not in failed_login.text


def test_the_admin_made_the_trained_and_deployed_buyers_model_active_for_scoring(client, user, active_model):
    assert active_model["model"] == MODEL_NAME, active_model
    assert active_model["deployed_model_id"] == active_model["model_id"], active_model
    assert active_model["deployed_version"] == 1, active_model
    assert active_model["accuracy"] > 0.9, active_model
    assert client.get("/api/scoring/active-model", headers=user).json()["model"] == MODEL_NAME


def test_the_template_has_the_model_columns_with_the_target_last_and_one_example_row(template):
    assert template.status_code == 200, f"GET /download_template: {template.status_code} {template.text}"
    assert template.headers["content-type"].startswith("text/csv"), template.headers
    frame = pd.read_csv(io.BytesIO(template.content))
    assert list(frame.columns) == [*FEATURES, TARGET], list(frame.columns)
    assert len(frame) == 1, frame


def test_the_filled_template_uploads_with_an_upload_id_and_validates_clean(clean_file):
    uploaded, report = clean_file["upload"], clean_file["report"]

    assert uploaded["upload_id"].startswith("upl_") and uploaded["status"] == "uploaded", uploaded
    assert uploaded["rows"] == CLEAN_ROWS and uploaded["labeled_rows"] == 0, uploaded
    assert report["valid"] is True, f"the filled template is not valid: {report['issues']}"
    assert not [i for i in report["issues"] if i["severity"] == "error"], report["issues"]
    assert (report["rows"], report["labeled_rows"]) == (CLEAN_ROWS, 0), report


def test_a_broken_file_lists_its_issues_with_rows_and_predict_refuses_it(client, user, broken_file):
    report = broken_file["report"]
    assert report["valid"] is False, report
    issues = {(i["kind"], i["column"]): i for i in report["issues"]}
    assert issues[("missing_column", "purchases")]["severity"] == "error", report["issues"]
    assert issues[("type_error", "age")]["rows"] == [4, 8], report["issues"]
    assert issues[("type_error", "age")]["count"] == 2, report["issues"]
    assert issues[("unexpected_column", "shoe_size")]["severity"] == "warning", report["issues"]

    refused = client.post("/predict", json={"upload_id": broken_file["upload"]["upload_id"]}, headers=user)

    assert refused.status_code == 409, f"predict on an invalid upload: {refused.status_code} {refused.text}"
    assert refused.json()["details"]["issues"], refused.json()


def test_predict_runs_a_job_that_completes_and_the_inline_csv_follows_the_rule(scored, clean_file):
    accepted, job, inline = scored["accepted"], scored["job"], scored["inline"]
    assert accepted["status"] in ("queued", "in_progress", "completed"), accepted
    assert accepted["model_id"] == scored["active"]["deployed_model_id"], (accepted, scored["active"])
    assert accepted["model_version"] == scored["active"]["deployed_version"], (accepted, scored["active"])
    assert job["status"] == "completed", f"the scoring job ended {job}"
    assert job["rows"] == CLEAN_ROWS and job["download_url"], job

    assert inline.status_code == 200, f"GET /download_results: {inline.status_code} {inline.text}"
    assert inline.headers["content-type"].startswith("text/csv"), inline.headers
    results = pd.read_csv(io.BytesIO(inline.content))
    assert len(results) == CLEAN_ROWS
    assert {*FEATURES, "prediction", "probability_yes", "probability_no"} <= set(results.columns), results.columns
    agreement = (results.prediction == the_rule(clean_file["frame"])).mean()
    assert agreement > 0.9, f"only {agreement:.0%} of the scored rows follow the rule"


def test_large_results_answer_a_signed_url_that_plain_httpx_fetches_to_the_inline_bytes(client, admin, user, scored):
    inline = scored["inline"]
    assert inline.status_code == 200, inline.text
    job_id = scored["job"]["job_id"]
    lowered = client.put("/api/settings", json={"scoring": {"inlineResultsMaxMB": 0}}, headers=admin)
    assert lowered.status_code == 200, f"PUT /api/settings: {lowered.status_code} {lowered.text}"
    try:
        answer = client.get("/download_results", params={"job_id": job_id}, headers=user)
    finally:
        client.put("/api/settings", json={"scoring": {"inlineResultsMaxMB": 20}}, headers=admin)

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert body["download_url"].startswith("http") and body["expires_in"] > 0, body
    assert body["size"] == len(inline.content), body
    fetched = httpx.get(body["download_url"], timeout=30.0)  # no Authorization: the signature authorizes
    assert fetched.status_code == 200, f"GET of the signed URL: {fetched.status_code} {fetched.text}"
    assert fetched.content == inline.content, "the signed URL's bytes differ from the inline CSV"
    from_job = httpx.get(scored["job"]["download_url"], timeout=30.0)
    assert from_job.status_code == 200 and from_job.content == inline.content, "the job's download_url differs"
    forged = httpx.get(body["download_url"].replace("sig=", "sig=0"), timeout=30.0)
    assert forged.status_code in (401, 403), f"a forged signature answered {forged.status_code}"


def test_retrain_is_skipped_below_the_threshold_counting_new_labels_and_admin_only(retraining):
    first, _ = retraining["uploads"]
    below = retraining["below"]

    assert first["labeled_rows"] == LABELED_BELOW, first
    assert below["status"] == "skipped" and below["trained"] is False, below
    assert below["new_labels"] == LABELED_BELOW and below["threshold"] == THRESHOLD, below
    assert below.get("job_id") is None, below
    assert retraining["by_user"].status_code == 403, f"a plain user could retrain: {retraining['by_user'].text}"


def test_retrain_above_the_threshold_registers_version_2_with_both_metrics(client, admin, retraining):
    above, job = retraining["above"], retraining["job"]
    assert above["status"] == "started" and above["trained"] is True, above
    assert above["new_labels"] == LABELED_BELOW + LABELED_MORE and above["job_id"], above
    assert above["current_version"] == 1, above
    assert job is not None and job["status"] == "completed", f"the retraining ended {job}"

    result = job["result"]
    assert result["new_version"] == 2, result
    assert result["metrics_new"]["accuracy"] > 0.8, result
    assert "accuracy" in result["metrics_current"], result
    assert result["compared_on_rows"] > 0, result
    expected_version = 2 if result["activated"] else 1
    assert retraining["active_after"]["deployed_version"] == expected_version, (retraining["active_after"], result)
    print(f"\n[retrain] new={result['metrics_new']} current={result['metrics_current']} outcome={result['outcome']}")
    version = client.get(f"/api/models/{result['new_model_id']}", headers=admin)
    assert version.status_code == 200, f"the new version is not in the registry: {version.text}"


def test_following_the_retrain_status_url_leads_to_both_metrics_the_outcome_and_the_new_version(
        server, admin, retraining):
    """A client that knows only the answer's links: status_url, then new_model_url, with plain httpx."""
    above, result = retraining["above"], retraining["job"]["result"]
    assert above["new_version"] == result["new_version"] == 2, above
    assert above["status_url"] == f"{server.url}/retrain/{above['job_id']}", above
    status = httpx.get(above["status_url"], headers=admin, timeout=30).json()
    assert status["ready"] is True and status["status"] == "completed", status
    assert status["metrics"] == {"new": result["metrics_new"], "current": result["metrics_current"]}, status
    assert status["activated"] is result["activated"], status
    assert status["outcome"] == ("activated" if result["activated"] else "not activated"), status
    assert "accuracy" in status["reason"], status
    version = httpx.get(status["new_model_url"], headers=admin, timeout=30)
    assert version.status_code == 200 and version.json()["version"] == 2, version.text


def test_the_dashboard_shows_uploads_rows_scored_the_last_retrain_and_logins_with_the_failed_one(
        client, admin, user, scorer, uploads, scored, broken_file, retraining, failed_login):
    response = client.get("/dashboard", headers=admin)

    assert response.status_code == 200, f"GET /dashboard: {response.status_code} {response.text}"
    board = response.json()
    totals = board["totals"]
    assert totals["uploads"] == len(uploads), (totals, uploads)
    assert totals["rows_scored"] == scored["job"]["rows"] == CLEAN_ROWS, totals
    assert totals["users"] == 2, totals
    recent = {u["upload_id"]: u for u in board["recent_uploads"]}
    assert set(uploads) <= set(recent), (uploads, list(recent))
    assert {recent[u]["user"] for u in uploads} == {scorer[0]}, board["recent_uploads"]

    last = board["last_retrain"]
    assert last is not None and last["job_id"] == retraining["job"]["job_id"], last
    assert last["status"] == "completed" and last["at"] and last["outcome"], last

    logins = board["recent_logins"]
    failed = [e for e in logins if e["username"] == scorer[0] and e["success"] is False]
    assert failed_login.status_code == 401
    assert failed, f"the failed login of {scorer[0]} is not listed: {logins}"
    assert failed[0]["address"] == "127.0.0.1", failed[0]
    assert any(e["username"] == "admin" and e["success"] for e in logins), logins
    assert client.get("/dashboard", headers=user).status_code == 403
