"""Online serving: modelyard beside `mlflow models serve`, BentoML and a bare Starlette endpoint, one run.

    python bench/serve.py [--systems modelyard,modelyard-v2,mlflow,bentoml,starlette] [--seconds 15]
                          [--workers 2] [--warmup 3] [--json results.json]

Run it from a checkout of modelyard with modelyard installed in the running Python (`pip install -e .`):
the modelyard side is `python -c "from modelyard.cli import main; main()" serve` with this interpreter,
so it measures whatever code is installed. Needs `wrk` (`apt-get install -y wrk`).

What it does, one system at a time (each measured alone, servers stopped in between):

- generates one dataset (5,000 rows, 20 numeric + 2 categorical columns, a binary target that depends on
  interactions; fixed seed) and one request row taken from it;
- modelyard: `serve` in a fresh temporary home with its full stack (auth, rate limits raised to
  100000000/hour, metrics, activity) and `--workers N` when `serve --help` offers it; log in, upload the
  CSV, train (`model_type: classification`, 60 s budget), deploy; the request is `POST /api/predict/{name}`
  with a bearer token and `{"data": [row]}`. The trainer picks its model; the table shows which one it
  picked (the comparison is meant against LightGBM, and says so when the trainer chose another);
- modelyard-v2: the same, the request being the Open Inference Protocol's `POST /v2/models/{name}/infer`
  with one typed tensor per input column (datatypes from the model's V2 metadata);
- the peers serve an equivalent scikit-learn pipeline (median-imputed numerics + one-hot categoricals,
  then HistGradientBoostingClassifier), trained on the same CSV in each peer's own virtual environment
  (created once with pip under ~/.cache/modelyard-bench, or $MODELYARD_BENCH_CACHE, and reused):
  `mlflow models serve --workers 1 --env-manager local` (`{"dataframe_records": [row]}` to
  /invocations), a BentoML 1.x service with one worker, and a bare Starlette endpoint under uvicorn
  (one process). The peers get one OpenMP thread each (OMP_NUM_THREADS=1): one-row predictions gain
  nothing from more, and wrk needs the other core;
- load: `wrk -t1` at concurrency 1, 8 and 32 for `--seconds` each, after a `--warmup` at concurrency 8;
  then, for modelyard, requests of 100 rows at concurrency 8; then the RSS of the server's process tree.

It prints one Markdown table (system, model, concurrency, req/s, p50 and p99 in ms, errors, RSS MB,
req/s as a multiple of MLflow's at the same concurrency), the 100-row line and issue 9's targets, each
met or not met. The header names each system's version and the machine's load average before its run:
figures taken while other work ran on the machine are not comparable. req/s counts 2xx answers only; errors are non-2xx answers plus socket errors.
`--json PATH` also writes every figure.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

HERE = Path(__file__).resolve().parent
SUPPORT = HERE / "serve_support"
CACHE = Path(os.environ.get("MODELYARD_BENCH_CACHE", "~/.cache/modelyard-bench")).expanduser()
SYSTEMS = ("modelyard", "modelyard-v2", "mlflow", "bentoml", "starlette")
LEVELS = (1, 8, 32)
TARGET = "churned"
BATCH_ROWS = 100
PEER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
VENVS = {  # venv name: (pip packages, modules that must import)
    "mlflow": (["mlflow", "scikit-learn", "pandas"], ["mlflow", "sklearn", "pandas"]),
    "bentoml": (["bentoml", "scikit-learn", "pandas"], ["bentoml", "sklearn", "pandas", "starlette", "uvicorn"]),
}
SERVERS: list["Server"] = []  # every server started, stopped in main()'s finally


# --- data ---------------------------------------------------------------------------------------

def make_dataset(rows: int = 5000, seed: int = 11) -> pd.DataFrame:
    """20 numeric columns (a few missing values), 2 string categoricals, a learnable yes/no target."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 20))
    x[:, 10:15] *= 100
    x[:, 15:] = np.abs(x[:, 15:]) * 1000
    regions, plans = np.array(list("NSEWCX")), np.array(["free", "basic", "plus", "pro", "team", "edu", "gov", "trial"])
    a, b = rng.integers(0, len(regions), rows), rng.integers(0, len(plans), rows)
    logit = (1.5 * np.sin(1.5 * x[:, 0]) + 2.0 * x[:, 1] * x[:, 2] + 1.2 * (x[:, 3] > 0.5) - 1.0 * x[:, 4] ** 2
             + 1.5 * ((x[:, 6] > 0) ^ (x[:, 7] > 0)) + 0.6 * x[:, 5] + np.linspace(-1, 1, 6)[a]
             + rng.normal(scale=0.8, size=len(plans))[b] + 0.004 * x[:, 10] + 0.6)
    frame = pd.DataFrame({f"x{i:02d}": x[:, i].round(4) for i in range(20)})
    frame["region"], frame["plan"] = regions[a], plans[b]
    frame.loc[rng.random(rows) < 0.02, "x06"] = np.nan
    frame.loc[rng.random(rows) < 0.02, "x07"] = np.nan
    frame[TARGET] = np.where(rng.random(rows) < 1 / (1 + np.exp(-4 * logit)), "yes", "no")
    return frame


