"""The client's tests run against a real `modelyard serve` (a subprocess) with the UI tests' accounts
(admin, alice the user, lena the labeler, uma): see tests/ui/conftest.py."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.processes import STARTED, Launcher
from tests.ui.conftest import Backend, start_backend


@pytest.fixture(scope="module")
def backend(request, tmp_path_factory) -> Iterator[Backend]:
    launcher = Launcher(tmp_path_factory.mktemp("procs"), request.node.stash.setdefault(STARTED, []))
    try:
        yield start_backend(launcher, tmp_path_factory.mktemp("home"))
    finally:
        launcher.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """On a failure, attach the server's log."""
    report = yield
    if report.failed and report.when in ("setup", "call"):
        for process in [p for node in item.listchain() for p in node.stash.get(STARTED, [])]:
            report.sections.append((f"log of {process.name}", process.describe_with_log()))
    return report
