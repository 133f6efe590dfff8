"""The web UI's tests run against a real `modelyard serve` (a subprocess, no UI of its own) with one account
per role; data they need (CSVs, images) is made here."""
from __future__ import annotations

import io
import random
import secrets
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.processes import STARTED, Launcher, ModelyardProcess

ADMIN_PASSWORD = "ui-admin-password-1"


@dataclass
class Backend:
    server: ModelyardProcess
    passwords: dict[str, str]  # username -> password; usernames: admin, alice (user), lena (labeler), uma (universal)

    @property
    def url(self) -> str:
        return self.server.url

    def client(self, username: str = "admin") -> httpx.Client:
        answer = httpx.post(f"{self.url}/api/auth/login", timeout=60,
                            json={"username": username, "password": self.passwords[username]})
        assert answer.status_code == 200, answer.text
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {answer.json()['access_token']}"})


def start_backend(launcher: Launcher, home, env: dict[str, str] | None = None, **serve_options) -> Backend:
    """`env` adds settings (or overrides these) for a module that needs its own limits."""
    env = {"MODELYARD_HOME": str(home), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
           "MODELYARD_SECRET_KEY": "ui-test-secret-key-0123456789abcdef", "MODELYARD_RATE_LIMIT_TOKEN": "1000000/hour",
           **(env or {})}
    backend = Backend(launcher.serve(env, **serve_options), {"admin": ADMIN_PASSWORD})
    with backend.client() as admin:
        for username, role in [("alice", "user"), ("lena", "labeler"), ("uma", "universal")]:
            password = f"{username}-{secrets.token_hex(6)}"
            made = admin.post("/admin/users", json={"username": username, "password": password, "role": role})
            assert made.status_code == 201, made.text
            backend.passwords[username] = password
    return backend


@pytest.fixture(scope="module")
def backend(request, tmp_path_factory) -> Iterator[Backend]:
    launcher = Launcher(tmp_path_factory.mktemp("procs"), request.node.stash.setdefault(STARTED, []))
    try:
        yield start_backend(launcher, tmp_path_factory.mktemp("home"))
    finally:
        launcher.stop_all()


def buyers_csv(rows: int = 300, seed: int = 1) -> bytes:
    """The README's buyers: will_buy is yes when income > 60000 outside region S."""
    rng = random.Random(seed)
    lines = ["age,income,region,will_buy"]
    for _ in range(rows):
        age, income, region = rng.randint(18, 80), rng.randint(20000, 120000), rng.choice("NSEW")
        lines.append(f"{age},{income},{region},{'yes' if income > 60000 and region != 'S' else 'no'}")
    return ("\n".join(lines) + "\n").encode()


def png(seed: int, size: int = 96) -> bytes:
    """A distinct image per seed (random blocks), so only copies of it are duplicates."""
    from PIL import Image

    rng = random.Random(seed)
    picture = Image.new("RGB", (size, size))
    block = size // 8
    for x in range(0, size, block):
        for y in range(0, size, block):
            picture.paste((rng.randrange(256), rng.randrange(256), rng.randrange(256)), (x, y, x + block, y + block))
    out = io.BytesIO()
    picture.save(out, format="PNG")
    return out.getvalue()
