"""The client commands of `modelyard` (login, upload, train, deploy, predict, score, models, label, users ls/add):
each is a few lines over `modelyard.client.Client`; output, progress and exit codes are in console.py."""
from __future__ import annotations

import json
import socket
import sys
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from modelyard.client import console, credentials
from modelyard.client.console import emit, handled, table
from modelyard.client.errors import ModelyardError
from modelyard.client.workflows import Client

JsonOption = Annotated[bool, typer.Option("--json", help="print JSON for scripts instead of a table")]
ExistingFile = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="a CSV file")]
MODEL_COLUMNS = [("id", "id"), ("name", "name"), ("version", "version"), ("type", "type"),
                 ("algorithm", "algorithm"), ("accuracy", "accuracy"), ("status", "status"),
                 ("created_at", "created")]

models = typer.Typer(help="Models you can see on the server (over the API).", no_args_is_help=True)
label = typer.Typer(help="Labeling requests and their labels (over the API).", no_args_is_help=True)


def register(app: typer.Typer, users: typer.Typer) -> None:
    """Add the client commands to the `modelyard` command (cli.py) and its `users` group."""
    for command in (login, logout, whoami, upload, train, deploy, predict, score):
        app.command(rich_help_panel="Client (over the API)")(command)
    app.add_typer(models, name="models", rich_help_panel="Client (over the API)")
    app.add_typer(label, name="label", rich_help_panel="Client (over the API)")
    users.command("ls")(users_ls)
    users.command("add")(users_add)


def connect() -> Client:
    """A session from MODELYARD_URL / MODELYARD_API_KEY or the saved credentials; exit 2 when there is no key."""
    try:
        found = credentials.resolve()
    except ValueError as exc:
        console.fail(str(exc))
    if not found.api_key:
        console.fail(f"not logged in to {found.url}: run `modelyard login` (or set MODELYARD_URL and "
                     "MODELYARD_API_KEY)")
    return Client(found.url, api_key=found.api_key)


# --- signing in ---------------------------------------------------------------------------------------


def _default_url() -> str:
    try:
        saved = credentials.read_file()
    except ValueError:
        saved = None
    return saved.url if saved else credentials.DEFAULT_URL


def login(url: Annotated[Optional[str], typer.Option(envvar="MODELYARD_URL", help="the server (default: the "
                                                     "saved one, else http://127.0.0.1:8000)")] = None,
          username: Annotated[Optional[str], typer.Option(help="your account")] = None,
          password: Annotated[Optional[str], typer.Option(envvar="MODELYARD_PASSWORD", help="asked for when "
                                                          "not given (never saved)")] = None,
          api_key: Annotated[Optional[str], typer.Option("--api-key", help="save this existing key instead of "
                                                         "signing in with a password")] = None,
          as_json: JsonOption = False) -> None:
    """Sign in and save an API key for the other commands (a new key named after this machine; never the password)."""
    url = (url or _default_url()).rstrip("/")
    with handled():
        if api_key:
            with Client(url, api_key=api_key) as session:
                me, key_id = session.me(), None
        else:
            username = username or typer.prompt("username")
            password = password or typer.prompt("password", hide_input=True)
            with Client.from_login(url, username, password) as session:
                made = session.create_api_key(f"modelyard CLI on {socket.gethostname()}")
                me, api_key, key_id = session.me(), made["api_key"], made["id"]
        path = credentials.write_file(credentials.Credentials(url=url, api_key=api_key, username=me["username"],
                                                              key_id=key_id))
    emit({"url": url, "username": me["username"], "role": me.get("role"), "credentials": str(path)}, as_json,
         lambda d: f"logged in to {d['url']} as {d['username']} ({d['role']}); API key saved in {d['credentials']}")


def logout() -> None:
    """Revoke the saved API key on its server (when it can be reached) and delete the saved credentials."""
    try:
        saved = credentials.read_file()
    except ValueError:
        saved = None
    if saved is not None and saved.api_key and saved.key_id:
        try:
            with Client(saved.url, api_key=saved.api_key) as session:
                session.revoke_api_key(saved.key_id)
        except ModelyardError as exc:
            console.note(f"modelyard: the key could not be revoked on {saved.url} ({exc.message}); "
                         "revoke it from another session")
    removed = credentials.remove_file()
    console.note("logged out" if removed else "not logged in: nothing to do")


