"""Datasets: upload (stream to the blob store, check, profile, record), look up, list, delete, load."""
from __future__ import annotations

import codecs
import hashlib
import os
import unicodedata
from typing import BinaryIO

import pandas as pd
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from modelyard.auth.models import User
from modelyard.data.csvio import SAMPLE_BYTES, CsvDialect, profile, read_frame, sniff
from modelyard.data.models import Dataset
from modelyard.db.base import new_id, utcnow
from modelyard.errors import Conflict, NotFound
from modelyard.storage.base import BlobStore

MAX_FILENAME = 255
DEFAULT_FILENAME = "upload.csv"


def clean_filename(name: str | None) -> str:
    """The client's file name for display only: its last path segment, no control or format
    characters (e.g. bidi overrides), at most 255 characters with the extension kept."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(ch for ch in unicodedata.normalize("NFC", base) if unicodedata.category(ch)[0] != "C").strip()
    if base in ("", ".", ".."):
        return DEFAULT_FILENAME
    if len(base) > MAX_FILENAME:
        stem, ext = os.path.splitext(base)
        ext = ext if len(ext) <= 16 else ""
        base = stem[: MAX_FILENAME - len(ext)] + ext
    return base


class _Inspected:
    """Wraps the upload stream: as the blob store reads it, counts the bytes, hashes them, keeps
    the first SAMPLE_BYTES for sniffing and checks that the whole body is valid UTF-8."""

    def __init__(self, stream: BinaryIO):
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._utf8 = True
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.sample = b""

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size)
        if chunk:
            self.size += len(chunk)
            self.sha256.update(chunk)
            if len(self.sample) < SAMPLE_BYTES:
                self.sample += chunk[: SAMPLE_BYTES - len(self.sample)]
            self._utf8 = self._utf8 and self._decodes(chunk, final=False)
        return chunk

    def _decodes(self, chunk: bytes, *, final: bool) -> bool:
        try:
            self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError:
            return False
        return True

    @property
    def utf8(self) -> bool:
        """Whether everything read was UTF-8 (ends included); call after the store read it all."""
        self._utf8 = self._utf8 and self._decodes(b"", final=True)
        return self._utf8


class DataService:
    def __init__(self, session: Session, blobs: BlobStore, *, max_bytes: int):
        self._session = session
        self._blobs = blobs
        self._max_bytes = max_bytes

    def upload(self, owner: User, filename: str | None, stream: BinaryIO, *, purpose: str = "training",
               file_id: str | None = None) -> Dataset:
        """Store the file, refuse it unless it parses as a CSV with a header, then record its profile.

        Past `max_bytes` the store raises PayloadTooLarge and keeps nothing; a refused or failed
        upload deletes its blob, so neither a blob nor a row is left half-made.
        """
        file_id = file_id or new_id("file")
        key = f"datasets/{owner.id}/{file_id}.csv"
        body = _Inspected(stream)
        self._blobs.put(key, body, content_type="text/csv", max_bytes=self._max_bytes)
        dataset = None
        try:
            dialect = sniff(body.sample, utf8=body.utf8)
            frame = read_frame(self._blobs.open(key), dialect)
            summary = profile(frame)
            dataset = Dataset(
                id=file_id, owner_id=owner.id, filename=clean_filename(filename), blob_key=key,
                size=body.size, sha256=body.sha256.hexdigest(), rows=summary["rows"],
                columns=summary["columns"], column_names=[str(c) for c in frame.columns],
                encoding=dialect.encoding, delimiter=dialect.delimiter, profile=summary,
                purpose=purpose, created_at=utcnow(),
            )
            self._session.add(dataset)
            self._session.commit()
        except BaseException:
            if dataset is not None:
                self._session.rollback()
            self._blobs.delete(key)
            raise
        return dataset

    def get(self, file_id: str, *, viewer: User) -> Dataset:
        dataset = self._session.get(Dataset, file_id)
        if dataset is None or not viewer.can_see(dataset):
            raise NotFound("dataset", file_id)
        return dataset

    def list(self, viewer: User, *, limit: int = 50, offset: int = 0) -> list[Dataset]:
        """Newest first; a non-admin sees only their own."""
        query = self._visible(select(Dataset), viewer)
        query = query.order_by(Dataset.created_at.desc(), Dataset.id.desc()).limit(limit).offset(offset)
        return list(self._session.scalars(query))

    def count(self, viewer: User) -> int:
        return self._session.scalar(self._visible(select(func.count()).select_from(Dataset), viewer)) or 0

    def delete(self, file_id: str, *, viewer: User) -> None:
        """The row goes first: a blob left by a failed delete is garbage, never a dangling dataset."""
        dataset = self.get(file_id, viewer=viewer)
        from modelyard.jobs.models import ACTIVE, Job

        waiting = [j.id for j in self._session.scalars(select(Job).where(Job.status.in_(ACTIVE)))
                   if (j.params or {}).get("file_id") == file_id]
        if waiting:
            raise Conflict(f"dataset {file_id} is used by running job(s) {', '.join(waiting)}; "
                           "cancel them or wait until they finish")
        key = dataset.blob_key
        self._session.delete(dataset)
        self._session.commit()
        self._blobs.delete(key)

    def load_frame(self, dataset: Dataset) -> pd.DataFrame:
        """The whole dataset, read as it was profiled (uploads are bounded by max_bytes)."""
        return read_frame(self._blobs.open(dataset.blob_key), CsvDialect(dataset.encoding, dataset.delimiter))

    @staticmethod
    def _visible(query: Select, viewer: User) -> Select:
        return query if viewer.is_admin else query.where(Dataset.owner_id == viewer.id)
