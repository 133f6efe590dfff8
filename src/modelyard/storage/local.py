"""Blobs in a local folder: the embedded default, with signed URLs served by modelyard itself."""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import stat as stat_mode
import tempfile
import time
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator
from urllib.parse import quote, urlencode

from modelyard.errors import BadRequest, Conflict, Forbidden
from modelyard.storage.base import (
    BlobStoreError,
    BlobStoreFull,
    CHUNK,
    NO_SPACE,
    BlobInfo,
    BlobNotFound,
    BlobStore,
    BlobTooLarge,
    SignedUrl,
    check_key,
    iter_chunks,
)

USAGE_TTL_SECONDS = 60.0
SIGNED_METHODS = ("GET", "PUT")
_TMP_DIR, _META_DIR = ".tmp", ".meta"  # keys never start a segment with '.', so these never clash


class LocalBlobStore(BlobStore):
    """Blobs as files under `root`.

    A put streams into `root/.tmp/` (same filesystem), is fsynced, then `os.replace`d into place,
    so a half-written blob is never visible. Each temp file is flocked by its writer while it exists; a
    store opening on the folder deletes the temp files nobody holds (left by a killed process).
    Content type and md5 etag live in a JSON sidecar,
    `root/.meta/<key>.json`, trusted only while its size and mtime match the blob's (otherwise the
    etag is recomputed and the content type is unknown). Signed URLs carry
    `sig = hex(HMAC-SHA256(k, "METHOD\\nkey\\nexpires"))`, k derived from `secret` for this use only.
    """

    def __init__(self, root: Path, secret: str):
        if not secret:
            raise ValueError("LocalBlobStore needs a secret to sign URLs")
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / _TMP_DIR
        self._meta = self.root / _META_DIR
        self._signing_key = hmac.new(secret.encode(), b"modelyard.blob-url.v1", hashlib.sha256).digest()
        self._usage: tuple[int, float] | None = None
        self._sweep_tmp()

    def ping(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK | os.X_OK):
            raise BlobStoreError(f"blob folder {self.root} is missing or not writable")

    # Reading and writing ------------------------------------------------

    def _raise_if_full(self, exc: OSError) -> None:
        """A full disk (or a file-size limit) becomes BlobStoreFull (507) naming the folder."""
        if exc.errno not in NO_SPACE:
            return
        raise BlobStoreFull(f"the blob store (MODELYARD_BLOB_URL) has no space left in {self.root} "
                            f"({exc.strerror}); nothing was stored: free space and try again") from None

    def put(
        self,
        key: str,
        data: BinaryIO | Iterable[bytes] | bytes,
        *,
        content_type: str | None = None,
        max_bytes: int | None = None,
    ) -> BlobInfo:
        path = self._path(key)
        fd, tmp = self._temp("put-")
        digest, size = hashlib.md5(usedforsecurity=False), 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in iter_chunks(data):
                    size += len(chunk)
                    if max_bytes is not None and size > max_bytes:
                        raise BlobTooLarge(f"blob is larger than {max_bytes} bytes")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
                mtime_ns = os.stat(tmp).st_mtime_ns  # os.replace keeps it: the sidecar's freshness check
                try:  # renamed while the lock is held, so that no sweep takes it away
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp, path)
                except (FileExistsError, NotADirectoryError, IsADirectoryError):
                    raise Conflict(f"blob key {key!r} clashes with an existing key") from None
        except OSError as exc:
            Path(tmp).unlink(missing_ok=True)
            self._raise_if_full(exc)
            raise
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        info = BlobInfo(key=key, size=size, etag=digest.hexdigest(), content_type=content_type)
        try:
            self._write_meta(key, {"size": size, "mtime_ns": mtime_ns, "etag": info.etag,
                                   "content_type": content_type})
        except OSError as exc:  # a full disk: the blob is whole and valid without its sidecar
            if exc.errno not in NO_SPACE:
                raise
            self._meta_path(key).unlink(missing_ok=True)  # stat() recomputes the etag
        _fsync_dir(path.parent)
        self._usage = None
        return info

    def open(self, key: str, *, chunk_size: int = CHUNK, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = open(path, "rb")  # opened now, so a missing blob fails before streaming starts
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise BlobNotFound(key) from None
        if start:
            handle.seek(start)
        return _stream(handle, chunk_size, None if end is None else max(0, end - start))

    def stat(self, key: str) -> BlobInfo:
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            raise BlobNotFound(key) from None
        if not stat_mode.S_ISREG(st.st_mode):
            raise BlobNotFound(key)
        meta = self._read_meta(key)
        if meta.get("size") == st.st_size and meta.get("mtime_ns") == st.st_mtime_ns and meta.get("etag"):
            return BlobInfo(key=key, size=st.st_size, etag=meta["etag"], content_type=meta.get("content_type"))
        return BlobInfo(key=key, size=st.st_size, etag=_md5_file(path))

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        path = self._path(key)
        for target in (path, self._meta_path(key)):
            try:
                target.unlink(missing_ok=True)
            except (IsADirectoryError, NotADirectoryError):
                pass  # a prefix of other keys, or under a file: no blob here
        self._usage = None

    def usage_bytes(self) -> int:
        cached = self._usage
        if cached is not None and time.monotonic() - cached[1] < USAGE_TTL_SECONDS:
            return cached[0]
        total = _folder_size(self.root)
        self._usage = (total, time.monotonic())
        return total

    # Signed URLs --------------------------------------------------------

    def signed_url(
        self, key: str, *, method: str = "GET", expires_in: int = 900, content_type: str | None = None,
        base_url: str | None = None,
    ) -> SignedUrl:
        check_key(key)
        method = method.upper()
        if method not in SIGNED_METHODS:
            raise ValueError(f"signed URLs allow {SIGNED_METHODS}, not {method!r}")
        if not base_url:
            raise ValueError("LocalBlobStore.signed_url needs base_url: modelyard serves these URLs itself")
        expires = int(time.time()) + int(expires_in)
        query = urlencode({"method": method, "expires": expires, "sig": self._sign(method, key, expires)})
        url = f"{base_url.rstrip('/')}/blobs/{quote(key, safe='/')}?{query}"
        headers = {"Content-Type": content_type} if content_type and method == "PUT" else {}
        return SignedUrl(url=url, method=method, headers=headers, expires_in=int(expires_in))

    def verify(self, key: str, method: str, expires: int, sig: str) -> None:
        """Raise Forbidden unless `sig` signs (method, key, expires) and `expires` is in the future."""
        check_key(key)
        expected = self._sign(method.upper(), key, int(expires))
        if not hmac.compare_digest(expected.encode(), (sig or "").encode()):
            raise Forbidden("invalid blob URL signature")
        if int(expires) < time.time():
            raise Forbidden("signed blob URL has expired")

    # Helpers ------------------------------------------------------------

    def _sign(self, method: str, key: str, expires: int) -> str:
        message = f"{method}\n{key}\n{expires}".encode()
        return hmac.new(self._signing_key, message, hashlib.sha256).hexdigest()

    def _path(self, key: str) -> Path:
        """The file for `key`, refused when it would resolve outside root (e.g. through a symlink)."""
        check_key(key)
        path = (self.root / key).resolve()
        if path == self.root or not path.is_relative_to(self.root):
            raise BadRequest(f"invalid blob key {key!r}")
        return path

    def _temp(self, prefix: str) -> tuple[int, str]:
        """A new temp file under .tmp, flocked by this writer (the lock goes with the descriptor)."""
        self._tmp.mkdir(exist_ok=True)
        while True:
            fd, tmp = tempfile.mkstemp(dir=self._tmp, prefix=prefix)
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.fstat(fd).st_nlink:  # not swept by a store that opened between mkstemp and flock
                return fd, tmp
            os.close(fd)

    def _sweep_tmp(self) -> None:
        """Delete the temp files of writers that are gone: a live writer holds its file's lock."""
        try:
            entries = list(os.scandir(self._tmp))
        except FileNotFoundError:
            return
        for entry in entries:
            try:
                fd = os.open(entry.path, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os.unlink(entry.path)
            except OSError:
                pass  # held by a live writer, or already gone
            finally:
                os.close(fd)

    def _meta_path(self, key: str) -> Path:
        return self._meta / f"{key}.json"

    def _read_meta(self, key: str) -> dict:
        try:
            meta = json.loads(self._meta_path(key).read_bytes())
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}

    def _write_meta(self, key: str, meta: dict) -> None:
        target = self._meta_path(key)
        fd, tmp = self._temp("meta-")
        try:
            with os.fdopen(fd, "w") as out:
                json.dump(meta, out)
                out.flush()
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _stream(handle: BinaryIO, chunk_size: int, limit: int | None = None) -> Iterator[bytes]:
    with handle:
        while (limit is None or limit > 0) and (chunk := handle.read(chunk_size if limit is None
                                                                     else min(chunk_size, limit))):
            if limit is not None:
                limit -= len(chunk)
            yield chunk


def _md5_file(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _folder_size(root: Path) -> int:
    """Bytes in regular files under root, skipping hidden entries (temp files, sidecars)."""
    total, pending = 0, [root]
    while pending:
        try:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.name.startswith("."):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        pending.append(Path(entry.path))
                    elif entry.is_file(follow_symlinks=False):
                        total += entry.stat(follow_symlinks=False).st_size
        except FileNotFoundError:
            continue  # removed while walking
    return total


def _fsync_dir(path: Path) -> None:
    """Make the rename durable; some filesystems refuse to fsync a directory, which is fine."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
