"""Labeling requests: who may create them and who sees which (labeling contract, section 2)."""
from tests.support.images import encode, scene
from tests.support.labeling import create_request, upload_ok


def test_a_customer_creates_a_request_in_the_contract_shape(client, accounts):
    body = create_request(client, accounts["user"].headers, title="  Birds ", classes=["owl", "crow", "owl"])
    assert {"id", "title", "description", "classes", "status", "created_at"} <= set(body)
    assert body["title"] == "Birds"
    assert body["classes"] == ["owl", "crow"], "duplicate classes are dropped, order kept"
    assert body["status"] == "new"
    assert body["images_count"] == 0


def test_customers_list_only_their_own_requests(client, accounts):
    mine = create_request(client, accounts["user"].headers, title="mine")
    theirs = create_request(client, accounts["other"].headers, title="theirs")
    listed = client.get("/requests", headers=accounts["user"].headers).json()
    assert [r["id"] for r in listed] == [mine["id"]]
    assert theirs["id"] not in {r["id"] for r in client.get("/requests", headers=accounts["user"].headers).json()}


def test_another_customers_request_is_not_found_anywhere(client, accounts):
    theirs = create_request(client, accounts["other"].headers)
    me = accounts["user"].headers
    rid = theirs["id"]
    for method, path in [("GET", f"/requests/{rid}"), ("GET", f"/requests/{rid}/uploads"),
                         ("GET", f"/requests/{rid}/qc/results"), ("POST", f"/requests/{rid}/qc/run"),
                         ("GET", f"/requests/{rid}/export")]:
        assert client.request(method, path, headers=me).status_code == 404, path
    png = encode(scene(1))
    assert client.post(f"/requests/{rid}/uploads", files=[("files", ("a.png", png, "image/png"))],
                       headers=me).status_code == 404
    assert client.post("/uploads/presign", json={"request_id": rid, "files": [{"filename": "a.png",
                                                                               "content_type": "image/png"}]},
                       headers=me).status_code == 404
    assert client.get(f"/requests/{rid}", headers=accounts["labeler"].headers).status_code == 404


def test_admin_and_universal_see_every_request_and_may_filter(client, accounts):
    first = create_request(client, accounts["user"].headers, title="first")
    second = create_request(client, accounts["other"].headers, title="second")
    upload_ok(client, accounts["other"].headers, second["id"], [("a.png", encode(scene(2)))])
    for role in ("admin", "universal"):
        headers = accounts[role].headers
        ids = {r["id"] for r in client.get("/requests", headers=headers).json()}
        assert {first["id"], second["id"]} <= ids, role
        by_owner = client.get("/requests", params={"owner": accounts["other"].username}, headers=headers).json()
        assert [r["id"] for r in by_owner] == [second["id"]]
        by_status = client.get("/requests", params={"status": "uploading"}, headers=headers).json()
        assert [r["id"] for r in by_status] == [second["id"]]
        assert client.get("/requests", params={"mine": True}, headers=headers).json() == []
        assert client.get(f"/requests/{first['id']}", headers=headers).status_code == 200


def test_a_labeler_may_not_create_requests_and_is_told_in_the_labeling_contracts_role_words(client, accounts):
    response = client.post("/requests", json={"title": "x", "classes": ["a"]}, headers=accounts["labeler"].headers)
    assert response.status_code == 403
    assert response.json()["message"] == "this action needs the role customer or admin; you are labeler"
    assert " user" not in response.json()["message"]


def test_a_customer_refused_an_admin_route_is_called_a_customer(client, accounts):
    response = client.get("/admin/requests", headers=accounts["user"].headers)
    assert response.status_code == 403
    assert response.json()["message"] == "this action needs the role admin; you are customer"


def test_a_request_needs_a_title_and_at_least_one_class(client, accounts):
    headers = accounts["user"].headers
    assert client.post("/requests", json={"title": "x", "classes": []}, headers=headers).status_code == 422
    assert client.post("/requests", json={"title": " ", "classes": ["a"]}, headers=headers).status_code == 422
    assert client.post("/requests", json={"title": "x", "classes": [" "]}, headers=headers).status_code == 422


def test_admin_requests_answer_the_contract_shape(client, accounts):
    created = create_request(client, accounts["user"].headers)
    listed = client.get("/admin/requests", headers=accounts["admin"].headers).json()
    row = next(r for r in listed if r["id"] == created["id"])
    assert {"id", "title", "status", "created_at"} <= set(row)
    assert row["owner"] == accounts["user"].username
