"""MLflow model folders written by hand, as MLflow's save_model writes them, zipped for the import route.

The MLmodel files follow MLflow's own: the example in MLflow's documentation ("MLmodel file",
https://mlflow.org/docs/latest/models.html#storage-format), for `mlflow.sklearn.save_model(model, "my_model")`:

    # Directory written by mlflow.sklearn.save_model(model, "my_model")
    my_model/
    ├── MLmodel
    ├── model.pkl
    ├── conda.yaml
    ├── python_env.yaml
    └── requirements.txt

    time_created: 2018-05-25T17:28:53.35
    flavors:
      sklearn:
        sklearn_version: 0.19.1
        pickled_model: model.pkl
      python_function:
        loader_module: mlflow.sklearn

and the flavor keys its modules write (github.com/mlflow/mlflow): `mlflow/onnx/__init__.py` adds
`onnx: {onnx_version, data: model.onnx, providers, onnx_session_options, code}` and
`python_function: {loader_module: mlflow.onnx, data: model.onnx, env, code}`; `mlflow/xgboost/__init__.py`
`xgboost: {xgb_version, data: model.<model_format>, model_class, model_format, code}`;
`mlflow/lightgbm/__init__.py` `lightgbm: {lgb_version, data: model.lgb (a Booster) or model.pkl
(a scikit-learn-API model), model_class, code}`; `mlflow/sklearn/__init__.py` `sklearn: {pickled_model,
sklearn_version, serialization_format, code}`. A column signature is two JSON strings
(`mlflow/models/signature.py`), e.g. `inputs: '[{"type": "double", "name": "spend", "required": true}]'`,
and an input example (`input_example.json`) is a DataFrame in pandas' split orient.
"""
from __future__ import annotations

import io
import json
import zipfile

from tests.support.registry_models import FEATURES

PYTHON_FUNCTION = """  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: {loader}
    {data_key}: {path}
    python_version: 3.11.7
"""

FLAVOR = {
    "onnx": """  onnx:
    code: null
    data: {path}
    onnx_session_options: null
    onnx_version: 1.16.0
    providers:
    - CUDAExecutionProvider
    - CPUExecutionProvider
""",
    "lightgbm": """  lightgbm:
    code: null
    data: {path}
    lgb_version: 4.3.0
    model_class: lightgbm.basic.Booster
""",
    "xgboost": """  xgboost:
    code: null
    data: {path}
    model_class: xgboost.core.Booster
    model_format: {model_format}
    xgb_version: 2.1.0
""",
    "sklearn": """  sklearn:
    code: null
    pickled_model: {path}
    serialization_format: {serialization}
    sklearn_version: 1.5.0
""",
}

TYPES = {"spend": "double", "visits": "long", "tenure": "double"}


def signature_block(columns=FEATURES, types=TYPES) -> str:
    inputs = json.dumps([{"type": types[c], "name": c, "required": True} for c in columns])
    return (f"signature:\n  inputs: '{inputs}'\n"
            "  outputs: '[{\"type\": \"double\", \"required\": true}]'\n  params: null\n")


def mlmodel(flavor: str, path: str, *, model_format: str = "json", serialization: str = "skops",
            signature: str | None = None, example: bool = False, pyfunc: bool = True,
            loader: str | None = None) -> str:
    """The MLmodel text MLflow writes for `flavor` with its model file at `path`."""
    text = "artifact_path: model\nflavors:\n"
    if pyfunc:
        data_key = "model_path" if flavor == "sklearn" else "data"
        text += PYTHON_FUNCTION.format(loader=loader or f"mlflow.{flavor}", data_key=data_key, path=path)
    text += FLAVOR[flavor].format(path=path, model_format=model_format, serialization=serialization)
    text += ("mlflow_version: 2.14.1\nmodel_size_bytes: 12345\nmodel_uuid: 6b7e0c6a2f0e4a0f9d3b8a1c2d3e4f50\n"
             "run_id: 9f1c2d3e4b5a69788796a5b4c3d2e1f0\n")
    if example:
        text += "saved_input_example_info:\n  artifact_path: input_example.json\n  pandas_orient: split\n" \
                "  serving_input_path: serving_input_example.json\n  type: dataframe\n"
    text += signature if signature is not None else signature_block()
    return text + "utc_time_created: '2024-06-20 10:21:33.120000'\n"


def zipped(files: dict[str, bytes | str], folder: str = "model") -> bytes:
    """A zip of an MLflow model folder (`folder/MLmodel`, ...; folder '' puts the files at the top)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, body in files.items():
            archive.writestr(f"{folder}/{name}" if folder else name, body)
    return buffer.getvalue()


def mlflow_zip(flavor: str, filename: str, model: bytes, *, example_row: dict | None = None,
               folder: str = "model", **options) -> bytes:
    """A zipped MLflow folder holding `model` as `filename`, its MLmodel, environment files and an example."""
    files: dict[str, bytes | str] = {
        "MLmodel": mlmodel(flavor, filename, example=example_row is not None, **options),
        filename: model,
        "conda.yaml": "channels:\n- conda-forge\ndependencies:\n- python=3.11.7\n- pip\nname: mlflow-env\n",
        "python_env.yaml": "python: 3.11.7\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n",
        "requirements.txt": "mlflow==2.14.1\n",
    }
    if example_row is not None:
        files["input_example.json"] = json.dumps({"columns": list(example_row),
                                                  "data": [list(example_row.values())]})
    return zipped(files, folder)
