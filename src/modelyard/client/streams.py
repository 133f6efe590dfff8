"""Files sent and received in chunks, reporting bytes done to a callback (for progress bars)."""
from __future__ import annotations

import os
from collections.abc import Callable
from typing import BinaryIO

ByteProgress = Callable[[int, int | None], None]  # (bytes done, bytes in all, when known)


class CountingReader:
    """A binary file that reports how much of it has been read; httpx streams it in chunks.

    It keeps `fileno`, `seek` and `tell`, so httpx still sends a Content-Length, and a rewind
    (httpx seeks to 0 before sending) starts the count again."""

    def __init__(self, file: BinaryIO, on_progress: ByteProgress | None):
        self._file = file
        self._on_progress = on_progress
        self.total = _size(file)
        self.done = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._file.read(size)
        self.done += len(chunk)
        if self._on_progress is not None:
            self._on_progress(self.done, self.total)
        return chunk

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        position = self._file.seek(offset, whence)
        if whence == os.SEEK_SET:
            self.done = position
        return position

    def tell(self) -> int:
        return self._file.tell()

    def fileno(self) -> int:
        return self._file.fileno()


def _size(file: BinaryIO) -> int | None:
    try:
        return os.fstat(file.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        try:
            here = file.tell()
            end = file.seek(0, os.SEEK_END)
            file.seek(here)
            return end
        except (AttributeError, OSError):
            return None
