"""Size limits on model uploads: 413 without reading the body whole, nothing registered, no blob left."""
from pathlib import Path

import pytest

from tests.api.test_model_registry import model_count, upload
from tests.support.registry_models import regressor, skops_bytes

LIMIT = 256 * 1024


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"max_upload_bytes": LIMIT})


def stored_model_files(settings) -> list[Path]:
    root = Path(settings.home) / "blobs" / "models"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


@pytest.mark.parametrize("size", [LIMIT + 1000, 4 * LIMIT])
def test_a_model_file_over_the_limit_is_413_and_nothing_is_registered(client, accounts, app, settings, size):
    body = upload(client, accounts["user"], b"\x00" * size, filename="model.onnx", expect=413)
    assert body["code"] == "FILE_TOO_LARGE"
    assert model_count(app) == 0 and stored_model_files(settings) == []


def test_an_artifact_over_the_limit_is_413_and_leaves_no_blob_behind(client, accounts, app, settings):
    artifacts = [("config.json", b"{}", "application/json"), ("big.bin", b"x" * (LIMIT + 10), "application/octet-stream")]
    upload(client, accounts["user"], skops_bytes(regressor()), artifacts=artifacts, expect=413)
    assert model_count(app) == 0 and stored_model_files(settings) == []
