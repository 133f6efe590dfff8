"""A real webhook receiver on 127.0.0.1 for tests: answers each path as scripted and records what arrived."""
from __future__ import annotations

import json
import threading
import time
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

    @property
    def json(self) -> dict[str, Any]:
        return json.loads(self.body)


@dataclass
class Receiver:
    """`script(path, 500, 200)`: the first request to `path` gets 500, every later one 200 (the last
    answer repeats); HANG holds the connection without answering until the receiver stops."""

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

    def _answer(self, path: str) -> int | str:
        with self.lock:
            answers = self.scripts.get(path, [404])
            return answers.pop(0) if len(answers) > 1 else answers[0]


def start_receiver() -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            receiver = holder["r"]
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = receiver._answer(self.path)
            with receiver.lock:
                receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                                  time.time(), answer))
            if answer == HANG:
                receiver.stopping.wait(30)
                return
            payload = b'{"ok": true}' if answer < 300 else b'{"error": "scripted failure"}' + b"x" * 5000
            self.send_response(int(answer))
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

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
