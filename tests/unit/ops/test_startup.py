"""The start-up summary and the one-line refusals, without starting a process."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from modelyard.config import Settings
from modelyard.ops.startup import mask_url, settings_error_lines, summary_lines


@pytest.mark.parametrize("url, shown", [
    ("postgresql://app:s3cret@db:5432/modelyard", "postgresql://app:***@db:5432/modelyard"),
    ("redis://:s3cret@cache:6379/0", "redis://:***@cache:6379/0"),
    ("redis://cache:6379/0", "redis://cache:6379/0"),
    ("sqlite:////data/modelyard.db", "sqlite:////data/modelyard.db"),
])
def test_passwords_in_urls_are_masked(url, shown):
    assert mask_url(url) == shown


def test_the_scaled_summary_says_jobs_run_elsewhere_and_hides_every_password(tmp_path):
    settings = Settings(_env_file=None, home=tmp_path, database_url="postgresql://app:pw-1@db/modelyard",
                        queue_url="redis://:pw-2@cache:6379/0", redis_url="redis://:pw-3@cache:6379/1",
                        blob_url="s3://models/prod", s3_endpoint_url="http://minio:9000")

    lines = summary_lines(settings, command="serve", jobs_here=False, threads=2, host="0.0.0.0", port=8080)
    text = "\n".join(lines)

    assert not any(secret in text for secret in ("pw-1", "pw-2", "pw-3"))
    assert "database    : postgresql://app:***@db/modelyard" in text
    assert "blob store  : s3://models/prod at http://minio:9000" in text
    assert "queue       : redis://:***@cache:6379/0 (name modelyard)" in text
    assert "not run in this process: start `modelyard worker`" in text
    assert "rate limits : redis://:***@cache:6379/1" in text
    assert ":8080/docs (Swagger UI)" in text and "0.0.0.0" not in text


def test_each_invalid_setting_is_one_line_naming_its_variable(monkeypatch):
    monkeypatch.setenv("MODELYARD_SECRET_KEY", "changeme")
    monkeypatch.setenv("MODELYARD_WORKER_THREADS", "0")
    with pytest.raises(ValidationError) as invalid:
        Settings(_env_file=None)

    lines = settings_error_lines(invalid.value)

    assert len(lines) == 2
    assert lines[0].startswith("modelyard: error: MODELYARD_SECRET_KEY: is a placeholder")
    assert lines[1].startswith("modelyard: error: MODELYARD_WORKER_THREADS: Input should be greater than or equal to 1")
