"""The Open Inference Protocol (KServe V2) over REST: one more adapter on the one prediction pipeline.

`{model_name}` is a registered model's name; `{model_version}` is a version's label as its author named it
("1", "v2", "2024-06") or its number; without one, the deployed version. Inference resolves, authorizes,
charges and records exactly as `/api/predict` does (serving/pipeline.py); serving/tensors.py reads the
request, serving/v2.py turns its tensors into rows and the prediction into tensors. Every route needs a
credential (Bearer or X-API-Key; tritonclient sends them as headers); the unauthenticated probe is `/health`.

Errors keep the one error body, with the protocol's `error` holding the descriptive message (the protocol
asks for `{"error": "<message>"}`): 400 for a bad tensor, 404 for an unknown model or version, 409 for a
version that is not deployed, 422 when the model refuses the values.
"""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from modelyard import __version__
from modelyard.api.deps import CurrentUser, RuntimeDep, current_user
from modelyard.api.errors import error_response
from modelyard.api.openapi import ErrorOut
from modelyard.api.serving import INLINE_ROWS
from modelyard.auth.models import User
from modelyard.errors import AppError, ServiceUnavailable
from modelyard.ops.health import check_parts
from modelyard.runtime import Runtime
from modelyard.serving import tensors, v2
from modelyard.serving.pipeline import Served
from modelyard.serving.versions import VersionRef


