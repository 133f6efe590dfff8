"""The prediction-platform pages (account and API keys, model gallery, playground, CSV batch, credits) with
Streamlit's AppTest, against a real `modelyard serve` of their own: CSV files above 30 rows become jobs,
and a `trial` plan allows 2 predictions an hour, so the job and 429 paths are reached with small files.
"""
from __future__ import annotations

import io
import json
import random
import secrets

import httpx
import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from tests.e2e.processes import STARTED, Launcher
from tests.ui.conftest import Backend, start_backend
from tests.ui.test_pages import APP, TIMEOUT, open_page, signed_in, texts

PLANS = {"basic": {"credits": 1000}, "trial": {"credits": 5, "predictions": "2/hour"}}
JOB_ROWS = 30


@pytest.fixture(scope="module")
def backend(request, tmp_path_factory):
    launcher = Launcher(tmp_path_factory.mktemp("procs"), request.node.stash.setdefault(STARTED, []))
    env = {"MODELYARD_PLANS": json.dumps(PLANS), "MODELYARD_MAX_CSV_BATCH_ROWS": str(JOB_ROWS),
           "MODELYARD_RATE_LIMIT_UPLOADS": "1000/hour"}
    try:
        yield start_backend(launcher, tmp_path_factory.mktemp("home"), env=env)
    finally:
        launcher.stop_all()


@pytest.fixture(autouse=True)
def backend_url(backend, monkeypatch):
    monkeypatch.setenv("BACKEND_URL", backend.url)


def new_user(backend: Backend, *, plan: str | None = None, credits: int | None = None) -> str:
    """A fresh `user` account (so tests do not share balances or limits), its credits set to `credits`."""
    username = f"u{secrets.token_hex(4)}"
    password = f"{username}-password"
    with backend.client() as admin:
        made = admin.post("/admin/users", json={"username": username, "password": password, "role": "user"}).json()
        if plan:
            assert admin.patch(f"/admin/users/{made['id']}", json={"plan": plan}).status_code == 200
        if credits is not None and credits != made["credits_remaining"]:
            answer = admin.post(f"/admin/users/{made['id']}/credits",
                                json={"credits": credits - made["credits_remaining"]})
            assert answer.status_code == 200, answer.text
    backend.passwords[username] = password
    return username


def balance(backend: Backend, username: str) -> int:
    with backend.client(username) as client:
        return client.get("/api/auth/user").json()["credits_remaining"]


def leads_csv(rows: int, *, bad_rows: tuple[int, ...] = (), target: bool = False, seed: int = 3) -> bytes:
    """Lead-score rows (1-based `bad_rows` have a budget that is no number); with `target`, a `converted`
    column that follows budget and engagement."""
    rng = random.Random(seed)
    lines = ["company_size,budget,industry_score,engagement_score" + (",converted" if target else "")]
    for i in range(1, rows + 1):
        budget, engagement = rng.randint(1000, 500000), round(rng.uniform(1, 10), 1)
        cells = [rng.choice(["1-10", "11-50", "51-200", "201-1000"]), "lots" if i in bad_rows else str(budget),
                 f"{rng.uniform(1, 10):.1f}", str(engagement)]
        if target:
            cells.append(str(int(budget > 150000 and engagement > 4)))
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()


def click(at, label: str):
    """Click the one button labelled `label` (form buttons included) and run the page."""
    found = [b for b in at.button if b.label == label]
    assert len(found) == 1, [b.label for b in at.button]
    return found[0].click().run()


def predict(at):
    return click(at, "Predict")


