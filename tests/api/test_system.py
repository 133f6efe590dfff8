"""Health and status answer with measured figures in each contract's shape."""
import psutil
import pytest


def test_health_is_public_and_checks_each_part(client):
    body = client.get("/health").json()
    assert body["status"] == "healthy"
    assert body["version"]
    assert set(body["checks"]) == {"database", "blob_store", "queue", "rate_limits"}
    for name, check in body["checks"].items():
        assert check["status"] == "healthy", (name, check)
        assert check["latency_ms"] >= 0
    assert body["checks"]["blob_store"]["backend"] == "file"
    assert body["checks"]["queue"]["backend"] == "sqlite"
    assert body["checks"]["rate_limits"]["backend"] == "memory"
    assert "message" not in body
    assert client.get("/monitoring/api/health").json()["status"] == "healthy"


def test_registry_status_reports_memory_cpu_and_disk(client, accounts):
    body = client.get("/status", headers=accounts["user"].headers).json()
    assert body["status"] == "healthy"
    assert body["memory"]["total"] == psutil.virtual_memory().total
    assert body["cpu_usage"].endswith("%")
    assert 0 < body["disk_usage"]["total"] and body["disk_usage"]["used"] <= body["disk_usage"]["total"]


def test_dashboard_status_counts_jobs_and_storage(client, accounts, app):
    before = client.get("/api/status", headers=accounts["user"].headers).json()["storage_used_bytes"]
    app.state.runtime.blobs.put("datasets/example.csv", b"a,b\n1,2\n")
    body = client.get("/api/status", headers=accounts["user"].headers).json()
    assert body["storage_used_bytes"] == before + 8
    assert body["status"] == "operational"
    assert body["warnings"] == []
    assert body["components"]["database"]["status"] == "healthy"
    assert body["active_jobs"] >= 0
    assert body["cpu_usage"].endswith("%") and body["memory_usage"].endswith("%")
    assert body["uptime"].count(":") == 2


def test_status_needs_a_token(client):
    assert client.get("/status").status_code == 401
    assert client.get("/api/status").status_code == 401


def queue_a_job(app, accounts, *, age_seconds: float) -> None:
    """A job row left `queued`, as when no worker takes it (the test app runs jobs immediately)."""
    from datetime import timedelta

    from modelyard.db import new_id, utcnow
    from modelyard.jobs.models import Job

    with app.state.runtime.db.session() as session:
        session.add(Job(id=new_id("job"), kind="diagnostics", owner_id=accounts["admin"].id, status="queued",
                        created_at=utcnow() - timedelta(seconds=age_seconds)))


def test_status_warns_when_jobs_are_queued_and_no_worker_is_alive(client, accounts, app):
    queue_a_job(app, accounts, age_seconds=120)

    body = client.get("/api/status", headers=accounts["admin"].headers).json()

    assert body["status"] == "degraded"
    assert body["live_workers"] == 0 and body["workers"] == []
    assert body["queued_jobs"] == 1
    assert 119 <= body["oldest_queued_job_age_seconds"] < 200
    assert len(body["warnings"]) == 1
    assert "1 job(s) queued" in body["warnings"][0] and "no worker is alive" in body["warnings"][0]


def test_status_shows_live_workers_from_their_heartbeats_and_forgets_silent_ones(client, accounts, app):
    from datetime import timedelta

    from modelyard.db import utcnow
    from modelyard.jobs.workers import WorkerBeat, WorkerHeartbeat

    runtime = app.state.runtime
    queue_a_job(app, accounts, age_seconds=5)
    beating = WorkerHeartbeat(runtime.db, kind="worker", queue_name=runtime.settings.queue_name, threads=3)
    beating.beat()
    silent = WorkerHeartbeat(runtime.db, kind="worker", queue_name=runtime.settings.queue_name, threads=1)
    silent.beat()
    with runtime.db.session() as session:
        session.get(WorkerBeat, silent.id).last_beat_at = utcnow() - timedelta(minutes=5)

    body = client.get("/api/status", headers=accounts["admin"].headers).json()

    assert body["status"] == "operational", body["warnings"]
    assert body["live_workers"] == 1
    assert [(w["id"], w["threads"], w["kind"]) for w in body["workers"]] == [(beating.id, 3, "worker")]
    beating.stop()
    assert client.get("/api/status", headers=accounts["admin"].headers).json()["status"] == "degraded"


@pytest.fixture
def redis_down_settings(settings):
    from tests.support.servers import free_port

    return settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"})


def test_with_the_rate_limit_redis_down_health_names_it_login_works_and_requests_get_503(redis_down_settings):
    from fastapi.testclient import TestClient

    from modelyard.app import create_app

    with TestClient(create_app(redis_down_settings, immediate_jobs=True)) as client:
        health = client.get("/health")
        login = client.post("/api/auth/login", json={"username": "admin", "password": "admin-password-1"})
        status = client.get("/api/status", headers={"Authorization": f"Bearer {login.json()['access_token']}"})

    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    assert health.json()["checks"]["rate_limits"]["status"] == "unhealthy"
    assert health.json()["checks"]["database"]["status"] == "healthy"
    assert "the Redis for rate limits (MODELYARD_REDIS_URL) is unreachable" in health.json()["message"]
    assert login.status_code == 200, "login needs the database only"
    assert status.status_code == 503, status.text
    assert status.json()["code"] == "SERVICE_UNAVAILABLE"
    assert "MODELYARD_REDIS_URL" in status.json()["message"]


def test_a_missing_blob_folder_is_reported_unhealthy(client, app):
    import shutil

    shutil.rmtree(app.state.runtime.blobs.root)
    body = client.get("/health")
    assert body.status_code == 503
    assert body.json()["checks"]["blob_store"]["status"] == "unhealthy"
    assert "the blob store (MODELYARD_BLOB_URL)" in body.json()["message"]


def test_with_the_database_gone_health_and_requests_answer_503_naming_it(postgres_server, tmp_path):
    from fastapi.testclient import TestClient

    from modelyard.app import create_app
    from modelyard.config import Settings
    from tests.conftest import create_pg_database, drop_pg_database

    url = create_pg_database(postgres_server)
    settings = Settings(_env_file=None, home=tmp_path / "home", database_url=url, admin_password="admin-password-1",
                        secret_key="test-secret-key-0123456789abcdef")
    try:
        with TestClient(create_app(settings, immediate_jobs=True)) as client:
            token = client.post("/api/auth/login", json={"username": "admin", "password": "admin-password-1"})
            headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
            drop_pg_database(url, postgres_server)

            health = client.get("/health")
            jobs = client.get("/api/jobs", headers=headers)
            login = client.post("/api/auth/login", json={"username": "admin", "password": "admin-password-1"})
    finally:
        drop_pg_database(url, postgres_server)

    assert health.status_code == 503
    assert health.json()["checks"]["database"]["status"] == "unhealthy"
    assert "the database (MODELYARD_DATABASE_URL) is unreachable" in health.json()["message"]
    for response in (jobs, login):
        assert response.status_code == 503, response.text
        assert response.json()["code"] == "SERVICE_UNAVAILABLE"
        assert "the database (MODELYARD_DATABASE_URL) is unavailable" in response.json()["message"]
