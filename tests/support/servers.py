"""Helpers that run real servers in subprocesses for the backend and end-to-end tests."""
from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time

import httpx


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


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


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Terminate a server started here, killing it if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
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
