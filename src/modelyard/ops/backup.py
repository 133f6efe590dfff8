"""Backups of modelyard's data: the database and the blobs, consistent while the servers run.

A backup is a folder: `manifest.json`, `modelyard.db` (SQLite) or `modelyard.dump` (PostgreSQL), `blobs/<key>`
and, when the secret was generated into the home, `secret.key`. The rules:

- The database is copied first, with SQLite's online backup API or pg_dump (a consistent snapshot however
  many writers are busy), then the blobs. Blobs are written before the rows that name them, so a blob that
  arrives after the snapshot is only an extra file, while every row of the snapshot finds its blob.
- From a local blob folder every blob is copied; from S3 (no listing in the store interface) the blobs the
  snapshot's rows name. Either way every blob the snapshot names must be in the backup; when one is
  missing (deleted between the snapshot and the copy) the whole backup is taken again, and after
  `ATTEMPTS` tries it fails naming the keys, unless the caller allows missing blobs, which the manifest
  then lists.
- The backup is written to a sibling temp folder and renamed into place when complete: a failed or
  interrupted backup leaves nothing under PATH.
- The manifest holds the format version, the schema revisions, row counts per table and the size and
  sha256 of every file; restore.py checks all of them before it touches a home.

PostgreSQL is dumped by pg_dump in the snapshot the blob references were read in (ops/pgdump.py).
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from modelyard import __version__
from modelyard.errors import AppError, BadRequest
from modelyard.storage.base import BlobNotFound, BlobStore, check_key

FORMAT, FORMAT_VERSION = "modelyard-backup", 1
MANIFEST, DATABASE, BLOBS, SECRET = "manifest.json", "modelyard.db", "blobs", "secret.key"
ATTEMPTS = 3
CHUNK = 1024 * 1024

Progress = Callable[[int], None]  # called with the bytes just copied
KINDS = {"sqlite": "SQLite snapshot (online backup API)", "postgresql": "PostgreSQL dump (pg_dump -Fc)"}


class BackupError(AppError):
    status, code, title = 400, "BACKUP_FAILED", "Backup failed"


@dataclass
class BackupReport:
    """What a backup holds and what it left out, for the command to say."""

    path: Path
    manifest: dict
    missing: list[str] = field(default_factory=list)

    @property
    def lines(self) -> list[str]:
        m = self.manifest
        lines = [f"backup written to {self.path}",
                 f"  database : {KINDS[m['database'].get('kind', 'sqlite')]}, schema "
                 f"{', '.join(m['schema_revisions'])}, "
                 f"{sum(m['counts'].values())} rows in {len(m['counts'])} tables",
                 f"  blobs    : {len(m['blobs'])} blobs, {sum(b['size'] for b in m['blobs'])} bytes "
                 f"({m['blob_scope']})",
                 f"  secret   : {'included (keep this backup private)' if m['secret_included'] else m['secret_note']}"]
        lines += [f"  not included: {item}" for item in m["not_included"]]
        if self.missing:
            lines.append(f"  MISSING  : {len(self.missing)} blobs named by the database were not found: "
                         + ", ".join(self.missing[:10]))
        return lines


# --- what the database names --------------------------------------------------------------------------

Rows = Callable[[str], list[tuple]]  # runs one SELECT in the snapshot's transaction


def _json(value) -> dict:
    """A JSON column as SQLite (text) or PostgreSQL (already decoded) returns it."""
    value = json.loads(value) if isinstance(value, (str, bytes)) else value
    return value if isinstance(value, dict) else {}


def referenced_keys(rows: Rows, tables: set[str]) -> set[str]:
    """Every blob key the rows of this database name (tables of later revisions are skipped when absent)."""
    keys: set[str] = set()
    columns = {"dataset": ["blob_key"], "feature_table_version": ["blob_key"],
               "labeling_image": ["blob_key", "thumb_key"], "model_version": ["artifact_key"]}
    for table, names in columns.items():
        if table in tables:
            for name in names:
                keys.update(k for (k,) in rows(f'SELECT "{name}" FROM "{table}"') if k)
    if "model_version" in tables:
        for (artifacts,) in rows("SELECT artifacts FROM model_version WHERE artifacts IS NOT NULL"):
            keys.update(v for v in _json(artifacts).values() if isinstance(v, str))
    if "job" in tables:  # the results of finished scoring jobs (parts are merged and deleted: not named here)
        for (result,) in rows("SELECT result FROM job WHERE status = 'completed' AND result IS NOT NULL"):
            value = _json(result)
            keys.update(value[k] for k in ("result_key", "results_key") if isinstance(value.get(k), str))
    return keys


@dataclass
class Contents:
    """What a database snapshot holds: the blobs it names, its schema revisions, its rows per table."""

    referenced: set[str]
    revisions: list[str]
    counts: dict[str, int]

    @classmethod
    def read(cls, rows: Rows, tables: set[str]) -> "Contents":
        revisions = sorted(r for (r,) in rows("SELECT version_num FROM alembic_version")) \
            if "alembic_version" in tables else []
        counts = {t: rows(f'SELECT COUNT(*) FROM "{t}"')[0][0] for t in sorted(tables)}
        return cls(referenced_keys(rows, tables), revisions, counts)


def sqlite_contents(path: Path) -> Contents:
    conn = sqlite3.connect(path)
    try:
        tables = {r for (r,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                             "AND name NOT LIKE 'sqlite_%'")}
        return Contents.read(lambda sql: conn.execute(sql).fetchall(), tables)
    finally:
        conn.close()


# --- taking a backup ---------------------------------------------------------------------------------

def sqlite_path(database_url: str) -> Path:
    """The file of a `sqlite:///` URL; BackupError for any other database."""
    if not database_url.startswith("sqlite:///"):
        raise BackupError(f"{database_url.split(':', 1)[0]} is not a SQLite database")
    return Path(database_url.removeprefix("sqlite:///"))


def is_postgresql(database_url: str) -> bool:
    return database_url.split(":", 1)[0].split("+", 1)[0] in ("postgresql", "postgres")


def snapshot(database_url: str, work: Path) -> tuple[dict, Contents]:
    """The database of `database_url` as one consistent file in `work`: its manifest entry and contents."""
    if database_url.startswith("sqlite:///"):
        snapshot_database(sqlite_path(database_url), work / DATABASE)
        return {"kind": "sqlite", "file": DATABASE, **file_digest(work / DATABASE)}, sqlite_contents(work / DATABASE)
    if is_postgresql(database_url):
        from modelyard.ops.pgdump import DUMP, dump

        contents = dump(database_url, work / DUMP)
        return {"kind": "postgresql", "file": DUMP, **file_digest(work / DUMP)}, contents
    raise BackupError(f"`modelyard backup` copies SQLite and PostgreSQL databases, not {database_url.split(':')[0]}"
                      ". Nothing was written.")


def snapshot_database(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (WAL included) through the online backup API."""
    if not source.is_file():
        raise BackupError(f"no database at {source}: nothing to back up")
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(target)
    try:
        # In one step: under WAL it reads one snapshot without blocking writers, where a stepwise copy would
        # start over after every write of another connection (and might never finish on a busy server).
        src.backup(dst)
        dst.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
    finally:
        dst.close()
        src.close()


