"""The blob store interface: bytes under keys that modelyard generates.

Two implementations, picked by the scheme of `blob_url`: `file://` (local.py, the
embedded default) and `s3://bucket/prefix` (s3.py). Keys are relative, slash-separated
and validated by `check_key`: a user-supplied file name never becomes a path.
"""
from __future__ import annotations

import errno
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import BinaryIO, Iterable, Iterator

from modelyard.errors import AppError, BadRequest, InsufficientStorage, NotFound, PayloadTooLarge

CHUNK = 1024 * 1024
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*(/[A-Za-z0-9][A-Za-z0-9._=-]*)*$")


class BlobNotFound(NotFound):
    def __init__(self, key: str):
        super().__init__("blob", key)


class BlobTooLarge(PayloadTooLarge):
    pass


class BlobStoreError(AppError):
    status, code, title = 503, "STORAGE_UNAVAILABLE", "Blob store unavailable"


class BlobStoreFull(InsufficientStorage):
    """The store's disk is full (ENOSPC, EDQUOT) or a file-size limit was hit (EFBIG)."""


NO_SPACE = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


def check_key(key: str) -> str:
    """Refuse anything that is not a plain relative key (no '..', no absolute path, no '\\')."""
    if not isinstance(key, str) or len(key) > 1024 or not _KEY.match(key) or ".." in key.split("/"):
        raise BadRequest(f"invalid blob key {key!r}")
    return key


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    etag: str | None = None
    content_type: str | None = None


@dataclass(frozen=True)
class SignedUrl:
    url: str
    method: str
    headers: dict[str, str]
    expires_in: int


def iter_chunks(source: BinaryIO | Iterable[bytes] | bytes, chunk_size: int = CHUNK) -> Iterator[bytes]:
    """Normalise a file object, an iterable of chunks or bytes into chunks."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        yield bytes(source)
        return
    read = getattr(source, "read", None)
    if read is not None:
        while chunk := read(chunk_size):
            yield chunk
        return
    for chunk in source:
        if chunk:
            yield chunk


class BlobStore(ABC):
    """Streamed, atomic puts; streamed gets; signed URLs for GET and PUT."""

    @abstractmethod
    def put(
        self,
        key: str,
        data: BinaryIO | Iterable[bytes] | bytes,
        *,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        """Store `data` under `key`. Nothing is visible under `key` until the whole body is
        written; past `max_bytes` the write is abandoned and BlobTooLarge raised."""

    @abstractmethod
    def open(self, key: str, *, chunk_size: int = CHUNK, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Stream the blob's bytes (only [start, end) when given); BlobNotFound when absent."""

    @abstractmethod
    def stat(self, key: str) -> BlobInfo:
        """Size and etag of a blob; BlobNotFound when absent."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the blob; deleting an absent key is not an error."""

    @abstractmethod
    def signed_url(
        self, key: str, *, method: str = "GET", expires_in: int = 900, content_type: str | None = None,
        base_url: str | None = None,
    ) -> SignedUrl:
        """A URL that lets its bearer GET or PUT this one key until it expires."""

    @abstractmethod
    def usage_bytes(self) -> int:
        """Total size of all blobs (may be cached for a short while)."""

    def read_bytes(self, key: str) -> bytes:
        return b"".join(self.open(key))

    def ping(self) -> None:
        """One cheap round trip to the store, for health checks; BlobStoreError when it is unusable."""
        self.exists("health/ping")
