"""Reads a feature table upload (CSV or Parquet) in chunks and encodes entity keys canonically.

The key encoding is documented in ``features.models``; ``encode_key`` is its only implementation.
"""
from __future__ import annotations

import datetime as dt
import io
import itertools
import json
import math
from typing import Any, Iterable, Iterator

import numpy as np
import pandas as pd

from modelyard.data.csvio import SAMPLE_BYTES, InvalidCsv, iter_frames, sniff
from modelyard.errors import InvalidFormat, Unprocessable
from modelyard.features.models import MAX_KEY_CHARS

CHUNK_ROWS = 5000
PARQUET_MAGIC = b"PAR1"


class _ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (a blob being streamed)."""

    def __init__(self, chunks: Iterable[bytes]):
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


def file_format(head: bytes) -> str:
    return "parquet" if head.startswith(PARQUET_MAGIC) else "csv"


def encode_key(values: list[str]) -> str:
    """The canonical key: a compact JSON array of the key values as text, in key-column order."""
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)


def key_text(value: Any) -> str | None:
    """One key value as text (see features.models); None when it is empty."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return str(int(value)) if float(value).is_integer() else repr(float(value))
    if isinstance(value, pd.Timestamp) or isinstance(value, dt.datetime):
        stamp = pd.Timestamp(value)
        return stamp.strftime("%Y-%m-%d") if stamp == stamp.normalize() else stamp.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    text = str(value).strip()
    return text or None


def plain(value: Any) -> Any:
    """A cell as a JSON value: numpy scalars as Python ones, NaN/NaT as null, times as ISO text."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (pd.Timestamp, dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray)):
        return value.decode("utf-8", "replace")
    return value


def column_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "boolean"
    if pd.api.types.is_integer_dtype(series):
        return "integer"
    if pd.api.types.is_float_dtype(series):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(series):
        return "datetime"
    return "string"


def frames(chunks: Iterable[bytes], fmt: str, key_columns: list[str]) -> Iterator[pd.DataFrame]:
    """The upload as DataFrames of at most CHUNK_ROWS rows; CSV key columns are read as text."""
    if fmt == "parquet":
        yield from _parquet_frames(chunks)
        return
    chunks, seen, head = iter(chunks), [], b""
    while len(head) < SAMPLE_BYTES and (chunk := next(chunks, None)) is not None:
        seen.append(chunk)
        head += chunk
    dialect = sniff(head[:SAMPLE_BYTES])
    reader = io.BufferedReader(_ChunkReader(itertools.chain(seen, chunks)), buffer_size=1 << 20)
    yield from iter_frames(reader, dialect, chunk_rows=CHUNK_ROWS, dtype={k: str for k in key_columns})


def _parquet_frames(chunks: Iterable[bytes]) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:  # Parquet needs random access: the whole file (bounded by the upload limit) in memory
        parquet = pq.ParquetFile(io.BytesIO(b"".join(chunks)))
        for batch in parquet.iter_batches(batch_size=CHUNK_ROWS):
            yield batch.to_pandas()
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidFormat(f"File could not be read as Parquet: {str(exc).splitlines()[0]}") from None


def keyed_rows(frame: pd.DataFrame, key_columns: list[str], first_row: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """(encoded key, row values) for each row; an empty or over-long key is a 422 naming its row."""
    names = [str(c) for c in frame.columns]
    for offset, record in enumerate(frame.itertuples(index=False, name=None)):
        row = dict(zip(names, record))
        parts = [key_text(row[k]) for k in key_columns]
        if any(p is None for p in parts):
            empty = [k for k, p in zip(key_columns, parts) if p is None]
            raise Unprocessable(f"row {first_row + offset + 1} of the data: empty entity key column(s) "
                                f"{', '.join(empty)}")
        key = encode_key(parts)
        if len(key) > MAX_KEY_CHARS:
            raise Unprocessable(f"row {first_row + offset + 1} of the data: the entity key is longer than "
                                f"{MAX_KEY_CHARS} characters")
        yield key, {name: plain(value) for name, value in row.items()}


__all__ = ["InvalidCsv", "encode_key", "file_format", "frames", "keyed_rows", "key_text", "column_type"]
