"""The model-registry contract through the app: upload, download, deploy, safe formats, inference."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.support.registry_models import (
    FEATURES, classifier, customers, external_data_onnx, file_creating_pickle, joblib_bytes, lightgbm_text,
    onnx_bytes, regressor, signature_json, skops_bytes, to_csv, unloadable_onnx, unpredictable_onnx,
    untrusted_skops, xgboost_bytes,
)

CONFIG = ("config.json", json.dumps({"threshold": 0.5}).encode(), "application/json")


@pytest.fixture(scope="module")
def frame():
    return customers()


@pytest.fixture(scope="module")
def model(frame):
    return regressor(frame)


@pytest.fixture(scope="module")
def skops_file(model):
    return skops_bytes(model)


def upload(client, account, data, *, name="test_model", version="1", filename="model.skops", artifacts=(),
           expect=200, **params):
    files = [("model_file", (filename, data, "application/octet-stream"))]
    files += [("artifact_files", artifact) for artifact in artifacts]
    query = {"model_name": name, "model_version": version, **params}
    response = client.post("/upload_model", params=query, files=files, headers=account.headers)
    assert response.status_code == expect, response.text
    return response.json()


def feature_table(client, account, frame, name="customers", keys="customer_id,purchase_date_id", expect=201):
    response = client.post("/api/feature-tables", params={"name": name, "key_columns": keys},
                           files={"file": (f"{name}.csv", to_csv(frame), "text/csv")}, headers=account.headers)
    assert response.status_code == expect, response.text
    return response.json()


def model_count(app) -> int:
    from sqlalchemy import func, select

    from modelyard.registry.models import ModelVersion, RegisteredModel

    with app.state.runtime.db.session() as session:
        return session.scalar(select(func.count()).select_from(ModelVersion)) + \
            session.scalar(select(func.count()).select_from(RegisteredModel))


# Upload and download ---------------------------------------------------------------------------------------


def test_a_skops_upload_with_an_artifact_answers_the_contract_fields(client, accounts, skops_file):
    body = upload(client, accounts["user"], skops_file, artifacts=[CONFIG], model_description="A test model.",
                  deployment="True")
    assert body["model_path"] == "test_model/1/model.skops"
    assert body["artifact_paths"] == ["test_model/1/artifacts/config.json"]
    assert body["status"] == "deployed"
    assert body["format"] == "skops" and body["task"] == "regression"
    assert [f["name"] for f in body["signature"]] == FEATURES
    assert body["model_id"].startswith("reg_") and body["model_version_id"].startswith("model_")


def test_the_model_id_of_an_upload_reads_and_deploys_its_newest_version(client, accounts, skops_file):
    user = accounts["user"]
    first = upload(client, user, skops_file)
    second = upload(client, user, skops_file, version="2")
    assert first["model_id"] == second["model_id"]
    shown = client.get(f"/api/models/{second['model_id']}", headers=user.headers)
    assert shown.status_code == 200 and shown.json()["id"] == second["model_version_id"]
    deployed = client.post(f"/api/models/{second['model_id']}/deploy", headers=user.headers)
    assert deployed.status_code == 200, deployed.text
    assert deployed.json()["model_id"] == second["model_version_id"]
    assert deployed.json()["status"] == "deployed"


def test_archive_and_delete_need_a_version_id_and_say_so(client, accounts, skops_file):
    user = accounts["user"]
    body = upload(client, user, skops_file)
    for method, path in (("POST", f"/api/models/{body['model_id']}/archive"), ("DELETE", f"/api/models/{body['model_id']}")):
        response = client.request(method, path, headers=user.headers)
        assert response.status_code == 404
        assert "model_version_id" in response.json()["message"]
    assert client.get(f"/api/models/{body['model_version_id']}", headers=user.headers).json()["status"] == "trained"


def test_another_users_registered_model_id_is_not_found(client, accounts, skops_file):
    body = upload(client, accounts["user"], skops_file)
    response = client.get(f"/api/models/{body['model_id']}", headers=accounts["other"].headers)
    assert response.status_code == 404 and response.json()["code"] == "MODEL_NOT_FOUND"
    assert client.post(f"/api/models/{body['model_id']}/deploy", headers=accounts["other"].headers).status_code == 404


def test_the_model_file_and_each_artifact_download_byte_for_byte(client, accounts, skops_file):
    user = accounts["user"]
    upload(client, user, skops_file, artifacts=[CONFIG])
    response = client.get("/get_model", params={"model_name": "test_model", "model_version": "1"}, headers=user.headers)
    assert response.status_code == 200
    assert response.content == skops_file
    assert 'filename="model.skops"' in response.headers["content-disposition"]
    artifact = client.get("/get_model", params={"model_name": "test_model", "model_version": "1",
                                                "artifact": "config.json"}, headers=user.headers)
    assert artifact.status_code == 200 and artifact.content == CONFIG[1]


def test_a_missing_version_or_artifact_is_404(client, accounts, skops_file):
    user = accounts["user"]
    upload(client, user, skops_file)
    for params in ({"model_name": "test_model", "model_version": "9"}, {"model_name": "nope", "model_version": "1"},
                   {"model_name": "test_model", "model_version": "1", "artifact": "missing.json"}):
        response = client.get("/get_model", params=params, headers=user.headers)
        assert response.status_code == 404, params
        assert response.json()["code"] == "MODEL_NOT_FOUND"


def test_uploading_a_version_that_exists_is_409_and_changes_nothing(client, accounts, app, skops_file):
    user = accounts["user"]
    upload(client, user, skops_file)
    before = model_count(app)
    response = upload(client, user, onnx_bytes(regressor()), filename="other.onnx", expect=409)
    assert "already has a version" in response["message"]
    assert model_count(app) == before
    download = client.get("/get_model", params={"model_name": "test_model", "model_version": "1"},
                          headers=user.headers)
    assert download.content == skops_file


def test_deploying_a_new_version_makes_it_the_one_the_name_resolves_to(client, accounts, skops_file, model):
    user = accounts["user"]
    first = upload(client, user, skops_file, deployment="true")
    onnx = onnx_bytes(model)
    second = upload(client, user, onnx, version="2", filename="model.onnx", deployment="true",
                    artifacts=[("signature.json", signature_json(), "application/json")])
    assert second["status"] == "deployed"
    old = client.get(f"/api/models/{first['model_version_id']}", headers=user.headers).json()
    assert old["status"] == "trained"
    latest = client.get("/get_model", params={"model_name": "test_model"}, headers=user.headers)
    assert latest.content == onnx


def test_other_users_models_are_not_found_but_admins_see_them(client, accounts, skops_file):
    upload(client, accounts["user"], skops_file)
    params = {"model_name": "test_model", "model_version": "1"}
    assert client.get("/get_model", params=params, headers=accounts["other"].headers).status_code == 404
    assert client.get("/get_model", params=params, headers=accounts["admin"].headers).content == skops_file


@pytest.mark.parametrize("kind", ["lightgbm", "xgboost-json", "xgboost-ubj"])
def test_lightgbm_and_xgboost_native_files_upload_with_the_signature_they_carry(client, accounts, frame, kind):
    data = lightgbm_text(frame) if kind == "lightgbm" else xgboost_bytes(frame, raw_format=kind.split("-")[1])
    body = upload(client, accounts["user"], data, filename="model.bin")
    assert body["format"] == kind.split("-")[0]
    assert [f["name"] for f in body["signature"]] == FEATURES
    assert body["task"] == ("regression" if kind == "lightgbm" else "classification")


def test_the_format_is_read_from_the_content_not_the_file_name(client, accounts, model):
    body = upload(client, accounts["user"], onnx_bytes(model), filename="model.skops",
                  artifacts=[("signature.json", signature_json(), "application/json")])
    assert body["format"] == "onnx"


# Bad input ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["not a model", "truncated skops", "truncated onnx", "onnx graph fails to load",
                                  "truncated lightgbm", "truncated xgboost", "empty file"])
def test_broken_files_are_refused_with_400_and_nothing_is_registered(client, accounts, app, skops_file, case):
    data = {"not a model": b"customer_id,spend\n1,2\n", "truncated skops": skops_file[: len(skops_file) // 2],
            "truncated onnx": onnx_bytes(regressor())[:200], "onnx graph fails to load": unloadable_onnx(),
            "truncated lightgbm": lightgbm_text()[:600], "truncated xgboost": xgboost_bytes()[:300],
            "empty file": b""}[case]
    body = upload(client, accounts["user"], data, filename="model.onnx", expect=400)
    assert body["code"] in ("INVALID_FORMAT", "INVALID_PARAMETERS")
    assert body["message"]
    assert model_count(app) == 0


def test_a_skops_file_with_untrusted_types_is_refused_naming_them(client, accounts, app):
    body = upload(client, accounts["user"], untrusted_skops(), expect=400)
    assert body["code"] == "UNTRUSTED_MODEL"
    assert body["message"].startswith("this model contains KNeighborsRegressor (from scikit-learn), which modelyard "
                                      "does not load because it is not on its list of trusted types")
    assert "sklearn" not in body["message"] and "TRUSTED_TYPES" not in body["message"]
    assert body["details"]["untrusted_types"] == ["sklearn.neighbors.KNeighborsRegressor"]
    assert model_count(app) == 0


def test_an_onnx_file_pointing_at_external_data_is_refused(client, accounts, app):
    body = upload(client, accounts["user"], external_data_onnx(), filename="model.onnx", expect=400)
    assert body["code"] == "UNTRUSTED_MODEL" and "external data" in body["message"]
    assert model_count(app) == 0


def test_a_model_that_cannot_predict_is_refused_with_the_loaders_error(client, accounts, app):
    body = upload(client, accounts["user"], unpredictable_onnx(), filename="model.onnx", expect=422)
    assert body["code"] == "MODEL_SMOKE_TEST_FAILED"
    assert "Reshape" in body["message"] or "reshape" in body["message"]
    assert model_count(app) == 0


@pytest.mark.parametrize("name", ["a/b", "../escape", "..", "a\\b", "models/../x", ""])
def test_model_names_with_slashes_or_dot_dot_are_refused(client, accounts, app, skops_file, name):
    response = client.post("/upload_model", params={"model_name": name, "model_version": "1"},
                           files={"model_file": ("m.skops", skops_file)}, headers=accounts["user"].headers)
    assert response.status_code in (400, 422), response.text
    assert model_count(app) == 0


@pytest.mark.parametrize("version", ["../1", "a/b", ".."])
def test_versions_with_slashes_or_dot_dot_are_refused(client, accounts, app, skops_file, version):
    upload(client, accounts["user"], skops_file, version=version, expect=400)
    assert model_count(app) == 0


def test_an_artifact_named_with_a_path_is_reduced_to_its_file_name_inside_the_blob_store(
        client, accounts, settings, skops_file, tmp_path):
    body = upload(client, accounts["user"], skops_file, filename="../../model.skops",
                  artifacts=[("../../etc/passwd", b"root:x:0:0", "text/plain")])
    assert body["artifact_paths"] == ["test_model/1/artifacts/passwd"]
    assert body["model_path"] == "test_model/1/model.skops"
    blobs = (Path(settings.home) / "blobs").resolve()
    written = [p for p in tmp_path.rglob("*") if p.is_file() and p.name in ("passwd", "model.skops")]
    assert written and all(blobs in p.resolve().parents for p in written)
    artifact = client.get("/get_model", params={"model_name": "test_model", "model_version": "1",
                                                "artifact": "../../etc/passwd"}, headers=accounts["user"].headers)
    assert artifact.content == b"root:x:0:0"


def test_signature_json_that_disagrees_with_the_model_is_422(client, accounts, app, skops_file):
    wrong = json.dumps([{"name": "a", "type": "number"}]).encode()
    body = upload(client, accounts["user"], skops_file, artifacts=[("signature.json", wrong, "application/json")],
                  expect=422)
    assert "signature.json" in body["message"]
    assert model_count(app) == 0


# Pickle --------------------------------------------------------------------------------------------------------


def test_a_pickle_whose_loading_would_create_a_file_is_refused_and_the_file_is_never_created(
        client, accounts, app, tmp_path):
    marker = tmp_path / "created-by-unpickling"
    for account, filename in ((accounts["user"], "model.pkl"), (accounts["admin"], "model.pkl"),
                              (accounts["user"], "model.onnx")):
        body = upload(client, account, file_creating_pickle(marker), filename=filename, expect=403)
        assert body["code"] == "PICKLE_NOT_ALLOWED"
        assert "allowPickle" in body["message"] and "arbitrary code" in body["message"]
    assert not marker.exists()
    assert model_count(app) == 0


def test_with_pickles_allowed_only_admins_may_upload_them(client, accounts, tmp_path, model):
    admin = accounts["admin"]
    assert client.put("/api/settings", json={"registry": {"allowPickle": True}}, headers=admin.headers).status_code == 200
    marker = tmp_path / "created-by-unpickling"
    body = upload(client, accounts["user"], file_creating_pickle(marker), filename="model.pkl", expect=403)
    assert "only admins" in body["message"]
    assert not marker.exists()
    accepted = upload(client, admin, joblib_bytes(model, compress=3), filename="model.joblib")
    assert accepted["format"] == "pickle"


def test_the_pickle_setting_takes_only_a_boolean(client, accounts):
    response = client.put("/api/settings", json={"registry": {"allowPickle": "yes"}}, headers=accounts["admin"].headers)
    assert response.status_code == 422


# Feature tables and inference --------------------------------------------------------------------------------


def test_inference_by_entity_keys_equals_the_local_prediction(client, accounts, frame, model, skops_file):
    user = accounts["user"]
    table = feature_table(client, user, frame.drop(columns=["amount"]))
    upload(client, user, skops_file, deployment="True", feature_table=table["name"])
    response = client.get("/inference", params={"model_name": "test_model", "model_version": "1",
                                                "customer_id": 3, "purchase_date_id": "2024-01-03"},
                          headers=user.headers)
    assert response.status_code == 200, response.text
    expected = model.predict(frame.loc[frame.customer_id == 3, FEATURES])[0]
    assert response.json() == {"prediction": pytest.approx(expected, rel=1e-9)}


def test_an_onnx_model_named_by_signature_json_predicts_like_the_original(client, accounts, frame, model):
    user = accounts["user"]
    feature_table(client, user, frame.drop(columns=["amount"]))
    upload(client, user, onnx_bytes(model), filename="model.onnx", feature_table="customers",
           artifacts=[("signature.json", signature_json(), "application/json"), CONFIG])
    for customer, day in ((1, "2024-01-01"), (30, "2024-01-02")):
        response = client.get("/inference", params={"model_name": "test_model", "model_version": "1",
                                                    "customer_id": customer, "purchase_date_id": day},
                              headers=user.headers)
        expected = model.predict(frame.loc[frame.customer_id == customer, FEATURES])[0]
        assert response.json()["prediction"] == pytest.approx(expected, rel=1e-4)


def test_classifier_inference_gives_probabilities_when_asked(client, accounts, frame):
    user = accounts["user"]
    feature_table(client, user, frame.drop(columns=["amount"]))
    clf = classifier(frame)
    upload(client, user, skops_bytes(clf), feature_table="customers")
    params = {"model_name": "test_model", "model_version": "1", "customer_id": 5, "purchase_date_id": "2024-01-05"}
    plain = client.get("/inference", params=params, headers=user.headers).json()
    detailed = client.get("/inference", params={**params, "probabilities": "true"}, headers=user.headers).json()
    row = frame.loc[frame.customer_id == 5, FEATURES]
    assert plain == {"prediction": clf.predict(row)[0]}
    assert detailed["probabilities"]["high"] == pytest.approx(clf.predict_proba(row)[0][0], abs=1e-6)


def test_unknown_entity_keys_are_404_naming_them(client, accounts, frame, skops_file):
    user = accounts["user"]
    feature_table(client, user, frame.drop(columns=["amount"]))
    upload(client, user, skops_file, feature_table="customers")
    response = client.get("/inference", params={"model_name": "test_model", "model_version": "1",
                                                "customer_id": 999, "purchase_date_id": "2030-01-01"},
                          headers=user.headers)
    assert response.status_code == 404
    assert "customer_id=999" in response.json()["message"] and "purchase_date_id=2030-01-01" in response.json()["message"]
    wrong = client.get("/inference", params={"model_name": "test_model", "model_version": "1", "customer": 1},
                       headers=user.headers)
    assert wrong.status_code == 422 and "customer" in wrong.json()["message"]


def test_inference_on_a_model_without_a_feature_table_is_409_saying_so(client, accounts, skops_file):
    user = accounts["user"]
    upload(client, user, skops_file)
    response = client.get("/inference", params={"model_name": "test_model", "model_version": "1", "customer_id": 1},
                          headers=user.headers)
    assert response.status_code == 409
    assert "no feature table" in response.json()["message"]


def test_a_model_can_be_linked_to_a_feature_table_after_upload(client, accounts, frame, model, skops_file):
    user = accounts["user"]
    version_id = upload(client, user, skops_file)["model_version_id"]
    feature_table(client, user, frame.drop(columns=["amount"]))
    linked = client.put(f"/api/feature-tables/customers/models/{version_id}", headers=user.headers)
    assert linked.status_code == 200, linked.text
    response = client.get("/inference", params={"model_name": "test_model", "model_version": "1",
                                                "customer_id": 2, "purchase_date_id": "2024-01-02"},
                          headers=user.headers)
    assert response.json()["prediction"] == pytest.approx(model.predict(frame.loc[frame.customer_id == 2,
                                                                                  FEATURES])[0])
    described = client.get("/api/feature-tables/customers", headers=user.headers).json()
    assert [m["model_version_id"] for m in described["models"]] == [version_id]


def test_linking_a_table_that_lacks_the_models_inputs_is_422(client, accounts, frame, skops_file):
    user = accounts["user"]
    version_id = upload(client, user, skops_file)["model_version_id"]
    feature_table(client, user, frame[["customer_id", "purchase_date_id", "spend"]], name="thin")
    response = client.put(f"/api/feature-tables/thin/models/{version_id}", headers=user.headers)
    assert response.status_code == 422
    assert "visits" in response.json()["message"]
    assert upload(client, user, skops_file, version="2", feature_table="thin", expect=422)


def test_a_native_lightgbm_model_infers_like_the_booster(client, accounts, frame):
    import lightgbm

    user = accounts["user"]
    feature_table(client, user, frame.drop(columns=["amount"]))
    text = lightgbm_text(frame)
    upload(client, user, text, filename="model.txt", feature_table="customers")
    response = client.get("/inference", params={"model_name": "test_model", "model_version": "1",
                                                "customer_id": 7, "purchase_date_id": "2024-01-07"},
                          headers=user.headers)
    booster = lightgbm.Booster(model_str=text.decode())
    expected = booster.predict(frame.loc[frame.customer_id == 7, FEATURES].to_numpy(np.float64))[0]
    assert response.json()["prediction"] == pytest.approx(expected)


# The same registry behind the dashboard's predict route -----------------------------------------------------


@pytest.mark.parametrize("kind", ["skops", "lightgbm"])
def test_uploaded_models_that_name_their_inputs_serve_on_the_dashboard_predict_route(client, accounts, frame, model,
                                                                                     kind):
    import lightgbm

    user = accounts["user"]
    data = skops_bytes(model) if kind == "skops" else lightgbm_text(frame)
    upload(client, user, data, filename="model.bin", deployment="true")
    rows = frame[FEATURES].iloc[:3]
    response = client.post("/api/predict/test_model", json={"data": rows.to_dict(orient="records")},
                           headers=user.headers)
    assert response.status_code == 200, response.text
    expected = model.predict(rows) if kind == "skops" else lightgbm.Booster(model_str=data.decode()).predict(rows)
    assert [p["prediction"] for p in response.json()["predictions"]] == pytest.approx(list(expected))


def test_an_unnamed_onnx_model_is_named_by_its_signature_on_the_dashboard_predict_route(client, accounts, frame, model):
    user = accounts["user"]
    upload(client, user, onnx_bytes(model), filename="model.onnx", deployment="true",
           artifacts=[("signature.json", signature_json(), "application/json")])
    rows = frame[FEATURES].iloc[:3]
    response = client.post("/api/predict/test_model", json={"data": rows.to_dict(orient="records")},
                           headers=user.headers)
    assert response.status_code == 200, response.text
    got = [p["prediction"] for p in response.json()["predictions"]]
    expected = model.predict(rows)
    assert len(got) == 3 and all(abs(float(g) - float(e)) < 1e-3 for g, e in zip(got, expected))


# scikit-learn models fitted on numpy arrays ------------------------------------------------------------------


@pytest.fixture(scope="module")
def array_models(frame):
    """A regressor and a classifier fitted on arrays (no column names), as many users train them."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = frame[FEATURES].to_numpy()
    labels = np.where(frame["amount"] > frame["amount"].median(), "high", "low")
    return {"regressor": make_pipeline(StandardScaler(), Ridge()).fit(X, frame["amount"]),
            "classifier": RandomForestClassifier(n_estimators=5, random_state=0).fit(X, labels)}