def whoami(as_json: JsonOption = False) -> None:
    """The account the saved key (or MODELYARD_API_KEY) signs in as."""
    with handled(), connect() as client:
        me = client.me()
    emit(me, as_json, lambda d: f"{d['username']} ({d['role']}) on {client.base_url}")


# --- data, training, deploying -------------------------------------------------------------------------


def _upload(client: Client, path: Path) -> dict:
    with console.bars() as bars:
        return client.upload_dataset_file(path, on_progress=console.bytes_callback(bars, f"upload {path.name}"))


def upload(file: ExistingFile, as_json: JsonOption = False) -> None:
    """Upload a CSV for training; prints its file id."""
    with handled(), connect() as client:
        dataset = _upload(client, file)
    emit(dataset, as_json, lambda d: f"{d['file_id']}\t{d['rows']} rows\tcolumns: {', '.join(d['column_names'])}")


def train(dataset: Annotated[str, typer.Argument(help="a file id from `modelyard upload`, or a CSV file to "
                                                      "upload first")],
          target: Annotated[Optional[str], typer.Option(help="the column to predict (default: the last)")] = None,
          model_type: Annotated[str, typer.Option("--type", help="auto, classification or regression")] = "auto",
          budget: Annotated[Optional[float], typer.Option(min=5, help="seconds of model search at most")] = None,
          name: Annotated[Optional[str], typer.Option(help="model name (default: from the file and target)")] = None,
          follow: Annotated[bool, typer.Option("--follow", help="wait, with a progress bar, and print the model")]
          = False,
          as_json: JsonOption = False) -> None:
    """Start training a model; with --follow, watch its progress and print the trained model."""
    if model_type not in ("auto", "classification", "regression"):
        raise typer.BadParameter("must be auto, classification or regression", param_hint="--type")
    with handled(), connect() as client:
        file_id = _upload(client, Path(dataset))["file_id"] if Path(dataset).is_file() else dataset
        started = client.train(file_id, target=target, model_type=model_type, budget=budget, name=name)
        if not follow:
            emit(started, as_json, lambda d: f"training job {d['job_id']} {d['status']}; follow it with "
                                             f"`modelyard train ... --follow` or GET /api/jobs/{d['job_id']}")
            return
        try:
            with console.bars() as bars:
                client.wait_job(started["job_id"], on_progress=console.job_callback(bars, "training"),
                                what="training")
        except KeyboardInterrupt:
            console.fail(f"stopped following; training job {started['job_id']} goes on on the server",
                         console.INTERRUPTED)
        trained = client.training(started["job_id"])
    emit(trained, as_json, _trained)


def _trained(d: dict) -> Any:
    metrics = {k: v for k, v in (d.get("metrics") or {}).items() if isinstance(v, (int, float))}
    console.note(f"trained model {d['model_id']} in {d.get('training_time') or 0:.0f} s; deploy it with "
                 f"`modelyard deploy {d['model_id']}`")
    return table([{"metric": k, "value": v} for k, v in metrics.items()], [("metric", "metric"), ("value", "value")],
                 title=f"model {d['model_id']}")


def deploy(model_id: Annotated[str, typer.Argument(help="a model version id (model_…)")],
           as_json: JsonOption = False) -> None:
    """Deploy a model version: its name now predicts with it."""
    with handled(), connect() as client:
        answer = client.deploy(model_id)
    emit(answer, as_json, lambda d: f"deployed {d['model_id']}; predict at {d.get('endpoint', '')}")


# --- predicting ------------------------------------------------------------------------------------------


def predict(model: Annotated[str, typer.Argument(help="a model version id, or a model name (its deployed version)")],
            file: ExistingFile,
            out: Annotated[Optional[Path], typer.Option(help="write the rows and their predictions to this CSV")]
            = None,
            chunk_rows: Annotated[int, typer.Option(min=1, help="rows per request")] = 1000,
            as_json: JsonOption = False) -> None:
    """Predict every row of a CSV (online, in chunks): each row with its prediction (and probabilities)."""
    import pandas as pd

    with handled(), connect() as client:
        frame = pd.read_csv(file)
        result = frame.join(client.predict_frame(model, frame, chunk_rows=chunk_rows))
        if out is not None:
            result.to_csv(out, index=False)
            console.note(f"wrote {len(result)} rows with predictions to {out}")
    if out is not None and not as_json:
        return
    records = json.loads(result.to_json(orient="records", date_format="iso"))
    shown = 50
    if not as_json and len(records) > shown:
        console.note(f"showing the first {shown} of {len(records)} rows (write them all with --out)")
    emit(records, as_json, lambda rows: table(rows[:shown], [(c, c) for c in result.columns], title="predictions"))


