"""Input drift per feature: a model trained here keeps its training reference; its inputs are counted by the
prediction log's writer; `/monitoring/api/models` and `/api/enterprise/status/models` show the population
stability index per feature; the `feature_drift` alert rule opens on shifted inputs."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelyard.ops import alerts, drift
from tests.api.test_mlops_flow import train, upload
from tests.support.datasets import buyers


def model_drift(client, account, name: str) -> dict | None:
    response = client.get("/monitoring/api/models", headers=account.headers)
    assert response.status_code == 200, response.text
    return response.json()["models"][name]["drift"]


@pytest.fixture
def deployed(client, accounts) -> str:
    """The buyers classifier trained through the API (immediate jobs) and deployed; its version id."""
    user = accounts["user"]
    job = train(client, user, upload(client, user, buyers(600))["file_id"], name="Buyers")
    status = client.get(f"/api/training/{job['job_id']}", headers=user.headers).json()
    assert status["status"] == "completed", status
    assert client.post(f"/api/models/{status['model_id']}/deploy", headers=user.headers).status_code == 200
    return status["model_id"]


def predict(client, account, rows: list[dict]) -> None:
    for start in range(0, len(rows), 100):
        response = client.post("/api/predict/Buyers", json={"data": rows[start:start + 100]}, headers=account.headers)
        assert response.status_code == 200, response.text


def records(frame: pd.DataFrame) -> list[dict]:
    return [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
            for row in frame.drop(columns="will_buy").to_dict("records")]


def test_inputs_like_the_training_data_are_stable_and_shifted_ones_drift_and_alert(client, app, accounts, deployed):
    user, admin, other = accounts["user"], accounts["admin"], accounts["other"]
    version = client.get(f"/api/models/{deployed}", headers=user.headers).json()
    reference = version["training_data"]["reference"]
    assert set(reference) == {"age", "income", "region", "purchases"}
    assert reference["region"]["kind"] == "category" and reference["income"]["kind"] == "number"
    assert model_drift(client, user, "Buyers")["status"] == "not measured", "no inputs counted yet"

    predict(client, user, records(buyers(600, seed=7)))  # the same distribution, other rows
    stable = model_drift(client, user, "Buyers")
    assert stable["rows"] == 600 and stable["status"] == "stable", stable
    assert set(stable["features"]) == set(reference) and stable["max_psi"] < drift.MODERATE

    shifted = buyers(600, seed=8)
    shifted["income"] = shifted["income"] + 150_000  # every income above anything seen in training
    shifted["region"] = "south"
    predict(client, user, records(shifted))
    moved = model_drift(client, user, "Buyers")
    assert moved["rows"] == 1200 and moved["status"] == "significant", moved
    assert moved["features"]["income"] > drift.SIGNIFICANT and moved["features"]["region"] > drift.SIGNIFICANT
    assert moved["features"]["purchases"] < drift.MODERATE, "a feature that did not move stays low"
    assert moved["worst_feature"] in ("income", "region")

    status = client.get("/api/enterprise/status/models", headers=admin.headers).json()
    assert status["models"]["Buyers"]["drift"]["features"] == moved["features"], "one computation, two routes"
    assert client.get("/monitoring/api/models", headers=other.headers).json()["models"].get("Buyers") is None

    assert client.put("/api/settings", json={"alerts": {"minCalls": 1000, "driftPsi": 0.25, "driftMinRows": 500}},
                      headers=admin.headers).status_code == 200
    assert alerts.evaluate(app.state.runtime)["opened"] == 1
    alert = client.get("/monitoring/api/alerts", headers=user.headers).json()["alerts"][0]
    assert (alert["rule"], alert["model"], alert["threshold"]) == ("feature_drift", "Buyers", 0.25)
    assert alert["value"] == moved["max_psi"] and moved["worst_feature"] in alert["message"]


def test_csv_scoring_chunks_are_counted_too(client, app, accounts, deployed):
    """A DataFrame chunk (batch scoring) goes through the same counting as JSON rows."""
    runtime, user = app.state.runtime, accounts["user"]
    version = runtime.predictions.version(deployed)
    frame = buyers(300, seed=3).drop(columns="will_buy")
    runtime.predictions.predict_frame(version, frame, user_id=user.id)
    seen = model_drift(client, user, "Buyers")
    assert seen["rows"] == 300 and seen["status"] == "stable", seen


def test_a_model_without_a_training_reference_says_it_is_not_measured(client, accounts):
    from tests.api.test_model_registry import upload as upload_model
    from tests.support.registry_models import customers, lightgbm_text

    user = accounts["user"]
    upload_model(client, user, lightgbm_text(customers(60)), name="imported", filename="model.txt", deployment="True")
    client.post("/api/predict/imported", json={"data": [{"spend": 1.0, "visits": 2, "tenure": 1.0}]},
                headers=user.headers)
    seen = model_drift(client, user, "imported")
    assert seen["status"] == "not measured" and "no training reference" in seen["reason"]


def test_psi_of_the_reference_itself_is_zero_and_grows_with_the_shift():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(0, 1, 5000), "c": rng.choice(list("abc"), 5000)})
    ref = drift.reference(frame, ["x", "c", "missing-column"])
    assert set(ref) == {"x", "c"} and len(ref["x"]["expected"]) == len(ref["x"]["edges"]) + 2
    assert abs(sum(ref["x"]["expected"]) - 1) < 1e-3
    same = drift.count(ref, frame)  # the first SAMPLE_ROWS rows
    assert sum(same["x"]) == drift.SAMPLE_ROWS and drift.psi(ref["x"]["expected"], same["x"]) < 0.02
    values = [drift.psi(ref["x"]["expected"], drift.count(ref, [{"x": v} for v in rng.normal(shift, 1, 1000)])["x"])
              for shift in (0.0, 0.5, 1.0, 2.0)]
    assert values == sorted(values) and values[0] < drift.MODERATE < drift.SIGNIFICANT < values[-1]
    unseen = drift.count(ref, [{"x": None, "c": "zzz"}, {"x": "not a number", "c": None}])
    assert unseen["x"][-1] == 2, "missing and unreadable numbers count as missing"
    assert unseen["c"][-2:] == [1, 1], "an unseen category counts as other, None as missing"
    assert drift.psi(ref["x"]["expected"], [0] * len(ref["x"]["expected"])) is None
