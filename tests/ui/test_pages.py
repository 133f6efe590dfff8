"""Page logic of the web UI with Streamlit's AppTest, against a real `modelyard serve` in a subprocess.

AppTest runs the app script in this process; every call the pages make goes over HTTP to the server.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import modelyard.ui
from modelyard.ui.widgets import Account
from tests.ui.conftest import Backend, buyers_csv, png

APP = str(Path(modelyard.ui.__file__).with_name("app.py"))
TIMEOUT = 120


@pytest.fixture(autouse=True)
def backend_url(backend, monkeypatch):
    monkeypatch.setenv("BACKEND_URL", backend.url)


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def signed_in(backend, username: str) -> AppTest:
    with backend.client(username) as client:
        me = client.get("/api/auth/user").json()
        token = client.headers["Authorization"].split(" ", 1)[1]
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["account"] = Account(username=me["username"], role=me["role"], token=token)
    return at.run()


def pick(box, text: str):
    """Choose the option whose shown label contains `text` (options are ids shown through format_func)."""
    return box.select_index(next(i for i, shown in enumerate(box.options) if text in shown))


def open_page(at: AppTest, title: str) -> AppTest:
    """Select a page of st.navigation by its title (AppTest.switch_page only knows file pages)."""
    found = [h for h, info in at._registered_pages.items() if info.get("page_name") == title]
    assert found, f"no page {title!r}; the role sees {[i.get('page_name') for i in at._registered_pages.values()]}"
    at._page_hash = found[0]
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


@pytest.mark.parametrize("username, expected, hidden", [
    ("alice", {"Datasets", "Train", "Models", "Predict", "Batch scoring", "Feature tables", "Upload model",
               "Labeling requests", "Quality control"}, {"Users", "My tasks"}),
    ("lena", {"My tasks", "Label images"}, {"Datasets", "Users", "Labeling requests"}),
    ("admin", {"Users", "Assignments", "Settings", "Activity", "Scoring dashboard", "Datasets", "Labeling requests"},
     {"My tasks"}),
    ("uma", {"Users", "Datasets", "Labeling requests", "My tasks", "Label images"}, set()),
])
def test_each_role_sees_its_own_pages(backend, username, expected, hidden):
    at = signed_in(backend, username)
    titles = {info["page_name"] for info in at._registered_pages.values()}

    assert expected <= titles and not hidden & titles, titles
    assert not at.exception


def test_a_wrong_password_shows_the_apis_message_and_a_right_one_signs_in(backend):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_input[0].input("alice")
    at.text_input[1].input("not-her-password")
    at.button[0].click().run()

    assert "account" not in at.session_state
    assert any("invalid" in message.lower() for message in texts(at, "error")), texts(at, "error")
    assert not at.exception

    at.text_input[1].input(backend.passwords["alice"])
    at.button[0].click().run()

    assert at.session_state["account"].role == "user"
    assert "Datasets" in texts(at, "title")


def test_an_api_key_signs_in_with_its_owners_role(backend):
    with backend.client("lena") as lena:
        key = lena.post("/api/auth/keys", json={"name": "ui"}).json()["api_key"]
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_input[2].input(key)
    at.button[1].click().run()

    assert at.session_state["account"].username == "lena"
    assert at.session_state["account"].role == "labeler"
    assert "My tasks" in texts(at, "title")


def test_an_unreachable_api_is_one_readable_sentence(monkeypatch):
    monkeypatch.setenv("BACKEND_URL", "http://127.0.0.1:9")
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    at.text_input[0].input("alice")
    at.text_input[1].input("whatever-password")
    at.button[0].click().run()

    assert texts(at, "error") == ["cannot reach the modelyard API at http://127.0.0.1:9 (ConnectError)"]
    assert not at.exception


def test_a_user_uploads_trains_compares_deploys_and_predicts(backend):
    at = signed_in(backend, "alice")
    at.file_uploader[0].upload("buyers.csv", buyers_csv(), "text/csv")
    at.button[0].click().run()  # the form's Upload button
    assert not at.exception, [e.value for e in at.exception]
    assert [m.value for m in at.metric][:2] == ["300", "4"]
    assert "Profile: buyers.csv" in texts(at, "subheader")

    open_page(at, "Train")
    assert at.selectbox[1].value == "will_buy"  # the profile's likely target is preselected
    at.slider[0].set_value(5)
    at.text_input[0].input("buyers-ui")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.startswith("Trained buyers-ui v1") for s in texts(at, "success")), texts(at, "success")
    at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("deploy-"))).click().run()
    assert "buyers-ui v1 deployed" in texts(at, "success")

    open_page(at, "Models")
    assert len(at.dataframe) == 2, [e.type for e in at.main]
    metrics = at.dataframe[1].value
    assert list(metrics.columns) == ["buyers-ui v1"] and "accuracy" in metrics.index
    assert metrics.loc["accuracy", "buyers-ui v1"] > 0.7

    open_page(at, "Predict")
    inputs = {n.label: n for n in at.number_input}
    inputs["age"].set_value(30)
    inputs["income"].set_value(95000)
    at.text_input[0].input("N")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.metric[0].label == "Prediction" and at.metric[0].value == "yes"


def test_a_profile_shows_the_files_warnings(backend):
    at = signed_in(backend, "alice")
    constant = b"a,b,same\n" + b"".join(f"{i},{i % 3},1\n".encode() for i in range(40))
    at.file_uploader[0].upload("constant.csv", constant, "text/csv")
    at.button[0].click().run()

    assert any("hold a single value: 'same'" in w for w in texts(at, "warning")), texts(at, "warning")


def test_a_customer_uploads_images_and_reviews_qc_with_thresholds(backend):
    at = signed_in(backend, "alice")
    open_page(at, "Labeling requests")
    at.text_input[0].input("Pets")
    at.text_input[1].input("cat, dog")
    at.button[0].click().run()
    assert any(s.startswith("Request Pets created") for s in texts(at, "success"))

    images = [(f"img{i}.png", png(i), "image/png") for i in range(5)] + [("copy.png", png(0), "image/png")]
    at.file_uploader[0].set_value(images)
    at.button[1].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "6 image(s) stored, 0 skipped" in texts(at, "success")
    assert at.progress[-1].proto.text.startswith("0 of 6 images labeled")

    open_page(at, "Quality control")
    at.button[0].click().run()  # Run QC
    assert not at.exception, [e.value for e in at.exception]
    flagged = next(m for m in texts(at, "markdown") if "images flagged" in m)
    assert flagged.startswith("**1** of 6")  # the copy (duplicate score 1.0 ≥ 0.9)
    assert len(at.get("image")) == 2  # the copy and, small, the image it duplicates
    at.slider[0].set_value(0.0).run()  # every image is a duplicate at threshold 0
    assert next(m for m in texts(at, "markdown") if "images flagged" in m).startswith("**6** of 6")
    assert len([c for c in texts(at, "caption") if "duplicate " in c and " · AI " in c]) == 6


def test_a_large_set_of_images_goes_through_presigned_uploads(backend):
    """From PRESIGNED_FROM images on, the page uses the contract's presigned flow (each file PUT to its
    signed URL, then /uploads/complete): the images arrive, and the server log shows the flow's routes."""
    from modelyard.ui.views.labeling import PRESIGNED_FROM, UPLOAD_BATCH

    at = signed_in(backend, "alice")
    open_page(at, "Labeling requests")
    at.text_input[0].input("Many pets")
    at.text_input[1].input("cat, dog")
    at.button[0].click().run()
    with backend.client("alice") as alice:
        request_id = next(r["id"] for r in alice.get("/requests").json() if r["title"] == "Many pets")
    count = PRESIGNED_FROM + 5
    at.selectbox[0].select(next(o for o in at.selectbox[0].options if request_id in o)).run()
    completes = completed_uploads(backend)
    at.file_uploader[0].set_value([(f"many{i}.png", png(1000 + i), "image/png") for i in range(count)])
    at.button[1].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert f"{count} image(s) stored, 0 skipped" in texts(at, "success")
    with backend.client("alice") as alice:
        images = alice.get(f"/requests/{request_id}/uploads").json()
    assert sorted(i["filename"] for i in images) == sorted(f"many{i}.png" for i in range(count))
    batches = -(-count // UPLOAD_BATCH)
    assert completed_uploads(backend) == completes + batches, "one /uploads/complete per batch: the presigned flow"


def completed_uploads(backend: Backend) -> float:
    """POST /uploads/complete answered 200 so far, read from the server's Prometheus counter."""
    import re

    with backend.client() as admin:
        text = admin.get("/metrics").text
    found = re.search(r'modelyard_http_requests_total\{method="POST",route="/uploads/complete",status="200"\} ([\d.]+)',
                      text)
    return float(found.group(1)) if found else 0.0


def _request_assigned_to_lena(backend: Backend, title: str) -> str:
    with backend.client("alice") as alice:
        request_id = alice.post("/requests", json={"title": title, "description": "", "classes": ["a", "b"]}).json()["id"]
        alice.post(f"/requests/{request_id}/uploads", files=[("files", ("x.png", png(999), "image/png"))])
    with backend.client() as admin:
        assert admin.post("/admin/assign", json={"request_id": request_id, "labeler_username": "lena"}).status_code == 200
    return request_id


def test_an_admin_assigns_and_the_labeler_labels_one_image_after_another(backend):
    with backend.client("alice") as alice:
        request = alice.post("/requests", json={"title": "Shapes", "description": "", "classes": ["round", "square"]})
        request_id = request.json()["id"]
        alice.post(f"/requests/{request_id}/uploads", files=[("files", (f"s{i}.png", png(100 + i), "image/png"))
                                                             for i in range(2)])
    _request_assigned_to_lena(backend, "Another")  # a second task: the choice must survive labeling
    admin = signed_in(backend, "admin")
    open_page(admin, "Assignments")
    pick(admin.selectbox[0], request_id)
    admin.selectbox[1].select("lena")
    admin.button[0].click().run()
    assert any("Shapes assigned to lena" in s for s in texts(admin, "success")), texts(admin, "success")

    at = signed_in(backend, "lena")
    open_page(at, "Label images")
    pick(at.selectbox[0], "Shapes").run()
    assert [b.label for b in at.button if b.key and b.key.startswith("class-")] == ["round", "square"]
    at.button(key="class-square").click().run()
    assert at.progress[0].value == 50
    assert at.selectbox[0].options[at.selectbox[0].index].startswith("Shapes (1/2)"), at.selectbox[0].options
    at.button(key="class-round").click().run()
    assert "Every image of this task is labeled." in texts(at, "success")

    with backend.client("alice") as alice:
        labels = alice.get(f"/requests/{request_id}/export").json()
    assert sorted(row["labels"][0] for row in labels) == ["round", "square"]


def test_an_admin_changes_settings_and_users_through_the_api(backend):
    at = signed_in(backend, "admin")
    open_page(at, "Settings")
    at.toggle[0].set_value(True).run()
    assert "Pickle uploads allowed" in texts(at, "success")
    with backend.client() as admin:
        assert admin.get("/api/settings").json()["registry"]["allowPickle"] is True
        admin.put("/api/settings", json={"registry": {"allowPickle": False}})

    open_page(at, "Users")
    at.text_input[0].input("newbie")
    at.text_input[1].input("short")
    at.button[0].click().run()
    assert texts(at, "error") and "password" in texts(at, "error")[0].lower()  # the API's 422, as a sentence
    assert not at.exception


def test_the_activity_log_pages_through_entries(backend):
    with backend.client("alice") as alice:
        for i in range(25):
            alice.post("/api/upload", files={"file": (f"tiny{i}.csv", b"x,y\n1,2\n3,4\n", "text/csv")})
    at = signed_in(backend, "admin")
    open_page(at, "Activity")

    assert len(at.dataframe[0].value) == 20
    assert len(at.get("pagination")) == 1


def test_a_form_sent_without_its_file_says_so(backend):
    at = signed_in(backend, "alice")
    assert "Choose a file first." not in texts(at, "warning")
    at.button[0].click().run()  # Upload CSV, nothing chosen

    assert "Choose a file first." in texts(at, "warning")
    assert not at.exception


def deployed_model(backend: Backend, name: str) -> str:
    """A buyers model trained and deployed by alice through the API (the page under test is elsewhere)."""
    with backend.client("alice") as alice:
        file_id = alice.post("/api/upload", files={"file": ("b.csv", buyers_csv(), "text/csv")}).json()["file_id"]
        job = alice.post("/api/train", json={"file_id": file_id, "name": name,
                                             "training_params": {"max_training_time": 5}}).json()["job_id"]
        deadline = time.monotonic() + TIMEOUT
        while (state := alice.get(f"/api/training/{job}").json())["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, state
            time.sleep(0.3)
        assert state["status"] == "completed", state
        assert alice.post(f"/api/models/{state['model_id']}/deploy").status_code == 200
        return state["model_id"]


def test_an_admin_picks_the_active_model_and_a_user_scores_a_csv_with_it(backend):
    deployed_model(backend, "scorer")
    admin = open_page(signed_in(backend, "admin"), "Settings")
    admin.selectbox[0].select("scorer")
    admin.button[0].click().run()
    assert "scorer scores CSVs (version 1)" in texts(admin, "success")

    at = open_page(signed_in(backend, "alice"), "Batch scoring")
    assert any("active model **scorer**" in c for c in texts(at, "caption")), texts(at, "caption")
    rows = b"age,income,region\n30,95000,N\n50,30000,S\n41,80000,S\n"
    at.file_uploader[0].upload("new.csv", rows, "text/csv")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]

    assert len(at.get("download_button")) == 2  # the template and the results
    results = at.dataframe[0].value
    assert list(results["prediction"]) == ["yes", "no", "no"]


def test_a_csv_that_does_not_fit_the_template_lists_its_issues(backend):
    with backend.client() as admin:
        if admin.get("/api/scoring/active-model").status_code != 200:  # run alone: no other test chose one
            deployed_model(backend, "scorer")
            assert admin.put("/api/scoring/active-model", json={"model": "scorer"}).status_code == 200
    at = open_page(signed_in(backend, "alice"), "Batch scoring")
    at.file_uploader[0].upload("bad.csv", b"age,colour\n30,red\n", "text/csv")
    at.button[0].click().run()

    assert texts(at, "error") == ["bad.csv does not fit the model's template:"]
    assert "missing_column" in set(at.dataframe[0].value["kind"])
    assert len(at.get("download_button")) == 1  # the template only


def test_a_feature_table_and_a_model_file_are_uploaded_through_forms(backend):
    import skops.io
    from sklearn.linear_model import LinearRegression

    at = open_page(signed_in(backend, "alice"), "Feature tables")
    at.text_input[0].input("customers")
    at.text_input[1].input("customer_id")
    at.file_uploader[0].upload("customers.csv", b"customer_id,spend,visits\n1,10.5,3\n2,99.0,12\n", "text/csv")
    at.button[0].click().run()
    assert "Feature table customers created" in texts(at, "success")
    assert "customers" in list(at.dataframe[0].value["name"])

    model = LinearRegression().fit([[1.0, 3.0], [99.0, 12.0], [5.0, 1.0]], [1.0, 2.0, 3.0])
    signature = b'[{"name": "spend", "type": "number"}, {"name": "visits", "type": "number"}]'
    at = open_page(at, "Upload model")
    at.text_input[0].input("spend-model")
    at.file_uploader[0].upload("model.skops", skops.io.dumps(model), "application/octet-stream")
    at.file_uploader[1].set_value([("signature.json", signature, "application/json")])
    at.selectbox[0].select("customers")
    at.button[0].click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(s.startswith("Uploaded spend-model version 1 (skops, regression)") for s in texts(at, "success")), \
        texts(at, "success") + texts(at, "error")


def test_an_ended_session_signs_out_with_a_note(backend):
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.session_state["account"] = Account(username="alice", role="user", token="not-a-token")
    at.run()

    assert any(w.startswith("Your session ended") for w in texts(at, "warning")), texts(at, "warning")
    assert "account" not in at.session_state
    assert not at.exception


def test_an_admin_retrains_the_active_scoring_model_from_the_dashboard(backend):
    """The dashboard's Retrain form: below the threshold it says so; above it, the job is followed live to the
    new version, which the API then lists."""
    with backend.client() as admin:
        file_id = admin.post("/api/upload", files={"file": ("buyers.csv", buyers_csv(300), "text/csv")}).json()["file_id"]
        job = admin.post("/api/train", json={"file_id": file_id, "name": "Scoring buyers",
                                             "training_params": {"max_training_time": 10}}).json()
        deadline = time.monotonic() + TIMEOUT
        while (status := admin.get(f"/api/training/{job['job_id']}").json())["status"] not in ("completed", "failed"):
            assert time.monotonic() < deadline, status
            time.sleep(0.3)
        assert admin.post(f"/api/models/{status['model_id']}/deploy").status_code == 200
        assert admin.put("/api/scoring/active-model", json={"model": "Scoring buyers"}).status_code == 200
    with backend.client("alice") as alice:  # 60 new labeled rows through the csv-scoring upload
        uploaded = alice.post("/upload", files={"file": ("labeled.csv", buyers_csv(60, seed=5), "text/csv")})
        assert uploaded.status_code == 200, uploaded.text

    at = signed_in(backend, "admin")
    open_page(at, "Scoring dashboard")
    threshold = next(w for w in at.number_input if w.label.startswith("Retrain when"))
    threshold.set_value(1000)
    next(b for b in at.button if b.label == "Retrain").click().run()
    assert any("1000" in t for t in texts(at, "info")), texts(at, "info")  # skipped: the API's own sentence

    next(w for w in at.number_input if w.label.startswith("Retrain when")).set_value(50)
    next(w for w in at.selectbox if w.label == "Activate the new version").select("always")
    next(b for b in at.button if b.label == "Retrain").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(t.startswith("activated: version 2") for t in texts(at, "success")), texts(at, "success")
    with backend.client() as admin:
        assert admin.get("/api/scoring/active-model").json()["deployed_version"] == 2
