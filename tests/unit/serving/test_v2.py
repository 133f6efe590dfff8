"""V2 tensors <-> the pipeline's rows: the protocol's data layouts, its binary extension (read and written as the
reference client reads and writes it), and a 400 naming the input for each way a tensor can be wrong."""
import json

import numpy as np
import orjson
import pytest

from modelyard.serving.outputs import Outputs
from modelyard.serving.tensors import TensorError, parse_request
from modelyard.serving.v2 import answer_of, encode, output_tensors, rows_for

SIGNATURE = [{"name": "age", "type": "integer"}, {"name": "income", "type": "number"},
             {"name": "region", "type": "string"}, {"name": "member", "type": "boolean"}]
NUMERIC = SIGNATURE[:2]


def request(*inputs, **extra):
    return parse_request(orjson.dumps({"inputs": [dict(zip(("name", "shape", "datatype", "data"), i))
                                                  for i in inputs], **extra}), None)


def refusal(body, header=None) -> str:
    with pytest.raises(TensorError) as refused:
        parse_request(body if isinstance(body, bytes) else orjson.dumps(body), header)
    assert refused.value.status == 400
    return refused.value.message


def test_columns_flat_or_nested_become_rows_in_signature_order():
    parsed = request(("region", [2, 1], "BYTES", [["north"], ["south"]]), ("age", [2], "INT32", [30, 41]),
                     ("member", [2], "BOOL", [True, False]), ("income", [2, 1], "FP32", [1.5, 2]))
    assert rows_for(parsed, SIGNATURE) == [{"age": 30, "income": 1.5, "region": "north", "member": True},
                                           {"age": 41, "income": 2, "region": "south", "member": False}]


def test_one_matrix_stands_for_all_numeric_columns():
    parsed = request(("input__0", [2, 2], "FP64", [[1, 2.5], [3, 4.5]]))
    assert rows_for(parsed, NUMERIC) == [{"age": 1, "income": 2.5}, {"age": 3, "income": 4.5}]
    with pytest.raises(TensorError, match="only when all are numbers"):
        rows_for(parsed, SIGNATURE)
    with pytest.raises(TensorError, match=r"one column per model input \(2"):
        rows_for(request(("input__0", [1, 3], "FP64", [1, 2, 3])), NUMERIC)


def test_binary_inputs_read_as_the_reference_client_writes_them():
    tritonclient_http = pytest.importorskip("tritonclient.http")
    from tritonclient.http._utils import _get_inference_request

    age = tritonclient_http.InferInput("age", [3], "INT64")
    age.set_data_from_numpy(np.array([1, 2, 3], dtype=np.int64))
    income = tritonclient_http.InferInput("income", [3, 1], "FP32")
    income.set_data_from_numpy(np.array([[0.5], [1.5], [2.5]], dtype=np.float32))
    region = tritonclient_http.InferInput("region", [3], "BYTES")
    region.set_data_from_numpy(np.array(["nörth", "", "west"], dtype=object))
    member = tritonclient_http.InferInput("member", [3], "BOOL")
    member.set_data_from_numpy(np.array([True, False, True]))
    body, header_length = _get_inference_request([age, income, region, member], "7", None, 0, False, False, 0,
                                                 None, None)
    parsed = parse_request(body, str(header_length))
    assert parsed.id == "7" and parsed.binary_output is True  # no outputs named: the client asks for binary ones
    assert rows_for(parsed, SIGNATURE) == [{"age": 1, "income": 0.5, "region": "nörth", "member": True},
                                           {"age": 2, "income": 1.5, "region": "", "member": False},
                                           {"age": 3, "income": 2.5, "region": "west", "member": True}]


def test_binary_outputs_read_back_with_the_reference_client():
    pytest.importorskip("tritonclient.http")
    from tritonclient.http import InferResult

    outputs = Outputs("classification", proba=np.array([[0.2, 0.8], [0.9, 0.1]]), labels=["no", 1])
    parsed = request(("x", [2, 2], "FP64", [1, 2, 3, 4]), outputs=[
        {"name": "classes"}, {"name": "prediction", "parameters": {"binary_data": True}}])
    content, header_length = encode({"model_name": "m", "model_version": "1", "id": "a"},
                                    output_tensors(answer_of(outputs), parsed))
    result = InferResult.from_response_body(content, header_length=header_length)
    assert [o["name"] for o in result.get_response()["outputs"]] == ["classes", "prediction"]
    assert result.as_numpy("classes").tolist() == ["no", "1"]  # JSON: not asked as binary
    assert result.as_numpy("prediction").astype(str).tolist() == ["1", "no"]
    every = parse_request(orjson.dumps({"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}],
                                        "parameters": {"binary_data_output": True}}), None)
    content, header_length = encode({}, output_tensors(answer_of(outputs), every))
    assert np.allclose(InferResult.from_response_body(content, header_length=header_length)
                       .as_numpy("probabilities"), [[0.2, 0.8], [0.9, 0.1]])


