"""Assignment, labeler tasks, labels and export (labeling contract, sections 5 and 6)."""
import csv
import io

import pytest

from modelyard.auth.service import AuthService
from tests.support.images import encode, jpeg, scene
from tests.support.labeling import create_request, local_path, upload_ok


@pytest.fixture
def labeled_setup(client, accounts):
    """A customer's request with two images, assigned by the admin to the labeler."""
    customer = accounts["user"].headers
    request = create_request(client, customer, classes=["cat", "dog", "bird"])
    body = upload_ok(client, customer, request["id"], [("one.png", encode(scene(1))),
                                                       ("=HYPERLINK(evil).jpg", jpeg(scene(2)))])
    assigned = client.post("/admin/assign", headers=accounts["admin"].headers,
                           json={"request_id": request["id"], "labeler_username": accounts["labeler"].username})
    assert assigned.status_code == 200, assigned.text
    assert assigned.json()["status"] == "assigned"
    return request, [i["image_id"] for i in body["images"]], assigned.json()["task_id"]


def label(client, headers, task_id, image_id, labels):
    return client.post(f"/tasks/{task_id}/labels", headers=headers, json={"image_id": image_id, "labels": labels})


def test_a_labeler_labels_every_image_of_an_assigned_request(client, accounts, labeled_setup):
    request, images, task_id = labeled_setup
    labeler = accounts["labeler"].headers
    tasks = client.get("/tasks", headers=labeler).json()
    assert [t["id"] for t in tasks] == [task_id]
    assert tasks[0]["request_title"] == request["title"] and tasks[0]["images_count"] == 2
    assert tasks[0]["status"] == "assigned"
    assert client.get(f"/requests/{request['id']}", headers=accounts["user"].headers).json()["status"] == "in_labeling"

    detail = client.get(f"/tasks/{task_id}", headers=labeler).json()
    assert detail["classes"] == ["cat", "dog", "bird"]
    assert [i["image_id"] for i in detail["images"]] == images
    assert client.get(local_path(detail["images"][0]["url"])).content.startswith(b"\x89PNG"), "the original"

    saved = label(client, labeler, task_id, images[0], ["cat"])
    assert saved.status_code == 200, saved.text
    assert (saved.json()["status"], saved.json()["task_status"]) == ("saved", "in_progress")
    assert label(client, labeler, task_id, images[0], ["dog", "bird", "dog"]).json()["labels"] == ["dog", "bird"]
    done = label(client, labeler, task_id, images[1], ["cat"]).json()
    assert (done["task_status"], done["labeled_count"], done["images_count"]) == ("done", 2, 2)
    assert client.get(f"/requests/{request['id']}", headers=accounts["user"].headers).json()["status"] == "labeled"

    detail = client.get(f"/tasks/{task_id}", headers=labeler).json()
    assert [i["labels"] for i in detail["images"]] == [["dog", "bird"], ["cat"]], "re-labeling replaces"


def test_labels_export_as_json_and_csv_for_the_customer(client, accounts, labeled_setup):
    request, images, task_id = labeled_setup
    label(client, accounts["labeler"].headers, task_id, images[0], ["cat", "dog"])
    label(client, accounts["labeler"].headers, task_id, images[1], ["bird"])
    customer = accounts["user"].headers
    rows = client.get(f"/requests/{request['id']}/export", headers=customer).json()
    assert [(r["image_id"], r["labels"], r["labeler"]) for r in rows] == [
        (images[0], ["cat", "dog"], accounts["labeler"].username), (images[1], ["bird"], accounts["labeler"].username)]
    assert all(r["image_key"] and r["labeled_at"] for r in rows)
    response = client.get(f"/requests/{request['id']}/export", params={"format": "csv"}, headers=customer)
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["image_id"], r["labels"]) for r in table] == [(images[0], "cat;dog"), (images[1], "bird")]
    assert table[1]["filename"] == "'=HYPERLINK(evil).jpg", "formula-like cells are defused"
    assert client.get(f"/requests/{request['id']}/export", headers=accounts["admin"].headers).status_code == 200
    assert client.get(f"/requests/{request['id']}/export", headers=accounts["other"].headers).status_code == 404


