"""The delivery's HTTP exchange with a hostile receiver: a redirect is not followed (it could point at an
internal address the target check never saw), and an endless body is read only to its short excerpt."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from modelyard.webhooks import delivery, targets


@pytest.fixture
def hostile() -> Iterator[tuple[int, list[str]]]:
    seen: list[str] = []
    stop = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(f"POST {self.path}")
            if self.path == "/redirect":
                self.send_response(302)
                self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}/internal")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:  # /endless: a body that never ends
                self.send_response(200)
                self.end_headers()
                while not stop.is_set():
                    try:
                        self.wfile.write(b"x" * 65536)
                    except OSError:
                        return

        def do_GET(self):  # noqa: N802
            seen.append(f"GET {self.path}")
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_port, seen
    finally:
        stop.set()
        server.shutdown()
        server.server_close()


def target(port: int, path: str) -> targets.Target:
    return targets.Target(url=f"http://127.0.0.1:{port}{path}", scheme="http", host="127.0.0.1", port=port,
                          address="127.0.0.1")


def test_a_redirect_is_reported_and_never_followed(hostile):
    port, seen = hostile
    code, _ = delivery._post(target(port, "/redirect"), b"{}", {"Content-Type": "application/json"}, timeout=5)
    time.sleep(0.2)  # a follow-up request, had one been sent, would have arrived by now
    assert code == 302 and seen == ["POST /redirect"], seen


def test_an_endless_body_is_read_only_to_its_excerpt(hostile):
    port, _ = hostile
    answer: list = []
    worker = threading.Thread(target=lambda: answer.append(delivery._post(
        target(port, "/endless"), b"{}", {"Content-Type": "application/json"}, timeout=5)), daemon=True)
    worker.start()
    worker.join(10)  # reading the whole body would never end: the server writes until the test stops it
    assert not worker.is_alive(), "the delivery kept reading an endless body"
    code, excerpt = answer[0]
    assert code == 200 and excerpt == "x" * delivery.EXCERPT
