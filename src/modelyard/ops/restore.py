"""Restoring a backup (ops/backup.py) into an embedded home, all of it or nothing; or into PostgreSQL and the
configured blob store (blobs first, then pg_restore in one transaction, then migrations).

The rules, in the order they are checked:
- The home must be the embedded layout (SQLite database and blob folder inside it) and empty; `force`
  replaces a home that is not.
- The manifest must be a modelyard backup whose every file is present with its recorded size and sha256.
- Every schema revision of the backup must be known to this code: a backup of a newer modelyard is refused.
- The database and blobs are written to a temp folder beside the home, migrated forward there when the
  backup is older, and only then renamed into place. Any failure before that leaves the home as it was.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable
from urllib.parse import unquote, urlsplit

from modelyard.ops.backup import (
    BLOBS,
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    BackupError,
    Progress,
    file_digest,
    is_postgresql,
    sqlite_path,
)
from modelyard.storage.base import BlobStore


@dataclass
class RestoreReport:
    home: Path | None  # None: restored into PostgreSQL and the configured blob store
    manifest: dict
    migrated_from: list[str] | None  # the backup's revisions when they were migrated forward

    @property
    def _secret(self) -> str:
        if not self.manifest.get("secret_included"):
            return "not in the backup (set MODELYARD_SECRET_KEY as before)"
        return "restored" if self.home else "in the backup's secret.key: set MODELYARD_SECRET_KEY to it"

    @property
    def lines(self) -> list[str]:
        m = self.manifest
        where = self.home or "the PostgreSQL database and blob store of the settings"
        lines = [f"restored {m['created_at']} backup into {where}",
                 f"  database : {sum(m['counts'].values())} rows in {len(m['counts'])} tables",
                 f"  blobs    : {len(m['blobs'])} blobs, {sum(b['size'] for b in m['blobs'])} bytes",
                 "  secret   : " + self._secret]
        if m.get("missing_blobs"):
            lines.append(f"  MISSING  : {len(m['missing_blobs'])} blobs were missing when the backup was taken "
                         "(--allow-missing); see its manifest")
        if self.migrated_from is not None:
            lines.append(f"  schema   : migrated forward from {', '.join(self.migrated_from) or 'an empty schema'}")
        return lines


def read_manifest(source: Path) -> dict:
    path = source / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise BackupError(f"{source} is not a modelyard backup: no {MANIFEST}") from None
    except (OSError, ValueError) as exc:
        raise BackupError(f"the manifest of {source} is unreadable or corrupt ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{source} is not a modelyard backup (its manifest names no {FORMAT!r} format)")
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(f"{source} is a backup of format version {manifest.get('version')}; this modelyard "
                          f"reads version {FORMAT_VERSION}")
    if not _well_formed(manifest):
        raise BackupError(f"the manifest of {source} is incomplete or corrupt (a field is missing or of the "
                          "wrong type)")
    return manifest


def _well_formed(m: dict) -> bool:
    def entry(e) -> bool:
        return isinstance(e, dict) and isinstance(e.get("size"), int) and isinstance(e.get("sha256"), str)

    return (isinstance(m.get("database"), dict) and entry(m["database"]) and isinstance(m["database"].get("file"), str)
            and isinstance(m.get("blobs"), list) and all(entry(b) and isinstance(b.get("key"), str) for b in m["blobs"])
            and isinstance(m.get("schema_revisions"), list) and isinstance(m.get("counts"), dict)
            and (not m.get("secret_included") or entry(m.get("secret")) and isinstance(m["secret"].get("file"), str)))


def verify(source: Path, manifest: dict) -> None:
    """Every file the manifest lists is there with its size and sha256; BackupError naming the first that is not."""
    files = [(manifest["database"]["file"], manifest["database"])]
    if manifest.get("secret_included"):
        files.append((manifest["secret"]["file"], manifest["secret"]))
    files += [(f"{BLOBS}/{blob['key']}", blob) for blob in manifest["blobs"]]
    for name, expected in files:
        path = source / name
        if not path.resolve().is_relative_to(source.resolve()):
            raise BackupError(f"the backup's manifest names a file outside it: {name}")
        if not path.is_file():
            raise BackupError(f"the backup is incomplete: {name} is missing")
        found = file_digest(path)
        if found["size"] != expected["size"] or found["sha256"] != expected["sha256"]:
            raise BackupError(f"the backup is corrupt: {name} does not match its checksum "
                              f"({found['size']} bytes, expected {expected['size']})")


def check_revisions(revisions: list[str]) -> bool:
    """True when the backup's schema is older than the code's (it will be migrated); BackupError when it is
    newer (a revision this code does not know)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    from modelyard.db.engine import MIGRATIONS

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    script = ScriptDirectory.from_config(config)
    for revision in revisions:
        try:
            known = script.get_revision(revision)
        except CommandError:
            known = None
        if known is None:
            raise BackupError(f"the backup's schema revision {revision!r} is newer than this modelyard knows "
                              f"(its newest: {', '.join(sorted(script.get_heads()))}); restore it with the "
                              "modelyard release that wrote it, or a later one")
    return set(revisions) != set(script.get_heads())


