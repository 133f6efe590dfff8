"""CSV in, DataFrame and profile out (no DB, no blobs): `sniff` picks encoding and delimiter and
refuses what is not a CSV with a header; `read_frame` skips rows with the wrong number of fields and
notes them in `df.attrs["csv_warnings"]`, which `profile` adds to its own warnings."""
from __future__ import annotations

import codecs
import contextlib
import csv
import io
import os
import re
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pc

from modelyard.errors import InvalidFormat

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (",", ";", "\t", "|")
WIDE_COLUMNS, FEW_ROWS, LISTED = 1000, 10, 5
MAGIC = {b"\x89PNG": "a PNG image", b"%PDF": "a PDF document", b"PK\x03\x04": "a ZIP archive (an .xlsx workbook?)",
         b"\xd0\xcf\x11\xe0": "an Excel .xls workbook", b"\x1f\x8b": "a gzip archive", b"\xff\xd8\xff": "a JPEG image",
         b"GIF8": "a GIF image", b"PAR1": "a Parquet file", b"SQLite format 3": "an SQLite database",
         b"\xff\xfe": "UTF-16 text", b"\xfe\xff": "UTF-16 text"}
TARGET_NAMES = ("target", "label", "y", "class", "outcome", "churn", "churned", "survived", "will_buy",
                "is_fraud", "fraud", "default", "response", "result")
_ID_NAME = re.compile(r"(?i:^(id|uuid|guid)$|(^|[_\s.-])(id|uuid|guid)$|^(id|uuid)[_\s.-])|[a-z](Id|ID)$")
_DATE_LIKE = re.compile(r"^\s*\d{1,4}[-/.]\d{1,2}[-/.]\d{1,4}([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?)?\s*$")
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_OTHER = ((re.compile(r"\s*(\{|\[\s*[\[{\"\d-])"), "JSON"), (re.compile(r"\s*<[!?a-zA-Z]"), "HTML or XML"))
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_KINDS = (("boolean", pd.api.types.is_bool_dtype), ("integer", pd.api.types.is_integer_dtype),
          ("number", pd.api.types.is_float_dtype), ("datetime", pd.api.types.is_datetime64_any_dtype))

Source = bytes | str | os.PathLike | BinaryIO | Iterable[bytes]


class InvalidCsv(InvalidFormat):
    title = "Invalid file format"  # the contract's "error"; the message says what is wrong with the file


@dataclass(frozen=True)
class CsvDialect:
    encoding: str  # utf-8-sig (UTF-8 with a BOM) | utf-8 | cp1252 | latin-1: what a Dataset row stores
    delimiter: str

    @property
    def has_bom(self) -> bool:
        return self.encoding == "utf-8-sig"


def sniff(sample: bytes, *, utf8: bool | None = None) -> CsvDialect:
    """Encoding and delimiter from the first ~64 KB; `utf8` is what a check of the whole file found."""
    if not sample:
        raise InvalidCsv("File is empty")
    if what := next((what for magic, what in MAGIC.items() if sample.startswith(magic)), None):
        raise InvalidCsv(f"File is {what}, not CSV text; export or save it as CSV (UTF-8)")
    if b"\x00" in sample:
        raise InvalidCsv("File is binary (it contains NUL bytes), not CSV text")
    has_bom, complete = sample.startswith(codecs.BOM_UTF8), len(sample) < SAMPLE_BYTES
    text, encoding = _decode(sample[3:] if has_bom else sample, utf8, complete)
    if len(_CONTROL.findall(text)) > max(2, len(text) // 100):
        raise InvalidCsv("File is binary (control characters), not CSV text")
    if what := next((what for pattern, what in _OTHER if pattern.match(text)), None):
        raise InvalidCsv(f"File looks like {what}, not CSV with headers")
    single = (delimiter := _pick_delimiter(text, complete)) is None  # then split on a character never used
    delimiter = delimiter or next((d for d in DELIMITERS[::-1] if d not in text), ",")
    records = _records(text, delimiter, complete, limit=50)
    if not records:
        raise InvalidCsv("File is empty (only blank lines)")
    check_header(records[0])
    if single:
        _refuse_space_separated([r[0] for r in records])
    return CsvDialect("utf-8-sig" if has_bom else encoding, delimiter)


def _decode(body: bytes, utf8: bool | None, complete: bool) -> tuple[str, str]:
    """UTF-8 unless it fails (here or, per `utf8`, anywhere in the file); then cp1252, then Latin-1."""
    if utf8 is not False:
        with contextlib.suppress(UnicodeDecodeError):
            return codecs.getincrementaldecoder("utf-8")().decode(body, final=complete), "utf-8"
    with contextlib.suppress(UnicodeDecodeError):
        return body.decode("cp1252"), "cp1252"
    return body.decode("latin-1"), "latin-1"


def _records(text: str, delimiter: str, complete: bool, limit: int = 2000) -> list[list[str]]:
    """Parsed records (blank lines dropped); a record cut off by the end of the sample is left out."""
    out: list[list[str]] = []
    try:
        for record in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar='"'):
            if any(record):
                out.append(record)
            if len(out) >= limit:
                return out
    except csv.Error:
        return out[:-1]
    if not complete and out and not text.endswith(("\n", "\r")):
        out.pop()
    return out


