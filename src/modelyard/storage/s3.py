"""Blobs in an S3-compatible bucket (AWS S3, MinIO): the scaled shape, with presigned URLs."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any, BinaryIO, Iterable, Iterator

from modelyard.storage.base import (
    CHUNK,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobStoreError,
    BlobTooLarge,
    SignedUrl,
    check_key,
    iter_chunks,
)

USAGE_TTL_SECONDS = 60.0
_MISSING = {"NoSuchKey", "404", "NotFound"}
_OPERATIONS = {"GET": "get_object", "PUT": "put_object"}


class S3BlobStore(BlobStore):
    """Blobs as objects under `prefix/` in `bucket`.

    Puts go through `upload_fileobj` (multipart past 8 MB); a failure, including BlobTooLarge from
    the counting reader, aborts the upload, so nothing is visible under the key. Client errors
    become BlobNotFound (missing key) or BlobStoreError (anything else, connection errors included).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ):
        import boto3  # heavy: only when S3 is configured
        from botocore.config import Config

        if not bucket:
            raise ValueError("S3BlobStore needs a bucket name")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.region = region
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"} if endpoint_url else None,  # MinIO, moto: no bucket DNS
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=5,
            read_timeout=60,
            request_checksum_calculation="when_required",  # S3-compatibles reject the newer defaults
            response_checksum_validation="when_required",
        )
        self.client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or None,
            aws_access_key_id=access_key_id or None,
            aws_secret_access_key=secret_access_key or None,
            config=config,
        )
        self._usage: tuple[int, float] | None = None

    def bucket_exists(self) -> bool:
        """True when the bucket is there (and reachable with these credentials)."""
        from botocore.exceptions import ClientError

        with self._errors():
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if _code(exc) in {"404", "NoSuchBucket", "NotFound"}:
                    return False
                raise
        return True

    def ping(self) -> None:
        if not self.bucket_exists():
            raise BlobStoreError(f"S3 bucket {self.bucket!r} does not exist")

    def ensure_bucket(self) -> None:
        """Create the bucket when it does not exist yet (only when a setting asks for it)."""
        from botocore.exceptions import ClientError

        kwargs: dict[str, Any] = {"Bucket": self.bucket}
        if self.region and self.region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": self.region}
        with self._errors():
            try:
                self.client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as exc:
                if _code(exc) not in {"404", "NoSuchBucket", "NotFound"}:
                    raise
            try:
                self.client.create_bucket(**kwargs)
            except ClientError as exc:
                if _code(exc) != "BucketAlreadyOwnedByYou":
                    raise

    # Reading and writing ------------------------------------------------

    def put(
        self,
        key: str,
        data: BinaryIO | Iterable[bytes] | bytes,
        *,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        name = self._name(key)
        reader = _LimitedReader(iter_chunks(data), max_bytes)
        extra = {"ContentType": content_type} if content_type else None
        with self._errors():
            self.client.upload_fileobj(reader, self.bucket, name, ExtraArgs=extra)
        self._usage = None
        with self._errors(key):
            head = self.client.head_object(Bucket=self.bucket, Key=name)
        return BlobInfo(key=key, size=reader.size, etag=_etag(head), content_type=content_type)

    def open(self, key: str, *, chunk_size: int = CHUNK, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        if end is not None and end <= start:
            return iter(())
        extra = {"Range": f"bytes={start}-{'' if end is None else end - 1}"} if start or end is not None else {}
        with self._errors(key):
            body = self.client.get_object(Bucket=self.bucket, Key=self._name(key), **extra)["Body"]
        return self._stream(body, chunk_size)

    def stat(self, key: str) -> BlobInfo:
        with self._errors(key):
            head = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        return BlobInfo(
            key=key, size=int(head["ContentLength"]), etag=_etag(head), content_type=head.get("ContentType"),
        )

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except BlobNotFound:
            return False
        return True

    def delete(self, key: str) -> None:
        with self._errors():
            self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
        self._usage = None

    def usage_bytes(self) -> int:
        cached = self._usage
        if cached is not None and time.monotonic() - cached[1] < USAGE_TTL_SECONDS:
            return cached[0]
        total = 0
        with self._errors():
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else "",
            )
            for page in pages:
                total += sum(int(item["Size"]) for item in page.get("Contents", ()))
        self._usage = (total, time.monotonic())
        return total

    def signed_url(
        self, key: str, *, method: str = "GET", expires_in: int = 900, content_type: str | None = None,
        base_url: str | None = None,
    ) -> SignedUrl:
        """A presigned URL from the store itself; `base_url` is not used."""
        method = method.upper()
        if method not in _OPERATIONS:
            raise ValueError(f"signed URLs allow {tuple(_OPERATIONS)}, not {method!r}")
        params = {"Bucket": self.bucket, "Key": self._name(key)}
        headers: dict[str, str] = {}
        if content_type and method == "PUT":
            params["ContentType"] = content_type  # signed: the upload must send this exact header
            headers["Content-Type"] = content_type
        with self._errors():
            url = self.client.generate_presigned_url(_OPERATIONS[method], Params=params, ExpiresIn=int(expires_in))
        return SignedUrl(url=url, method=method, headers=headers, expires_in=int(expires_in))

    # Helpers ------------------------------------------------------------

    def _name(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _stream(self, body: Any, chunk_size: int) -> Iterator[bytes]:
        try:
            with self._errors():
                yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    @contextmanager
    def _errors(self, key: str | None = None) -> Iterator[None]:
        """Turn botocore failures into the store's errors; `key` given means 404 is BlobNotFound."""
        from botocore.exceptions import BotoCoreError, ClientError
        from urllib3.exceptions import HTTPError

        try:
            yield
        except ClientError as exc:
            if key is not None and _code(exc) in _MISSING:
                raise BlobNotFound(key) from exc
            raise BlobStoreError(f"S3 error {_code(exc) or 'unknown'} on bucket {self.bucket!r}") from exc
        except (BotoCoreError, HTTPError) as exc:
            raise BlobStoreError(f"the blob store (MODELYARD_BLOB_URL) is unreachable: S3 bucket {self.bucket!r}: "
                                 f"{exc}") from exc


class _LimitedReader:
    """A read-only, non-seekable file over chunks that raises BlobTooLarge past `max_bytes`."""

    def __init__(self, chunks: Iterator[bytes], max_bytes: int | None):
        self._chunks = chunks
        self._max = max_bytes
        self._buffer = bytearray()
        self._done = False
        self.size = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def read(self, size: int = -1) -> bytes:
        while not self._done and (size is None or size < 0 or len(self._buffer) < size):
            chunk = next(self._chunks, None)
            if chunk is None:
                self._done = True
                break
            self.size += len(chunk)
            if self._max is not None and self.size > self._max:
                raise BlobTooLarge(f"blob is larger than {self._max} bytes")
            self._buffer += chunk
        if size is None or size < 0:
            size = len(self._buffer)
        out = bytes(self._buffer[:size])
        del self._buffer[:size]
        return out


def _code(exc: Any) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _etag(head: dict) -> str | None:
    etag = head.get("ETag")
    return etag.strip('"') if etag else None
