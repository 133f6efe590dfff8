"""The Open Inference Protocol (KServe V2) on `modelyard serve`, driven by the reference client
(`tritonclient.http`) and by raw HTTP with the protocol's documented bodies: models trained here, uploaded
as skops, answered as the local models answer; every bad input a 4xx with the protocol's `error`."""
from __future__ import annotations

import json
import struct
from typing import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest

from tests.e2e.processes import Launcher, ModelyardProcess, bearer, login
from tests.support.registry_models import FEATURES, classifier, customers, regressor, skops_bytes

tritonclient_http = pytest.importorskip("tritonclient.http")
from tritonclient.utils import InferenceServerException  # noqa: E402

pytestmark = pytest.mark.slow
ADMIN_PASSWORD = "v2-admin-password-1"
ROWS = customers(8, seed=3)
REGIONS = ["north", "south", "east", "west"]


def mixed_classifier():
    """A pipeline with a text column (BYTES) and a number column, fitted on a frame (it knows its columns)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    rng = np.random.default_rng(5)
    frame = pd.DataFrame({"region": rng.choice(REGIONS, 200), "spend": rng.uniform(0, 100, 200)})
    target = np.where((frame.region == "north") | (frame.spend > 70), "buy", "skip")
    model = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(handle_unknown="ignore"), ["region"])],
                                                 remainder="passthrough")),
                      ("clf", LogisticRegression(max_iter=500))])
    return model.fit(frame, target)


@pytest.fixture(scope="module")
def server(module_launch: Launcher, tmp_path_factory) -> ModelyardProcess:
    home = tmp_path_factory.mktemp("home")
    return module_launch.serve({"MODELYARD_HOME": str(home), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD})


@pytest.fixture(scope="module")
def http(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60.0) as client:
        yield client


@pytest.fixture(scope="module")
def admin(http) -> dict[str, str]:
    return bearer(login(http, "admin", ADMIN_PASSWORD))


def upload(http, headers, model, name, version, deploy, signature=None):
    files = [("model_file", ("model.skops", skops_bytes(model)))]
    if signature is not None:
        files.append(("artifact_files", ("signature.json", json.dumps(signature).encode())))
    response = http.post("/upload_model", headers=headers, files=files,
                         params={"model_name": name, "model_version": version, "deployment": str(deploy)})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def models(http, admin):
    """amount (regression: versions 1 deployed, 2 only trained), tier (classifier), mixed (text + number)."""
    made = {"amount": regressor(), "tier": classifier(), "mixed": mixed_classifier()}
    upload(http, admin, made["amount"], "amount", "1", True)
    upload(http, admin, regressor(customers(40, seed=9)), "amount", "2", False)
    upload(http, admin, made["tier"], "tier", "v1", True)
    upload(http, admin, made["mixed"], "mixed", "1", True,
           signature=[{"name": "region", "type": "string"}, {"name": "spend", "type": "number"}])
    return made


@pytest.fixture
def triton(server, admin) -> Iterator[tritonclient_http.InferenceServerClient]:
    """The reference client; give it `dict(admin)`: it adds its own headers to the dict it is given."""
    client = tritonclient_http.InferenceServerClient(server.url.removeprefix("http://"), network_timeout=60.0)
    try:
        yield client
    finally:
        client.close()


def column_inputs(frame: pd.DataFrame, *, binary: bool, datatype: str = "FP32"):
    inputs = []
    for name in FEATURES:
        tensor = tritonclient_http.InferInput(name, [len(frame), 1], datatype)
        tensor.set_data_from_numpy(frame[[name]].to_numpy().astype(np.float32 if datatype == "FP32" else np.float64),
                                   binary_data=binary)
        inputs.append(tensor)
    return inputs


# tritonclient ------------------------------------------------------------------------------------------------


def test_tritonclient_reads_health_server_and_model_metadata(triton, admin, models):
    assert triton.is_server_live(headers=dict(admin)) and triton.is_server_ready(headers=dict(admin))
    server = triton.get_server_metadata(headers=dict(admin))
    assert server["name"] == "modelyard" and "binary_tensor_data" in server["extensions"]
    meta = triton.get_model_metadata("amount", headers=dict(admin))
    assert meta["name"] == "amount" and meta["versions"] == ["1", "2"] and meta["platform"] == "sklearn_skops"
    assert [(i["name"], i["datatype"], i["shape"]) for i in meta["inputs"]] == [(f, "FP64", [-1]) for f in FEATURES]
    assert meta["outputs"] == [{"name": "prediction", "datatype": "FP64", "shape": [-1]}]
    tier = triton.get_model_metadata("tier", model_version="v1", headers=dict(admin))
    assert [(o["name"], o["datatype"], o["shape"]) for o in tier["outputs"]] == [
        ("prediction", "BYTES", [-1]), ("probabilities", "FP64", [-1, 2]), ("classes", "BYTES", [2])]
    mixed = triton.get_model_metadata("mixed", headers=dict(admin))
    assert [(i["name"], i["datatype"]) for i in mixed["inputs"]] == [("region", "BYTES"), ("spend", "FP64")]
    assert triton.is_model_ready("amount", headers=dict(admin))
    assert triton.is_model_ready("amount", "1", headers=dict(admin))
    assert not triton.is_model_ready("amount", "2", headers=dict(admin))  # trained, not deployed
    assert not triton.is_model_ready("no-such-model", headers=dict(admin))


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_infers_a_regression_as_the_local_model_does(triton, admin, models, binary):
    outputs = [tritonclient_http.InferRequestedOutput("prediction", binary_data=binary)]
    result = triton.infer("amount", column_inputs(ROWS, binary=binary), model_version="1", request_id="r-1",
                          outputs=outputs, headers=dict(admin))
    expected = models["amount"].predict(ROWS[FEATURES].astype(np.float32).astype(np.float64))
    assert result.as_numpy("prediction").shape == (len(ROWS),)
    assert np.allclose(result.as_numpy("prediction"), expected, rtol=1e-9, atol=1e-9)
    response = result.get_response()
    assert response["model_name"] == "amount" and response["model_version"] == "1" and response["id"] == "r-1"


def test_tritonclient_gets_every_classifier_output_as_binary_by_default(triton, admin, models):
    result = triton.infer("tier", column_inputs(ROWS, binary=True, datatype="FP64"), headers=dict(admin))
    model = models["tier"]
    labels = result.as_numpy("classes").astype(str).tolist()
    assert labels == [str(c) for c in model.classes_]
    assert np.allclose(result.as_numpy("probabilities"), model.predict_proba(ROWS[FEATURES]), atol=1e-9)
    assert result.as_numpy("prediction").astype(str).tolist() == model.predict(ROWS[FEATURES]).tolist()
    assert all(o["parameters"]["binary_data_size"] > 0 for o in result.get_response()["outputs"])
    assert result.get_response()["model_version"] == "v1"  # the deployed version, by its label


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_sends_text_as_bytes(triton, admin, models, binary):
    regions = np.array([["north"], ["south"], ["west"], ["east"]], dtype=object)
    spend = np.array([[10.0], [90.0], [20.0], [75.0]])
    region = tritonclient_http.InferInput("region", [4, 1], "BYTES")
    region.set_data_from_numpy(regions, binary_data=binary)
    amount = tritonclient_http.InferInput("spend", [4, 1], "FP64")
    amount.set_data_from_numpy(spend, binary_data=binary)
    result = triton.infer("mixed", [region, amount], headers=dict(admin),
                          outputs=[tritonclient_http.InferRequestedOutput("prediction", binary_data=binary)])
    local = models["mixed"].predict(pd.DataFrame({"region": regions[:, 0], "spend": spend[:, 0]}))
    assert result.as_numpy("prediction").astype(str).tolist() == local.tolist()


def test_one_matrix_stands_for_numeric_columns_in_signature_order(triton, admin, models):
    matrix = tritonclient_http.InferInput("input__0", [len(ROWS), len(FEATURES)], "FP64")
    matrix.set_data_from_numpy(ROWS[FEATURES].to_numpy(dtype=np.float64))
    result = triton.infer("amount", [matrix], headers=dict(admin))
    assert np.allclose(result.as_numpy("prediction"), models["amount"].predict(ROWS[FEATURES]), atol=1e-9)


def test_tritonclient_sees_the_protocols_errors(triton, server, admin, models):
    with pytest.raises(InferenceServerException) as refused:
        triton.infer("amount", column_inputs(ROWS, binary=True)[:2], headers=dict(admin))
    assert refused.value.status() == "400" and "missing input(s): tenure" in refused.value.message()
    with pytest.raises(InferenceServerException) as refused:
        triton.infer("amount", column_inputs(ROWS, binary=True), model_version="2", headers=dict(admin))
    assert refused.value.status() == "409" and "not deployed" in refused.value.message()
    with pytest.raises(InferenceServerException) as refused:
        triton.get_model_metadata("amount", model_version="7", headers=dict(admin))
    assert refused.value.status() == "404" and "amount version 7" in refused.value.message()
    with pytest.raises(InferenceServerException) as refused:
        triton.infer("amount", column_inputs(ROWS, binary=True))  # no credential
    assert refused.value.status() == "401"


# raw HTTP: the protocol's documented bodies ----------------------------------------------------------------------


def test_the_specifications_example_request_is_refused_with_its_error_object(http, admin, models):
    example = {"id": "42", "inputs": [{"name": "input0", "shape": [2, 2], "datatype": "UINT32", "data": [1, 2, 3, 4]},
                                      {"name": "input1", "shape": [3], "datatype": "BOOL", "data": [True]}],
               "outputs": [{"name": "output0"}]}
    steps = [("input 'input1': shape [3] holds 3 values, data has 1", dict(data=[True, False, True])),
             ("inputs disagree on the batch size (their first dimension): input0 [2, 2], input1 [3]",
              dict(shape=[2], data=[True, False])),
             ("unknown input(s) 'input0', 'input1'; the model's inputs are spend, visits, tenure", {})]
    for message, fix in steps:  # the example as written, then with each refusal fixed in turn
        response = http.post("/v2/models/amount/infer", json=example, headers=admin)
        assert response.status_code == 400
        assert response.json()["error"].startswith(message), response.json()["error"]
        example["inputs"][1].update(fix)


def test_the_specifications_example_shape_answers_for_our_model(http, admin, models):
    body = {"id": "42", "inputs": [{"name": name, "shape": [2, 1], "datatype": "FP64",
                                    "data": [[float(ROWS[name][0])], [float(ROWS[name][1])]]} for name in FEATURES],
            "outputs": [{"name": "prediction"}]}
    response = http.post("/v2/models/amount/versions/1/infer", json=body, headers=admin)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["id"] == "42" and answer["model_name"] == "amount" and answer["model_version"] == "1"
    (output,) = answer["outputs"]
    assert output["name"] == "prediction" and output["shape"] == [2] and output["datatype"] == "FP64"
    assert np.allclose(output["data"], models["amount"].predict(ROWS[FEATURES].head(2)), atol=1e-9)


def test_health_metadata_and_ready_answer_the_documented_objects(http, admin, models):
    assert http.get("/v2/health/live", headers=admin).json() == {"live": True}
    assert http.get("/v2/health/ready", headers=admin).json() == {"ready": True}
    assert set(http.get("/v2", headers=admin).json()) == {"name", "version", "extensions"}
    assert http.get("/v2/models/tier/versions/v1/ready", headers=admin).json() == {"name": "tier", "ready": True}
    assert http.get("/v2/models/tier/versions/1/ready", headers=admin).status_code == 200  # the number, too
    assert set(http.get("/v2/models/tier", headers=admin).json()) == {"name", "versions", "platform", "inputs",
                                                                       "outputs"}
    for path in ("/v2", "/v2/health/live", "/v2/models/tier"):
        assert http.get(path).status_code == 401


BAD = [
    ("wrong datatype", [("spend", [2], "BYTES", ["1", "2"])], "is a number column: datatype FP64"),
    ("data is not of its datatype", [("spend", [2], "FP32", [1.0, "2"])], "datatype FP32 does not match its data"),
    ("bool is not an integer", [("spend", [2], "INT64", [1, True])], "datatype INT64 does not match its data"),
    ("out of range", [("spend", [2], "INT8", [1, 300])], "out of the range of INT8"),
    ("shape and data disagree", [("spend", [3], "FP64", [1.0, 2.0])], "shape [3] holds 3 values, data has 2"),
    ("a column of width 2", [("spend", [1, 2], "FP64", [1.0, 2.0])], "shape [N] or [N, 1]"),
    ("three dimensions", [("spend", [1, 1, 1], "FP64", [1.0])], "shape must be [N] or [N, columns]"),
    ("an empty batch", [("spend", [0], "FP64", [])], "the batch (first dimension) is empty"),
    ("unsupported datatype", [("spend", [1], "BF16", [1.0])], "datatype 'BF16' is not supported"),
    ("a matrix of the wrong width", [("x", [1, 2], "FP64", [1.0, 2.0])], "one column per model input (3"),
]


@pytest.mark.parametrize("case, tensors, message", BAD, ids=[b[0] for b in BAD])
def test_bad_tensors_are_400_with_the_protocols_error(http, admin, models, case, tensors, message):
    given = {t[0] for t in tensors}
    batch = max(tensors[0][1][0], 1)
    rest = [(f, [batch], "FP64", [1.0] * batch) for f in FEATURES if f not in given and not case.startswith("a matrix")]
    body = {"inputs": [{"name": n, "shape": s, "datatype": d, "data": v} for n, s, d, v in tensors + rest]}
    response = http.post("/v2/models/amount/infer", json=body, headers=admin)
    assert response.status_code == 400, response.text
    assert message in response.json()["error"], response.json()["error"]
    assert response.json()["code"] in ("INVALID_TENSOR", "INVALID_JSON")


def test_other_refusals_name_what_is_wrong(http, admin, models):
    ok = {"inputs": [{"name": f, "shape": [1], "datatype": "FP64", "data": [1.0]} for f in FEATURES]}
    cases = [
        ("/v2/models/amount/infer", {**ok, "outputs": [{"name": "probabilities"}]}, 400, "unknown output(s)"),
        ("/v2/models/mixed/infer", {"inputs": [{"name": "x", "shape": [1, 2], "datatype": "FP64", "data": [1, 2]}]},
         400, "region are not"),
        ("/v2/models/no-such/infer", ok, 404, "model no-such not found"),
        ("/v2/models/amount/versions/9/infer", ok, 404, "model amount version 9 not found"),
        ("/v2/models/amount/versions/2/infer", ok, 409, "is trained, not deployed"),
        ("/v2/models/amount/infer", {"inputs": []}, 400, "inputs must be a non-empty list"),
        ("/v2/models/amount/infer", {**ok, "id": 42}, 400, "id must be a string"),
    ]
    for path, body, status, message in cases:
        response = http.post(path, json=body, headers=admin)
        assert response.status_code == status, (path, response.text)
        assert message in response.json()["error"], (path, response.json()["error"])
    response = http.get("/v2/models/" + "m" * 101, headers=admin)
    assert response.status_code == 422
    assert response.json()["error"] == "invalid request: model_name: String should have at most 100 characters"
    response = http.post("/v2/models/amount/infer", content=b'{"inputs": [', headers=admin)
    assert response.status_code == 400 and response.json()["error"] == "the inference request is not valid JSON"


def test_binary_tensor_data_is_checked_against_its_declared_size(http, admin, models):
    header = {"inputs": [{"name": f, "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}}
                         for f in FEATURES]}
    text = json.dumps(header).encode()
    good = text + np.arange(6, dtype="<f4").tobytes()
    response = http.post("/v2/models/amount/infer", content=good,
                         headers={**admin, "Inference-Header-Content-Length": str(len(text))})
    assert response.status_code == 200, response.text
    expected = models["amount"].predict(pd.DataFrame(np.arange(6, dtype=np.float64).reshape(3, 2).T,
                                                     columns=FEATURES))
    assert np.allclose(response.json()["outputs"][0]["data"], expected, atol=1e-6)
    short = text + np.arange(5, dtype="<f4").tobytes()
    response = http.post("/v2/models/amount/infer", content=short,
                         headers={**admin, "Inference-Header-Content-Length": str(len(text))})
    assert response.status_code == 400 and "beyond the binary data sent" in response.json()["error"]
    bad_text = json.dumps({"inputs": [{"name": "region", "shape": [1], "datatype": "BYTES",
                                       "parameters": {"binary_data_size": 6}},
                                      {"name": "spend", "shape": [1], "datatype": "FP64", "data": [1.0]}]}).encode()
    response = http.post("/v2/models/mixed/infer", content=bad_text + struct.pack("<I", 2) + b"\xff\xfe",
                         headers={**admin, "Inference-Header-Content-Length": str(len(bad_text))})
    assert response.status_code == 400 and "is not UTF-8 text" in response.json()["error"]


def test_another_users_model_is_not_found_and_predictions_are_counted(http, admin, models):
    created = http.post("/admin/users", headers=admin, json={"username": "v2-other", "password": "v2-other-password",
                                                             "role": "user"})
    assert created.status_code in (200, 201), created.text
    other = bearer(login(http, "v2-other", "v2-other-password"))
    ok = {"inputs": [{"name": f, "shape": [1], "datatype": "FP64", "data": [1.0]} for f in FEATURES]}
    assert http.post("/v2/models/amount/infer", json=ok, headers=other).status_code == 404
    assert http.get("/v2/models/amount", headers=other).status_code == 404

    def predicted() -> float:
        text = http.get("/metrics").text
        line = next((l for l in text.splitlines() if l.startswith("modelyard_predictions_total{")
                     and 'model="amount"' in l and 'version="1"' in l), None)
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    before = predicted()
    assert http.post("/v2/models/amount/infer", json=ok, headers=admin).status_code == 200
    assert predicted() == before + 1  # recorded by the pipeline, as every predict path is


def test_an_identical_request_is_answered_from_the_prediction_cache_and_both_are_logged(http, admin, models):
    body = {"inputs": [{"name": f, "shape": [2], "datatype": "FP64", "data": [4.5, 6.5]} for f in FEATURES]}
    first = http.post("/v2/models/tier/infer", json=body, headers=admin).json()
    again = http.post("/v2/models/tier/versions/v1/infer", json=body, headers=admin).json()
    assert "parameters" not in first  # predicted; the user's own model costs no credits
    assert isinstance(again["parameters"]["cached_at"], int)
    assert again["outputs"] == first["outputs"]
    frame = pd.DataFrame([[4.5] * 3, [6.5] * 3], columns=FEATURES)
    assert first["outputs"][0]["data"] == models["tier"].predict(frame).tolist()
    exported = http.get("/api/enterprise/export/predictions", params={"format": "json", "model": "tier"},
                        headers=admin)
    assert exported.status_code == 200, exported.text
    logged = sorted((row for row in exported.json() if row["rows"] == 2), key=lambda row: row["timestamp"])[-2:]
    confidence = round(float(models["tier"].predict_proba(frame).max(axis=1).mean()), 6)
    assert [(row["cached"], row["status"], row["prediction_summary"]) for row in logged] == [
        (False, "success", first["outputs"][0]["data"][0]), (True, "success", first["outputs"][0]["data"][0])]
    assert all(row["confidence"] == pytest.approx(confidence, abs=1e-6) for row in logged)
