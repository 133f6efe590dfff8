"""CORS is off unless configured, never a wildcard with credentials; placeholder secrets are refused."""
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from modelyard.app import create_app
from modelyard.config import Settings


def test_configured_origin_gets_cors_headers_and_others_do_not(settings):
    configured = settings.model_copy(update={"cors_origins": ["https://app.example.com"]})
    with TestClient(create_app(configured, immediate_jobs=True)) as client:
        ok = client.options("/api/auth/login", headers={"Origin": "https://app.example.com",
                                                        "Access-Control-Request-Method": "POST"})
        assert ok.headers["access-control-allow-origin"] == "https://app.example.com"
        evil = client.options("/api/auth/login", headers={"Origin": "https://evil.example.com",
                                                          "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in evil.headers


def test_without_configuration_no_cors_headers_are_sent(client):
    response = client.get("/health", headers={"Origin": "https://app.example.com"})
    assert "access-control-allow-origin" not in response.headers


def test_a_wildcard_origin_with_credentials_is_refused():
    with pytest.raises(ValidationError):
        Settings(_env_file=None, cors_origins=["*"], cors_allow_credentials=True)


@pytest.mark.parametrize("secret", ["changeme", "short-secret"])
def test_placeholder_or_short_secrets_are_refused(secret):
    with pytest.raises(ValidationError):
        Settings(_env_file=None, secret_key=secret)


def test_a_generated_secret_is_kept_across_starts(tmp_path):
    first = Settings(_env_file=None, home=tmp_path).resolved_secret_key
    second = Settings(_env_file=None, home=tmp_path).resolved_secret_key
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0