def score(file: ExistingFile,
          out: Annotated[Path, typer.Option(help="where to write the scored CSV")],
          as_json: JsonOption = False) -> None:
    """Score a CSV with the active scoring model as a job: upload, scoring and download each with a progress bar."""
    with handled(), connect() as client:
        with console.bars() as bars:
            result = client.score_file(file, out, on_upload=console.bytes_callback(bars, "upload"),
                                       on_job=console.job_callback(bars, "scoring"),
                                       on_download=console.bytes_callback(bars, "download"))
    emit(result, as_json, lambda d: f"scored {d['rows']} rows with model {d['model_id']} "
                                    f"(version {d['model_version']}) into {d['out']}")


# --- models, labels, users ---------------------------------------------------------------------------------


@models.command("ls")
def models_ls(status: Annotated[Optional[str], typer.Option(help="trained, deployed or archived")] = None,
              name: Annotated[Optional[str], typer.Option(help="only versions of this model")] = None,
              limit: Annotated[int, typer.Option(min=1, max=200)] = 200,
              as_json: JsonOption = False) -> None:
    """List model versions, newest first."""
    with handled(), connect() as client:
        page = client.models(status=status, name=name, limit=limit)
    if page["total"] > len(page["models"]):
        console.note(f"the newest {len(page['models'])} of {page['total']} versions (narrow with --name or --status)")
    emit(page["models"], as_json, lambda rows: table(rows, MODEL_COLUMNS, title="models"))


@models.command("show")
def models_show(model_id: str, as_json: JsonOption = False) -> None:
    """One model version: metrics, parameters, input columns."""
    with handled(), connect() as client:
        detail = client.model(model_id)
    emit(detail, as_json, lambda d: table([{"field": k, "value": v} for k, v in d.items()],
                                          [("field", "field"), ("value", "value")], title=f"model {model_id}"))


@label.command("ls")
def label_ls(as_json: JsonOption = False) -> None:
    """Your labeling requests."""
    with handled(), connect() as client:
        found = client.requests()
    emit(found, as_json, lambda rows: table(rows, [("id", "id"), ("title", "title"), ("status", "status"),
                                                   ("classes", "classes"), ("created_at", "created")],
                                            title="labeling requests"))


@label.command("export")
def label_export(request_id: str,
                 format_: Annotated[str, typer.Option("--format", help="csv or json")] = "csv",
                 out: Annotated[Optional[Path], typer.Option(help="write to this file (default: stdout)")] = None,
                 ) -> None:
    """The labels of a request, as CSV or JSON."""
    if format_ not in ("csv", "json"):
        raise typer.BadParameter("must be csv or json", param_hint="--format")
    with handled(), connect() as client:
        body = client.export_labels(request_id, format_)
        if out is not None:
            out.write_bytes(body)
            console.note(f"wrote the labels of {request_id} to {out}")
            return
    sys.stdout.buffer.write(body)
    sys.stdout.flush()


USER_COLUMNS = [("id", "id"), ("username", "username"), ("role", "role"), ("is_active", "active"),
                ("email", "email"), ("plan", "plan"), ("credits_remaining", "credits"), ("last_login_at", "last login")]


def users_ls(as_json: JsonOption = False) -> None:
    """List accounts over the API (as an admin); `users list` reads this machine's database instead."""
    with handled(), connect() as client:
        found = client.users()
    emit(found, as_json, lambda rows: table(rows, USER_COLUMNS, title="users"))


def users_add(username: str,
              role: Annotated[str, typer.Option(help="user (customer), labeler, admin or universal")] = "user",
              email: Annotated[Optional[str], typer.Option()] = None,
              password: Annotated[str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True,
                                                    envvar="MODELYARD_NEW_PASSWORD")] = "",
              as_json: JsonOption = False) -> None:
    """Create an account over the API (as an admin); `users create` writes this machine's database instead."""
    with handled(), connect() as client:
        made = client.create_user(username, password, role, email)
    emit(made, as_json, lambda d: f"created {d['username']} (id {d['id']}, role {d['role']})")
