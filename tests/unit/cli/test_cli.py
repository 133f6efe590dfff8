"""The `modelyard` command's account management and migrate, on a fresh data folder."""
import pytest
from typer.testing import CliRunner

from modelyard.cli import app


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)  # no stray .env is read
    runner = CliRunner()

    def invoke(*args, password=None):
        env = {"MODELYARD_NEW_PASSWORD": password} if password else {}
        return runner.invoke(app, list(args), env=env)

    return invoke


def test_migrate_then_create_list_change_role_and_reset_password(run, tmp_path):
    assert run("migrate").exit_code == 0
    created = run("users", "create", "ada", "--role", "labeler", "--email", "ada@example.com", password="first-pass-1")
    assert created.exit_code == 0, created.output
    assert "role labeler" in created.output
    assert "ada\tlabeler\tactive\tada@example.com" in run("users", "list").output
    assert run("users", "set-role", "ada", "customer").exit_code == 0
    assert "ada\tuser" in run("users", "list").output
    assert run("users", "reset-password", "ada", password="second-pass-2").exit_code == 0

    from modelyard.auth.service import AuthService
    from modelyard.config import Settings
    from modelyard.db import Database
    from modelyard.ratelimit import Limiter

    db = Database(Settings(_env_file=None, home=tmp_path / "home").resolved_database_url)
    with db.session() as session:
        auth = AuthService(session, secret="s" * 40, token_ttl=60, limiter=Limiter())
        assert auth.login("ada", "second-pass-2", address=None).user.role == "user"
    db.dispose()


def test_unknown_role_and_unknown_user_are_refused(run):
    assert run("users", "create", "bob", "--role", "root", password="pw-long-enough").exit_code != 0
    result = run("users", "set-role", "ghost", "admin")
    assert result.exit_code == 1


def test_a_command_says_which_data_folder_it_uses_and_that_it_created_it(run, tmp_path):
    first = run("users", "list")
    second = run("users", "list")

    home = (tmp_path / "home").resolve()
    assert first.exit_code == 0, first.output
    assert f"modelyard: using data folder {home} (created now" in first.stderr
    assert f"modelyard: using data folder {home}, SQLite database" in second.stderr
    assert "created now" not in second.stderr


def test_users_list_prints_no_users_on_an_empty_database_and_a_header_otherwise(run):
    assert run("users", "list").stdout == "no users\n"
    run("users", "create", "ada", "--role", "user", password="first-pass-1")

    lines = run("users", "list").stdout.splitlines()

    assert lines[0] == "id\tusername\trole\tstate\temail"
    assert lines[1].split("\t")[1:4] == ["ada", "user", "active"]


def test_reset_password_if_exists_does_nothing_without_the_account_and_resets_it_otherwise(run):
    missing = run("users", "reset-password", "admin", "--if-exists", password="new-pass-123")
    assert missing.exit_code == 0, missing.output
    assert "no user admin yet: nothing changed" in missing.stdout
    assert run("users", "reset-password", "admin", password="new-pass-123").exit_code == 1

    run("users", "create", "admin", "--role", "admin", password="old-pass-123")
    changed = run("users", "reset-password", "admin", "--if-exists", password="new-pass-123")
    assert "password of admin changed" in changed.stdout


def test_unlocking_an_unknown_user_fails(run):
    result = run("users", "unlock", "ghost")
    assert result.exit_code == 1


def test_gallery_build_trains_the_named_builtins_once_and_refuses_unknown_names(run):
    first = run("gallery", "build", "lead-score", "user-engagement")
    assert first.exit_code == 0, first.output
    lines = [line.split("\t") for line in first.stdout.strip().splitlines()]
    assert [(name, version) for name, version, _ in lines] == [("lead-score", "v1.0"), ("user-engagement", "v1.0")]
    again = run("gallery", "build", "lead-score")
    assert again.exit_code == 0 and again.stdout.split("\t")[2].strip() == lines[0][2]  # found, not retrained
    unknown = run("gallery", "build", "no-such-model")
    assert unknown.exit_code == 1 and "gallery model no-such-model not found" in unknown.stderr


def test_a_database_migrated_by_a_newer_modelyard_is_one_line_not_a_traceback(run, tmp_path):
    import os
    import sqlite3
    import subprocess
    import sys

    assert run("migrate").exit_code == 0
    database = tmp_path / "home" / "modelyard.db"
    with sqlite3.connect(database) as conn:
        conn.execute("INSERT INTO alembic_version (version_num) VALUES ('from_the_future')")
    done = subprocess.run([sys.executable, "-m", "modelyard", "migrate"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "MODELYARD_HOME": str(tmp_path / "home")}, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "was migrated by a newer modelyard" in done.stderr and "from_the_future" in done.stderr
