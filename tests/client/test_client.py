"""modelyard.client against a real server: sign-in, files with progress, jobs, DataFrames, scoring, refusals."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest

from modelyard.client import Client, JobFailed, ModelyardError, Unreachable
from tests.support.datasets import buyers, to_csv
from tests.support.registry_models import FEATURES, customers, regressor, skops_bytes
from tests.support.servers import free_port
from tests.ui.conftest import png

pytestmark = pytest.mark.slow

BUDGET = 5  # seconds of model search per training (the server's minimum)


@pytest.fixture(scope="module")
def alice(backend) -> Client:
    """Alice (role user) signed in with an API key she made after a password login."""
    with Client.from_login(backend.url, "alice", backend.passwords["alice"]) as session:
        key = session.create_api_key("client tests")["api_key"]
    client = Client(backend.url, api_key=key)
    yield client
    client.close()


@pytest.fixture(scope="module")
def admin(backend) -> Client:
    client = Client.from_login(backend.url, "admin", backend.passwords["admin"])
    yield client
    client.close()


@pytest.fixture(scope="module")
def trained(alice, tmp_path_factory) -> dict:
    """Alice's buyers model, trained, followed and deployed once for the module."""
    path = tmp_path_factory.mktemp("data") / "buyers.csv"
    path.write_bytes(to_csv(buyers(300)))
    sent: list[tuple[int, int | None]] = []
    dataset = alice.upload_dataset_file(path, on_progress=lambda done, total: sent.append((done, total)))
    states = []
    training = alice.train_and_wait(dataset["file_id"], target="will_buy", budget=BUDGET, name="buyers",
                                    on_progress=states.append, timeout=180)
    alice.deploy(training["model_id"])
    return {"dataset": dataset, "path": path, "sent": sent, "states": states, "training": training}


def test_an_api_key_session_is_the_user_who_made_the_key(alice):
    assert alice.me()["username"] == "alice"
    assert any(k["name"] == "client tests" for k in alice.api_keys())


def test_a_dataset_upload_reports_its_bytes_and_training_reports_progress_to_the_end(trained):
    size = trained["path"].stat().st_size
    assert trained["dataset"]["rows"] == 300
    assert trained["sent"][-1] == (size, size)
    states = trained["states"]
    assert states[-1].status == "completed" and states[-1].progress == 100
    progress = [s.progress for s in states]
    assert progress == sorted(progress) and len(states) >= 2, progress
    assert trained["training"]["model_id"] and "accuracy" in trained["training"]["metrics"]


def test_a_dataframe_in_gives_predictions_on_the_same_index_out(alice, trained):
    frame = buyers(7, seed=5).drop(columns="will_buy")
    frame.index = [10, 11, 12, 13, 14, 15, 16]
    frame.loc[12, "age"] = np.nan  # a missing value travels as null
    out = alice.predict_frame(trained["training"]["model_id"], frame, chunk_rows=3)  # three requests
    assert list(out.index) == list(frame.index)
    assert set(out["prediction"]) <= {"yes", "no"}
    assert {"confidence", "probability_yes", "probability_no"} <= set(out.columns)
    assert np.allclose(out["probability_yes"] + out["probability_no"], 1.0)
    by_name = alice.predict_frame("buyers", frame)  # the name resolves to its deployed version
    assert list(by_name["prediction"]) == list(out["prediction"])


def test_a_refusal_carries_the_servers_status_code_and_message(alice):
    with pytest.raises(ModelyardError) as refused:
        alice.predict_frame("no-such-model", pd.DataFrame({"a": [1]}))
    assert refused.value.status == 404
    assert refused.value.code == "MODEL_NOT_FOUND"
    assert "no-such-model" in refused.value.message
    assert refused.value.request_id


def test_a_wrong_password_is_refused_with_401(backend):
    with pytest.raises(ModelyardError) as refused:
        Client.from_login(backend.url, "alice", "not-her-password")
    assert refused.value.status == 401


def test_users_cannot_read_the_admins_user_list(alice):
    with pytest.raises(ModelyardError) as refused:
        alice.users()
    assert refused.value.status == 403 and refused.value.code == "INSUFFICIENT_PERMISSIONS"


def test_a_server_that_is_not_there_is_unreachable_with_status_0():
    client = Client(f"http://127.0.0.1:{free_port()}", api_key="whatever")
    with pytest.raises(Unreachable) as failed:
        client.me()
    assert failed.value.status == 0 and "cannot reach" in failed.value.message


def test_a_failed_job_raises_job_failed_with_the_servers_reason(admin):
    job = admin._json("POST", "/admin/diagnostics", json={"seconds": 0.5, "fail": True})
    with pytest.raises(JobFailed) as failed:
        admin.wait_job(job["job_id"], timeout=60)
    assert failed.value.job.status == "failed"
    assert failed.value.job.error and failed.value.job.error in failed.value.message


