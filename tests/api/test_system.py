"""Health and status answer with measured figures in each contract's shape."""
import psutil


def test_health_is_public_and_checks_the_database(client):
    body = client.get("/health").json()
    assert body["status"] == "healthy"
    assert body["version"]
    assert body["checks"]["database"]["latency_ms"] >= 0
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
    assert body["active_jobs"] >= 0
    assert body["cpu_usage"].endswith("%") and body["memory_usage"].endswith("%")
    assert body["uptime"].count(":") == 2


def test_status_needs_a_token(client):
    assert client.get("/status").status_code == 401
    assert client.get("/api/status").status_code == 401