def embedded_paths(home: Path, database_url: str, blob_url: str) -> tuple[Path, Path]:
    """The database file and blob folder, relative to `home`; BackupError unless both are inside it."""
    db = sqlite_path(database_url).resolve()
    parts = urlsplit(blob_url)
    if parts.scheme != "file":
        raise BackupError(f"restore writes a local blob folder; this home's blobs are at {blob_url} "
                          "(docs/backup.md describes restoring the scaled shape). Nothing was changed.")
    blobs = Path(unquote(parts.netloc + parts.path)).resolve()
    for what, path in (("database", db), ("blob folder", blobs)):
        if not path.is_relative_to(home):
            raise BackupError(f"the {what} {path} is outside the data folder {home}; restore replaces the "
                              "data folder as a whole, so unset that setting or restore by hand (docs/backup.md)")
    return db.relative_to(home), blobs.relative_to(home)


def restore_backup(source: Path, *, home: Path, database_url: str, blob_url: str, force: bool = False,
                   progress: Progress | None = None, open_blobs: Callable[[], BlobStore] | None = None
                   ) -> RestoreReport:
    """Restore into the embedded home, or (PostgreSQL settings) into that database and `open_blobs()`."""
    source, home = source.expanduser().resolve(), home.expanduser().resolve()
    if is_postgresql(database_url):
        assert open_blobs is not None, "restoring into PostgreSQL needs the blob store of the settings"
        return _restore_scaled(source, database_url, open_blobs, force=force, progress=progress)
    db_rel, blobs_rel = embedded_paths(home, database_url, blob_url)
    if home.exists() and any(home.iterdir()) and not force:
        raise BackupError(f"the data folder {home} is not empty; restore into an empty one, or pass --force "
                          "to replace everything in it. Nothing was changed.")
    _refuse_a_running_server(home)
    manifest = _checked(source, "sqlite")
    older = check_revisions(manifest["schema_revisions"])
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.restore-", dir=home.parent))
    try:
        _fill(staging, source, manifest, db_rel, blobs_rel, progress)
        if older:
            from modelyard.db import Database

            db = Database(f"sqlite:///{staging / db_rel}")
            try:
                db.migrate()
            finally:
                db.dispose()
        _swap(staging, home)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return RestoreReport(home, manifest, manifest["schema_revisions"] if older else None)


def _checked(source: Path, kind: str) -> dict:
    """The manifest of a complete, intact backup whose database is of `kind`."""
    manifest = read_manifest(source)
    found = manifest["database"].get("kind", "sqlite")
    if found != kind:
        target = "a PostgreSQL database (MODELYARD_DATABASE_URL=postgresql://…)" if found == "postgresql" \
            else "an embedded data folder (MODELYARD_DATABASE_URL unset)"
        raise BackupError(f"this backup holds a {found} database; restore it into {target}, or move the data "
                          "by hand (docs/backup.md). Nothing was changed.")
    verify(source, manifest)
    return manifest


def _restore_scaled(source: Path, database_url: str, open_blobs: Callable[[], BlobStore], *, force: bool,
                    progress: Progress | None) -> RestoreReport:
    """Blobs first (through the store), then the dump in one transaction, then migrations: a failure before
    pg_restore leaves the database as it was (extra blobs harm nothing)."""
    from modelyard.ops import pgdump

    manifest = _checked(source, "postgresql")
    older = check_revisions(manifest["schema_revisions"])
    pgdump.refuse_unless_empty(database_url, force=force)
    store = open_blobs()
    for blob in manifest["blobs"]:
        with open(source / BLOBS / blob["key"], "rb") as handle:
            store.put(blob["key"], handle, content_type=blob.get("content_type"))
        if progress:
            progress(blob["size"])
    pgdump.restore(source / manifest["database"]["file"], database_url, force=force)
    if older:
        from modelyard.db import Database

        db = Database(database_url)  # the resolved URL (postgresql+psycopg://)
        try:
            db.migrate()
        finally:
            db.dispose()
    return RestoreReport(None, manifest, manifest["schema_revisions"] if older else None)


def _refuse_a_running_server(home: Path) -> None:
    """The embedded server holds `jobs.lock` in its home while it runs (app.py): replacing that home under it
    would lose its writes."""
    import fcntl

    lock = home / "jobs.lock"
    if not lock.is_file():
        return
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise BackupError(f"a modelyard server is running on {home}; stop it before restoring into its "
                              "data folder. Nothing was changed.") from None
        fcntl.flock(handle, fcntl.LOCK_UN)


def _fill(staging: Path, source: Path, manifest: dict, db_rel: Path, blobs_rel: Path,
          progress: Progress | None) -> None:
    from modelyard.storage.local import LocalBlobStore

    (staging / db_rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source / manifest["database"]["file"], staging / db_rel)
    if manifest.get("secret_included"):
        shutil.copy2(source / manifest["secret"]["file"], staging / "secret.key")
        os.chmod(staging / "secret.key", 0o600)
    store = LocalBlobStore(staging / blobs_rel, secret="restore: the store only writes here")
    for blob in manifest["blobs"]:
        with open(source / BLOBS / blob["key"], "rb") as handle:
            store.put(blob["key"], handle, content_type=blob.get("content_type"))
        if progress:
            progress(blob["size"])
    shutil.rmtree(store.root / ".tmp", ignore_errors=True)


def _swap(staging: Path, home: Path) -> None:
    """Put the staged folder in place of `home`; the old contents are removed only once it is there."""
    if not home.exists():
        os.replace(staging, home)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{home.name}.replaced-", dir=home.parent))
    os.replace(home, old / "home")
    try:
        os.replace(staging, home)
    except BaseException:
        os.replace(old / "home", home)
        raise
    shutil.rmtree(old, ignore_errors=True)