class V2Route(APIRoute):
    """The protocol's error body: the app's one error shape with the message as `error`."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def with_v2_errors(request: Request):
            try:
                return await handler(request)
            except AppError as exc:
                return error_response(request, exc.status, exc.code, exc.message, details=exc.details,
                                      title=exc.message, headers=exc.headers)
            except RequestValidationError as exc:  # a path parameter out of bounds
                message = "invalid request: " + "; ".join(f"{'.'.join(map(str, e.get('loc', ())[1:]))}: "
                                                          f"{e.get('msg', '')}" for e in exc.errors()[:5])
                return error_response(request, 422, "INVALID_INPUT", message, title=message)

        return with_v2_errors


class LiveOut(BaseModel):
    live: bool


class ReadyOut(BaseModel):
    ready: bool


class ServerMetadataOut(BaseModel):
    name: str
    version: str
    extensions: list[str]


class TensorMetadataOut(BaseModel):
    name: str
    datatype: str
    shape: list[int] = Field(description="-1: any size (the first dimension is the batch)")


class ModelMetadataOut(BaseModel):
    name: str
    versions: list[str] = Field(description="the labels `/versions/{model_version}` takes (archived ones left out)")
    platform: str
    inputs: list[TensorMetadataOut]
    outputs: list[TensorMetadataOut]


class ModelReadyOut(BaseModel):
    name: str
    ready: bool


class OutputTensorOut(BaseModel):
    name: str
    shape: list[int]
    datatype: str
    data: list[Any] | None = Field(None, description="row-major values; absent when sent as binary data")
    parameters: dict[str, Any] | None = Field(None, description="binary_data_size for a binary output")


class InferOut(BaseModel):
    model_name: str
    model_version: str
    id: str = Field(description="the request's id, or else this request's X-Request-ID")
    outputs: list[OutputTensorOut]


ERRORS = {status: {"model": ErrorOut} for status in (400, 404, 409)}
INFER_RESPONSES = {200: {"model": InferOut, "content": {"application/octet-stream": {}},
                         "description": "JSON; with binary outputs, the JSON (its length in the "
                                        "Inference-Header-Content-Length header) then their bytes"},
                   402: {"model": ErrorOut}}
router = APIRouter(prefix="/v2", tags=["open-inference-protocol"], dependencies=[Depends(current_user)],
                   route_class=V2Route, responses=ERRORS)
MODEL = "/models/{model_name}"
VERSION = "/models/{model_name}/versions/{model_version}"
ModelName = Annotated[str, Path(max_length=100, description="a registered model's name")]
ModelVersion = Annotated[str, Path(max_length=64, description="a version label (\"1\", \"v2\") or number")]
REQUEST_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["inputs"],
    "properties": {"id": {"type": "string"}, "parameters": {"type": "object"},
                   "inputs": {"type": "array", "items": {"type": "object", "required": ["name", "shape", "datatype"],
                              "properties": {"name": {"type": "string"}, "datatype": {"type": "string"},
                                             "shape": {"type": "array", "items": {"type": "integer"}},
                                             "parameters": {"type": "object"}, "data": {"type": "array"}}}},
                   "outputs": {"type": "array", "items": {"type": "object", "required": ["name"],
                               "properties": {"name": {"type": "string"}, "parameters": {"type": "object"}}}}}},
    "example": {"id": "42", "inputs": [{"name": "spend", "shape": [2], "datatype": "FP64", "data": [120.5, 80]},
                                       {"name": "visits", "shape": [2, 1], "datatype": "INT64", "data": [[3], [7]]}]},
}}}}


@router.get("/health/live")
def server_live() -> LiveOut:
    """The server answers (Kubernetes' liveness probe, with a credential)."""
    return LiveOut(live=True)


@router.get("/health/ready")
def server_ready(runtime: RuntimeDep) -> ReadyOut:
    """Ready when every part it serves from answers (database, blob store, queue, rate limits); else 503."""
    report = check_parts(runtime)
    if not report.healthy:
        raise ServiceUnavailable(f"not ready: {report.message}")
    return ReadyOut(ready=True)


@router.get("")
def server_metadata() -> ServerMetadataOut:
    return ServerMetadataOut(name="modelyard", version=__version__, extensions=["binary_tensor_data"])


@router.get(MODEL)
def model_metadata(model_name: ModelName, user: CurrentUser, runtime: RuntimeDep) -> ModelMetadataOut:
    """The deployed version's inputs (one per signature column) and outputs; `versions` lists the others."""
    return _metadata(runtime, model_name, None, user)


@router.get(VERSION)
def version_metadata(model_name: ModelName, model_version: ModelVersion, user: CurrentUser,
                     runtime: RuntimeDep) -> ModelMetadataOut:
    return _metadata(runtime, model_name, model_version, user)


@router.get(MODEL + "/ready")
def model_ready(model_name: ModelName, user: CurrentUser, runtime: RuntimeDep) -> ModelReadyOut:
    """200 once the deployed version is loaded in this process (loading it now if needed)."""
    return _ready(runtime, model_name, None, user)


@router.get(VERSION + "/ready")
def version_ready(model_name: ModelName, model_version: ModelVersion, user: CurrentUser,
                  runtime: RuntimeDep) -> ModelReadyOut:
    """200 once the version is deployed and loaded in this process; 409 while it is not deployed."""
    return _ready(runtime, model_name, model_version, user)


@router.post(MODEL + "/infer", openapi_extra=REQUEST_BODY, response_model=None, responses=INFER_RESPONSES)
async def model_infer(request: Request, model_name: ModelName, user: CurrentUser, runtime: RuntimeDep):
    """Typed tensors in, one prediction per batch item out, by the deployed version."""
    return await _infer_route(request, runtime, model_name, None, user)


@router.post(VERSION + "/infer", openapi_extra=REQUEST_BODY, response_model=None, responses=INFER_RESPONSES)
async def version_infer(request: Request, model_name: ModelName, model_version: ModelVersion, user: CurrentUser,
                        runtime: RuntimeDep):
    """Typed tensors in, one prediction per batch item out, by this version (it must be the deployed one)."""
    return await _infer_route(request, runtime, model_name, model_version, user)


def _metadata(runtime: Runtime, name: str, label: str | None, user: User) -> ModelMetadataOut:
    version = runtime.predictions.resolve_named(name, label, viewer=user)
    with runtime.db.session() as session:
        labels = v2.version_labels(session, name, viewer=user)
    return ModelMetadataOut.model_validate(v2.model_metadata(version, labels))


def _ready(runtime: Runtime, name: str, label: str | None, user: User) -> ModelReadyOut:
    pipeline = runtime.predictions
    version = pipeline.resolve_named(name, label, viewer=user)
    pipeline.authorize(version)
    pipeline.model(version)
    return ModelReadyOut(name=version.name, ready=True)


async def _infer_route(request: Request, runtime: Runtime, name: str, label: str | None, user: User) -> Response:
    """Small requests for a resolved, loaded model run on the event loop (api/serving.py); others in a thread."""
    parsed = tensors.parse_request(await request.body(), request.headers.get("inference-header-content-length"))
    pipeline = runtime.predictions
    version = pipeline.ready_named(name, label, viewer=user) if parsed.batch <= INLINE_ROWS else None
    if version is not None:
        served = _infer(runtime, version, parsed, user)
    else:
        version, served = await run_in_threadpool(_resolve_and_infer, runtime, name, label, parsed, user)
    answer = {"model_name": version.name, "model_version": version.label,
              "id": parsed.id if parsed.id is not None else request.scope["state"].get("request_id", "")}
    parameters = {k: v for k, v in (("cached_at", served.cached_at), ("credits_consumed", served.credits)) if v}
    if parameters:
        answer["parameters"] = parameters
    content, header_length = v2.encode(answer, v2.output_tensors(served.answer, parsed))
    if header_length is None:
        return Response(content, media_type="application/json")
    return Response(content, media_type="application/octet-stream",
                    headers={"Inference-Header-Content-Length": str(header_length)})


def _infer(runtime: Runtime, version: VersionRef, parsed: tensors.InferRequest, user: User) -> Served:
    """One call of the pipeline (limit, prediction cache, predict, charge), once the tensors fit the version."""
    pipeline = runtime.predictions
    rows = v2.rows_for(parsed, version.signature)
    v2.check_outputs(parsed, version)
    return pipeline.call(version, {"open-inference": rows},
                         lambda: v2.answer_of(pipeline.predict(version, rows, viewer=user).outputs),
                         viewer=user, rows=len(rows))


def _resolve_and_infer(runtime: Runtime, name: str, label: str | None, parsed: tensors.InferRequest,
                       user: User) -> tuple[VersionRef, Served]:
    version = runtime.predictions.resolve_named(name, label, viewer=user)
    return version, _infer(runtime, version, parsed, user)
