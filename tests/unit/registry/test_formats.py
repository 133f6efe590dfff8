"""Model files from outside: format by content, safe loading, signatures, smoke test."""
import io
import json
import pickle
import zipfile

import numpy as np
import pytest

from modelyard.registry import adapters, formats
from tests.support.registry_models import (
    FEATURES, classifier, customers, file_creating_pickle, joblib_bytes, lightgbm_text, onnx_bytes, regressor,
    signature_json, skops_bytes, xgboost_bytes,
)


@pytest.fixture(scope="module")
def frame():
    return customers()


@pytest.fixture(scope="module")
def model(frame):
    return regressor(frame)


def _zip_without_schema() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("data.txt", "hello")
    return buffer.getvalue()


@pytest.mark.parametrize("make, filename, expected", [
    (lambda m: skops_bytes(m), "model.onnx", "skops"),
    (lambda m: onnx_bytes(m), "model.pkl", "onnx"),
    (lambda m: lightgbm_text(), "model.json", "lightgbm"),
    (lambda m: xgboost_bytes(raw_format="json"), "model.txt", "xgboost"),
    (lambda m: xgboost_bytes(raw_format="ubj"), "model", "xgboost"),
    (lambda m: pickle.dumps(m, protocol=2), "model.onnx", "pickle"),
    (lambda m: pickle.dumps(m, protocol=5), "model.skops", "pickle"),
    (lambda m: pickle.dumps({"a": 1}, protocol=0), "x", "pickle"),
    (lambda m: joblib_bytes(m), "model.bin", "pickle"),
    (lambda m: joblib_bytes(m, compress=3), "model.bin", "pickle"),
    (lambda m: joblib_bytes(m, compress=("gzip", 3)), "model.bin", "pickle"),
    (lambda m: joblib_bytes(m, compress=("bz2", 3)), "model.bin", "pickle"),
    (lambda m: joblib_bytes(m, compress=("xz", 3)), "model.bin", "pickle"),
    (lambda m: joblib_bytes(m, compress=("lzma", 3)), "model.bin", "pickle"),
])
def test_the_format_is_detected_from_the_content(model, make, filename, expected):
    assert formats.detect(make(model), filename) == expected


@pytest.mark.parametrize("data", [b"customer_id,spend\n1,2\n", b"\x89PNG\r\n\x1a\n\x00", b"", b"{\"a\": 1}",
                                  _zip_without_schema(), b"\x08\x07garbage that is not protobuf"])
def test_files_that_are_no_model_are_unsupported(data):
    with pytest.raises(formats.UnsupportedModelFile) as error:
        formats.detect(data, "model.onnx")
    assert "supported" in error.value.message or "zip" in error.value.message


def test_pickles_are_refused_unless_the_setting_and_the_role_both_allow_them(tmp_path):
    assert formats.pickle_refusal(allowed_by_setting=False, uploader_is_admin=True).status == 403
    assert "only admins" in formats.pickle_refusal(allowed_by_setting=True, uploader_is_admin=False).message
    assert formats.pickle_refusal(allowed_by_setting=True, uploader_is_admin=True) is None
    marker = tmp_path / "made"
    with pytest.raises(formats.PickleNotAllowed):
        formats.inspect("pickle", file_creating_pickle(marker))
    assert not marker.exists()


@pytest.mark.parametrize("body, message", [
    (b"not json", "not valid JSON"), (b"{}", "must be a list"), (b'[{"name": "a", "type": "tensor"}]', "bad input"),
    (b'[{"name": "a"}, {"name": "a"}]', "bad input"), (b'{"inputs": [{"name": "a"}], "classes": "x"}', "classes"),
])
def test_bad_signature_files_are_422_saying_what_is_wrong(body, message):
    with pytest.raises(formats.Unprocessable) as error:
        formats.parse_signature(body)
    assert message in error.value.message


def test_signature_json_names_the_inputs_of_an_unnamed_onnx_graph(model):
    found = formats.inspect("onnx", onnx_bytes(model), declared=formats.parse_signature(signature_json()))
    assert [f["name"] for f in found.signature] == FEATURES
    unnamed = formats.inspect("onnx", onnx_bytes(model))
    assert [f["name"] for f in unnamed.signature] == ["f0", "f1", "f2"]


def test_an_unbound_positional_model_refuses_to_guess_its_inputs(model, frame):
    loaded = formats.load_onnx(onnx_bytes(model))
    with pytest.raises(adapters.PositionalInputs):
        loaded.feature_names_in_
    bound = adapters.bind(loaded, [{"name": n, "type": "number"} for n in FEATURES])
    assert bound.feature_names_in_ == FEATURES
    assert bound.predict(frame[FEATURES]) == pytest.approx(model.predict(frame[FEATURES]), rel=1e-4)