def test_a_file_is_scored_into_a_file_with_progress_on_upload_job_and_download(alice, admin, trained, tmp_path):
    admin.set_active_model("buyers")
    rows = buyers(250, seed=9)
    source = tmp_path / "batch.csv"
    source.write_bytes(to_csv(rows))
    uploads, states, downloads = [], [], []
    result = alice.score_file(source, tmp_path / "out" / "scored.csv", timeout=120,
                              on_upload=lambda d, t: uploads.append((d, t)), on_job=states.append,
                              on_download=lambda d, t: downloads.append((d, t)))
    scored = pd.read_csv(tmp_path / "out" / "scored.csv")
    assert len(scored) == 250 and result["rows"] == 250
    assert result["model_id"] == trained["training"]["model_id"]
    assert uploads[-1] == (source.stat().st_size, source.stat().st_size)
    assert states[-1].status == "completed"
    assert downloads[-1][0] == (tmp_path / "out" / "scored.csv").stat().st_size
    assert not list((tmp_path / "out").glob("*.part"))


def test_large_results_are_fetched_through_the_signed_url_the_server_hands_out(alice, admin, trained, tmp_path):
    admin.set_active_model("buyers")
    admin.update_settings({"scoring": {"inlineResultsMaxMB": 0}})  # every result is "large"
    try:
        source = tmp_path / "batch.csv"
        source.write_bytes(to_csv(buyers(30, seed=2)))
        downloads = []
        alice.score_file(source, tmp_path / "scored.csv", timeout=120, on_download=lambda d, t: downloads.append(t))
    finally:
        admin.update_settings({"scoring": {"inlineResultsMaxMB": 20}})
    assert len(pd.read_csv(tmp_path / "scored.csv")) == 30
    assert downloads[-1] == (tmp_path / "scored.csv").stat().st_size  # a signed blob URL sends its length


def test_a_file_that_fails_validation_is_refused_and_nothing_is_written(alice, admin, trained, tmp_path):
    admin.set_active_model("buyers")
    source = tmp_path / "wrong.csv"
    source.write_text("colour,size\nred,3\n")
    with pytest.raises(ModelyardError) as refused:
        alice.score_file(source, tmp_path / "scored.csv")
    assert 400 <= refused.value.status < 500 and refused.value.code
    assert not (tmp_path / "scored.csv").exists()


def test_an_uploaded_model_file_is_listed_and_predicts(alice, tmp_path):
    path = tmp_path / "spend.skops"
    path.write_bytes(skops_bytes(regressor()))
    uploaded = alice.upload_model_file(path, name="spend", version="1.0", deploy=True)
    assert uploaded["model_name"] == "spend"
    names = [m["name"] for m in alice.models()["models"]]
    assert "spend" in names
    out = alice.predict_frame("spend", customers(4)[FEATURES])
    assert len(out) == 4 and out["prediction"].dtype.kind == "f"


def test_a_feature_table_is_created_from_a_file_and_listed(alice, tmp_path):
    path = tmp_path / "customers.csv"
    customers(20).to_csv(path, index=False)
    made = alice.create_feature_table_file(path, name="customers", key_columns=["customer_id", "purchase_date_id"])
    assert made["name"] == "customers"
    assert "customers" in [t["name"] for t in alice.feature_tables()]


def labeled_request(backend, alice: Client, admin: Client, tmp_path) -> dict:
    """Alice's request with two images, assigned to lena, who labels the first one `cat`."""
    request = alice.create_request("pets", "cats or dogs", ["cat", "dog"])
    paths = []
    for seed in range(2):
        paths.append(tmp_path / f"img{seed}.png")
        paths[-1].write_bytes(png(seed))
    alice.upload_image_files(request["id"], paths)
    admin.assign(request["id"], "lena")
    with Client.from_login(backend.url, "lena", backend.passwords["lena"]) as lena:
        task = next(t for t in lena.tasks() if t["request_id"] == request["id"])
        image = lena.task(task["id"])["images"][0]
        lena.save_labels(task["id"], image["image_id"], ["cat"])
    return {"request": request, "image_id": image["image_id"]}


def test_a_labeling_request_takes_images_and_exports_its_labels(backend, alice, admin, tmp_path):
    made = labeled_request(backend, alice, admin, tmp_path)
    assert len(alice.images(made["request"]["id"])) == 2
    exported = pd.read_csv(io.BytesIO(alice.export_labels(made["request"]["id"], "csv")))
    assert list(exported["image_id"]) == [made["image_id"]]
    assert list(exported["labels"]) == ["cat"] and list(exported["labeler"]) == ["lena"]


def test_an_admin_creates_and_lists_users(admin):
    admin.create_user("carol", "carol-password-1", "user")
    assert "carol" in [u["username"] for u in admin.users()]
