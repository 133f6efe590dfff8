"""Processes and HTTP helpers for the end-to-end tests (fixtures live in conftest.py)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest

from tests.support.servers import free_port

# The console script may be a pyenv/venv shim of another interpreter; this runs the installed package
# with the interpreter running the tests, and the child's pid is the process that serves and runs jobs.
MODELYARD = [sys.executable, "-c", "from modelyard.cli import main; main()"]

HEALTH_TIMEOUT = 30.0
WORKER_READY_TIMEOUT = 30.0
LOG_TAIL_CHARS = 8000

STARTED = pytest.StashKey[list]()
TERMINAL = ("completed", "failed", "cancelled")


# --- processes -------------------------------------------------------------------------------------


class ModelyardProcess:
    """One `modelyard serve` or `modelyard worker` child with its log file."""

    def __init__(self, name: str, proc: subprocess.Popen, log_path: Path, port: int | None = None):
        self.name = name
        self.proc = proc
        self.log_path = log_path
        self.port = port

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def url(self) -> str:
        assert self.port is not None, f"{self.name} is not an HTTP server"
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, chars: int = LOG_TAIL_CHARS) -> str:
        text = self.log()
        return text if len(text) <= chars else "…" + text[-chars:]

    def describe(self) -> str:
        """One line: name, pid, state and log file (the log itself is attached to failed reports)."""
        state = "running" if self.alive() else f"exited with {self.proc.returncode}"
        if self.proc.returncode == 3:  # uvicorn's exit code when the app's lifespan startup raised
            state += " = application startup failed (migrations or bootstrap); the traceback may be missing below"
        return f"{self.name} (pid {self.pid}, {state}), log {self.log_path}"

    def describe_with_log(self) -> str:
        return f"{self.describe()}:\n{self.tail()}"

    def sigkill(self) -> None:
        """Kill without warning (no graceful shutdown, no last heartbeat) and reap the child."""
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def terminate(self, timeout: float = 15.0) -> None:
        """Graceful stop (SIGTERM); SIGKILL when it does not exit in time."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def wait_for_log(self, needle: str, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            if not self.alive():
                pytest.fail(f"{self.name} exited before {what}:\n{self.describe()}", pytrace=False)
            time.sleep(0.1)
        pytest.fail(f"{what} did not happen within {timeout:.0f}s (no {needle!r} in the log):\n"
                    f"{self.describe()}", pytrace=False)


def clean_env(extra: dict[str, str]) -> dict[str, str]:
    """The test runner's environment without any MODELYARD_* setting, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["PYTHONUNBUFFERED"] = "1"
    env.update({k: str(v) for k, v in extra.items()})
    return env


def wait_healthy(server: ModelyardProcess, timeout: float = HEALTH_TIMEOUT) -> dict:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        if not server.alive():
            pytest.fail(f"{server.name} exited before answering /health:\n{server.describe()}", pytrace=False)
        try:
            response = httpx.get(f"{server.url}/health", timeout=2.0)
            if response.status_code == 200 and response.json().get("status") == "healthy":
                return response.json()
            last = f"HTTP {response.status_code}: {response.text[:500]}"
        except httpx.TransportError as exc:
            last = repr(exc)
        time.sleep(0.1)
    pytest.fail(f"{server.name} did not answer GET /health with 'healthy' within {timeout:.0f}s "
                f"(last: {last}):\n{server.describe()}", pytrace=False)


class Launcher:
    """Starts modelyard processes for one test (or module) and kills them all at teardown."""

    def __init__(self, base: Path, started: list[ModelyardProcess]):
        self.base = base
        self.base.mkdir(parents=True, exist_ok=True)
        self.started = started
        self.mine: list[ModelyardProcess] = []
        self._count = 0

    def _spawn(self, name: str, args: list[str], env: dict[str, str], port: int | None,
               preexec_fn: Callable[[], None] | None = None) -> ModelyardProcess:
        self._count += 1
        log_path = self.base / f"{self._count:02d}-{name}.log"
        with open(log_path, "wb") as log:
            # cwd is a scratch folder: Settings also read a `.env` from the working directory.
            proc = subprocess.Popen([*MODELYARD, *args], env=clean_env(env), cwd=self.base,
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    preexec_fn=preexec_fn)
        process = ModelyardProcess(f"{name}#{self._count}", proc, log_path, port)
        self.started.append(process)
        self.mine.append(process)
        return process

    def serve(self, env: dict[str, str], *, name: str = "serve", wait: bool = True,
              workers: int = 1, ui_port: int | None = None,
              preexec_fn: Callable[[], None] | None = None) -> ModelyardProcess:
        """`modelyard serve`, one API process unless `workers` says more (then the pid is uvicorn's parent);
        without the web UI unless `ui_port` is given (it would take port 8501 and a core's worth of start-up).
        `preexec_fn` runs in the child before exec (e.g. to set a resource limit)."""
        port = free_port()
        args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
        args += ["--ui-port", str(ui_port)] if ui_port else ["--no-ui"]
        server = self._spawn(name, args, env, port, preexec_fn)
        if wait:
            wait_healthy(server, timeout=HEALTH_TIMEOUT * workers)  # each process imports and loads alone
        return server

    def worker(self, env: dict[str, str], *, name: str = "worker", wait: bool = True) -> ModelyardProcess:
        worker = self._spawn(name, ["worker"], env, None)
        if wait:
            worker.wait_for_log("worker started on queue", WORKER_READY_TIMEOUT, f"{worker.name} start-up")
        return worker

    def stop_all(self) -> None:
        for process in reversed(self.mine):
            try:
                process.terminate(timeout=5.0)
            except Exception:  # teardown must reach every process
                if process.alive():
                    process.proc.kill()


# --- HTTP helpers ----------------------------------------------------------------------------------


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: httpx.Client, username: str, password: str) -> str:
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, f"login of {username} failed: {response.status_code} {response.text}"
    return response.json()["access_token"]


def wait_for_job(client: httpx.Client, job_id: str, headers: dict[str, str], *,
                 until: Callable[[dict], bool], timeout: float, what: str,
                 processes: tuple[ModelyardProcess, ...] = ()) -> dict:
    """Poll GET /api/jobs/{id} until `until(job)`; fail with the last state (and logs) after `timeout`."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    job: dict = {}
    while time.monotonic() < deadline:
        response = client.get(f"/api/jobs/{job_id}", headers=headers)
        assert response.status_code == 200, f"GET /api/jobs/{job_id}: {response.status_code} {response.text}"
        job = response.json()
        state = f"{job['status']}/attempts={job['attempts']}"
        if not seen or seen[-1] != state:
            seen.append(state)
        if until(job):
            return job
        time.sleep(0.2)
    logs = "\n".join(p.describe() for p in processes)
    pytest.fail(f"job {job_id}: {what} did not happen within {timeout:.0f}s; states seen: {' -> '.join(seen)}; "
                f"last: {job}\n{logs}", pytrace=False)


def hostname() -> str:
    return socket.gethostname()
