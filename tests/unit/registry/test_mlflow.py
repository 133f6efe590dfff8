"""Reading MLflow model folders: flavor choice, signature and example mapping, bounded reads of the archive."""
from __future__ import annotations

import io
import json
import struct
import zipfile

import pytest

from modelyard.errors import AppError, PayloadTooLarge
from modelyard.registry import mlflow
from tests.support.mlflow_models import mlflow_zip, signature_block, zipped


def test_mlflow_column_types_map_to_the_registrys_signature_types():
    block = {"inputs": json.dumps([{"name": n, "type": t} for n, t in
                                   [("a", "double"), ("b", "float"), ("c", "long"), ("d", "integer"),
                                    ("e", "boolean"), ("f", "string")]])}
    body = json.loads(mlflow.signature_json(block, None))
    assert [f["type"] for f in body["inputs"]] == ["number", "number", "integer", "integer", "integer", "string"]
    assert "example" not in body


def test_a_column_type_the_registry_does_not_have_is_refused_naming_it():
    block = {"inputs": json.dumps([{"name": "photo", "type": "binary"}])}
    with pytest.raises(AppError) as refused:
        mlflow.signature_json(block, None)
    assert refused.value.status == 422 and "'photo'" in refused.value.message and "binary" in refused.value.message


def test_a_tensor_signature_or_none_names_no_inputs():
    tensor = {"inputs": json.dumps([{"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 3]}}])}
    assert mlflow.signature_json(tensor, {"a": 1}) is None
    assert mlflow.signature_json(None, None) is None
    assert mlflow.signature_json({"inputs": None, "outputs": None}, None) is None


def test_the_example_is_kept_only_when_it_covers_every_input():
    block = {"inputs": json.dumps([{"name": "a", "type": "double"}, {"name": "b", "type": "string"}])}
    assert json.loads(mlflow.signature_json(block, {"a": 1.5, "b": "x", "extra": 3}))["example"] == {"a": 1.5, "b": "x"}
    assert "example" not in json.loads(mlflow.signature_json(block, {"a": 1.5}))


@pytest.mark.parametrize("raw,row", [
    ({"columns": ["a", "b"], "data": [[1, "x"], [2, "y"]]}, {"a": 1, "b": "x"}),
    ({"dataframe_split": {"columns": ["a"], "data": [[3.5]]}}, {"a": 3.5}),
    ({"dataframe_records": [{"a": 1}, {"a": 2}]}, {"a": 1}),
    ([{"a": 4}], {"a": 4}),
    ({"a": 5, "b": None}, {"a": 5, "b": None}),
    ({"inputs": [[1.0, 2.0]]}, None),  # a tensor example names no columns
    ({"columns": ["a"], "data": [[[1, 2]]]}, None),
])
def test_the_first_row_of_an_mlflow_input_example(raw, row):
    assert mlflow.first_example_row(json.dumps(raw).encode()) == row


def test_flavors_are_chosen_natively_and_custom_pyfunc_code_is_refused():
    assert mlflow.choose_flavor({"python_function": {"loader_module": "mlflow.onnx"}, "onnx": {"data": "m"}})[0] \
        == "onnx"
    assert mlflow.choose_flavor({"xgboost": {"data": "m"}})[0] == "xgboost"
    for flavors in ({"python_function": {"loader_module": "mlflow.pyfunc.model"}},
                    {"python_function": {"loader_module": "custom"}, "sklearn": {"pickled_model": "m"}},
                    {"pytorch": {"model_data": "data"}}):
        with pytest.raises(mlflow.UnsupportedFlavor):
            mlflow.choose_flavor(flavors)


def test_a_member_larger_than_the_limit_is_refused_from_its_declared_size():
    data = mlflow_zip("lightgbm", "model.lgb", b"tree\n" + bytes(2_000_000))
    with pytest.raises(PayloadTooLarge):
        mlflow.read_archive(data, max_bytes=1_000_000)
    assert mlflow.read_archive(data, max_bytes=3_000_000).model.startswith(b"tree\n")


def _understate_sizes(data: bytes, member: str, size: int) -> bytes:
    """The archive with `member`'s uncompressed size in both its headers rewritten to `size` (a lying zip)."""
    body = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    local = info.header_offset
    struct.pack_into("<I", body, local + 22, size)
    central = body.find(b"PK\x01\x02")
    while central != -1:
        name_length = struct.unpack_from("<H", body, central + 28)[0]
        if body[central + 46:central + 46 + name_length].decode() == member:
            struct.pack_into("<I", body, central + 24, size)
            break
        central = body.find(b"PK\x01\x02", central + 4)
    return bytes(body)


def test_a_member_whose_declared_size_lies_is_never_read_past_it():
    data = _understate_sizes(mlflow_zip("lightgbm", "model.lgb", b"tree\n" + bytes(2_000_000)), "model/model.lgb", 10)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.getinfo("model/model.lgb").file_size == 10
    with pytest.raises(AppError) as refused:
        mlflow.read_archive(data, max_bytes=1_000_000)
    assert refused.value.status == 400 and "could not be read" in refused.value.message


def test_the_signature_and_mlmodel_come_back_as_read():
    data = mlflow_zip("xgboost", "model.json", b'{"learner": {}}', model_format="json", folder="",
                      signature=signature_block(["a"], {"a": "long"}))
    found = mlflow.read_archive(data, max_bytes=1_000_000)
    assert found.flavor == "xgboost" and found.filename == "model.json" and found.run_id
    assert json.loads(found.signature_json) == {"inputs": [{"name": "a", "type": "integer"}]}
    assert b"flavors:" in found.mlmodel


def test_an_archive_with_two_model_folders_is_refused():
    data = zipped({"a/MLmodel": "flavors: {}\n", "b/MLmodel": "flavors: {}\n"}, folder="")
    with pytest.raises(mlflow.NotAnMlflowModel, match="several MLflow models"):
        mlflow.read_archive(data, max_bytes=1_000_000)


def test_the_cli_zip_leaves_out_files_reached_through_symlinks(tmp_path):
    from modelyard.registry.mlflow_upload import ImportFailed, zip_folder

    folder = tmp_path / "model"
    with zipfile.ZipFile(io.BytesIO(mlflow_zip("lightgbm", "model.lgb", b"tree\n"))) as archive:
        archive.extractall(tmp_path)
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.txt").write_text("x")
    (folder / "linked-dir").symlink_to(tmp_path / "outside", target_is_directory=True)
    (folder / "linked.txt").symlink_to(tmp_path / "outside" / "secret.txt")
    with zipfile.ZipFile(io.BytesIO(zip_folder(folder))) as archive:
        names = set(archive.namelist())
    assert "MLmodel" in names and "model.lgb" in names
    assert not any("linked" in n or "secret" in n for n in names), names
    with pytest.raises(ImportFailed, match="no MLmodel"):
        zip_folder(tmp_path / "outside")
