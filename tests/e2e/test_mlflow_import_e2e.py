"""MLflow models imported over HTTP into `modelyard serve`: zipped MLflow folders (tests/support/mlflow_models.py)
with real ONNX, LightGBM, XGBoost and skops files, served by name with the MLflow signature; pickle flavors
refused under the upload's rule; malformed MLmodel files, custom-code models and paths leaving the folder
refused with a 4xx, nothing registered."""
from __future__ import annotations

import secrets
from typing import Iterator

import httpx
import pytest

from tests.e2e.processes import Launcher, ModelyardProcess, bearer, login
from tests.support.mlflow_models import mlflow_zip, mlmodel, signature_block, zipped
from tests.support.registry_models import (
    FEATURES, customers, file_creating_pickle, joblib_bytes, lightgbm_text, onnx_bytes, regressor, skops_bytes,
    xgboost_bytes,
)

pytestmark = pytest.mark.slow
ADMIN_PASSWORD = f"admin-{secrets.token_hex(6)}"
UPLOAD_LIMIT = 4 * 1024 * 1024


@pytest.fixture(scope="module")
def server(module_launch: Launcher, tmp_path_factory) -> ModelyardProcess:
    return module_launch.serve({"MODELYARD_HOME": str(tmp_path_factory.mktemp("home")),
                                "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                "MODELYARD_MAX_UPLOAD_BYTES": str(UPLOAD_LIMIT)})


@pytest.fixture
def client(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60.0) as http:
        yield http


@pytest.fixture
def admin(client) -> dict[str, str]:
    return bearer(login(client, "admin", ADMIN_PASSWORD))


@pytest.fixture
def user(client, admin) -> dict[str, str]:
    username, password = f"mlflow{secrets.token_hex(3)}", f"pw-{secrets.token_hex(8)}"
    response = client.post("/admin/users", headers=admin, json={"username": username, "password": password,
                                                                "role": "user"})
    assert response.status_code == 201, response.text
    return bearer(login(client, username, password))


@pytest.fixture(scope="module")
def frame():
    return customers(60, seed=3)


def name() -> str:
    return f"mlflow_{secrets.token_hex(4)}"


def import_zip(client, headers, data: bytes, model_name: str, expect: int = 200, **params) -> dict:
    response = client.post("/api/models/import/mlflow", headers=headers,
                           params={"model_name": model_name, "model_version": "1", **params},
                           files={"file": ("model.zip", data, "application/zip")})
    assert response.status_code == expect, response.text
    return response.json()


def predict(client, headers, model_name: str, rows) -> list:
    response = client.post(f"/api/predict/{model_name}", headers=headers,
                           json={"data": rows.to_dict(orient="records")})
    assert response.status_code == 200, response.text
    return [p["prediction"] for p in response.json()["predictions"]]


def registered(client, headers, model_name: str) -> bool:
    response = client.get("/get_model", params={"model_name": model_name, "model_version": "1"}, headers=headers)
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


# Safe flavors: imported, served by the MLflow signature's names, predicting like the local model ---------------


def _local_lightgbm(data: bytes, rows):
    import lightgbm

    return lightgbm.Booster(model_str=data.decode()).predict(rows)


def _local_xgboost(data: bytes, rows):
    import xgboost

    booster = xgboost.Booster()
    booster.load_model(bytearray(data))
    return booster.predict(xgboost.DMatrix(rows))


def cases(frame):
    model = regressor(frame)
    lgb, xgb_json = lightgbm_text(frame), xgboost_bytes(frame, "json", objective="reg:squarederror")
    xgb_ubj = xgboost_bytes(frame, "ubj", objective="reg:squarederror")
    return {
        "onnx": ("onnx", "model.onnx", onnx_bytes(model), {}, model.predict, "onnx", 1e-3),
        "lightgbm": ("lightgbm", "model.lgb", lgb, {}, lambda rows: _local_lightgbm(lgb, rows), "lightgbm", 1e-9),
        "xgboost-json": ("xgboost", "model.json", xgb_json, {"model_format": "json"},
                         lambda rows: _local_xgboost(xgb_json, rows), "xgboost", 1e-5),
        "xgboost-ubj": ("xgboost", "model.ubj", xgb_ubj, {"model_format": "ubj"},
                        lambda rows: _local_xgboost(xgb_ubj, rows), "xgboost", 1e-5),
        "xgboost-xgb": ("xgboost", "model.xgb", xgb_ubj, {"model_format": "xgb"},  # MLflow's default model_format
                        lambda rows: _local_xgboost(xgb_ubj, rows), "xgboost", 1e-5),
        "sklearn-skops": ("sklearn", "model.skops", skops_bytes(model), {"serialization": "skops"}, model.predict,
                          "skops", 1e-6),
    }


@pytest.mark.parametrize("case", ["onnx", "lightgbm", "xgboost-json", "xgboost-ubj", "xgboost-xgb",
                                  "sklearn-skops"])
def test_a_safe_flavor_imports_with_its_signature_and_predicts_like_the_local_model(client, user, frame, case):
    flavor, filename, data, options, local, fmt, tolerance = cases(frame)[case]
    model_name = name()
    example = {"spend": 120.5, "visits": 4, "tenure": 2.25}
    body = import_zip(client, user, mlflow_zip(flavor, filename, data, example_row=example, **options), model_name,
                      deployment="true", model_description="from MLflow")
    assert body["format"] == fmt and body["status"] == "deployed" and body["task"] == "regression"
    assert body["signature"] == [{"name": "spend", "type": "number"}, {"name": "visits", "type": "integer"},
                                 {"name": "tenure", "type": "number"}]
    assert body["model_path"] == f"{model_name}/1/{filename}"
    assert sorted(body["artifact_paths"]) == [f"{model_name}/1/artifacts/MLmodel",
                                              f"{model_name}/1/artifacts/signature.json"]

    rows = frame[FEATURES].iloc[:5]
    got = predict(client, user, model_name, rows)
    assert got == pytest.approx(list(local(rows)), rel=tolerance, abs=tolerance)

    original = client.get("/get_model", params={"model_name": model_name, "model_version": "1"}, headers=user)
    assert original.status_code == 200 and original.content == data
    signature = client.get("/get_model", params={"model_name": model_name, "model_version": "1",
                                                 "artifact": "signature.json"}, headers=user).json()
    assert signature["example"] == example  # the MLflow input example is the row the upload's smoke test predicts
    detail = client.get(f"/api/models/{body['model_version_id']}", headers=user).json()
    assert detail["parameters"]["imported_from"] == "mlflow" and detail["parameters"]["mlflow_flavor"] == flavor


def test_an_archive_with_mlmodel_at_its_top_level_and_a_tensor_signature_imports_with_positional_names(
        client, user, frame):
    model = regressor(frame)
    tensor = ("signature:\n  inputs: '[{\"type\": \"tensor\", \"tensor-spec\": {\"dtype\": \"float32\", "
              "\"shape\": [-1, 3]}}]'\n  outputs: null\n")
    data = mlflow_zip("onnx", "model.onnx", onnx_bytes(model), folder="", signature=tensor)
    model_name = name()
    body = import_zip(client, user, data, model_name, deployment="true")
    assert [f["name"] for f in body["signature"]] == ["f0", "f1", "f2"]
    rows = frame[FEATURES].iloc[:3]
    response = client.post(f"/api/predict/{model_name}", headers=user,
                           json={"data": [dict(zip(["f0", "f1", "f2"], r)) for r in rows.to_numpy().tolist()]})
    assert response.status_code == 200, response.text
    got = [p["prediction"] for p in response.json()["predictions"]]
    assert got == pytest.approx(list(model.predict(rows)), rel=1e-3, abs=1e-3)


def test_a_signature_naming_other_inputs_than_the_model_is_refused(client, user, frame):
    other = signature_block(["a", "b", "c"], {"a": "double", "b": "double", "c": "double"})
    data = mlflow_zip("lightgbm", "model.lgb", lightgbm_text(frame), signature=other)
    model_name = name()
    body = import_zip(client, user, data, model_name, expect=422)
    assert "signature.json names inputs" in body["message"]
    assert not registered(client, user, model_name)


# Pickle flavors: the upload's rule ---------------------------------------------------------------------------


@pytest.mark.parametrize("flavor,filename,options", [
    ("sklearn", "model.pkl", {"serialization": "cloudpickle"}),
    ("sklearn", "model.pkl", {"serialization": "pickle"}),
    ("lightgbm", "model.pkl", {}),  # MLflow saves a scikit-learn-API LightGBM model as a pickle
])
def test_pickle_flavors_are_refused_like_pickle_uploads_and_never_loaded(client, admin, user, tmp_path, flavor,
                                                                        filename, options):
    marker = tmp_path / "created-by-unpickling"
    for headers in (user, admin):
        model_name = name()
        data = mlflow_zip(flavor, filename, file_creating_pickle(marker), **options)
        body = import_zip(client, headers, data, model_name, expect=403)
        assert body["code"] == "PICKLE_NOT_ALLOWED"
        assert "allowPickle" in body["message"] and "arbitrary code" in body["message"]
        assert not registered(client, admin, model_name)
    assert not marker.exists()


def test_with_pickles_allowed_an_admin_may_import_a_cloudpickle_flavor_and_a_user_may_not(client, admin, user,
                                                                                        frame, tmp_path):
    model = regressor(frame)
    assert client.put("/api/settings", json={"registry": {"allowPickle": True}}, headers=admin).status_code == 200
    try:
        marker = tmp_path / "created-by-unpickling"
        refused = import_zip(client, user, mlflow_zip("sklearn", "model.pkl", file_creating_pickle(marker),
                                                      serialization="cloudpickle"), name(), expect=403)
        assert "only admins" in refused["message"] and not marker.exists()
        model_name = name()
        body = import_zip(client, admin, mlflow_zip("sklearn", "model.pkl", joblib_bytes(model),
                                                    serialization="cloudpickle"), model_name, deployment="true")
        assert body["format"] == "pickle"
        rows = frame[FEATURES].iloc[:3]
        assert predict(client, admin, model_name, rows) == pytest.approx(list(model.predict(rows)), rel=1e-6)
    finally:
        assert client.put("/api/settings", json={"registry": {"allowPickle": False}},
                          headers=admin).status_code == 200


# Custom code, malformed archives and paths leaving the folder ------------------------------------------------


def test_a_pyfunc_only_model_is_refused_saying_its_code_is_never_run(client, user):
    text = ("artifact_path: model\nflavors:\n  python_function:\n    cloudpickle_version: 3.0.0\n"
            "    code: null\n    env:\n      conda: conda.yaml\n      virtualenv: python_env.yaml\n"
            "    loader_module: mlflow.pyfunc.model\n    python_model: python_model.pkl\n"
            "    python_version: 3.11.7\nmlflow_version: 2.14.1\n")
    model_name = name()
    body = import_zip(client, user, zipped({"MLmodel": text, "python_model.pkl": b"\x80\x05N."}), model_name,
                      expect=400)
    assert body["code"] == "UNSUPPORTED_MLFLOW_FLAVOR"
    assert "python_function" in body["message"] and "never runs" in body["message"]
    assert not registered(client, user, model_name)


def test_a_native_flavor_wrapped_in_custom_pyfunc_code_is_refused(client, user, frame):
    data = mlflow_zip("lightgbm", "model.lgb", lightgbm_text(frame), loader="my_package.custom_loader")
    body = import_zip(client, user, data, name(), expect=400)
    assert body["code"] == "UNSUPPORTED_MLFLOW_FLAVOR" and "my_package.custom_loader" in body["message"]


def test_an_unsupported_flavor_is_refused_naming_the_supported_ones(client, user):
    text = ("flavors:\n  pytorch:\n    model_data: data\n    pytorch_version: 2.3.0\n"
            "  python_function:\n    loader_module: mlflow.pytorch\n    data: data\n")
    body = import_zip(client, user, zipped({"MLmodel": text}), name(), expect=400)
    assert "pytorch" in body["message"] and "onnx" in body["message"]


@pytest.mark.parametrize("files,words", [
    ({"MLmodel": "flavors: [unclosed\n", "model.lgb": b"tree\n"}, "not valid YAML"),
    ({"MLmodel": "just a string\n"}, "'flavors' mapping"),
    ({"MLmodel": "flavors:\n  lightgbm: model.lgb\n"}, "each flavor must be a mapping"),
    ({"MLmodel": "flavors:\n  lightgbm:\n    lgb_version: 4.3.0\n"}, "names no model file"),
    ({"MLmodel": "flavors:\n  lightgbm:\n    data: model.lgb\n"}, "not in the archive"),
    ({"conda.yaml": "name: env\n"}, "no MLmodel file"),
    ({"MLmodel": "flavors:\n  lightgbm:\n    data: model.lgb\nsignature:\n  inputs: 'not json'\n",
      "model.lgb": "LGB"}, "signature inputs are not valid JSON"),
    ({"MLmodel": "flavors:\n  lightgbm:\n    data: model.lgb\n", "model.lgb": b"\x00\x01 not a model"},
     "not a model file"),
    ({"MLmodel": "!!python/object/apply:os.system ['touch /tmp/pwned-by-yaml']\n"}, "not valid YAML"),
])
def test_a_malformed_mlflow_folder_is_refused_with_a_4xx_saying_what_is_wrong(client, user, files, words):
    model_name = name()
    body = import_zip(client, user, zipped(files), model_name, expect=400)
    assert words in body["message"], body["message"]
    assert not registered(client, user, model_name)


def test_a_file_that_is_not_a_zip_is_refused(client, user):
    body = import_zip(client, user, b"flavors: {}\n", name(), expect=400)
    assert "zip" in body["message"]


@pytest.mark.parametrize("path", ["../../etc/passwd", "/etc/passwd", "sub/../../outside.lgb", "..\\model.lgb",
                                  "C:/model.lgb"])
def test_a_model_path_leaving_the_model_folder_is_refused(client, user, frame, path):
    text = mlmodel("lightgbm", path)
    # The archive even holds an entry at the resolved place: the path itself is refused, never looked up.
    data = zipped({"MLmodel": text, "model.lgb": lightgbm_text(frame)}, folder="model")
    model_name = name()
    body = import_zip(client, user, data, model_name, expect=400)
    assert "model folder" in body["message"], body["message"]
    assert not registered(client, user, model_name)


def test_an_input_example_path_leaving_the_folder_is_refused(client, user, frame):
    text = mlmodel("lightgbm", "model.lgb", example=True).replace("artifact_path: input_example.json",
                                                                  "artifact_path: ../secret.json")
    body = import_zip(client, user, zipped({"MLmodel": text, "model.lgb": lightgbm_text(frame)}), name(), expect=400)
    assert "outside the model folder" in body["message"]


def test_a_flavor_whose_file_is_another_format_is_refused(client, user, frame):
    data = mlflow_zip("onnx", "model.onnx", lightgbm_text(frame))
    body = import_zip(client, user, data, name(), expect=400)
    assert "MLmodel says onnx" in body["message"] and "lightgbm" in body["message"]


def test_a_compressed_model_file_larger_than_the_upload_limit_is_refused_413(client, user):
    bomb = b"tree\n" + bytes(UPLOAD_LIMIT * 4)  # 16 MiB of zeros: a few KiB compressed
    data = mlflow_zip("lightgbm", "model.lgb", bomb)
    assert len(data) < UPLOAD_LIMIT // 10
    body = import_zip(client, user, data, name(), expect=413)
    assert "larger than the limit" in body["message"]


def test_the_import_needs_authentication(client):
    response = client.post("/api/models/import/mlflow", params={"model_name": "x"},
                           files={"file": ("model.zip", zipped({"MLmodel": "flavors: {}\n"}), "application/zip")})
    assert response.status_code == 401


def test_an_existing_version_is_a_conflict(client, user, frame):
    data = mlflow_zip("lightgbm", "model.lgb", lightgbm_text(frame))
    model_name = name()
    import_zip(client, user, data, model_name)
    body = import_zip(client, user, data, model_name, expect=409)
    assert "already has a version" in body["message"] and body["code"] == "CONFLICT"


# The CLI -----------------------------------------------------------------------------------------------------


def test_the_cli_imports_an_mlflow_folder_through_the_http_api(server, client, user, frame, tmp_path):
    import zipfile
    from io import BytesIO

    from typer.testing import CliRunner

    from modelyard.cli import app

    folder = tmp_path / "model"
    with zipfile.ZipFile(BytesIO(mlflow_zip("lightgbm", "model.lgb", lightgbm_text(frame)))) as archive:
        archive.extractall(tmp_path)
    secret = tmp_path / "outside.txt"
    secret.write_text("not for the server")
    (folder / "linked.txt").symlink_to(secret)
    token = user["Authorization"].split(" ", 1)[1]
    model_name = name()
    result = CliRunner().invoke(app, ["import-mlflow", str(folder), "--name", model_name, "--version", "3",
                                      "--deploy", "--url", server.url], env={"MODELYARD_TOKEN": token})
    assert result.exit_code == 0, result.output
    assert result.output.split("\t")[:2] == [model_name, "3"] and "lightgbm" in result.output
    rows = frame[FEATURES].iloc[:2]
    assert predict(client, user, model_name, rows) == pytest.approx(list(_local_lightgbm(lightgbm_text(frame), rows)))

    refused = CliRunner().invoke(app, ["import-mlflow", str(folder), "--name", model_name, "--version", "3",
                                       "--url", server.url], env={"MODELYARD_TOKEN": token})
    assert refused.exit_code == 1 and "409" in refused.output and "already has a version" in refused.output

