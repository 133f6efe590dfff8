"""The OpenAPI document tells the truth: the real error body, the statuses each operation answers, and how
to authenticate (so that Swagger's "Authorize" and "Try it out" work)."""
from modelyard.api.openapi import ErrorOut
from tests.api.test_auth_matrix import PUBLIC, routes

ERROR_REF = "#/components/schemas/ErrorOut"


def operations(spec):
    for path, ops in spec["paths"].items():
        for method, operation in ops.items():
            yield method.upper(), path, operation


def test_fastapis_validation_error_is_gone_and_every_error_names_the_real_body(client):
    spec = client.get("/openapi.json").json()
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    assert "HTTPValidationError" not in client.get("/openapi.json").text
    assert set(spec["components"]["schemas"]["ErrorOut"]["required"]) == {
        "error", "message", "detail", "details", "code", "timestamp", "request_id"}
    for method, path, operation in operations(spec):
        for status, response in operation["responses"].items():
            if status.startswith(("4", "5")) and path not in ("/health", "/monitoring/api/health"):
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": ERROR_REF}, f"{method} {path} {status}"


def test_a_422_body_matches_the_documented_error_body(client, accounts):
    response = client.get("/api/jobs?limit=0", headers=accounts["user"].headers)
    assert response.status_code == 422
    ErrorOut.model_validate(response.json())
    assert isinstance(response.json()["details"], list)


def test_each_operation_declares_the_statuses_its_signature_can_give(client, app):
    spec = client.get("/openapi.json").json()
    for method, path, operation in operations(spec):
        declared = set(operation["responses"])
        if (method, path) not in PUBLIC:
            assert {"401", "429"} <= declared, f"{method} {path}"
        if path.startswith("/admin/"):
            assert "403" in declared, f"{method} {path}"
        if "{" in path:
            assert "404" in declared, f"{method} {path}"
        if operation.get("parameters") or operation.get("requestBody"):
            assert "422" in declared, f"{method} {path}"
        if operation.get("requestBody"):
            assert "413" in declared, f"{method} {path}"
    assert {"409"} <= set(spec["paths"]["/admin/users/{user_id}"]["patch"]["responses"])
    assert {"401", "429"} <= set(spec["paths"]["/api/auth/login"]["post"]["responses"])


def test_bearer_and_api_key_schemes_are_declared_on_every_private_operation(client, app):
    spec = client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["bearerAuth"] == {**schemes["bearerAuth"], "type": "http", "scheme": "bearer"}
    assert schemes["apiKeyAuth"] == {**schemes["apiKeyAuth"], "type": "apiKey", "in": "header", "name": "X-API-Key"}
    private = 0
    for method, path in routes(app):
        operation = spec["paths"][path][method.lower()]
        if (method, path) in PUBLIC:
            assert "security" not in operation, f"{method} {path} is public"
        else:
            assert operation["security"] == [{"bearerAuth": []}, {"apiKeyAuth": []}], f"{method} {path}"
            private += 1
    assert private >= 60


def test_the_declared_schemes_are_the_ones_the_api_accepts(client, accounts):
    key = client.post("/api/auth/keys", json={"name": "docs"}, headers=accounts["user"].headers).json()["api_key"]
    assert client.get("/api/auth/user", headers={"X-API-Key": key}).status_code == 200
    assert client.get("/api/auth/user", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    assert client.get("/api/auth/user", headers=accounts["user"].headers).status_code == 200


def test_login_documents_the_json_and_form_bodies_it_reads_by_hand(client):
    body = client.get("/openapi.json").json()["paths"]["/login"]["post"]["requestBody"]
    assert set(body["content"]) == {"application/json", "application/x-www-form-urlencoded"}
    assert client.post("/login", data={"username": "admin", "password": "admin-password-1"}).status_code == 200


def test_every_link_names_a_real_operation_a_real_parameter_and_a_field_of_the_answer(client):
    from modelyard.api.openapi import LINKS

    spec = client.get("/openapi.json").json()
    by_id = {op["operationId"]: (method, path, op) for method, path, op in operations(spec)}
    schemas = spec["components"]["schemas"]
    declared = 0
    for source, field, parameter, targets in LINKS:
        method, _, path = source.partition(" ")
        responses = spec["paths"][path][method.lower()]["responses"]
        success = next(code for code in responses if code.startswith("2"))
        body = schemas[responses[success]["content"]["application/json"]["schema"]["$ref"].split("/")[-1]]
        assert field in body["required"], f"{source} does not always answer {field}"
        links = responses[success]["links"]
        assert len(links) == len(targets), source
        for link in links.values():
            _, target_path, target = by_id[link["operationId"]]
            assert f"{{{parameter}}}" in target_path
            assert link["parameters"] == {parameter: f"$response.body#/{field}"}
            declared += 1
    assert declared >= 30
