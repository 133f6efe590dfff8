"""Image uploads: multipart batches, presigned PUTs and their completion, and the upload list.

Every file is checked (images.inspect_image) before anything is stored, and on its own: a bad
file becomes one entry in `errors`, the others go on. Copies inside one batch (one multipart
request, or one `/uploads/complete`) are all stored, so that QC reports each later copy as an exact
duplicate of the first; a file identical to an image stored by an earlier batch of the request is
skipped, so that sending a batch again is harmless. A stored image gets a key of modelyard's
making (`labeling/<owner>/<request>/<image id>.<sniffed ext>`); the client's file name is kept
for display only. Presigned uploads land under `labeling/incoming/<request>/<token>`; completing
one checks it there, copies it under its final key with its sniffed type, and removes the
incoming object whatever the outcome, so nothing that failed its checks stays in the store.
"""
from __future__ import annotations

import logging
import re
import secrets
import tempfile
import unicodedata
from dataclasses import dataclass, field
from typing import BinaryIO, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from modelyard.db.base import new_id, utcnow
from modelyard.errors import BadRequest, PayloadTooLarge
from modelyard.labeling.images import FORMATS, ImageRejected, inspect_image
from modelyard.labeling.models import LabelingImage, LabelingRequest
from modelyard.labeling.service import BlobUrls, LabelingService
from modelyard.storage.base import BlobNotFound, BlobStore, SignedUrl, check_key

log = logging.getLogger("modelyard.labeling")
SPOOL_BYTES = 1024 * 1024
MAX_FILENAME = 255
DEFAULT_FILENAME = "image"
INCOMING = "labeling/incoming"
_TOKEN = re.compile(r"^[0-9a-f]{32}$")
PRESIGN_TYPES = {content_type for content_type, _ in FORMATS.values()}


