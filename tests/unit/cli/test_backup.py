"""`modelyard backup` and `modelyard restore` on data folders of their own (and on PostgreSQL with S3): what
they refuse, and that a refused restore changes nothing."""
from __future__ import annotations

import json
import secrets
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from modelyard.cli import app
from modelyard.config import Settings
from modelyard.db import Database
from modelyard.ops.backup import file_digest
from modelyard.storage import open_blob_store
from tests.support.first_release import USERS, WHEN, seed_first_release

BLOB_KEY = "datasets/file_1/raw.csv"
BLOB = b"a,b\n1,2\n"


@pytest.fixture
def run(tmp_path, monkeypatch):
    """`run(*args, home=...)`: the modelyard command on that data folder (default tmp_path/home)."""
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    runner = CliRunner()

    def invoke(*args, home: Path | None = None, password: str | None = None, **env: str):
        env = {"MODELYARD_HOME": str(home or tmp_path / "home"), **env}
        if password:
            env["MODELYARD_NEW_PASSWORD"] = password
        return runner.invoke(app, list(args), env=env)

    return invoke


def add_dataset(home: Path, key: str = BLOB_KEY, *, with_blob: bool = True,
                settings: Settings | None = None) -> None:
    """A dataset row naming `key`, and (unless told otherwise) its blob."""
    settings = settings or Settings(_env_file=None, home=home)
    if with_blob:
        open_blob_store(settings).put(key, BLOB, content_type="text/csv")
    db = Database(settings.resolved_database_url)
    with db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO dataset (id, filename, blob_key, size, sha256, rows, columns, column_names, encoding, "
            "delimiter, profile, purpose, owner_id, created_at) VALUES (:id, 'raw.csv', :key, 8, 'x', 1, 2, "
            "'[\"a\",\"b\"]', 'utf-8', ',', '{}', 'training', 1, :at)"),
            {"id": key.split("/")[1], "key": key, "at": WHEN})
    db.dispose()


@pytest.fixture
def backup(run, tmp_path) -> Path:
    """A backup of a home with one user and one dataset."""
    assert run("users", "create", "ada", password="ada-password-1").exit_code == 0
    add_dataset(tmp_path / "home")
    taken = run("backup", str(tmp_path / "backup"))
    assert taken.exit_code == 0, taken.output
    return tmp_path / "backup"


def rewrite(backup: Path, name: str, change) -> None:
    """Change a file of the backup and record its new checksum, as a backup of other contents would have."""
    change(backup / name)
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["database"].update(file_digest(backup / name))
    (backup / "manifest.json").write_text(json.dumps(manifest))


def nothing_left_beside(path: Path) -> list[str]:
    return sorted(p.name for p in path.parent.iterdir() if p.name.startswith(f".{path.name}."))


def test_a_restore_brings_back_rows_blobs_and_the_secret(run, backup, tmp_path):
    restored = run("restore", str(backup), home=tmp_path / "new")

    assert restored.exit_code == 0, restored.output
    assert "1 blobs, 8 bytes" in restored.stdout and "secret   : restored" in restored.stdout
    assert (tmp_path / "new" / "blobs" / BLOB_KEY).read_bytes() == BLOB
    assert (tmp_path / "new" / "secret.key").read_text() == (tmp_path / "home" / "secret.key").read_text()
    assert "ada\tuser" in run("users", "list", home=tmp_path / "new").stdout
    blob = open_blob_store(Settings(_env_file=None, home=tmp_path / "new")).stat(BLOB_KEY)
    assert blob.content_type == "text/csv"