def predict_api(client, account, rows):
    response = client.post("/api/predict/test_model", json={"data": rows}, headers=account.headers)
    assert response.status_code == 200, response.text
    return [p["prediction"] for p in response.json()["predictions"]]


def test_an_array_model_with_signature_json_serves_by_those_names(client, accounts, frame, array_models):
    user, model = accounts["user"], array_models["regressor"]
    names = ["spend_eur", "visit_count", "years"]
    body = upload(client, user, skops_bytes(model), deployment="true",
                  artifacts=[("signature.json", signature_json(names), "application/json")])
    assert [f["name"] for f in body["signature"]] == names
    rows = frame[FEATURES].iloc[:4]
    got = predict_api(client, user, rows.set_axis(names, axis=1).to_dict(orient="records"))
    assert got == pytest.approx(list(model.predict(rows.to_numpy())), rel=1e-9)


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_an_array_model_linked_to_a_feature_table_takes_its_non_key_columns_and_infers(client, accounts, frame,
                                                                                        array_models, kind):
    user, model = accounts["user"], array_models[kind]
    feature_table(client, user, frame.drop(columns=["amount"]))
    body = upload(client, user, skops_bytes(model), deployment="true", feature_table="customers")
    assert [f["name"] for f in body["signature"]] == FEATURES  # the table's non-key columns, in its order
    for customer, day in ((3, "2024-01-03"), (40, "2024-01-12")):
        response = client.get("/inference", params={"model_name": "test_model", "customer_id": customer,
                                                    "purchase_date_id": day}, headers=user.headers)
        assert response.status_code == 200, response.text
        expected = model.predict(frame.loc[frame.customer_id == customer, FEATURES].to_numpy())[0]
        assert response.json()["prediction"] == (pytest.approx(expected, rel=1e-9) if kind == "regressor"
                                                 else expected)
    rows = frame[FEATURES].iloc[:3]
    got = predict_api(client, user, rows.to_dict(orient="records"))
    expected = list(model.predict(rows.to_numpy()))
    assert got == (pytest.approx(expected, rel=1e-9) if kind == "regressor" else expected)


def test_an_array_model_without_names_is_named_f0_to_fn_and_predicts(client, accounts, frame, array_models):
    user, model = accounts["user"], array_models["regressor"]
    body = upload(client, user, skops_bytes(model), deployment="true")
    assert body["signature"] == [{"name": f"f{i}", "type": "number"} for i in range(3)]
    rows = frame[FEATURES].iloc[:3]
    got = predict_api(client, user, rows.set_axis(["f0", "f1", "f2"], axis=1).to_dict(orient="records"))
    assert got == pytest.approx(list(model.predict(rows.to_numpy())), rel=1e-9)


def test_an_array_model_and_a_table_with_more_columns_than_inputs_is_422_and_nothing_is_registered(
        client, accounts, app, frame, array_models):
    user = accounts["user"]
    feature_table(client, user, frame)  # amount is a fourth non-key column
    body = upload(client, user, skops_bytes(array_models["regressor"]), feature_table="customers", expect=422)
    assert "takes 3" in body["message"] and "has 4" in body["message"] and "signature.json" in body["message"]
    assert model_count(app) == 0