def predict_on_playground(at, model: str | None = None):
    at = open_page(at, "Playground")
    if model:
        at.selectbox(key="playground-model").set_value(model).run()
    predict(at)  # with the model's example filled in
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("username, expected, hidden", [
    ("alice", {"Account", "Model gallery", "Playground", "CSV batch"}, {"Credits"}),
    ("lena", {"Account", "My tasks"}, {"Model gallery", "Playground", "CSV batch", "Credits"}),
    ("admin", {"Account", "Model gallery", "Playground", "CSV batch", "Credits", "Users"}, set()),
])
def test_the_platform_pages_follow_the_role(backend, username, expected, hidden):
    at = signed_in(backend, username)
    titles = {info["page_name"] for info in at._registered_pages.values()}

    assert expected <= titles and not hidden & titles, titles


def test_the_account_shows_plan_and_credits_and_a_new_key_once(backend):
    username = new_user(backend, credits=321)
    at = open_page(signed_in(backend, username), "Account")
    shown = {m.label: m.value for m in at.metric}
    assert shown["Plan"] == "basic" and shown["Credits remaining"] == "321"

    at.text_input[0].input("crm")
    click(at, "Create key")
    key = at.code[0].value
    assert key.startswith("mdy_") and any("Copy it now" in s for s in texts(at, "success"))
    assert httpx.get(f"{backend.url}/api/auth/user", headers={"X-API-Key": key}).json()["username"] == username

    click(at, "I have copied it: hide the key")
    assert not at.code
    assert list(at.dataframe[0].value["name"]) == ["crm"]
    assert key not in " ".join(texts(at, "markdown") + texts(at, "caption"))  # only its prefix from now on


def test_rotating_a_key_replaces_it_and_revoking_asks_first(backend):
    username = new_user(backend)
    with backend.client(username) as client:
        old = client.post("/api/auth/keys", json={"name": "etl"}).json()
    at = open_page(signed_in(backend, username), "Account")
    at.button(key=f"rotate-{old['id']}").click().run()
    new = at.code[0].value
    assert new != old["api_key"] and any("Rotated" in s for s in texts(at, "success"))
    assert httpx.get(f"{backend.url}/api/auth/user", headers={"X-API-Key": old["api_key"]}).status_code == 401
    assert httpx.get(f"{backend.url}/api/auth/user", headers={"X-API-Key": new}).status_code == 200

    click(at, "I have copied it: hide the key")
    key_id = at.selectbox(key="api-key-choice").value
    revoke = at.button(key=f"revoke-{key_id}")
    assert revoke.disabled  # nothing happens until the confirmation is ticked
    at.checkbox(key=f"sure-{key_id}").check().run()
    at.button(key=f"revoke-{key_id}").click().run()
    assert any(s.startswith("Revoked etl") for s in texts(at, "success")), texts(at, "success")
    assert "No API keys yet." in texts(at, "caption")
    assert httpx.get(f"{backend.url}/api/auth/user", headers={"X-API-Key": new}).status_code == 401


def test_a_session_signed_in_with_a_key_keeps_working_when_it_rotates_that_key(backend):
    username = new_user(backend)
    with backend.client(username) as client:
        key = client.post("/api/auth/keys", json={"name": "mine"}).json()
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_input[2].input(key["api_key"])
    at.button[1].click().run()  # Use key
    at = open_page(at, "Account")
    at.button(key=f"rotate-{key['id']}").click().run()

    new = at.code[0].value
    assert at.session_state["account"].token == new != key["api_key"]
    assert not texts(at, "warning") and {m.label: m.value for m in at.metric}["Plan"] == "basic"

    click(at, "I have copied it: hide the key")
    key_id = at.selectbox(key="api-key-choice").value
    at.checkbox(key=f"sure-{key_id}").check().run()
    at.button(key=f"revoke-{key_id}").click().run()  # the key this session uses: signed out with a note
    assert any(w.startswith("Your session ended") for w in texts(at, "warning")), texts(at, "warning")
    assert "account" not in at.session_state and not at.exception


