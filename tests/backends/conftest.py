"""Fixtures that give the blob store suite each implementation: a local folder and S3 (moto)."""
from __future__ import annotations

from types import SimpleNamespace

import uuid
from typing import Iterator

import httpx
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient

from modelyard.api.blobs import router as blobs_router
from modelyard.config import Settings
from modelyard.errors import AppError
from modelyard.storage.base import BlobStore
from modelyard.storage.local import LocalBlobStore
from modelyard.storage.s3 import S3BlobStore

SECRET = "test-secret-key-that-is-long-enough"
BASE_URL = "http://testserver"
MAX_UPLOAD_BYTES = 64 * 1024



def make_s3_store(endpoint: str) -> S3BlobStore:
    store = S3BlobStore(
        f"modelyard-test-{uuid.uuid4().hex[:12]}", "tenant/blobs", endpoint_url=endpoint, region="us-east-1",
        access_key_id="test", secret_access_key="test",
    )
    store.ensure_bucket()
    return store


@pytest.fixture(params=["local", "s3"])
def blob_store(request: pytest.FixtureRequest, tmp_path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs", SECRET)
    return make_s3_store(request.getfixturevalue("s3_endpoint"))


def blobs_app(store: BlobStore, tmp_path) -> FastAPI:
    """A tiny app with only the blob router, the way create_app mounts it."""
    app = FastAPI()
    settings = Settings(home=tmp_path / "home", secret_key=SECRET, max_upload_bytes=MAX_UPLOAD_BYTES)
    app.state.runtime = SimpleNamespace(blobs=store, settings=settings)  # the two parts the router reads
    app.include_router(blobs_router)

    @app.exception_handler(AppError)
    async def app_error(request: Request, exc: AppError) -> JSONResponse:
        body = {"error": {"code": exc.code, "message": exc.message}}
        return JSONResponse(body, status_code=exc.status, headers=exc.headers)

    return app


@pytest.fixture
def http(blob_store: BlobStore, tmp_path) -> Iterator[httpx.Client]:
    """A client for signed URLs: modelyard's own route for the local store, the S3 server otherwise."""
    if isinstance(blob_store, LocalBlobStore):
        with TestClient(blobs_app(blob_store, tmp_path), base_url=BASE_URL) as client:
            yield client
    else:
        with httpx.Client(timeout=30.0) as client:
            yield client