def _pick_delimiter(text: str, complete: bool) -> str | None:
    """The delimiter whose rows most often have the header's field count, weighted by that count."""
    best, best_score = None, 0.0
    for delimiter in DELIMITERS:
        counts = [len(r) for r in _records(text, delimiter, complete)]
        if not counts or counts[0] < 2:
            continue
        consistency = sum(c == counts[0] for c in counts[1:]) / (len(counts) - 1) if len(counts) > 1 else 1.0
        if consistency >= 0.5 and consistency * counts[0] > best_score:
            best, best_score = delimiter, consistency * counts[0]
    return best


def check_header(fields: list[str]) -> None:
    """Refuse a first row that is blank or all numbers: a header is required."""
    names = [str(f).strip().lstrip("\ufeff") for f in fields]
    if not any(names):
        raise InvalidCsv("File must be CSV format with headers: the first row is empty")
    if all(_NUMBER.match(n) for n in names if n):
        raise InvalidCsv(f"File must be CSV format with headers: the first row looks like data ({_listed(names)})")


def _refuse_space_separated(lines: list[str]) -> None:
    """A one-column CSV is fine, but not a table of numbers lined up with spaces."""
    split = [line.split() for line in lines]
    tokens = [t for s in split[1:] for t in s]
    if tokens and len({len(s) for s in split}) == 1 and len(split[0]) >= 2 \
            and 2 * sum(bool(_NUMBER.match(t)) for t in tokens) >= len(tokens):
        raise InvalidCsv("File looks space-separated; use comma, semicolon, tab or pipe as the delimiter")