def test_the_playground_predicts_with_the_models_form_and_says_what_it_cost(backend):
    username = new_user(backend)
    at = predict_on_playground(signed_in(backend, username), "lead-score")
    shown = {m.label: m.value for m in at.metric}
    assert float(shown["score"]) > 0 and shown["quality"] in ("Cold", "Warm", "Hot"), shown
    footer = next(c for c in texts(at, "caption") if " ms · " in c)
    assert "lead_scoring_v1 · v1.0" in footer and "1 credit(s) · computed now" in footer
    assert any(m.startswith("**features used**: company_size, budget, industry_score") for m in texts(at, "markdown"))

    predict(at)  # the same request again: answered from the cache, still charged
    assert any("from the cache" in c for c in texts(at, "caption")), texts(at, "caption")
    assert balance(backend, username) == 998


def test_an_industry_model_is_called_on_its_industry_route(backend):
    at = predict_on_playground(signed_in(backend, new_user(backend)), "risk-assessment")
    footer = next(c for c in texts(at, "caption") if " ms · " in c)
    assert "2 credit(s)" in footer
    assert "risk level" in {m.label for m in at.metric}
    assert any(m.startswith("**key factors**") for m in texts(at, "markdown"))


def test_a_missing_required_field_is_named_in_the_message(backend):
    username = new_user(backend)
    at = open_page(signed_in(backend, username), "Playground")
    at.selectbox(key="playground-model").set_value("lead-score").run()
    click(at, "Clear the form")
    numbers = {n.label: n for n in at.number_input}
    assert numbers["budget *"].value is None
    numbers["industry_score *"].set_value(4.5)
    predict(at)

    assert not at.exception
    errors = texts(at, "error")
    assert len(errors) == 1 and "**budget**: required" in errors[0] and "**company_size**: required" in errors[0]
    assert "industry_score" not in errors[0]
    assert not at.metric
    assert balance(backend, username) == 1000  # a refused call costs nothing


def test_a_user_without_credits_is_told_so(backend):
    at = predict_on_playground(signed_in(backend, new_user(backend, credits=0)), "lead-score")

    assert texts(at, "error") == ["Not enough credits: this call costs 1 credit(s) and 0 remain; "
                                  "ask an admin to allocate more"]


def test_the_prediction_limit_of_the_plan_is_a_warning_with_the_wait(backend):
    at = signed_in(backend, new_user(backend, plan="trial"))
    for _ in range(2):
        at = predict_on_playground(at, "sentiment")
        assert not texts(at, "warning") and not texts(at, "error")
    predict(at)

    warning = texts(at, "warning")
    assert len(warning) == 1 and warning[0].startswith("Rate limit reached:") and "Try again in" in warning[0], warning


def test_the_gallery_shows_cards_and_an_admin_retrains_and_activates(backend):
    with backend.client() as admin:  # train lead-score (its first call does)
        assert admin.post("/api/predict/lead-score", json={"company_size": "11-50", "budget": 9000,
                                                           "industry_score": 5}).status_code == 200
    user = open_page(signed_in(backend, "alice"), "Model gallery")
    assert "20 built-in models" in texts(user, "caption")[0]
    assert any("synthetic data" in i for i in texts(user, "info"))
    assert "Activate this version" not in [b.label for b in user.button]  # only admins change built-ins

    at = open_page(signed_in(backend, "admin"), "Model gallery")
    at.selectbox(key="gallery-model").set_value("lead-score").run()
    inputs = at.dataframe[1].value
    assert list(inputs["field"])[:3] == ["company_size", "budget", "industry_score"]
    assert inputs.set_index("field").loc["engagement_score", "default"] == "5.0"
    at.file_uploader[0].upload("labeled.csv", leads_csv(400, target=True), "text/csv")
    click(at, "Retrain")
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.startswith("Trained lead-score v2.0 on") and s.endswith("active now") for s in texts(at, "success")), \
        texts(at, "success") + texts(at, "error")

    at.run()
    assert at.metric[1].value == "v2.0"
    at.selectbox(key=next(s.key for s in at.selectbox if s.label == "Version")).set_value("v1.0")
    click(at, "Activate this version")
    assert "lead-score v1.0 is active: predictions use it from now on" in texts(at, "success")
    with backend.client() as admin:
        assert admin.get("/api/model-gallery/models/lead-score").json()["version"] == "v1.0"


