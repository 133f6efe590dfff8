"""The `modelyard` command: serve, ui, worker, migrate, backup, restore, users; the client commands (login,
upload, train, ...) come from modelyard/client/cli.py."""
from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Annotated, Optional

import typer

from modelyard import process
from modelyard.auth.models import ROLES
from modelyard.client.cli import register as register_client_commands

app = typer.Typer(help="modelyard: from a CSV to a deployed, monitored model.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
users = typer.Typer(help="Manage accounts: `ls` and `add` over the API as a logged-in admin; the others on this "
                         "machine's database.", no_args_is_help=True)
app.add_typer(users, name="users")
gallery = typer.Typer(help="The built-in business models.", no_args_is_help=True)
app.add_typer(gallery, name="gallery")
register_client_commands(app, users)


def _settings():
    """Settings from the environment; an invalid one is one line naming it and its fix, exit 2."""
    from pydantic import ValidationError

    from modelyard.config import Settings
    from modelyard.ops.startup import settings_error_lines

    try:
        return Settings()
    except ValidationError as exc:
        for line in settings_error_lines(exc):
            typer.echo(line, err=True)
        raise SystemExit(2) from None


def _announce_home(settings) -> None:
    """CLI commands say which data folder and database they use (on stderr), and when they create it."""
    from modelyard.ops.startup import mask_url

    home = settings.home.expanduser().resolve()
    new = not home.exists() and not settings.database_url
    where = f"database {mask_url(settings.database_url)}" if settings.database_url else "SQLite database"
    note = " (created now: no data folder was there; set MODELYARD_HOME or run from the folder you meant)" \
        if new else ""
    typer.echo(f"modelyard: using data folder {home}{note}, {where}", err=True)


def default_workers() -> int:
    """One API process per core, at most four (each holds its own loaded models)."""
    return max(1, min(os.cpu_count() or 1, 4))


@app.command()
def serve(host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port to bind")] = 8000,
          workers: Annotated[Optional[int], typer.Option(
              min=1, max=64, help="API processes (default: one per core, at most 4)")] = None,
          no_ui: Annotated[bool, typer.Option("--no-ui", help="do not start the web UI beside the API")] = False,
          ui_port: Annotated[int, typer.Option(help="port of the web UI")] = 8501) -> None:
    """Migrate, then serve the API (and, on the embedded default, run jobs in one of its processes) and the web UI."""
    count = workers or default_workers()
    process.limit_math_threads((os.cpu_count() or 1) // count)
    process.limit_malloc()
    process.setup_logging()
    settings = _settings()
    if count > 1:
        process.shared_metrics_folder(settings.home_dir)
    import uvicorn

    from modelyard.app import bootstrap_once, create_app
    from modelyard.ops import startup

    startup.check_database(settings)  # a missing database or server: one line, exit 1
    options = dict(host=host, port=port, access_log=False, log_config=None, loop="uvloop", http="httptools",
                   proxy_headers=True)
    summary = startup.summary_lines(settings, command="serve", jobs_here=settings.runs_embedded_worker,
                                    threads=settings.worker_threads, host=host, port=port)
    summary.append(f"API processes: {count}" + (" (jobs run in one of them)" if count > 1 and
                                                 settings.runs_embedded_worker else ""))
    ui = None
    try:
        if count == 1:
            application = create_app(settings)
        else:
            bootstrap_once(settings)  # migrations and the first admin, before the processes start
        # The UI starts once the API could be built (a misconfiguration stays one line), and stops with serve.
        ui, line = (None, "off (--no-ui)") if no_ui else _start_ui(host, port, ui_port)
        summary.append(f"  web UI      : {line}")
        startup.log_summary(summary)
        if count == 1:
            uvicorn.run(application, **options)
        else:
            uvicorn.run("modelyard.app:from_environment", factory=True, workers=count, **options)
    finally:
        if ui is not None:
            from modelyard.ui import launch

            launch.stop_child(ui)


def _start_ui(host: str, port: int, ui_port: int):
    """The web UI as a child process of `serve`, and its start-up summary line; a taken port only skips it."""
    from modelyard.ui import launch

    if not launch.port_free(host, ui_port):
        return None, f"not started: port {ui_port} is in use (choose another with --ui-port, or --no-ui)"
    backend = launch.backend_for(host, port)
    child = launch.start_child(host=host, port=ui_port, backend_url=backend)
    return child, f"{launch.backend_for(host, ui_port)} (Streamlit, BACKEND_URL {backend})"


@app.command()
def ui(host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
       port: Annotated[int, typer.Option(help="port of the web UI")] = 8501,
       backend_url: Annotated[Optional[str], typer.Option(
           envvar="BACKEND_URL", help="the modelyard API the UI talks to")] = None) -> None:
    """Run the web UI alone (Streamlit), against the API at BACKEND_URL (default http://127.0.0.1:8000)."""
    from modelyard.ui import launch
    from modelyard.client.api import DEFAULT_BACKEND

    backend = (backend_url or DEFAULT_BACKEND).rstrip("/")
    typer.echo(f"modelyard ui: http://{host}:{port} (BACKEND_URL {backend})", err=True)
    launch.run_foreground(host=host, port=port, backend_url=backend)


@app.command()
def worker(threads: Annotated[Optional[int], typer.Option(help="job threads (default: setting)")] = None) -> None:
    """Run jobs from the shared queue (scaled shape); run any number of these on any hosts."""
    process.limit_math_threads(os.cpu_count() or 1)  # training jobs may use every core
    process.limit_malloc()
    process.setup_logging()
    from modelyard.jobs.queue import Worker
    from modelyard.ops import startup
    from modelyard.runtime import Runtime

    settings = _settings()
    startup.check_database(settings)
    runtime = Runtime(settings)
    runtime.db.migrate()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    threads = threads or settings.worker_threads
    startup.log_summary(startup.summary_lines(settings, command="worker", jobs_here=True, threads=threads))
    # An unreachable queue is waited for (1, 2, 4 … 30 s apart, one line each), not a log flood.
    if not startup.wait_for(runtime.queue.pending, what=f"the job queue ({settings.queue_name})", stop=done):
        runtime.close()
        return
    pool = Worker(runtime.queue, settings, threads=threads, periodic=runtime.periodic)
    pool.start()
    runtime.start()
    logging.getLogger("modelyard").info("worker started on queue %s", settings.queue_name)
    done.wait()
    pool.stop()
    runtime.close()


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest version."""
    settings = _settings()
    _announce_home(settings)
    _prepared_database(settings).dispose()
    typer.echo("database is up to date")


class _Progress:
    """Bytes copied so far, one stderr line per EVERY bytes (a long copy shows it is moving)."""

    EVERY = 64 * 1024 * 1024

    def __init__(self, verb: str):
        self.verb, self.done, self.shown = verb, 0, 0

    def __call__(self, size: int) -> None:
        self.done += size
        if self.done - self.shown >= self.EVERY:
            self.shown = self.done
            typer.echo(f"modelyard: {self.verb} {self.done // (1024 * 1024)} MB of blobs so far", err=True)


@app.command()
def backup(path: Annotated[Path, typer.Argument(help="a new folder to write the backup into")],
           allow_missing: Annotated[bool, typer.Option(
               "--allow-missing", help="write the backup even when blobs the database names are missing "
                                       "(they are listed in its manifest)")] = False) -> None:
    """Back up the database (SQLite, or PostgreSQL with pg_dump) and the blobs, consistently, while the servers
    run (docs/backup.md)."""
    from modelyard.errors import AppError
    from modelyard.ops import startup
    from modelyard.ops.backup import take_backup
    from modelyard.storage import open_blob_store

    settings = _settings()
    _announce_home(settings)
    secret = None if settings.secret_key else settings.home_dir / "secret.key"
    try:
        if settings.database_url and not settings.database_url.startswith("sqlite"):
            startup.check_database(settings)  # a server that is away: one line (a SQLite file is not created)
        report = take_backup(path, database_url=settings.resolved_database_url, blobs=open_blob_store(settings),
                             secret_file=secret, allow_missing=allow_missing, progress=_Progress("copied"))
    except AppError as exc:  # BackupError, or a database or blob store that cannot be used
        typer.echo(f"modelyard: {exc.message}", err=True)
        raise SystemExit(1) from None
    for line in report.lines:
        typer.echo(line)
    if report.missing:
        raise SystemExit(3)


@app.command()
def restore(path: Annotated[Path, typer.Argument(help="a folder written by `modelyard backup`")],
            force: Annotated[bool, typer.Option("--force", help="replace a data folder that is not empty")] = False,
            ) -> None:
    """Restore a backup into this home, or this PostgreSQL database and blob store (empty unless --force), then
    migrate it forward when it is older (docs/backup.md)."""
    from modelyard.errors import AppError
    from modelyard.ops import startup
    from modelyard.ops.restore import restore_backup
    from modelyard.storage import open_blob_store

    settings = _settings()
    home = settings.home.expanduser().resolve()
    scaled = settings.database_url and not settings.database_url.startswith("sqlite")
    where = f"database {startup.mask_url(settings.database_url)}" if scaled else f"data folder {home}"
    typer.echo(f"modelyard: restoring into {where}", err=True)
    try:
        if scaled:
            startup.check_database(settings)  # a server that is away: one line
        report = restore_backup(path, home=home, database_url=settings.resolved_database_url,
                                blob_url=settings.resolved_blob_url, force=force, progress=_Progress("restored"),
                                open_blobs=lambda: open_blob_store(settings))
    except AppError as exc:  # BackupError, or a database or blob store that cannot be used
        typer.echo(f"modelyard: {exc.message}", err=True)
        raise SystemExit(1) from None
    for line in report.lines:
        typer.echo(line)


@app.command("import-mlflow")
def import_mlflow(
    folder: Annotated[Path, typer.Argument(help="the MLflow model folder (the one holding MLmodel)")],
    name: Annotated[str, typer.Option("--name", help="the registered model's name")],
    version: Annotated[Optional[str], typer.Option(help="the version label (default: the next number)")] = None,
    deploy: Annotated[bool, typer.Option("--deploy", help="deploy the imported version")] = False,
    description: Annotated[Optional[str], typer.Option(help="the model's description")] = None,
    url: Annotated[str, typer.Option(envvar="BACKEND_URL", help="the modelyard server")] = "http://127.0.0.1:8000",
    token: Annotated[str, typer.Option(envvar="MODELYARD_TOKEN", prompt=True, hide_input=True,
                                       help="an API key or access token of the account that will own it")] = "",
) -> None:
    """Import an MLflow model folder into a modelyard server over its HTTP API (docs/mlflow.md)."""
    from modelyard.registry.mlflow_upload import ImportFailed, send

    try:
        body = send(folder, url=url, token=token, name=name, version=version, deploy=deploy,
                    description=description)
    except ImportFailed as exc:
        typer.echo(f"modelyard: {exc}", err=True)
        raise SystemExit(1) from None
    typer.echo(f"{body['model_name']}\t{body['model_version']}\t{body['model_version_id']}\t{body['format']}\t"
               f"{body['status']}")


def _prepared_database(settings):
    from modelyard.db import Database
    from modelyard.ops import startup

    startup.check_database(settings)
    db = Database(settings.resolved_database_url)
    db.migrate()
    return db


def _auth_service(session, settings):
    from modelyard.auth.service import AuthService

    return AuthService(session, secret="", token_ttl=60, max_failures=settings.login_max_failures,
                       failure_window=settings.login_failure_window_seconds,
                       max_failures_account=settings.login_max_failures_account,
                       max_failures_address=settings.login_max_failures_address)


def _with_auth(action):
    settings = _settings()
    _announce_home(settings)
    db = _prepared_database(settings)
    try:
        with db.session() as session:
            return action(_auth_service(session, settings))
    finally:
        db.dispose()


def _check_role(role: str) -> str:
    role = {"customer": "user"}.get(role, role)
    if role not in ROLES:
        raise typer.BadParameter(f"role must be one of {', '.join(ROLES)}")
    return role


@users.command("create")
def users_create(username: str, role: Annotated[str, typer.Option(help=", ".join(ROLES))] = "user",
                 email: Annotated[Optional[str], typer.Option()] = None,
                 password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                                       envvar="MODELYARD_NEW_PASSWORD")] = "") -> None:
    """Create an account."""
    role = _check_role(role)
    user = _with_auth(lambda auth: auth.create_user(username, password, role=role, email=email))
    typer.echo(f"created {user.username} (id {user.id}, role {user.role})")


@users.command("list")
def users_list() -> None:
    """List accounts."""
    found = _with_auth(lambda auth: auth.list_users())
    if not found:
        typer.echo("no users")
        return
    typer.echo("id\tusername\trole\tstate\temail")
    for user in found:
        state = "active" if user.is_active else "inactive"
        typer.echo(f"{user.id}\t{user.username}\t{user.role}\t{state}\t{user.email or ''}")


@users.command("set-role")
def users_set_role(username: str, role: str) -> None:
    """Change an account's role."""
    role = _check_role(role)
    _with_auth(lambda auth: auth.update_user(auth.get_by_username(username), role=role))
    typer.echo(f"{username} is now {role}")


@users.command("reset-password")
def users_reset_password(
    username: str,
    password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                          envvar="MODELYARD_NEW_PASSWORD")] = "",
    if_exists: Annotated[bool, typer.Option("--if-exists", help="do nothing when the account does not exist "
                                                                  "yet (the README's quick start)")] = False,
) -> None:
    """Set a new password for an account."""
    def reset(auth) -> bool:
        if if_exists and not auth.find_by_username(username):
            return False
        auth.update_user(auth.get_by_username(username), password=password)
        return True

    if _with_auth(reset):
        typer.echo(f"password of {username} changed")
    else:
        typer.echo(f"no user {username} yet: nothing changed")


@users.command("unlock")
def users_unlock(username: str) -> None:
    """Lift the login throttling of an account (after too many failed logins)."""
    forgiven = _with_auth(lambda auth: auth.unlock(auth.get_by_username(username).username))
    typer.echo(f"{username} unlocked ({forgiven} recent failed logins forgiven)")


def main() -> None:
    from modelyard.errors import AppError

    try:
        app()
    except AppError as exc:
        typer.echo(f"modelyard: error: {exc.message}", err=True)
        raise SystemExit(1) from None


@gallery.command("build")
def gallery_build(
        names: Annotated[Optional[list[str]], typer.Argument(help="models to build (default: all)")] = None) -> None:
    """Train and register every built-in model that is missing (they are otherwise trained on first use)."""
    from modelyard.errors import AppError
    from modelyard.runtime import Runtime

    settings = _settings()
    _announce_home(settings)
    runtime = Runtime(settings)
    try:
        runtime.db.migrate()
        for entry in runtime.gallery.build(names or None):
            typer.echo(f"{entry['name']}\t{entry['version']}\t{entry['version_id']}")
    except AppError as exc:
        typer.echo(f"modelyard: {exc.message}", err=True)
        raise SystemExit(1) from None
    finally:
        runtime.close()
