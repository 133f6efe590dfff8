"""An app closed by its lifespan gives back its descriptors and its memory: a test run builds hundreds of apps.
It once held over 1,023 descriptors (one mapped epochs.bin per app), which `select()` then refused, and kept
every app it had built alive (FastAPI's cache of endpoint callables, SQLAlchemy's session listeners)."""
from __future__ import annotations

import gc
import os
import weakref

from fastapi.testclient import TestClient

from modelyard.app import create_app
from modelyard.invalidation import FileEpochs


def open_descriptors() -> set[str]:
    return {os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
            if os.path.exists(f"/proc/self/fd/{fd}")}


def test_closing_the_app_releases_the_epochs_file(settings):
    app = create_app(settings, immediate_jobs=True)
    epochs_file = str(settings.home_dir / "epochs.bin")
    with TestClient(app) as client:
        login = client.post("/api/auth/login", json={"username": "admin", "password": "admin-password-1"})
        assert login.status_code == 200, login.text
        assert epochs_file in open_descriptors()
    assert epochs_file not in open_descriptors(), "the closed runtime still maps epochs.bin"


def test_file_epochs_count_on_after_close(tmp_path):
    epochs = FileEpochs(tmp_path / "epochs.bin")
    epochs.bump(1)
    epochs.close()
    assert str(tmp_path / "epochs.bin") not in open_descriptors()
    epochs.bump(1, 2)
    assert epochs.read()[:3] == (0, 2, 1)
    epochs.close()


def test_a_closed_app_and_its_runtime_are_freed(settings):
    app = create_app(settings, immediate_jobs=True)
    with TestClient(app) as client:
        token = client.post("/api/auth/login", json={"username": "admin", "password": "admin-password-1"}).json()
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        for path in ("/", "/docs", "/redoc", "/api/models"):  # the docs pages, and a route with dependencies
            assert client.get(path, headers=headers).status_code == 200, path
        # a commit through the ORM, so the session listeners (cache epochs, webhook triggers) have run
        created = client.post("/admin/users", headers=headers,
                              json={"username": "lifecycle", "password": "lifecycle-pw-1", "role": "user"})
        assert created.status_code == 201, created.text
    runtime = weakref.ref(app.state.runtime)
    app_ref = weakref.ref(app)
    del app, client
    gc.collect()
    assert app_ref() is None, f"the closed app is still referred to by {referrers(app_ref())}"
    assert runtime() is None, f"the closed runtime is still referred to by {referrers(runtime())}"


def referrers(obj: object) -> list[str]:
    return [type(r).__name__ for r in gc.get_referrers(obj)][:10]