def test_a_csv_batch_shows_summary_quality_and_each_rows_result(backend):
    username = new_user(backend)
    at = open_page(signed_in(backend, username), "CSV batch")
    at.selectbox(key="batch-model").set_value("lead-score").run()
    at.file_uploader[0].upload("leads.csv", leads_csv(25, bad_rows=(2, 7)), "text/csv")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]

    shown = {m.label: m.value for m in at.metric}
    assert (shown["Rows"], shown["Processed"], shown["Failed"], shown["Credits used"]) == ("25", "23", "2", "23")
    assert shown["Invalid formats"] == "2"
    table = at.dataframe[0].value
    assert len(table) == 20 and len(at.get("pagination")) == 1  # 25 rows, 20 a page
    assert "budget must be a number" in table.set_index("row").loc["2", "error"]
    assert balance(backend, username) == 1000 - 23

    at.checkbox(key="csv-batch-failed").check().run()
    assert list(at.dataframe[0].value["row"]) == ["2", "7"]


def test_a_large_csv_is_a_job_with_progress_and_a_results_download(backend):
    username = new_user(backend)
    at = open_page(signed_in(backend, username), "CSV batch")
    at.selectbox(key="batch-model").set_value("lead-score").run()
    at.file_uploader[0].upload("many.csv", leads_csv(JOB_ROWS + 12, bad_rows=(5,)), "text/csv")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]

    assert any("scores them" in i for i in texts(at, "info")), texts(at, "info")
    assert at.progress[0].proto.text.endswith("completed")
    shown = {m.label: m.value for m in at.metric}
    assert (shown["Rows"], shown["Processed"], shown["Failed"]) == (str(JOB_ROWS + 12), str(JOB_ROWS + 11), "1")
    downloads = [d for d in at.get("download_button") if d.proto.label == "Download results"]
    assert len(downloads) == 1
    with backend.client(username) as client:
        job_id = next(s for s in texts(at, "subheader") if "(job " in s).split("(job ")[1].rstrip(")")
        results = pd.read_csv(io.BytesIO(client.get(f"/api/upload/csv/results/{job_id}").content))
    assert len(results) == JOB_ROWS + 12 and list(results["status"]).count("failed") == 1
    assert len(at.dataframe[0].value) == 20


def test_a_large_csv_without_enough_credits_is_refused_up_front(backend):
    at = open_page(signed_in(backend, new_user(backend, credits=10)), "CSV batch")
    at.selectbox(key="batch-model").set_value("lead-score").run()
    at.file_uploader[0].upload("many.csv", leads_csv(JOB_ROWS + 5), "text/csv")
    at.button[0].click().run()

    assert texts(at, "error") == [f"Not enough credits: {JOB_ROWS + 5} rows cost up to {JOB_ROWS + 5} credits "
                                  "and 10 remain"]


def test_an_admin_allocates_and_takes_back_credits(backend):
    username = new_user(backend, credits=0)
    at = open_page(signed_in(backend, "admin"), "Credits")
    at.selectbox[0].set_value(_user_id(backend, username))
    at.number_input[0].set_value(250)
    at.text_input[0].input("pilot")
    at.button[0].click().run()
    assert f"{username}: +250 credits, 250 remain" in texts(at, "success"), texts(at, "success") + texts(at, "error")
    assert balance(backend, username) == 250

    at.number_input[0].set_value(-300)
    at.button[0].click().run()
    assert any("negative balance" in e for e in texts(at, "error")), texts(at, "error")
    assert balance(backend, username) == 250


def _user_id(backend: Backend, username: str) -> int:
    with backend.client() as admin:
        return next(u["id"] for u in admin.get("/admin/users").json() if u["username"] == username)
