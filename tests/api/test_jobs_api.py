"""Jobs over HTTP: owners see their own, admins all, others get 404."""
import pytest

from modelyard.jobs.service import JobService


def submit(app, account, kind="test.echo", **params):
    runtime = app.state.runtime
    with runtime.db.session() as session:
        from modelyard.auth.models import User

        owner = session.get(User, account.id)
        return JobService(session, runtime.queue).submit(kind, owner=owner, params=params).id


def test_owner_reads_their_finished_job(client, app, accounts):
    job_id = submit(app, accounts["user"], value="x")  # immediate mode: runs on submit
    body = client.get(f"/api/jobs/{job_id}", headers=accounts["user"].headers).json()
    assert body["status"] == "completed"
    assert body["result"] == {"echo": "x", "attempt": 1}
    assert body["progress"] == 100


def test_another_users_job_is_not_found(client, app, accounts):
    job_id = submit(app, accounts["user"])
    response = client.get(f"/api/jobs/{job_id}", headers=accounts["other"].headers)
    assert response.status_code == 404
    assert [j["job_id"] for j in client.get("/api/jobs", headers=accounts["other"].headers).json()] == []


def test_admin_sees_every_job(client, app, accounts):
    job_id = submit(app, accounts["user"])
    assert client.get(f"/api/jobs/{job_id}", headers=accounts["admin"].headers).status_code == 200
    listed = client.get("/api/jobs?status=completed", headers=accounts["admin"].headers).json()
    assert job_id in [j["job_id"] for j in listed]


def test_failed_job_says_why(client, app, accounts):
    job_id = submit(app, accounts["user"], kind="test.boom")
    body = client.get(f"/api/jobs/{job_id}", headers=accounts["user"].headers).json()
    assert (body["status"], body["error"]) == ("failed", "ValueError: the target column is empty")


def test_cancelling_a_finished_job_is_409(client, app, accounts):
    job_id = submit(app, accounts["user"])
    assert client.post(f"/api/jobs/{job_id}/cancel", headers=accounts["user"].headers).status_code == 409


def test_admin_diagnostics_job_checks_database_and_blob_store(client, accounts):
    response = client.post("/admin/diagnostics", json={"seconds": 0}, headers=accounts["admin"].headers)
    assert response.status_code == 202
    body = client.get(f"/api/jobs/{response.json()['job_id']}", headers=accounts["admin"].headers).json()
    assert body["status"] == "completed"
    assert body["result"]["blob_roundtrip"] is True


def test_diagnostics_is_admin_only_and_validates_its_input(client, accounts):
    assert client.post("/admin/diagnostics", json={}, headers=accounts["user"].headers).status_code == 403
    bad = client.post("/admin/diagnostics", json={"seconds": -1}, headers=accounts["admin"].headers)
    assert bad.status_code == 422


@pytest.mark.parametrize("body", [{"seconds": False}, {"fail": 0}, {"seconds": "5"}, {"fail": "yes"},
                                  {"seconds": False, "fail": 0}])
def test_diagnostics_refuses_booleans_as_numbers_and_numbers_as_booleans(client, accounts, body):
    response = client.post("/admin/diagnostics", json=body, headers=accounts["admin"].headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "INVALID_INPUT"


def test_job_listing_beyond_any_offset_is_422(client, accounts):
    assert client.get(f"/api/jobs?offset={2**64}", headers=accounts["user"].headers).status_code == 422
    assert client.get(f"/api/jobs?offset={10**9}", headers=accounts["user"].headers).json() == []
