"""The OpenAPI document, completed in one place: the real error body, every status an operation can answer,
the security schemes that Swagger's "Authorize" button uses, and the links from the operations that create an object
to those that take its id.

Statuses come from two sources. Most follow from a route's signature: authentication (401, 429), a role check
(403), path parameters (404), any input (422), a body (400 for unreadable JSON, 413 over the size limit), and any
operation may find a backing service down (503). What a route's services add beyond that (a 409 for a conflict,
a 404 for an object named in the body) is listed in SERVICE_STATUSES below; the fuzz test
(tests/api/test_openapi_fuzz.py) checks that no operation answers a status it does not declare.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Callable, Iterator

from fastapi import FastAPI
from pydantic import BaseModel, Field

from modelyard.api.deps import current_user

BEARER, API_KEY = "bearerAuth", "apiKeyAuth"
SECURITY_SCHEMES = {
    BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT or API key",
             "description": "A token from any login route (`/login`, `/auth/login`, `/api/auth/login`), or an "
                            "API key (`mdy_…`) sent as `Authorization: Bearer <key>`."},
    API_KEY: {"type": "apiKey", "in": "header", "name": "X-API-Key",
              "description": "An API key (`mdy_…`) from `POST /api/auth/register` or `POST /api/auth/keys`."},
}


class ErrorOut(BaseModel):
    """Every error, in every contract: the superset of the contracts' three error formats."""

    error: str = Field(description="a short title, e.g. 'Not found'")
    message: str = Field(description="what went wrong and, where it helps, what to do")
    detail: str = Field(description="the message again (the labeling and model-registry clients read `detail`)")
    details: Any = Field(description="the message again, or structured details: for 422 a list of "
                                     "{loc, msg, type}, for others an object the error names")
    code: str = Field(description="machine-readable, e.g. NOT_FOUND, INVALID_INPUT, RATE_LIMIT_EXCEEDED")
    timestamp: datetime
    request_id: str | None = Field(description="also sent as the X-Request-ID header; quote it when reporting")


DESCRIPTIONS = {
    400: "Bad request: the input is well-formed but unusable (unreadable JSON or file, an invalid name or value)",
    401: "Authentication required, or the credentials are wrong or expired",
    403: "Authenticated, but this account may not do this",
    404: "Not found (or not yours: other users' objects are not found either)",
    402: "Insufficient credits for this call (nothing was charged); an admin can allocate more",
    409: "Conflict with the current state (already exists, still running, not deployed, nothing active)",
    413: "The body is larger than the limit",
    422: "Invalid input: a parameter or body field does not match the schema; `details` lists each",
    429: "Too many requests: wait for the seconds in Retry-After",
    503: "A backing service (database, blob store, job queue, Redis) is unavailable; try again later",
}

