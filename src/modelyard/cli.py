"""The `modelyard` command: serve, worker, migrate, users."""
from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Annotated, Optional

import typer

from modelyard import process
from modelyard.auth.models import ROLES

app = typer.Typer(help="modelyard: from a CSV to a deployed, monitored model.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
users = typer.Typer(help="Manage accounts.", no_args_is_help=True)
app.add_typer(users, name="users")


def _settings():
    from modelyard.config import Settings

    return Settings()


def default_workers() -> int:
    """One API process per core, at most four (each holds its own loaded models)."""
    return max(1, min(os.cpu_count() or 1, 4))


@app.command()
def serve(host: Annotated[str, typer.Option(help="address to bind")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="port to bind")] = 8000,
          workers: Annotated[Optional[int], typer.Option(
              min=1, max=64, help="API processes (default: one per core, at most 4)")] = None) -> None:
    """Migrate, then serve the API (and, on the embedded default, run jobs in one of its processes)."""
    count = workers or default_workers()
    process.limit_math_threads((os.cpu_count() or 1) // count)
    process.setup_logging()
    settings = _settings()
    if count > 1:
        process.shared_metrics_folder(settings.home_dir)
    import uvicorn

    from modelyard.app import bootstrap_once, create_app

    options = dict(host=host, port=port, access_log=False, log_config=None, loop="uvloop", http="httptools",
                   proxy_headers=True)
    if count == 1:
        uvicorn.run(create_app(settings), **options)
        return
    bootstrap_once(settings)  # migrations and the first admin, before the processes start
    uvicorn.run("modelyard.app:from_environment", factory=True, workers=count, **options)


@app.command()
def worker(threads: Annotated[Optional[int], typer.Option(help="job threads (default: setting)")] = None) -> None:
    """Run jobs from the shared queue (scaled shape); run any number of these on any hosts."""
    process.limit_math_threads(os.cpu_count() or 1)  # training jobs may use every core
    process.setup_logging()
    from modelyard.jobs.queue import Worker
    from modelyard.runtime import Runtime

    settings = _settings()
    runtime = Runtime(settings)
    runtime.db.migrate()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    pool = Worker(runtime.queue, settings, threads=threads or settings.worker_threads, periodic=runtime.periodic)
    pool.start()
    runtime.start()
    logging.getLogger("modelyard").info("worker started on queue %s", settings.queue_name)
    done.wait()
    pool.stop()
    runtime.close()


@app.command()
def migrate() -> None:
    """Bring the database schema to the newest version."""
    from modelyard.db import Database

    Database(_settings().resolved_database_url).migrate()
    typer.echo("database is up to date")


def _auth_service(session):
    from modelyard.auth.service import AuthService
    from modelyard.ratelimit import Limiter

    return AuthService(session, secret="", token_ttl=60, limiter=Limiter())


def _with_auth(action):
    from modelyard.db import Database

    db = Database(_settings().resolved_database_url)
    db.migrate()
    with db.session() as session:
        return action(_auth_service(session))


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
    for user in _with_auth(lambda auth: auth.list_users()):
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
) -> None:
    """Set a new password for an account."""
    _with_auth(lambda auth: auth.update_user(auth.get_by_username(username), password=password))
    typer.echo(f"password of {username} changed")


def main() -> None:
    from modelyard.errors import AppError

    try:
        app()
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise SystemExit(1) from None
