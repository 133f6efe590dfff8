"""Blob storage: `open_blob_store(settings)` picks the implementation by the scheme of blob_url."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from modelyard.storage.base import (
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    BlobStoreFull,
    BlobTooLarge,
    SignedUrl,
    check_key,
)

from modelyard.errors import Misconfigured

if TYPE_CHECKING:
    from modelyard.config import Settings

__all__ = [
    "BlobInfo", "BlobNotFound", "BlobStore", "BlobStoreError", "BlobStoreFull", "BlobTooLarge", "SignedUrl", "check_key",
    "open_blob_store",
]


def open_blob_store(settings: Settings) -> BlobStore:
    """`file:///path` → LocalBlobStore; `s3://bucket/prefix` → S3BlobStore. A missing bucket is created
    only when `s3_create_bucket` is set; otherwise it is refused (a typo must not make a new bucket)."""
    url = settings.resolved_blob_url
    parts = urlsplit(url)
    if parts.scheme == "file":
        from modelyard.storage.local import LocalBlobStore

        host = "" if parts.netloc in ("", "localhost") else parts.netloc  # file://data/blobs is relative
        path = unquote(host + parts.path)
        if not path:
            raise ValueError(f"blob_url {url!r} names no folder")
        return LocalBlobStore(Path(path), settings.resolved_secret_key)
    if parts.scheme == "s3":
        from modelyard.storage.s3 import S3BlobStore

        if not parts.netloc:
            raise ValueError(f"blob_url {url!r} names no bucket; expected s3://bucket/prefix")
        store = S3BlobStore(
            parts.netloc,
            unquote(parts.path).strip("/"),
            endpoint_url=settings.s3_endpoint_url or None,
            region=settings.s3_region or None,
            access_key_id=settings.s3_access_key_id or None,
            secret_access_key=settings.s3_secret_access_key or None,
        )
        try:
            exists = store.bucket_exists()
        except BlobStoreError as exc:
            where = settings.s3_endpoint_url or "AWS S3"
            raise Misconfigured(f"cannot reach the S3 store of MODELYARD_BLOB_URL ({url}) at {where} "
                                f"({exc.message}); check MODELYARD_S3_ENDPOINT_URL and the credentials") from exc
        if settings.s3_create_bucket and not exists:
            store.ensure_bucket()
        elif not exists:
            raise Misconfigured(
                f"the S3 bucket {parts.netloc!r} of MODELYARD_BLOB_URL ({url}) does not exist; create it, "
                "correct the name, or set MODELYARD_S3_CREATE_BUCKET=true to have modelyard create it")
        return store
    raise ValueError(
        f"unsupported blob_url scheme {parts.scheme!r} in {url!r}: use file:///path or s3://bucket/prefix"
    )