# What each route's services can answer beyond what its signature implies (see the module docstring).
_SCORING = {404, 409}  # csv-scoring routes need an active model (409 NO_ACTIVE_MODEL) and name uploads and jobs
_FEATURE_TABLE = {409}  # a table name several users share is ambiguous: 409, use its id
SERVICE_STATUSES: dict[tuple[str, str], set[int]] = {
    ("POST", "/login"): {400, 401, 429},
    ("POST", "/auth/login"): {401, 429},
    ("POST", "/api/auth/login"): {401, 429},
    ("POST", "/api/auth/register"): {409, 429},
    ("GET", "/blobs/{key}"): {400, 403},
    ("PUT", "/blobs/{key}"): {400, 403, 409, 413},
    ("POST", "/api/jobs/{job_id}/cancel"): {409},
    ("POST", "/admin/users"): {409},
    ("PATCH", "/admin/users/{user_id}"): {409},
    ("DELETE", "/admin/users/{user_id}"): {409},
    ("POST", "/api/upload"): {400},
    ("DELETE", "/api/datasets/{file_id}"): {409},
    ("POST", "/api/train"): {404},
    ("POST", "/api/models/{model_id}/deploy"): {409},
    ("GET", "/api/scoring/active-model"): _SCORING,
    ("PUT", "/api/scoring/active-model"): _SCORING,
    ("GET", "/download_template"): _SCORING,
    ("POST", "/upload"): {400} | _SCORING,
    ("POST", "/validate"): _SCORING,
    ("POST", "/predict"): _SCORING,
    ("GET", "/api/scoring/jobs/{job_id}"): _SCORING,
    ("GET", "/download_results"): _SCORING,
    ("POST", "/retrain"): _SCORING,
    ("GET", "/dashboard"): _SCORING,
    ("POST", "/requests/{request_id}/uploads"): {400},
    ("POST", "/uploads/presign"): {400, 404},
    ("POST", "/uploads/complete"): {400, 404},
    ("POST", "/requests/{request_id}/qc/run"): {409},
    ("POST", "/tasks/{task_id}/labels"): {400},
    ("POST", "/admin/assign"): {400, 404, 409},
    ("GET", "/metrics"): {401},
    ("POST", "/api/feature-tables"): {400} | _FEATURE_TABLE,
    ("GET", "/api/feature-tables/{table_ref}"): _FEATURE_TABLE,
    ("PUT", "/api/feature-tables/{table_ref}"): {400} | _FEATURE_TABLE,
    ("DELETE", "/api/feature-tables/{table_ref}"): _FEATURE_TABLE,
    ("GET", "/api/feature-tables/{table_ref}/rows"): {400} | _FEATURE_TABLE,
    ("PUT", "/api/feature-tables/{table_ref}/models/{model_version_id}"): _FEATURE_TABLE,
    ("DELETE", "/api/feature-tables/{table_ref}/models/{model_version_id}"): _FEATURE_TABLE,
    ("POST", "/upload_model"): {400, 403, 404, 409},
    ("POST", "/api/models/import/mlflow"): {400, 403, 404, 409},
    ("GET", "/get_model"): {400, 404, 409},
    ("GET", "/inference"): {400, 403, 404, 409},
    ("POST", "/api/predict/{model_ref}"): {402, 404, 409},  # a built-in's call: credits, unknown model, retired
    ("POST", "/api/industry/{industry}/{name}"): {402, 404, 409},
    ("POST", "/api/enterprise/batch/predict"): {402, 413},
    ("POST", "/api/upload/csv/{model_name}"): {400, 402, 404, 409, 413},
    ("GET", "/api/model-gallery/models/{model_name}"): {404},
    ("POST", "/api/model-gallery/models/{model_name}/activate"): {404, 409},
    ("POST", "/api/model-gallery/models/{model_name}/retrain"): {400, 404, 409},
    ("POST", "/api/model-gallery/upload"): {400, 403, 404, 409},
    ("GET", "/api/upload/csv/results/{job_id}"): {409},
    ("POST", "/api/webhooks/configure"): {409},  # the most webhooks one account may have
    ("POST", "/api/webhooks/{webhook_id}/test"): {409},  # a secret sealed under another MODELYARD_SECRET_KEY
}

# Bodies that a route reads by hand, so FastAPI cannot see them: `/login` takes JSON, a form or query parameters.
_LOGIN = {"$ref": "#/components/schemas/LoginIn"}
MANUAL_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("POST", "/login"): {"required": False, "description": "username and password as JSON or a form "
                                                           "(or as the query parameters the contract shows)",
                         "content": {"application/json": {"schema": _LOGIN},
                                     "application/x-www-form-urlencoded": {"schema": _LOGIN}}},
}

# OpenAPI links: where a create operation's answer names an object that other operations take in their path. The
# stateful fuzzing (tests/api/test_openapi_stateful.py) follows them to chain create -> use -> delete. Each entry:
# the creating operation, the field of its success body, the path parameter it fills, the operations taking it.
LINKS: list[tuple[str, str, str, tuple[str, ...]]] = [
    ("POST /api/upload", "file_id", "file_id", ("GET /api/datasets/{file_id}", "DELETE /api/datasets/{file_id}")),
    ("POST /api/train", "job_id", "job_id", ("GET /api/training/{job_id}", "GET /api/jobs/{job_id}",
                                             "POST /api/jobs/{job_id}/cancel")),
    ("POST /upload_model", "model_version_id", "model_id", (
        "GET /api/models/{model_id}", "POST /api/models/{model_id}/deploy", "POST /api/models/{model_id}/archive",
        "DELETE /api/models/{model_id}")),
    ("POST /api/auth/keys", "id", "key_id", ("POST /api/auth/keys/{key_id}/rotate", "DELETE /api/auth/keys/{key_id}")),
    ("POST /api/webhooks/configure", "id", "webhook_id", (
        "GET /api/webhooks/{webhook_id}", "PATCH /api/webhooks/{webhook_id}", "POST /api/webhooks/{webhook_id}/test",
        "GET /api/webhooks/{webhook_id}/deliveries", "DELETE /api/webhooks/{webhook_id}")),
    ("POST /requests", "id", "request_id", (
        "GET /requests/{request_id}", "POST /requests/{request_id}/uploads", "GET /requests/{request_id}/uploads",
        "POST /requests/{request_id}/qc/run", "GET /requests/{request_id}/qc/results",
        "GET /requests/{request_id}/export")),
    ("POST /api/feature-tables", "id", "table_ref", (
        "GET /api/feature-tables/{table_ref}", "GET /api/feature-tables/{table_ref}/rows",
        "PUT /api/feature-tables/{table_ref}", "DELETE /api/feature-tables/{table_ref}")),
    ("POST /admin/users", "id", "user_id", (
        "GET /admin/users/{user_id}", "GET /admin/users/{user_id}/credits/history",
        "POST /admin/users/{user_id}/credits", "PATCH /admin/users/{user_id}", "DELETE /admin/users/{user_id}")),
    ("POST /predict", "job_id", "job_id", ("GET /api/scoring/jobs/{job_id}",)),
]