def clean_filename(name: str | None) -> str:
    """The client's file name for display only: last path segment, no control characters."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C").strip()
    if base in ("", ".", ".."):
        return DEFAULT_FILENAME
    return base[:MAX_FILENAME]


@dataclass
class UploadReport:
    request_id: str
    stored: list[LabelingImage] = field(default_factory=list)
    skipped: list[dict] = field(default_factory=list)
    errors: list[dict] = field(default_factory=list)

    def refuse_if_nothing_stored(self) -> None:
        """A batch where every file failed answers 400 (413 when all were too large), per file."""
        if self.stored or self.skipped or not self.errors:
            return
        summary = "; ".join(f"{e['filename']}: {e['message']}" for e in self.errors[:5])
        if all(e["code"] == "FILE_TOO_LARGE" for e in self.errors):
            raise PayloadTooLarge(f"no file was stored: {summary}", details=self.errors)
        raise BadRequest(f"no file was stored: {summary}", details=self.errors)


class UploadService:
    def __init__(self, session: Session, blobs: BlobStore, *, max_bytes: int):
        self._session = session
        self._blobs = blobs
        self._max_bytes = max_bytes

    # Multipart ----------------------------------------------------------

    def upload_files(self, request: LabelingRequest, files: Iterable[tuple[str | None, BinaryIO]]) -> UploadReport:
        report = UploadReport(request.id)
        for filename, stream in files:
            name = clean_filename(filename)
            size = _size(stream)
            if size > self._max_bytes:
                report.errors.append(_error(name, "FILE_TOO_LARGE", f"larger than {self._max_bytes} bytes"))
                continue
            self._ingest(request, name, stream, report)
        self._finish(request, report)
        return report

    # Presigned ----------------------------------------------------------

    def presign(self, request: LabelingRequest, files: list[tuple[str, str | None]], urls: BlobUrls,
                ) -> list[tuple[str, str, SignedUrl]]:
        """A signed PUT URL per file under this request's incoming prefix: (filename, key, url)."""
        signed = []
        for filename, content_type in files:
            declared = (content_type or "").split(";")[0].strip().lower()
            key = f"{INCOMING}/{request.id}/{secrets.token_hex(16)}"
            # The declared type is only echoed into the PUT headers; the bytes decide at completion.
            signed.append((clean_filename(filename), key,
                           urls.put(key, declared if declared in PRESIGN_TYPES else "application/octet-stream")))
        return signed

    def complete(self, request: LabelingRequest, items: list[tuple[str, str, str | None]]) -> UploadReport:
        report = UploadReport(request.id)
        for filename, key, etag in items:
            name = clean_filename(filename)
            try:
                self._complete_one(request, name, key, etag, report)
            except ImageRejected as exc:
                report.errors.append(_error(name, exc.code, exc.message, key))
        self._finish(request, report)
        return report

    def _complete_one(self, request: LabelingRequest, name: str, key: str, etag: str | None,
                      report: UploadReport) -> None:
        if not self._is_incoming_key(request, key):
            raise ImageRejected("this key was not issued for this request", "INVALID_KEY")
        done = self._session.scalar(select(LabelingImage).where(LabelingImage.request_id == request.id,
                                                                LabelingImage.upload_key == key))
        if done is not None:
            report.skipped.append({"filename": name, "reason": "already completed", "image_id": done.id})
            return
        try:
            info = self._blobs.stat(key)
        except BlobNotFound:
            raise ImageRejected("nothing was uploaded under this key (or it was already refused)",
                                "NOT_FOUND") from None
        try:
            if info.size > self._max_bytes:
                raise ImageRejected(f"larger than {self._max_bytes} bytes", "FILE_TOO_LARGE")
            if etag and info.etag and etag.strip('"').lower() != info.etag.strip('"').lower():
                raise ImageRejected("the stored object's etag differs from the one reported", "ETAG_MISMATCH")
            with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
                copied = 0
                for chunk in self._blobs.open(key):
                    copied += len(chunk)
                    if copied > self._max_bytes:
                        raise ImageRejected(f"larger than {self._max_bytes} bytes", "FILE_TOO_LARGE")
                    spool.write(chunk)
                self._ingest(request, name, spool, report, upload_key=key)
        finally:
            self._blobs.delete(key)

    @staticmethod
    def _is_incoming_key(request: LabelingRequest, key: str) -> bool:
        prefix = f"{INCOMING}/{request.id}/"
        try:
            check_key(key)
        except BadRequest:
            return False
        return key.startswith(prefix) and bool(_TOKEN.match(key[len(prefix):]))

    # Both paths ---------------------------------------------------------

    def _ingest(self, request: LabelingRequest, name: str, stream: BinaryIO, report: UploadReport, *,
                upload_key: str | None = None) -> None:
        """Check, then store blob + thumbnail + row; any failure leaves nothing behind."""
        try:
            checked = inspect_image(stream)
        except ImageRejected as exc:
            report.errors.append(_error(name, exc.code, exc.message, upload_key))
            return
        this_batch = {image.id for image in report.stored}
        twins = list(self._session.scalars(select(LabelingImage.id).where(
            LabelingImage.request_id == request.id, LabelingImage.sha256 == checked.sha256)
            .order_by(LabelingImage.created_at, LabelingImage.id)))
        earlier = [twin for twin in twins if twin not in this_batch]
        if earlier:  # sent again in a later batch: a retry, kept once
            report.skipped.append({"filename": name, "reason": "identical to an image already in this request",
                                   "image_id": earlier[0]})
            return
        image_id = new_id("img")
        key = f"labeling/{request.owner_id}/{request.id}/{image_id}.{checked.extension}"
        thumb_key = f"labeling/{request.owner_id}/{request.id}/{image_id}.thumb.jpg"
        try:
            stream.seek(0)
            info = self._blobs.put(key, stream, content_type=checked.content_type, max_bytes=self._max_bytes)
            self._blobs.put(thumb_key, checked.thumbnail, content_type="image/jpeg")
            image = LabelingImage(
                id=image_id, request_id=request.id, owner_id=request.owner_id, filename=name, blob_key=key,
                thumb_key=thumb_key, upload_key=upload_key, content_type=checked.content_type, size=checked.size,
                width=checked.width, height=checked.height, sha256=checked.sha256, etag=info.etag,
                phash=checked.phash, dhash=checked.dhash, created_at=utcnow())
            self._session.add(image)
            self._session.commit()
        except BaseException:
            self._session.rollback()
            self._discard(key, thumb_key)
            raise
        report.stored.append(image)

    def _discard(self, *keys: str) -> None:
        for key in keys:
            try:
                self._blobs.delete(key)
            except Exception:  # the original error matters more
                log.warning("could not delete blob %s after a failed upload", key, exc_info=True)

    def _finish(self, request: LabelingRequest, report: UploadReport) -> None:
        if report.stored:
            LabelingService(self._session).refresh_progress(request, event="uploaded")
        report.refuse_if_nothing_stored()

    # Reading ------------------------------------------------------------

    def list_images(self, request: LabelingRequest, *, limit: int = 1000, offset: int = 0) -> list[LabelingImage]:
        query = (select(LabelingImage).where(LabelingImage.request_id == request.id)
                 .order_by(LabelingImage.created_at, LabelingImage.id).limit(limit).offset(offset))
        return list(self._session.scalars(query))


def _size(stream: BinaryIO) -> int:
    stream.seek(0, 2)
    size = stream.tell()
    stream.seek(0)
    return size


def _error(filename: str, code: str, message: str, key: str | None = None) -> dict:
    return {"filename": filename, "code": code, "message": message, "key": key}