def _input(source: Source) -> Any:
    if isinstance(source, (str, os.PathLike)):
        return os.fspath(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return io.BytesIO(bytes(source))
    return source if hasattr(source, "read") else io.BufferedReader(_ChunkStream(iter(source)), 1 << 20)


class _ChunkStream(io.RawIOBase):
    """An iterator of byte chunks as a readable file, so that a blob is parsed as it streams in
    rather than joined into memory first."""

    def __init__(self, chunks):
        self._chunks, self._left = chunks, memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._left:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._left = memoryview(chunk)
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


def read_frame(source: Source, dialect: CsvDialect, *, nrows: int | None = None) -> pd.DataFrame:
    """The file (or its first `nrows` rows) as a DataFrame. pyarrow.csv rather than pandas: it reports
    short rows (the C engine pads them) by number, and allows newlines in quoted values at any size."""
    bad_rows: list[int | None] = []
    encoding = "utf8" if dialect.encoding in ("utf-8", "utf-8-sig") else dialect.encoding
    options = {
        "read_options": pc.ReadOptions(encoding=encoding, use_threads=False, block_size=4 << 20),
        "parse_options": pc.ParseOptions(delimiter=dialect.delimiter, newlines_in_values=True,
                                         invalid_row_handler=lambda row: bad_rows.append(row.number) or "skip"),
        "convert_options": pc.ConvertOptions(strings_can_be_null=True),
    }
    try:
        if nrows is None:
            table = pc.read_csv(_input(source), **options)
        else:
            reader, batches = pc.open_csv(_input(source), **options), []
            for batch in reader:
                batches.append(batch)
                if sum(b.num_rows for b in batches) >= nrows:
                    break
            table = pa.Table.from_batches(batches, schema=reader.schema).slice(0, nrows)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise InvalidCsv(f"File could not be parsed as CSV: {str(exc).splitlines()[0]}") from None
    return _to_frame(table, bad_rows)


def _to_frame(table: pa.Table, bad_rows: list[int | None]) -> pd.DataFrame:
    check_header(table.column_names)
    names = _unique_names(table.column_names)
    frame = table.rename_columns(names).to_pandas(date_as_object=False)
    renamed = sum(raw.strip() != name for raw, name in zip(table.column_names, names))
    notes = [f"{renamed} blank or repeated column name(s) were renamed"] if renamed else []
    if bad_rows:
        known = [n for n in bad_rows if n is not None][:LISTED]
        where = f" (rows {', '.join(map(str, known))}{', …' if len(bad_rows) > len(known) else ''}; header = row 1)"
        notes.append(f"{len(bad_rows)} row(s) had the wrong number of fields and were skipped{where if known else ''}")
    if frame.empty:
        raise InvalidCsv("File has a header row but no data rows" + (f"; {notes[-1]}" if bad_rows else ""))
    frame.attrs["csv_warnings"] = notes
    return frame


def _unique_names(raw: list[str]) -> list[str]:
    """Blank headers become 'Unnamed: i' and repeats 'name.1', as pandas names them."""
    names: dict[str, None] = {}  # ordered, with fast lookups for 10,000 columns
    for i, raw_name in enumerate(raw):
        name = base = raw_name.strip() or f"Unnamed: {i}"
        while name in names:
            name = f"{base}.{int(name[len(base) + 1:] or 0) + 1}"
        names[name] = None
    return list(names)


def iter_frames(source: Source, dialect: CsvDialect, *, chunk_rows: int = 10_000,
                dtype: Any = None) -> Iterator[pd.DataFrame]:
    """Chunks of `chunk_rows` rows for batch scoring (pandas' C engine): types are inferred per chunk
    unless `dtype` is given (coerce to the model's schema); short rows are padded, long ones refused."""
    try:
        with pd.read_csv(_input(source), sep=dialect.delimiter, encoding=dialect.encoding, engine="c",
                         chunksize=chunk_rows, dtype=dtype) as reader:
            for frame in reader:
                frame.columns = [str(c).strip().lstrip("\ufeff") for c in frame.columns]
                yield frame
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InvalidCsv(f"File could not be parsed as CSV: {str(exc).strip()}") from None


def _listed(names: list[Any]) -> str:
    shown = ", ".join(repr(str(n)) for n in names[:LISTED])
    return shown + (f" and {len(names) - LISTED} more" if len(names) > LISTED else "")


def _blocks(df: pd.DataFrame) -> Iterator[tuple[str, list[int], np.ndarray]]:
    """Columns grouped by dtype as 2-D arrays: per-column pandas calls are too slow for wide files."""
    groups: dict[Any, list[int]] = {}
    for pos, dtype in enumerate(df.dtypes):
        groups.setdefault(dtype, []).append(pos)
    for dtype, positions in groups.items():
        yield next((k for k, test in _KINDS if test(dtype)), "string"), positions, df.iloc[:, positions].to_numpy()


def _column(name: str, values: np.ndarray, kind: str, rows: int) -> dict[str, Any]:
    """One column's summary from its non-null values."""
    head = values[:50]
    if kind == "number" and len(values) and bool(np.all(values % 1 == 0)):
        kind = "integer"
    elif kind == "string" and len(head) and all(isinstance(v, (bool, np.bool_)) for v in head):
        kind = "boolean"
    elif kind == "string" and len(head) and sum(bool(_DATE_LIKE.match(str(v))) for v in head) >= 0.9 * len(head):
        kind = "datetime"
    unique = len(np.unique(values)) if values.dtype.kind in "biufM" else len(set(values.tolist()))
    examples = np.datetime_as_string(values[:3], unit="auto") if values.dtype.kind == "M" else values[:3]
    return {"name": name, "type": kind, "missing": rows - len(values),
            "missing_pct": round(100 * (rows - len(values)) / rows, 2) if rows else 0.0, "unique": unique,
            "constant": unique == 1, "examples": [str(v)[:100] for v in examples]}


def _junk_note(col: dict[str, Any], values: np.ndarray) -> str | None:
    """A text column of mostly numbers: name it and count the cells that are not numbers."""
    if col["type"] != "string" or not any(_NUMBER.match(str(v)) for v in values[:50]):
        return None
    numeric = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").notna().to_numpy()
    good, bad = int(numeric.sum()), int((~numeric).sum())
    if not (good and bad and good >= bad):
        return None
    examples = ", ".join(repr(str(v)[:20]) for v in pd.unique(values[~numeric])[:3])
    return f"column {col['name']!r} is mostly numeric but has {bad} non-numeric value(s) ({examples}); read as text"


def _is_id(col: dict[str, Any], values: np.ndarray, rows: int) -> bool:
    """Unique per row and named like an id, or a dense increasing integer counter."""
    if rows < 2 or col["missing"] or col["unique"] != rows:
        return False
    if _ID_NAME.search(col["name"]):
        return True  # below: a dense counter, not a sorted measure such as income
    return col["type"] == "integer" and rows >= 3 and bool(np.all(np.diff(values) > 0)) \
        and float(values[-1]) - float(values[0]) <= 2 * rows


def _target(cols: list[dict[str, Any]], ids: list[str]) -> str | None:
    """A column named like a target, else the last column that is neither an id nor empty."""
    usable = [c["name"] for c in cols if c["name"] not in ids and c["unique"]]
    norm = {re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_"): name for name in usable}
    hits = [norm[t] for t in TARGET_NAMES if t in norm] + [n for k, n in norm.items() if re.match("(target|label)_", k)]
    return hits[0] if hits else (usable[-1] if usable else None)


def profile(df: pd.DataFrame) -> dict[str, Any]:
    """Shape, per-column summary, likely target and id columns, and warnings (strings) for the user."""
    rows, width = df.shape
    present = ~df.isna().to_numpy()
    cols: list[dict[str, Any]] = [{}] * width
    names, ids, junk = [str(c) for c in df.columns.tolist()], set(), []
    for kind, positions, block in _blocks(df):
        for j, pos in enumerate(positions):
            values = block[present[:, pos], j]
            cols[pos] = col = _column(names[pos], values, kind, rows)
            ids.update([col["name"]] if _is_id(col, values, rows) else [])
            junk += [note] if (note := _junk_note(col, values)) else []
    duplicated = int(pd.util.hash_pandas_object(df, index=False).duplicated().sum()) if width else 0
    empty = [c["name"] for c in cols if not c["unique"]]
    constant = [c["name"] for c in cols if c["constant"]] if rows > 1 else []
    checks = [(rows < FEW_ROWS, f"only {rows} data row(s): too few to train a reliable model"),
              (width > WIDE_COLUMNS, f"very wide file: {width} columns (more than {WIDE_COLUMNS})"),
              (empty, f"{len(empty)} column(s) have no values at all: {_listed(empty)}"),
              (constant, f"{len(constant)} column(s) hold a single value: {_listed(constant)}"),
              (duplicated, f"{duplicated} duplicated row(s)")]
    warnings = list(df.attrs.get("csv_warnings", [])) + [message for failed, message in checks if failed]
    warnings += junk[:LISTED] + ([f"{len(junk) - LISTED} more column(s) mix numbers and text"] if junk[LISTED:] else [])
    id_list = [c["name"] for c in cols if c["name"] in ids]
    return {"rows": rows, "columns": width, "column_profiles": cols, "duplicated_rows": duplicated,
            "likely_target": _target(cols, id_list), "likely_id_columns": id_list, "warnings": warnings}