def take_backup(target: Path, *, database_url: str, blobs: BlobStore, secret_file: Path | None,
                allow_missing: bool = False, progress: Progress | None = None) -> BackupReport:
    """Write a backup folder at `target` (which must not exist, or be an empty folder)."""
    target = target.expanduser().resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise BackupError(f"{target} already exists and is not an empty folder; choose a new path")
    target.parent.mkdir(parents=True, exist_ok=True)
    for attempt in range(1, ATTEMPTS + 1):
        work = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
        try:
            manifest, missing = _write(work, database_url, blobs, secret_file, progress)
            if missing and attempt < ATTEMPTS:
                continue  # a blob deleted after the snapshot: take a new one
            if missing and not allow_missing:
                raise BackupError(f"{len(missing)} blobs named by the database are missing from the blob store "
                                  f"({', '.join(missing[:10])}); no backup was written. Rerun with "
                                  "--allow-missing to write one that lists them.")
            manifest["missing_blobs"] = missing
            (work / MANIFEST).write_text(json.dumps(manifest, indent=1))
            if target.exists():
                target.rmdir()
            os.replace(work, target)
            return BackupReport(target, manifest, missing)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    raise AssertionError("unreachable")


def _write(work: Path, database_url: str, blobs: BlobStore, secret_file: Path | None,
           progress: Progress | None) -> tuple[dict, list[str]]:
    database, contents = snapshot(database_url, work)
    referenced = contents.referenced
    local_keys = _local_keys(blobs)
    keys = sorted(set(local_keys) | referenced) if local_keys is not None else sorted(referenced)
    entries, missing = [], []
    for key in keys:
        try:
            entries.append(_copy_blob(blobs, key, work / BLOBS, progress))
        except BlobNotFound:
            if key in referenced:
                missing.append(key)  # an unreferenced blob deleted since the listing is simply gone
    manifest = {
        "format": FORMAT, "version": FORMAT_VERSION, "modelyard_version": __version__,
        "created_at": datetime.now(timezone.utc).isoformat(), "schema_revisions": contents.revisions,
        "counts": contents.counts, "database": database,
        "blob_scope": "every blob of the folder" if local_keys is not None else "the blobs the database names",
        "blobs": entries, "secret_included": False,
        "secret_note": "not included: MODELYARD_SECRET_KEY is set in the environment; keep it with the backup",
        "not_included": ["the job queue (after a restore, jobs that were running are retried once their "
                         "heartbeat is stale; jobs still queued stay queued: submit them again)",
                         "blobs not yet named by the database (uploads in progress)"],
    }
    if local_keys is not None and local_keys.skipped:
        manifest["not_included"].append(f"{len(local_keys.skipped)} files of the blob folder whose names are not "
                                        f"blob keys: {', '.join(local_keys.skipped[:5])}")
    if secret_file is not None and secret_file.is_file():
        shutil.copy2(secret_file, work / SECRET)
        manifest.update(secret_included=True, secret={"file": SECRET, **file_digest(work / SECRET)})
    return manifest, sorted(missing)