def test_labels_outside_the_requests_classes_are_refused(client, accounts, labeled_setup):
    _, images, task_id = labeled_setup
    response = label(client, accounts["labeler"].headers, task_id, images[0], ["cat", "giraffe"])
    assert response.status_code == 400
    assert "giraffe" in response.json()["message"]
    assert label(client, accounts["labeler"].headers, task_id, images[0], []).status_code == 400


def test_labels_for_an_image_outside_the_task_are_refused(client, accounts, labeled_setup):
    _, _, task_id = labeled_setup
    elsewhere = create_request(client, accounts["other"].headers)
    foreign = upload_ok(client, accounts["other"].headers, elsewhere["id"], [("x.png", encode(scene(9)))])
    image_id = foreign["images"][0]["image_id"]
    response = label(client, accounts["labeler"].headers, task_id, image_id, ["cat"])
    assert response.status_code == 400
    assert "not part of task" in response.json()["message"]
    assert label(client, accounts["labeler"].headers, task_id, "img_missing", ["cat"]).status_code == 400


def test_each_role_sees_only_the_tasks_it_should(client, accounts, app, labeled_setup):
    _, images, task_id = labeled_setup
    runtime = app.state.runtime
    with runtime.db.session() as session:
        auth = AuthService(session, secret=runtime.settings.resolved_secret_key, token_ttl=3600,
                           limiter=runtime.limiter)
        second = auth.issue_token(auth.create_user("second-labeler", "second-labeler-pw", role="labeler"))
    other_labeler = {"Authorization": f"Bearer {second}"}
    assert client.get("/tasks", headers=other_labeler).json() == []
    assert client.get(f"/tasks/{task_id}", headers=other_labeler).status_code == 404
    assert label(client, other_labeler, task_id, images[0], ["cat"]).status_code == 404
    customer = accounts["user"].headers
    assert client.get(f"/tasks/{task_id}", headers=customer).status_code == 404, "customers label nothing"
    assert client.get("/tasks", headers=accounts["user"].headers).json() == []
    for role in ("admin", "universal"):
        assert client.get(f"/tasks/{task_id}", headers=accounts[role].headers).status_code == 200
        assert task_id in {t["id"] for t in client.get("/tasks", params={"all": True},
                                                       headers=accounts[role].headers).json()}
    admin_tasks = client.get("/admin/tasks", headers=accounts["admin"].headers).json()
    row = next(t for t in admin_tasks if t["id"] == task_id)
    assert {"id", "request_id", "status", "created_at"} <= set(row)
    assert row["labeler"] == accounts["labeler"].username


def test_assigning_again_reuses_the_task_and_refuses_non_labelers(client, accounts, labeled_setup):
    request, _, task_id = labeled_setup
    admin = accounts["admin"].headers
    again = client.post("/admin/assign", headers=admin,
                        json={"request_id": request["id"], "labeler_username": accounts["labeler"].username})
    assert again.json()["task_id"] == task_id and again.json()["created"] is False
    customer = client.post("/admin/assign", headers=admin,
                           json={"request_id": request["id"], "labeler_username": accounts["other"].username})
    assert customer.status_code == 400
    assert client.post("/admin/assign", headers=admin,
                       json={"request_id": request["id"], "labeler_username": "nobody"}).status_code == 404
    assert client.post("/admin/assign", headers=admin,
                       json={"request_id": "lreq_missing", "labeler_username": accounts["labeler"].username}
                       ).status_code == 404
    moved = client.post("/admin/assign", headers=admin,
                        json={"task_id": task_id, "labeler_username": accounts["universal"].username})
    assert moved.json()["task_id"] == task_id
    assert client.get(f"/tasks/{task_id}", headers=accounts["labeler"].headers).status_code == 404
    assert client.post("/admin/assign", headers=accounts["labeler"].headers,
                       json={"request_id": request["id"], "labeler_username": "x"}).status_code == 403
