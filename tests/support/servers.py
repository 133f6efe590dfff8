"""Helpers that run real servers in subprocesses for the backend and end-to-end tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def serve_modelyard(env: dict[str, str], *, log: Path, cwd: Path | None = None,
                    timeout: float = 120.0) -> tuple[subprocess.Popen, str]:
    """`modelyard serve --no-ui` of this interpreter on a free port, with exactly `env`, in a session of its own
    (stop it with `stop_session`); waits for /health and returns the process and its base URL."""
    port = free_port()
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", "from modelyard.cli import main; main()", "serve",
                                 "--host", "127.0.0.1", "--port", str(port), "--no-ui"],
                                env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"modelyard serve exited with {proc.returncode}; log in {log}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_session(proc)
    raise RuntimeError(f"modelyard serve did not answer /health within {timeout:.0f} s; log in {log}")


def stop_session(proc: subprocess.Popen) -> None:
    """SIGTERM a server started with `serve_modelyard` and its children (API processes, workers); SIGKILL after 20 s."""
    stop(proc, 20.0, group=True)


def start_moto_server(timeout: float = 30.0) -> tuple[subprocess.Popen, str]:
    """Start moto's standalone S3 server on a free port; return the process and its endpoint URL."""
    port = free_port()
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    proc.log = log  # type: ignore[attr-defined]
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto server exited with {proc.returncode}:\n{_tail(log)}")
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1.0)
            return proc, endpoint
        except httpx.TransportError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"moto server did not answer on {endpoint} within {timeout}s:\n{_tail(log)}")


def stop(proc: subprocess.Popen, timeout: float = 10.0, *, group: bool = False) -> None:
    """Terminate a server started here (with `group`, its whole process group), killing it if it does not exit
    in time."""
    def send(sig: int) -> None:
        if group:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)

    if proc.poll() is None:
        send(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait(timeout)
    log = getattr(proc, "log", None)
    if log is not None:
        log.close()


def _tail(log, size: int = 4000) -> str:
    log.seek(0)
    return log.read().decode(errors="replace")[-size:]


def create_bucket(endpoint: str, name: str) -> str:
    """Create an S3 bucket on the test server, as an operator would before starting modelyard
    (modelyard creates a missing bucket only with MODELYARD_S3_CREATE_BUCKET=true)."""
    import boto3

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="test",
                 aws_secret_access_key="test").create_bucket(Bucket=name)
    return name


def start_redis_server(port: int | None = None, timeout: float = 15.0) -> tuple[subprocess.Popen, str]:
    """A throwaway redis-server of this test on a free port (never the shared one: tests stop it)."""
    import redis

    port = port or free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}")
        try:
            redis.Redis.from_url(url, socket_connect_timeout=1).ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"redis-server did not answer on port {port} within {timeout}s")
