"""A real webhook receiver on 127.0.0.1 for tests: answers each path as scripted and records what arrived."""
from __future__ import annotations

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = "hang"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int | str
    closed_at: float | None = None  # HANG only: when the sender gave up and closed the connection

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """`script(path, 500, 200)`: the first request to `path` gets 500, every later one 200 (the last
    answer repeats); HANG holds the connection without answering until the sender closes it (recorded as
    `closed_at`) or the receiver stops."""

    server: ThreadingHTTPServer
    scripts: dict[str, list[int | str]] = field(default_factory=dict)
    received: list[Received] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def script(self, path: str, *answers: int | str) -> str:
        self.scripts[path] = list(answers)
        return self.base + path

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def wait_for(self, path: str, count: int, timeout: float) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.at(path)
            if len(found) >= count:
                return found
            time.sleep(0.05)
        raise AssertionError(f"{count} request(s) to {path} expected within {timeout} s; got {len(self.at(path))}")

    def wait_closed(self, path: str, timeout: float) -> list[Received]:
        """The requests to `path`, once the sender has closed every held (HANG) one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.at(path)
            if all(r.closed_at is not None for r in found if r.answered == HANG):
                return found
            time.sleep(0.02)
        raise AssertionError(f"the sender kept a held request to {path} open for more than {timeout} s")

    def _answer(self, path: str) -> int | str:
        with self.lock:
            answers = self.scripts.get(path, [404])
            return answers.pop(0) if len(answers) > 1 else answers[0]


def start_receiver() -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            receiver = holder["r"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = receiver._answer(self.path)
            record = Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.time(), answer)
            with receiver.lock:
                receiver.received.append(record)
            if answer == HANG:
                self._hold_until_closed()
                record.closed_at = time.time()
                return
            payload = b'{"ok": true}' if answer < 300 else b'{"error": "scripted failure"}' + b"x" * 5000
            self.send_response(int(answer))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _hold_until_closed(self) -> None:
            """Answers nothing; returns once the sender has closed the connection (or after 30 s)."""
            deadline = time.monotonic() + 30
            while not holder["r"].stopping.is_set() and time.monotonic() < deadline:
                readable, _, _ = select.select([self.connection], [], [], 0.02)
                if not readable:
                    continue
                try:
                    if not self.connection.recv(65536, socket.MSG_DONTWAIT):
                        return  # end of stream: the sender gave up
                except BlockingIOError:
                    continue
                except OSError:
                    return  # reset by the sender

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder["r"] = receiver = Receiver(server)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver


def stop_receiver(receiver: Receiver) -> None:
    receiver.stopping.set()
    receiver.server.shutdown()
    receiver.server.server_close()


@contextlib.contextmanager
def running_receiver() -> Iterator[Receiver]:
    """A receiver for the `with` block, stopped after it."""
    receiver = start_receiver()
    try:
        yield receiver
    finally:
        stop_receiver(receiver)