def _operation(document: dict[str, Any], label: str) -> dict[str, Any] | None:
    method, _, path = label.partition(" ")
    return document.get("paths", {}).get(path, {}).get(method.lower())


def _add_links(document: dict[str, Any]) -> None:
    """Declare LINKS on the success response of each creating operation (skipping operations not mounted)."""
    for source, field, parameter, targets in LINKS:
        operation = _operation(document, source)
        if operation is None:
            continue
        success = next(code for code in operation["responses"] if code.startswith("2"))
        links = operation["responses"][success].setdefault("links", {})
        for target in targets:
            taken = _operation(document, target)
            if taken is not None and "operationId" in taken:
                links[taken["operationId"]] = {"operationId": taken["operationId"],
                                               "parameters": {parameter: f"$response.body#/{field}"}}


def _routes(app: FastAPI) -> Iterator[Any]:
    try:
        from fastapi.routing import iter_route_contexts  # FastAPI keeps included routers nested
    except ImportError:
        yield from app.router.routes
    else:
        yield from iter_route_contexts(app.router.routes)


def _calls(dependant: Any) -> Iterator[Callable]:
    for sub in getattr(dependant, "dependencies", ()):
        yield sub.call
        yield from _calls(sub)


def _signature_statuses(route: Any, operation: dict[str, Any]) -> set[int]:
    calls = list(_calls(getattr(route, "dependant", None)))
    statuses = {503}
    if current_user in calls:
        statuses |= {401, 429}
    if any(getattr(c, "__qualname__", "").startswith("require_roles.") for c in calls):
        statuses.add(403)
    parameters = operation.get("parameters", [])
    if any(p["in"] == "path" for p in parameters):
        statuses.add(404)
    body = operation.get("requestBody", {}).get("content", {})
    if parameters or body or "422" in operation.get("responses", {}):
        statuses.add(422)
    if body:
        statuses.add(413)
    if "application/json" in body:
        statuses.add(400)
    return statuses


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {"description": DESCRIPTIONS[status],
                                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}}
    if status == 429:
        response["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    return response


def complete(document: dict[str, Any], app: FastAPI) -> None:
    """Declare the error body and every status on each operation, and the security of the private ones."""
    routes = {(method, route.path): route for route in _routes(app)
              for method in (getattr(route, "methods", None) or ()) if getattr(route, "path", None)}
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            route = routes.get((method.upper(), path)) or next(
                (r for (m, p), r in routes.items() if m == method.upper() and p.split(":")[0] + "}" == path), None)
            if (method.upper(), path) in MANUAL_BODIES and "requestBody" not in operation:
                operation["requestBody"] = MANUAL_BODIES[(method.upper(), path)]
            statuses = _signature_statuses(route, operation) if route is not None else {503}
            statuses |= SERVICE_STATUSES.get((method.upper(), path), set())
            responses = operation.setdefault("responses", {})
            for status in sorted(statuses):
                if str(status) == "503" and "503" in responses:
                    continue  # /health answers its own body with 503
                responses[str(status)] = _error_response(status)
            operation["responses"] = dict(sorted(responses.items()))
            if route is not None and current_user in _calls(getattr(route, "dependant", None)):
                operation["security"] = [{BEARER: []}, {API_KEY: []}]
    _add_links(document)
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["ErrorOut"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    components["securitySchemes"] = SECURITY_SCHEMES
    text = repr(document.get("paths"))
    for name in ("HTTPValidationError", "ValidationError"):
        if f"#/components/schemas/{name}'" not in text:
            schemas.pop(name, None)


def install(app: FastAPI) -> None:
    """Complete the document FastAPI builds (it rebuilds it when routes change) before anyone reads it."""
    build = app.openapi
    completed: dict[str, Any] = {}

    def openapi() -> dict[str, Any]:
        document = build()
        if completed.get("document") is not document:
            complete(document, app)
            completed["document"] = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