def test_restore_refuses_a_home_that_is_not_empty_and_leaves_it_alone(run, backup, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")

    refused = run("restore", str(backup), home=other)

    assert refused.exit_code == 1
    assert "is not empty" in refused.stderr and "--force" in refused.stderr
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    forced = run("restore", str(backup), "--force", home=other)
    assert forced.exit_code == 0, forced.output
    assert not (other / "notes.txt").exists() and (other / "blobs" / BLOB_KEY).read_bytes() == BLOB
    assert nothing_left_beside(other) == []


@pytest.mark.parametrize("damage", ["flipped byte in a blob", "truncated database", "missing blob",
                                    "no manifest", "manifest not json", "manifest without its blobs"])
def test_a_corrupt_or_truncated_backup_is_refused_and_nothing_is_restored(run, backup, tmp_path, damage):
    blob, database = backup / "blobs" / BLOB_KEY, backup / "modelyard.db"
    if damage == "flipped byte in a blob":
        blob.write_bytes(b"A" + blob.read_bytes()[1:])
    elif damage == "truncated database":
        database.write_bytes(database.read_bytes()[:4096])
    elif damage == "missing blob":
        blob.unlink()
    elif damage == "no manifest":
        (backup / "manifest.json").unlink()
    elif damage == "manifest without its blobs":
        manifest = json.loads((backup / "manifest.json").read_text())
        del manifest["blobs"]
        (backup / "manifest.json").write_text(json.dumps(manifest))
    else:
        (backup / "manifest.json").write_text('{"format": "modelyard-ba')
    target = tmp_path / "new"

    refused = run("restore", str(backup), home=target)

    assert refused.exit_code == 1
    expected = {"flipped byte in a blob": f"corrupt: blobs/{BLOB_KEY}", "truncated database": "corrupt: modelyard.db",
                "missing blob": f"incomplete: blobs/{BLOB_KEY} is missing", "no manifest": "not a modelyard backup",
                "manifest not json": "unreadable or corrupt",
                "manifest without its blobs": "is incomplete or corrupt"}[damage]
    assert expected in refused.stderr
    assert not target.exists() or list(target.iterdir()) == []
    assert nothing_left_beside(target) == []


def test_a_backup_of_a_newer_schema_is_refused_naming_the_revision(run, backup, tmp_path):
    def newer(path: Path) -> None:
        with sqlite3.connect(path) as conn:
            conn.execute("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
        conn.close()

    rewrite(backup, "modelyard.db", newer)
    manifest = json.loads((backup / "manifest.json").read_text())
    manifest["schema_revisions"].append("9999_from_the_future")
    (backup / "manifest.json").write_text(json.dumps(manifest))

    refused = run("restore", str(backup), home=tmp_path / "new")

    assert refused.exit_code == 1
    assert "'9999_from_the_future' is newer than this modelyard" in refused.stderr
    assert not (tmp_path / "new").exists() or list((tmp_path / "new").iterdir()) == []


def test_a_backup_of_the_first_release_is_migrated_forward_on_restore(run, tmp_path):
    old = tmp_path / "old"
    old.mkdir()
    db = Database(f"sqlite:///{old / 'modelyard.db'}")
    seed_first_release(db.engine)
    db.dispose()
    assert run("backup", str(tmp_path / "backup"), home=old).exit_code == 0

    restored = run("restore", str(tmp_path / "backup"), home=tmp_path / "new")

    assert restored.exit_code == 0, restored.output
    assert "migrated forward from 0001" in restored.stdout
    listed = run("users", "list", home=tmp_path / "new").stdout
    assert [line.split("\t")[1] for line in listed.splitlines()[1:]] == [u[1] for u in USERS]


def test_a_blob_the_database_names_but_the_store_lacks_fails_the_backup_unless_allowed(run, tmp_path):
    assert run("users", "create", "ada", password="ada-password-1").exit_code == 0
    add_dataset(tmp_path / "home", "datasets/file_gone/raw.csv", with_blob=False)

    refused = run("backup", str(tmp_path / "b1"))
    allowed = run("backup", str(tmp_path / "b2"), "--allow-missing")

    assert refused.exit_code == 1 and "datasets/file_gone/raw.csv" in refused.stderr
    assert not (tmp_path / "b1").exists() and nothing_left_beside(tmp_path / "b1") == []
    assert allowed.exit_code == 3 and "MISSING" in allowed.stdout
    manifest = json.loads((tmp_path / "b2" / "manifest.json").read_text())
    assert manifest["missing_blobs"] == ["datasets/file_gone/raw.csv"]


def test_backup_refuses_an_unreachable_postgresql_and_an_existing_path_writing_nothing(run, backup, tmp_path):
    pg = run("backup", str(tmp_path / "pg"), MODELYARD_DATABASE_URL="postgresql://nobody@127.0.0.1:1/none")
    again = run("backup", str(backup))

    assert pg.exit_code == 1 and "cannot use the database of MODELYARD_DATABASE_URL" in pg.stderr
    assert not (tmp_path / "pg").exists() and nothing_left_beside(tmp_path / "pg") == []
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_a_postgresql_and_s3_backup_restores_into_an_empty_database_and_bucket(run, tmp_path, postgres_server,
                                                                                s3_endpoint, backup):
    from tests.conftest import create_pg_database, drop_pg_database
    from tests.support.servers import create_bucket

    databases = [create_pg_database(postgres_server) for _ in range(2)]
    buckets = [create_bucket(s3_endpoint, f"backup-{secrets.token_hex(4)}") for _ in range(2)]
    shapes = [{"MODELYARD_DATABASE_URL": db, "MODELYARD_BLOB_URL": f"s3://{bucket}/p",
               "MODELYARD_S3_ENDPOINT_URL": s3_endpoint, "MODELYARD_S3_ACCESS_KEY_ID": "test",
               "MODELYARD_S3_SECRET_ACCESS_KEY": "test", "MODELYARD_SECRET_KEY": "scaled-secret-0123456789abcdef0123"}
              for db, bucket in zip(databases, buckets)]
    source, target = shapes
    try:
        assert run("users", "create", "ada", password="ada-password-1", **source).exit_code == 0
        settings = Settings(_env_file=None, home=tmp_path / "h", **{k[10:].lower(): v for k, v in source.items()})
        add_dataset(tmp_path / "h", settings=settings)

        taken = run("backup", str(tmp_path / "pg-backup"), **source)
        embedded_one = run("restore", str(backup), **target)
        restored = run("restore", str(tmp_path / "pg-backup"), **target)
        again = run("restore", str(tmp_path / "pg-backup"), **target)

        assert taken.exit_code == 0, taken.output
        assert "PostgreSQL dump" in taken.stdout and "1 blobs, 8 bytes (the blobs the database names)" in taken.stdout
        assert "secret   : not included" in taken.stdout
        assert embedded_one.exit_code == 1 and "this backup holds a sqlite database" in embedded_one.stderr
        assert restored.exit_code == 0, restored.output
        assert "ada\tuser" in run("users", "list", **target).stdout
        copy = Settings(_env_file=None, home=tmp_path / "h2", **{k[10:].lower(): v for k, v in target.items()})
        store = open_blob_store(copy)
        assert store.read_bytes(BLOB_KEY) == BLOB and store.stat(BLOB_KEY).content_type == "text/csv"
        assert again.exit_code == 1 and "restore into an empty database, or pass --force" in again.stderr
    finally:
        for db in databases:
            drop_pg_database(db, postgres_server)
