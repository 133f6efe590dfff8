"""How the UI process is started: by `modelyard ui` (in the foreground) or beside `modelyard serve` (a child).

Streamlit serves its own static files; usage statistics are off and nothing is fetched from a CDN, so the
UI works offline. A child of `serve` is stopped by `serve` on its way out, and (on Linux) by the kernel
if `serve` dies without a way out (the child runs this module's main, which asks for that first).
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).with_name("app.py")
DEFAULT_PORT = 8501


def command(*, host: str, port: int) -> list[str]:
    return [sys.executable, "-m", "streamlit", "run", str(APP),
            "--server.address", host, "--server.port", str(port), "--server.headless", "true",
            "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
            "--global.developmentMode", "false", "--client.toolbarMode", "minimal", "--logger.level", "warning",
            # API refusals are messages (app.py); a bug shows its type in the page, its traceback in the log.
            "--client.showErrorDetails", "type"]


def environment(backend_url: str) -> dict[str, str]:
    return {**os.environ, "BACKEND_URL": backend_url, "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}


def backend_for(host: str, port: int) -> str:
    """The API's URL as the UI beside it reaches it: loopback when the API listens on every address."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "", "localhost") else "[::1]" if host == "::" else host
    shown = f"[{shown}]" if ":" in shown and not shown.startswith("[") else shown
    return f"http://{shown}:{port}"


def port_free(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def _die_with_parent(parent: int) -> None:
    """In the child of `serve`: the kernel sends SIGTERM when `serve` exits, even by SIGKILL (Linux)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        return
    if os.getppid() != parent:  # serve died before the line above
        raise SystemExit(0)


def run_foreground(*, host: str, port: int, backend_url: str) -> None:
    """`modelyard ui`: this process becomes the Streamlit server."""
    argv = command(host=host, port=port)
    os.execve(argv[0], argv, environment(backend_url))


def start_child(*, host: str, port: int, backend_url: str) -> subprocess.Popen:
    """Beside `modelyard serve` (through this module's main, which ties the child's life to serve's);
    its log lines (warnings and errors) go to serve's stderr."""
    argv = [sys.executable, "-m", "modelyard.ui.launch", str(os.getpid()), *command(host=host, port=port)[3:]]
    return subprocess.Popen(argv, env=environment(backend_url), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)


def stop_child(child: subprocess.Popen, timeout: float = 5.0) -> None:
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout)


def _child_main(argv: list[str]) -> None:
    """`python -m modelyard.ui.launch PARENT_PID run APP --options…`: Streamlit's CLI, tied to its parent."""
    if sys.platform.startswith("linux"):
        _die_with_parent(int(argv[0]))
    from streamlit.web.cli import main

    sys.argv = ["streamlit", *argv[1:]]
    main(prog_name="streamlit")


if __name__ == "__main__":
    _child_main(sys.argv[1:])