def _local_keys(blobs: BlobStore) -> "_Keys | None":
    """Every key of a local blob folder (its temp files and sidecars excluded); None for other stores."""
    from modelyard.storage.local import LocalBlobStore

    if not isinstance(blobs, LocalBlobStore):
        return None
    keys = _Keys()
    for folder, dirs, files in os.walk(blobs.root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in files:
            key = Path(folder, name).relative_to(blobs.root).as_posix()
            try:
                keys.append(check_key(key))
            except BadRequest:  # put there by hand: no row can name it
                keys.skipped.append(key)
    return keys


class _Keys(list):
    """Keys found in a blob folder, and the files there whose names are not keys."""

    def __init__(self):
        super().__init__()
        self.skipped: list[str] = []


def _copy_blob(blobs: BlobStore, key: str, root: Path, progress: Progress | None) -> dict:
    check_key(key)
    info = blobs.stat(key)
    path = root / key
    path.parent.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    with open(path, "wb") as out:
        for chunk in blobs.open(key, chunk_size=CHUNK):
            out.write(chunk)
            digest.update(chunk)
            size += len(chunk)
            if progress:
                progress(len(chunk))
    return {"key": key, "size": size, "sha256": digest.hexdigest(), "content_type": info.content_type}


def file_digest(path: Path) -> dict:
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for chunk in _chunks(handle):
            digest.update(chunk)
            size += len(chunk)
    return {"size": size, "sha256": digest.hexdigest()}


def _chunks(handle) -> Iterator[bytes]:
    while chunk := handle.read(CHUNK):
        yield chunk