def request_rows(frame: pd.DataFrame, n: int) -> list[dict]:
    """The first ``n`` complete rows, without the target, as JSON-ready records."""
    complete = frame.drop(columns=[TARGET]).dropna().head(n)
    return json.loads(complete.to_json(orient="records"))


# --- processes ----------------------------------------------------------------------------------

@dataclass
class Server:
    name: str
    process: subprocess.Popen
    log: Path

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(name: str, cmd: list, *, env: dict, cwd: Path, ready_url: str, timeout: float = 180) -> Server:
    """Start ``cmd`` in its own process group (logs in cwd/<name>.log) and wait for ``ready_url`` to answer 2xx."""
    log = cwd / f"{name}.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([str(c) for c in cmd], cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    server = Server(name, process, log)
    SERVERS.append(server)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode} during start:\n{server.tail()}")
        try:
            with urllib.request.urlopen(ready_url, timeout=2):
                return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.5)
    raise RuntimeError(f"{name} did not answer {ready_url} within {timeout:.0f} s:\n{server.tail()}")


def stop_server(server: Server) -> None:
    """SIGTERM to the server's process group, SIGKILL to whatever of its tree is left after 15 s."""
    if server in SERVERS:
        SERVERS.remove(server)
    try:
        tree = [psutil.Process(server.process.pid), *psutil.Process(server.process.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        tree = []
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    _, alive = psutil.wait_procs(tree, timeout=15)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    server.process.wait()


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (a server and its workers), in MB."""
    root = psutil.Process(pid)
    total = 0
    for proc in [root, *root.children(recursive=True)]:
        try:
            total += proc.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def base_env(**extra: str) -> dict:
    """This environment without MODELYARD_* settings (each server gets its own), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(extra)
    return env


def peer_env(python: Path, **extra: str) -> dict:
    """The environment of a peer: its venv activated (its bin first on PATH), one math thread, no PYTHONPATH."""
    venv = python.parent.parent
    env = {k: v for k, v in base_env(**PEER_ENV, **extra).items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env.update(VIRTUAL_ENV=str(venv), PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}")
    return env


# --- HTTP ---------------------------------------------------------------------------------------

def call(method: str, url: str, body: dict | None = None, *, token: str = "", raw: bytes | None = None,
         content_type: str = "application/json", timeout: float = 60) -> dict:
    """One request; the decoded JSON answer, or a RuntimeError with the status and body."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", content_type)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as answer:
            return json.loads(answer.read() or b"null")
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {url} -> {exc.code}: {exc.read()[:500]!r}") from None


def upload(url: str, path: Path, token: str) -> dict:
    """POST ``path`` as the multipart field ``file``."""
    boundary = uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: text/csv\r\n\r\n").encode()
    raw = head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    return call("POST", url, raw=raw, token=token, content_type=f"multipart/form-data; boundary={boundary}")


# --- load ---------------------------------------------------------------------------------------

@dataclass
class Endpoint:
    """What wrk loads: a URL, a body per list of rows, an Authorization header value, and how many
    predictions an answer holds (every JSON dialect here answers `predictions`; V2 answers tensors)."""
    url: str
    body: object  # callable: list[dict] -> dict
    authorization: str = ""
    answered: object = lambda answer: len((answer or {}).get("predictions", []))  # noqa: E731


def run_wrk(endpoint: Endpoint, rows: list[dict], concurrency: int, seconds: float, workdir: Path) -> dict:
    """One wrk run (one thread, ``concurrency`` connections); req/s of 2xx answers, p50/p99 ms, errors."""
    body = workdir / "body.json"
    body.write_text(json.dumps(endpoint.body(rows)))
    env = dict(os.environ, BENCH_BODY=str(body), BENCH_AUTHORIZATION=endpoint.authorization)
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(SUPPORT / "post.lua"), endpoint.url]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    stats = json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
    seconds_run = stats["duration_us"] / 1e6
    ok = stats["requests"] - stats["non2xx"]
    return {"concurrency": concurrency, "req_s": ok / seconds_run, "p50_ms": stats["p50_us"] / 1000,
            "p99_ms": stats["p99_us"] / 1000, "errors": stats["non2xx"] + stats["socket_errors"],
            "requests": stats["requests"]}


def load_system(name: str, endpoint: Endpoint, server: Server, rows: list[dict], args, workdir: Path) -> dict:
    """Check one answer, warm up, run every concurrency level (and 100-row requests for modelyard), RSS."""
    answer = call("POST", endpoint.url, endpoint.body(rows[:1]), token=endpoint.authorization.removeprefix("Bearer "))
    if endpoint.answered(answer) != 1:
        raise RuntimeError(f"{name} answered one row with {str(answer)[:300]}")
    run_wrk(endpoint, rows[:1], 8, args.warmup, workdir)
    levels = []
    for concurrency in LEVELS:
        levels.append(run_wrk(endpoint, rows[:1], concurrency, args.seconds, workdir))
        print(f"  {name} c={concurrency}: {levels[-1]['req_s']:.0f} req/s, p50 {levels[-1]['p50_ms']:.1f} ms, "
              f"p99 {levels[-1]['p99_ms']:.1f} ms, errors {levels[-1]['errors']}", flush=True)
    batch = None
    if name.startswith("modelyard"):
        batch = run_wrk(endpoint, rows[:BATCH_ROWS], 8, args.seconds, workdir)
        batch["rows_s"] = batch["req_s"] * BATCH_ROWS
    return {"levels": levels, "batch": batch, "rss_mb": tree_rss_mb(server.process.pid)}


# --- peer virtual environments ------------------------------------------------------------------

def ensure_venv(name: str) -> Path:
    """The Python of CACHE/venv-<name>, created with pip on first use and reused afterwards."""
    packages, modules = VENVS[name]
    venv = CACHE / f"venv-{name}"
    python = venv / "bin" / "python"
    probe = [str(python), "-c", "import " + ", ".join(modules)]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"installing {' '.join(packages)} into {venv} (once; kept for later runs) ...", flush=True)
    CACHE.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = subprocess.run([str(python), "-m", "pip", "install", "-q", *packages], capture_output=True, text=True)
    if pip.returncode != 0:
        raise RuntimeError(f"pip install {' '.join(packages)} failed:\n{pip.stderr[-2000:]}")
    subprocess.run(probe, check=True)
    return python


def version_of(python: Path | str, *dists: str) -> str:
    code = "import importlib.metadata as m, sys; print(' '.join(d + ' ' + m.version(d) for d in sys.argv[1:]))"
    return subprocess.run([str(python), "-c", code, *dists], capture_output=True, text=True, check=True).stdout.strip()


def train_peer_model(python: Path, csv: Path, workdir: Path, *, mlflow: bool) -> Path:
    """Train the peers' pipeline with this venv's scikit-learn; its output folder."""
    out = workdir / f"model-{python.parent.parent.name}"
    cmd = [python, SUPPORT / "train_pipeline.py", csv, TARGET, out] + (["--mlflow"] if mlflow else [])
    done = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=peer_env(python))
    if done.returncode != 0:
        raise RuntimeError(f"training the peers' pipeline failed:\n{done.stderr[-2000:]}")
    return out


# --- the systems --------------------------------------------------------------------------------

@dataclass
class Context:
    args: argparse.Namespace
    workdir: Path
    csv: Path
    rows: list[dict]
    models: dict = field(default_factory=dict)  # venv name -> trained model folder


def modelyard_workers_flag(workers: int) -> list[str]:
    """``--workers N`` when this modelyard's ``serve`` has that option, else nothing (one process); and
    ``--no-ui`` when it starts a web UI beside the API (the API alone is measured)."""
    cmd = [sys.executable, "-c", "from modelyard.cli import main; main()", "serve", "--help"]
    text = subprocess.run(cmd, capture_output=True, text=True, env=base_env(COLUMNS="200", NO_COLOR="1")).stdout
    return (["--workers", str(workers)] if "--workers" in text else []) + (["--no-ui"] if "--no-ui" in text else [])


def start_modelyard(ctx: Context) -> tuple[Server, str, str, list[str]]:
    """``modelyard serve`` in a fresh home; the server, its base URL, the admin password and the flags used."""
    home = ctx.workdir / f"modelyard-home-{uuid.uuid4().hex[:8]}"  # a fresh home (admin, password) per system
    port, password = free_port(), secrets.token_urlsafe(16)
    flags = modelyard_workers_flag(ctx.args.workers)
    # The bench repeats the same rows: the prediction cache would answer them, so it is off here (the model
    # is measured, not the cache); the per-user limits are raised out of the way.
    env = base_env(MODELYARD_HOME=str(home), MODELYARD_ADMIN_PASSWORD=password,
                   MODELYARD_RATE_LIMIT_TOKEN="100000000/hour", MODELYARD_RATE_LIMIT_PREDICTIONS="100000000/hour",
                   MODELYARD_PREDICTION_CACHE_SECONDS="0", MODELYARD_LOG_LEVEL="WARNING")
    cmd = [sys.executable, "-c", "from modelyard.cli import main; main()", "serve", "--host", "127.0.0.1",
           "--port", port, *flags]
    base = f"http://127.0.0.1:{port}"
    server = start_server("modelyard", cmd, env=env, cwd=ctx.workdir, ready_url=f"{base}/health")
    return server, base, password, flags


def train_and_deploy(base: str, token: str, csv: Path) -> dict:
    """Upload, train (60 s budget), wait for the job, deploy; the deployed version's details."""
    file_id = upload(f"{base}/api/upload", csv, token)["file_id"]
    job = call("POST", f"{base}/api/train", {"file_id": file_id, "model_type": "classification", "name": "bench-churn",
                                             "training_params": {"max_training_time": 60, "target": TARGET}},
               token=token)["job_id"]
    deadline = time.monotonic() + 600
    while True:
        status = call("GET", f"{base}/api/training/{job}", token=token)
        if status["status"] == "completed":
            break
        if status["status"] in ("failed", "cancelled") or time.monotonic() > deadline:
            raise RuntimeError(f"training did not complete: {status}")
        time.sleep(1)
    model = call("GET", f"{base}/api/models/{status['model_id']}", token=token)
    call("POST", f"{base}/api/models/{model['id']}/deploy", token=token)
    return model


def v2_endpoint(base: str, token: str) -> Endpoint:
    """The same model through the Open Inference Protocol: one typed tensor per input, as its metadata says."""
    inputs = call("GET", f"{base}/v2/models/bench-churn", token=token)["inputs"]

    def body(rows: list[dict]) -> dict:
        return {"inputs": [{"name": i["name"], "shape": [len(rows)], "datatype": i["datatype"],
                            "data": [row.get(i["name"]) for row in rows]} for i in inputs]}

    def answered(answer: dict) -> int:
        found = next((o for o in (answer or {}).get("outputs", []) if o["name"] == "prediction"), None)
        return found["shape"][0] if found else 0

    return Endpoint(f"{base}/v2/models/bench-churn/infer", body, f"Bearer {token}", answered)


def run_modelyard(ctx: Context, *, protocol: str = "json") -> dict:
    name = "modelyard" if protocol == "json" else "modelyard-v2"
    server, base, password, flags = start_modelyard(ctx)
    try:
        token = call("POST", f"{base}/api/auth/login", {"username": "admin", "password": password})["access_token"]
        print(f"  {name}: training (60 s budget) ...", flush=True)
        model = train_and_deploy(base, token, ctx.csv)
        algorithm = model.get("algorithm", "?")
        endpoint = Endpoint(f"{base}/api/predict/bench-churn", lambda rows: {"data": rows}, f"Bearer {token}") \
            if protocol == "json" else v2_endpoint(base, token)
        result = load_system(name, endpoint, server, ctx.rows, ctx.args, ctx.workdir)
    finally:
        stop_server(server)
    notes = [] if "lgbm" in algorithm.lower() or "lightgbm" in algorithm.lower() else \
        [f"the trainer picked {algorithm}, not LightGBM (the model modelyard chose is the one measured)"]
    if not flags:
        notes.append("this modelyard's `serve` has no --workers option: one process served")
    return {**result, "model": algorithm, "version": modelyard_version(), "workers": int(flags[1]) if flags else 1,
            "notes": notes}


def modelyard_version() -> str:
    import modelyard

    src = Path(modelyard.__file__).resolve().parent
    git = ["git", "-C", str(src)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run([*git, "status", "--porcelain", "--", "."], capture_output=True, text=True).stdout.strip()
    return f"modelyard from {src.parent.parent} @ {commit or 'unknown commit'}" + \
        (" + uncommitted changes in src/modelyard" if dirty else "")


def peer_model(ctx: Context, venv: str) -> tuple[Path, Path]:
    """This venv's Python and its trained model folder (trained once per run)."""
    python = ensure_venv(venv)
    if venv not in ctx.models:
        ctx.models[venv] = train_peer_model(python, ctx.csv, ctx.workdir, mlflow=venv == "mlflow")
    return python, ctx.models[venv]


def run_peer(ctx: Context, name: str, cmd: list, env: dict, url: str, ready: str, body, version: str) -> dict:
    server = start_server(name, cmd, env=env, cwd=ctx.workdir, ready_url=ready)
    try:
        result = load_system(name, Endpoint(url, body), server, ctx.rows, ctx.args, ctx.workdir)
    finally:
        stop_server(server)
    return {**result, "model": "HistGradientBoostingClassifier", "version": version, "workers": 1, "notes": []}


def run_mlflow(ctx: Context) -> dict:
    python, model = peer_model(ctx, "mlflow")
    port = free_port()
    cmd = [python.parent / "mlflow", "models", "serve", "-m", model / "mlflow-model", "--host", "127.0.0.1",
           "--port", port, "--workers", "1", "--env-manager", "local"]
    base = f"http://127.0.0.1:{port}"
    return run_peer(ctx, "mlflow", cmd, peer_env(python), f"{base}/invocations", f"{base}/ping",
                    lambda rows: {"dataframe_records": rows}, version_of(python, "mlflow", "scikit-learn"))


def run_bentoml(ctx: Context) -> dict:
    python, model = peer_model(ctx, "bentoml")
    port = free_port()
    env = peer_env(python, BENCH_MODEL=str(model / "pipeline.joblib"), BENTOML_HOME=str(ctx.workdir / "bentoml"),
                   BENTOML_DO_NOT_TRACK="true")
    cmd = [python.parent / "bentoml", "serve", "bento_service:Churn", "--working-dir", SUPPORT,
           "--host", "127.0.0.1", "--port", port]
    base = f"http://127.0.0.1:{port}"
    return run_peer(ctx, "bentoml", cmd, env, f"{base}/predict", f"{base}/readyz",
                    lambda rows: {"records": rows}, version_of(python, "bentoml", "scikit-learn"))


def run_starlette(ctx: Context) -> dict:
    python, model = peer_model(ctx, "bentoml")  # that venv has starlette and uvicorn
    port = free_port()
    env = peer_env(python, BENCH_MODEL=str(model / "pipeline.joblib"))
    cmd = [python, "-m", "uvicorn", "starlette_app:app", "--app-dir", SUPPORT, "--host", "127.0.0.1", "--port", port,
           "--workers", "1", "--no-access-log", "--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"
    return run_peer(ctx, "starlette", cmd, env, f"{base}/predict", f"{base}/health",
                    lambda rows: {"records": rows}, version_of(python, "starlette", "uvicorn", "scikit-learn"))


RUNNERS = {"modelyard": run_modelyard, "modelyard-v2": partial(run_modelyard, protocol="v2"), "mlflow": run_mlflow,
           "bentoml": run_bentoml, "starlette": run_starlette}


# --- report -------------------------------------------------------------------------------------

def ratio(results: dict, name: str, level: dict) -> str:
    base = next((x for x in results.get("mlflow", {}).get("levels", []) if x["concurrency"] == level["concurrency"]),
                None)
    return f"{level['req_s'] / base['req_s']:.2f}×" if base and base["req_s"] else "–"


def print_table(results: dict) -> None:
    print("\n| system | model | concurrency | req/s | p50 ms | p99 ms | errors | RSS MB | × MLflow req/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, result in results.items():
        if "error" in result:
            print(f"| {name} | – | – | – | – | – | failed: {result['error'].splitlines()[0][:120]} | – | – |")
            continue
        label = f"{name} ({result['workers']} process{'es' if result['workers'] > 1 else ''})"
        for level in result["levels"]:
            print(f"| {label} | {result['model']} | {level['concurrency']} | {level['req_s']:.0f} | "
                  f"{level['p50_ms']:.1f} | {level['p99_ms']:.1f} | {level['errors']} | {result['rss_mb']:.0f} | "
                  f"{ratio(results, name, level)} |")
    for name in ("modelyard", "modelyard-v2"):
        batch = results.get(name, {}).get("batch")
        if batch:
            print(f"\n{name}, {BATCH_ROWS} rows per request at concurrency 8: {batch['rows_s']:,.0f} rows/s "
                  f"({batch['req_s']:.0f} req/s, p50 {batch['p50_ms']:.1f} ms, p99 {batch['p99_ms']:.1f} ms, "
                  f"errors {batch['errors']})")
    for name, result in results.items():
        for note in result.get("notes", []):
            print(f"note ({name}): {note}")


def targets(results: dict) -> list[tuple[str, bool | None, str]]:
    """Issue 9's targets: (what, met or None when not measurable in this run, the figure)."""
    mine = results.get("modelyard", {})
    at = {x["concurrency"]: x for x in mine.get("levels", [])}
    base = {x["concurrency"]: x for x in results.get("mlflow", {}).get("levels", [])}
    rows = []
    if 8 in at and 8 in base and base[8]["req_s"]:
        times = at[8]["req_s"] / base[8]["req_s"]
        rows.append(("c=8: req/s ≥ 20× MLflow's", times >= 20, f"{times:.2f}×"))
    else:
        rows.append(("c=8: req/s ≥ 20× MLflow's", None, "needs modelyard and mlflow"))
    if 8 in at:
        rows.append(("c=8: p99 ≤ 20 ms", at[8]["p99_ms"] <= 20, f"{at[8]['p99_ms']:.1f} ms"))
    if 1 in at:
        rows.append(("c=1: p50 ≤ 3 ms", at[1]["p50_ms"] <= 3, f"{at[1]['p50_ms']:.1f} ms"))
    if mine.get("batch"):
        rows.append((f"{BATCH_ROWS}-row requests: ≥ 50,000 rows/s", mine["batch"]["rows_s"] >= 50_000,
                     f"{mine['batch']['rows_s']:,.0f} rows/s"))
    return rows


def print_targets(results: dict) -> list:
    rows = targets(results)
    workers = results.get("modelyard", {}).get("workers", "?")
    print(f"\nissue 9 targets (modelyard served by {workers} process(es); the targets are stated for 2 workers):")
    for what, met, figure in rows:
        verdict = "not measured" if met is None else ("met" if met else "not met")
        print(f"- {what}: {figure} — {verdict}")
    return [{"target": what, "met": met, "value": figure} for what, met, figure in rows]


# --- main ---------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated, from: " + ", ".join(SYSTEMS))
    parser.add_argument("--seconds", type=float, default=15, help="seconds of load per concurrency level")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of warm-up load before each system")
    parser.add_argument("--workers", type=int, default=2, help="modelyard serve --workers (when it has the option)")
    parser.add_argument("--json", help="also write every figure to this file")
    args = parser.parse_args()
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    return args


def run_all(args: argparse.Namespace, workdir: Path) -> dict:
    frame = make_dataset()
    csv = workdir / "churn.csv"
    frame.to_csv(csv, index=False)
    ctx = Context(args, workdir, csv, request_rows(frame, BATCH_ROWS))
    results = {}
    for name in args.systems:
        load = os.getloadavg()[0]  # other work on the machine skews the figures: say how busy it was
        print(f"{name} ... (1-min load average {load:.1f})", flush=True)
        try:
            results[name] = {**RUNNERS[name](ctx), "load_before": load}
        except Exception as exc:  # one system failing still leaves the others' figures
            print(f"  {name} failed: {exc}", flush=True)
            results[name] = {"error": str(exc)}
    return results


def print_header(args: argparse.Namespace, results: dict) -> None:
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    print(f"\nserving one row per request (22 columns), "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, "
          f"{(wrk.stdout or wrk.stderr).split(' [')[0].strip()}, wrk -t1, {args.seconds:g} s per level")
    for name, result in results.items():
        if "version" in result:
            print(f"- {name}: {result['version']} (1-min load average before its run: {result['load_before']:.1f})")


def _interrupted(signum, frame) -> None:
    raise KeyboardInterrupt


def main() -> None:
    args = parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/serve.py needs wrk: apt-get install -y wrk")
    signal.signal(signal.SIGINT, _interrupted)  # also when started in the background, where SIGINT is ignored
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        with tempfile.TemporaryDirectory(prefix="modelyard-bench-") as tmp:
            try:
                results = run_all(args, Path(tmp))
            finally:  # also on Ctrl-C, SIGTERM or a failure: no server outlives the run
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
                for server in list(SERVERS):
                    stop_server(server)
    except KeyboardInterrupt:
        sys.exit("interrupted: servers stopped, temporary files removed")
    print_header(args, results)
    print_table(results)
    verdicts = print_targets(results)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results, "targets": verdicts},
                                              indent=2, default=str))


if __name__ == "__main__":
    main()