def test_an_empty_list_of_outputs_asks_for_every_output():
    parsed = request(("x", [1], "FP64", [1]), outputs=[])
    outputs = Outputs("classification", proba=np.array([[0.3, 0.7]]), labels=["a", "b"])
    assert [t["name"] for t in output_tensors(answer_of(outputs), parsed)] == ["prediction", "probabilities", "classes"]


def test_a_regression_answers_json_numbers():
    parsed = request(("x", [2], "FP64", [1, 2]))
    answer = answer_of(Outputs("regression", values=np.array([1.5, 2.0])))
    content, header_length = encode({"id": "1"}, output_tensors(answer, parsed))
    assert header_length is None
    assert json.loads(content)["outputs"] == [{"name": "prediction", "shape": [2], "datatype": "FP64",
                                               "data": [1.5, 2.0]}]


BAD = [
    ({"inputs": [{"name": "a", "shape": [2], "datatype": "UINT8", "data": [1, -1]}]}, "out of the range of UINT8"),
    ({"inputs": [{"name": "a", "shape": [1], "datatype": "INT64", "data": [1.5]}]}, "does not match its data (float)"),
    ({"inputs": [{"name": "a", "shape": [1], "datatype": "BYTES", "data": [None]}]}, "does not match its data"),
    ({"inputs": [{"name": "a", "shape": [2, 1], "datatype": "FP64", "data": [[1], 2]}]}, "mixes rows"),
    ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [[[1]]]}]}, "does not match its data"),
    ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64"}]}, "has no data"),
    ({"inputs": [{"name": "a", "shape": [True], "datatype": "FP64", "data": [1]}]}, "shape must be"),
    ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}] * 2}, "named more than once"),
    ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}], "outputs": "all"}, "outputs must"),
    ({"inputs": [{"shape": [1], "datatype": "FP64", "data": [1]}]}, 'with a "name"'),
    ({"inputs": [{"name": "a" * 257, "shape": [1], "datatype": "FP64", "data": [1]}]}, "of 1 to 256 characters"),
    ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP64", "data": [1]}], "outputs": [{"name": ""}]},
     "names of 1 to 256 characters"),
    ([1, 2], "must be a JSON object"),
]


@pytest.mark.parametrize("body, message", BAD)
def test_malformed_tensors_are_refused_naming_what_is_wrong(body, message):
    assert message in refusal(body)


def test_binary_framing_is_checked():
    header = orjson.dumps({"inputs": [{"name": "a", "shape": [2], "datatype": "FP32",
                                       "parameters": {"binary_data_size": 8}}]})
    data = np.array([1, 2], dtype="<f4").tobytes()
    assert parse_request(header + data, str(len(header))).inputs[0].values == [1.0, 2.0]
    assert "no input claims" in refusal(header + data + b"x", str(len(header)))
    assert "not a length within" in refusal(header + data, "10000")
    assert "not a length within" in refusal(header + data, "-1")
    wrong = orjson.dumps({"inputs": [{"name": "a", "shape": [3], "datatype": "FP32",
                                      "parameters": {"binary_data_size": 8}}]})
    assert "3 FP32 values take 12 bytes" in refusal(wrong + data, str(len(wrong)))
    text = orjson.dumps({"inputs": [{"name": "a", "shape": [2], "datatype": "BYTES",
                                     "parameters": {"binary_data_size": 7}}]})
    assert "shape holds 2 values, the binary data 1" in refusal(text + b"\x03\x00\x00\x00abc", str(len(text)))
    assert "ends inside an element" in refusal(text + b"\x09\x00\x00\x00abc", str(len(text)))


def test_unknown_missing_and_ill_fitting_inputs_name_the_model_inputs():
    with pytest.raises(TensorError, match="unknown input.*'extra'.*age, income"):
        rows_for(request(("age", [1], "INT64", [1]), ("income", [1], "FP64", [1]), ("extra", [1], "FP64", [1])),
                 NUMERIC)
    with pytest.raises(TensorError, match="missing input.*income"):
        rows_for(request(("age", [1], "INT64", [1])), NUMERIC)
    with pytest.raises(TensorError, match="'region' is a string column: datatype BYTES"):
        rows_for(request(*[(f["name"], [1], "FP64", [1]) for f in SIGNATURE]), SIGNATURE)