def test_onnx_classifier_probabilities_match_scikit_learn(frame):
    clf = classifier(frame)
    loaded = adapters.bind(formats.load_onnx(onnx_bytes(clf)), [{"name": n} for n in FEATURES])
    assert loaded.model.classes_ == ["high", "low"]
    np.testing.assert_allclose(loaded.predict_proba(frame[FEATURES]), clf.predict_proba(frame[FEATURES]), atol=1e-5)
    assert list(loaded.predict(frame[FEATURES])) == list(clf.predict(frame[FEATURES]))


def test_lightgbm_and_xgboost_adapters_predict_like_their_boosters(frame):
    import lightgbm
    import xgboost

    text = lightgbm_text(frame, objective="binary")
    booster = lightgbm.Booster(model_str=text.decode())
    adapter = formats.load_lightgbm(text)
    assert adapter.task == "classification" and adapter.feature_names_in_ == FEATURES
    np.testing.assert_allclose(adapter.predict_proba(frame[FEATURES])[:, 1], booster.predict(frame[FEATURES]))
    raw = xgboost_bytes(frame)
    xgb = xgboost.Booster()
    xgb.load_model(bytearray(raw))
    adapter = formats.load_xgboost(raw)
    np.testing.assert_allclose(adapter.predict_proba(frame[FEATURES])[:, 1],
                               xgb.predict(xgboost.DMatrix(frame[FEATURES])), rtol=1e-6)


def test_signature_json_may_relabel_classes_and_give_the_smoke_test_row(frame):
    declared = formats.parse_signature(json.dumps({"inputs": [{"name": n} for n in FEATURES], "classes": ["no", "yes"],
                                                   "example": {"spend": 120.0, "visits": 3, "tenure": 1.5}}).encode())
    found = formats.inspect("lightgbm", lightgbm_text(frame, objective="binary"), declared=declared)
    assert found.classes == ["no", "yes"]
    assert found.example == {"spend": 120.0, "visits": 3, "tenure": 1.5}


def _on_arrays(frame):
    from sklearn.linear_model import Ridge

    return Ridge().fit(frame[FEATURES].to_numpy(), frame["amount"])


TABLE = formats.TableInputs("customers", [{"name": "spend", "type": "number"}, {"name": "visits", "type": "integer"},
                                          {"name": "tenure", "type": "number"}])


def test_a_skops_model_fitted_on_an_array_is_named_f0_to_fn_and_predicts_by_position(frame):
    bare = _on_arrays(frame)
    found = formats.inspect("skops", skops_bytes(bare))
    assert found.signature == [{"name": "f0", "type": "number"}, {"name": "f1", "type": "number"},
                               {"name": "f2", "type": "number"}]
    bound = adapters.bind(found.model, found.signature)
    rows = frame[FEATURES].iloc[:5].set_axis(["f0", "f1", "f2"], axis=1)
    np.testing.assert_allclose(bound.predict(rows), bare.predict(frame[FEATURES].iloc[:5].to_numpy()))


def test_signature_json_names_an_array_model_before_a_linked_table_does(frame):
    declared = formats.parse_signature(signature_json(["a", "b", "c"]))
    found = formats.inspect("skops", skops_bytes(_on_arrays(frame)), declared=declared, table=TABLE)
    assert [f["name"] for f in found.signature] == ["a", "b", "c"]


def test_a_linked_tables_non_key_columns_name_an_array_model_in_table_order(frame):
    found = formats.inspect("skops", skops_bytes(_on_arrays(frame)), table=TABLE)
    assert found.signature == TABLE.inputs


def test_a_linked_table_with_another_number_of_columns_is_422_saying_what_to_do(frame):
    wider = formats.TableInputs("customers", TABLE.inputs + [{"name": "amount", "type": "number"}])
    with pytest.raises(formats.Unprocessable) as error:
        formats.inspect("skops", skops_bytes(_on_arrays(frame)), table=wider)
    assert "takes 3" in error.value.message and "has 4" in error.value.message
    assert "signature.json" in error.value.message


def test_a_model_that_names_its_inputs_ignores_the_linked_table(frame, model):
    found = formats.inspect("skops", skops_bytes(model), table=formats.TableInputs("t", [{"name": "x"}]))
    assert [f["name"] for f in found.signature] == FEATURES


def test_category_columns_of_a_pipeline_are_strings_smoke_tested_with_a_known_category(frame):
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder

    data = frame.assign(region=np.where(frame.visits > 5, "north", "south"))
    pipeline = Pipeline([("prep", ColumnTransformer([("cat", OneHotEncoder(), ["region"])], remainder="passthrough")),
                         ("model", Ridge())]).fit(data[FEATURES + ["region"]], data["amount"])
    found = formats.inspect("skops", skops_bytes(pipeline))
    assert {"name": "region", "type": "string"} in found.signature
    assert found.example["region"] == "north"
