"""The web UI end to end: `modelyard serve` starts the API and the UI (its child process); headless Chromium
(Debian's, driven by Playwright) clicks through each role's main flow. Every test saves screenshots under
MODELYARD_UI_ARTIFACTS (default tests/artifacts/ui); the README's images in docs/images/ are copies of them.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.processes import Launcher
from tests.support.servers import free_port
from tests.ui.conftest import Backend, buyers_csv, png, start_backend

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("MODELYARD_UI_ARTIFACTS", Path(__file__).resolve().parents[1] / "artifacts" / "ui"))
WAIT_MS = 90_000
UI_START_TIMEOUT = 60.0


def wait_for_ui(url: str, server) -> None:
    deadline = time.monotonic() + UI_START_TIMEOUT
    while time.monotonic() < deadline:
        assert server.alive(), server.describe_with_log()
        try:
            if httpx.get(f"{url}/_stcore/health", timeout=2).text == "ok":
                return
        except httpx.TransportError:
            pass
        time.sleep(0.25)
    pytest.fail(f"the UI at {url} did not answer within {UI_START_TIMEOUT:.0f}s\n{server.describe_with_log()}")


@pytest.fixture(scope="module")
def stack(module_launch: Launcher, tmp_path_factory) -> tuple[Backend, str]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    ui_port = free_port()
    backend = start_backend(module_launch, tmp_path_factory.mktemp("home"), ui_port=ui_port)
    ui_url = f"http://127.0.0.1:{ui_port}"
    wait_for_ui(ui_url, backend.server)
    return backend, ui_url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, request) -> Iterator:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    tab.requested = []  # every URL the browser asked for: the UI must need nothing but its own server
    tab.on("request", lambda req: tab.requested.append(req.url))
    try:
        yield tab
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
        context.close()


def shot(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(400)  # let Streamlit finish painting the rerun
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def log_in(page, ui_url: str, backend: Backend, username: str) -> None:
    page.goto(ui_url)
    page.get_by_role("textbox", name="Username", exact=True).fill(username)
    page.get_by_label("Password", exact=True).fill(backend.passwords[username])
    page.get_by_role("button", name="Log in", exact=True).click()
    page.get_by_text(f"Signed in as {username}").wait_for()


def attach(page, paths: list[str]) -> None:
    """Choose files in the page's first file uploader and wait until Streamlit has received each of them
    (it uploads in the background; a form submitted before that would see no file)."""
    done: list[str] = []

    def on_response(response) -> None:
        if "/_stcore/upload_file" in response.url and response.request.method == "PUT" and response.ok:
            done.append(response.url)

    page.on("response", on_response)
    page.locator("input[type=file]").first.set_input_files(paths)
    deadline = time.monotonic() + WAIT_MS / 1000
    while len(done) < len(paths) and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    page.remove_listener("response", on_response)
    assert len(done) == len(paths), f"Streamlit received {len(done)} of {len(paths)} files"


def go(page, title: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    page.get_by_role("heading", level=1).filter(has_not_text="modelyard").first.wait_for()


def only_local_requests(page) -> None:
    """Works offline: no CDN, no telemetry; every request went to the UI's own address."""
    foreign = {url for url in page.requested
               if not url.startswith(("http://127.0.0.1:", "data:", "blob:", "about:"))}
    assert page.requested and not foreign, sorted(foreign)


def no_traceback(page) -> None:
    assert page.get_by_test_id("stException").count() == 0, page.get_by_test_id("stException").first.inner_text()


def test_a_user_uploads_a_csv_trains_deploys_and_predicts(stack, page, tmp_path):
    backend, ui_url = stack
    log_in(page, ui_url, backend, "alice")
    csv = tmp_path / "buyers.csv"
    csv.write_bytes(buyers_csv(400))
    attach(page, [str(csv)])
    page.get_by_role("button", name="Upload CSV", exact=True).click()
    page.get_by_text("Profile: buyers.csv").wait_for()
    shot(page, "user-datasets")

    go(page, "Train")
    page.get_by_role("textbox", name="Model name", exact=True).fill("buyers-e2e")
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Trained buyers-e2e v1")).wait_for()
    shot(page, "user-train")
    page.get_by_role("button", name="Deploy buyers-e2e v1", exact=True).click()
    page.get_by_text("buyers-e2e v1 deployed").wait_for()
    page.get_by_role("radio", name="classification").check(force=True)  # a second version to compare
    page.get_by_role("button", name="Train", exact=True).click()
    page.get_by_text(re.compile(r"Trained buyers-e2e v2")).wait_for()

    go(page, "Models")
    page.get_by_text("buyers-e2e v1 · ").first.wait_for()
    page.get_by_text("buyers-e2e v2 · ").first.wait_for()  # side by side
    expect(page.get_by_text("Confusion matrix (test split)")).to_have_count(2)
    page.locator("[data-testid=stVegaLiteChart], [data-testid=stArrowVegaLiteChart]").first.wait_for()
    shot(page, "user-models")

    go(page, "Predict")
    page.get_by_role("spinbutton", name="income").fill("95000")
    page.get_by_role("spinbutton", name="income").press("Enter")
    page.get_by_role("textbox", name="region", exact=True).fill("N")
    page.get_by_role("button", name="Predict", exact=True).click()
    prediction = page.get_by_test_id("stMetricValue").first
    prediction.wait_for()
    assert prediction.inner_text().strip() == "yes"
    shot(page, "user-predict")
    no_traceback(page)
    only_local_requests(page)


def test_a_customer_uploads_images_and_reviews_qc(stack, page, tmp_path):
    backend, ui_url = stack
    log_in(page, ui_url, backend, "alice")
    go(page, "Labeling requests")
    page.get_by_text("New request").click()
    page.get_by_role("textbox", name="Title", exact=True).fill("Birds")
    page.get_by_role("textbox", name="Classes", exact=True).fill("sparrow, robin, crow")
    page.get_by_role("button", name="Create", exact=True).click()
    page.get_by_text(re.compile(r"Request Birds created")).wait_for()
    files = []
    for i in range(8):
        path = tmp_path / f"bird{i}.png"
        path.write_bytes(png(200 + i))
        files.append(str(path))
    (tmp_path / "bird0-again.png").write_bytes(png(200))
    files.append(str(tmp_path / "bird0-again.png"))
    attach(page, files)
    page.get_by_role("button", name="Upload images", exact=True).click()
    page.get_by_text("9 image(s) stored, 0 skipped").wait_for()
    shot(page, "customer-requests")

    go(page, "Quality control")
    page.get_by_role("button", name="Run QC", exact=True).click()
    page.get_by_text(re.compile(r"of 9 images flagged")).wait_for()
    page.get_by_text(re.compile(r"^bird0-again.png")).wait_for()  # the copy, in the grid of flagged images
    assert page.get_by_text(re.compile(r"^1 of 9 images flagged")).count() == 1
    expect(page.get_by_test_id("stImage")).to_have_count(2)  # the copy and, small, the image it duplicates
    page.get_by_text("duplicate of bird0.png").wait_for()
    shot(page, "customer-qc")
    no_traceback(page)


def _request_with_images(backend: Backend, title: str, classes: list[str], count: int) -> str:
    with backend.client("alice") as alice:
        request_id = alice.post("/requests", json={"title": title, "description": "", "classes": classes}).json()["id"]
        stored = alice.post(f"/requests/{request_id}/uploads",
                            files=[("files", (f"{title}{i}.png", png(300 + i), "image/png")) for i in range(count)])
        assert stored.json()["uploaded"] == count, stored.text
    return request_id


def test_an_admin_assigns_a_request_to_a_labeler(stack, page):
    backend, ui_url = stack
    request_id = _request_with_images(backend, "Fruit", ["apple", "pear"], 3)
    log_in(page, ui_url, backend, "admin")
    go(page, "Assignments")
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name=re.compile(re.escape(request_id))).click()
    page.get_by_test_id("stSelectbox").nth(1).click()
    page.get_by_role("option", name="lena").click()
    page.get_by_role("button", name="Assign", exact=True).click()
    page.get_by_text(re.compile(r"Fruit assigned to lena")).wait_for()
    shot(page, "admin-assignments")
    no_traceback(page)

    with backend.client("lena") as lena:
        tasks = [t for t in lena.get("/tasks").json() if t["request_id"] == request_id]
    assert len(tasks) == 1 and tasks[0]["images_count"] == 3


def test_a_labeler_labels_images_with_buttons_and_keyboard_shortcuts(stack, page):
    backend, ui_url = stack
    request_id = _request_with_images(backend, "Weather", ["sunny", "rainy"], 3)
    with backend.client() as admin:
        assigned = admin.post("/admin/assign", json={"request_id": request_id, "labeler_username": "lena"})
        assert assigned.status_code == 200, assigned.text
    log_in(page, ui_url, backend, "lena")
    page.get_by_role("heading", name="My tasks").wait_for()  # the labeler's first page
    page.get_by_test_id("stDataFrame").wait_for()
    shot(page, "labeler-tasks")

    go(page, "Label images")
    page.get_by_test_id("stSelectbox").first.click()
    page.get_by_role("option", name=re.compile(r"^Weather")).click()
    page.get_by_text("0 of 3 labeled").wait_for()
    page.get_by_test_id("stImage").first.wait_for()
    shot(page, "labeler-label")
    page.get_by_role("button", name=re.compile(r"^sunny")).click()  # its name ends in the shortcut key
    page.get_by_text("1 of 3 labeled").wait_for()
    page.get_by_role("heading", name="Label images").click()  # focus the page, not a widget
    page.keyboard.press("2")
    page.get_by_text("2 of 3 labeled").wait_for()
    no_traceback(page)

    with backend.client("alice") as alice:
        labels = alice.get(f"/requests/{request_id}/export").json()
    assert sorted(row["labels"][0] for row in labels) == ["rainy", "sunny"]


def test_admin_pages_show_settings_activity_and_the_scoring_dashboard(stack, page):
    backend, ui_url = stack
    log_in(page, ui_url, backend, "admin")
    page.get_by_role("heading", name="Users and roles").wait_for()
    page.get_by_test_id("stDataFrame").first.wait_for()
    shot(page, "admin-users")
    go(page, "Settings")
    page.get_by_text("Allow pickle/joblib uploads").wait_for()
    shot(page, "admin-settings")
    go(page, "Scoring dashboard")
    page.get_by_text("Recent logins").wait_for()
    monitoring = page.get_by_test_id("stLinkButton").get_by_role("link", name="Monitoring", exact=True)
    monitoring.wait_for()  # the deployment serves /monitoring now
    assert monitoring.get_attribute("href") == f"{backend.url}/monitoring"
    shot(page, "admin-dashboard")
    no_traceback(page)
    only_local_requests(page)


def test_a_user_predicts_in_the_playground_and_scores_a_csv_batch(stack, page, tmp_path):
    backend, ui_url = stack
    log_in(page, ui_url, backend, "alice")
    go(page, "Playground")
    page.get_by_text("Each call costs 1 credit(s): POST /api/predict/lead-score").wait_for()
    page.get_by_role("button", name="Predict", exact=True).click()  # the model's example, filled in
    page.get_by_text(re.compile(r"lead_scoring_v1 · v1\.0 · .* ms · 1 credit\(s\) · computed now")).wait_for()
    quality = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").get_by_text(
        "quality", exact=True))
    assert quality.get_by_test_id("stMetricValue").inner_text().strip() in ("Cold", "Warm", "Hot")
    shot(page, "user-playground")
    page.get_by_role("button", name="Clear the form", exact=True).click()
    page.get_by_role("button", name="Predict", exact=True).click()
    page.get_by_text("The model cannot take this input:").wait_for()
    expect(page.get_by_test_id("stAlertContentError").get_by_text("budget", exact=True)).to_have_count(1)

    go(page, "CSV batch")
    csv = tmp_path / "leads.csv"
    csv.write_text("company_size,budget,industry_score,engagement_score\n51-200,150000,8.5,7.2\n"
                   "11-50,75000,6.8,\n11-50,lots,6.8,5\n")
    attach(page, [str(csv)])
    page.get_by_role("button", name="Score the CSV", exact=True).click()
    page.get_by_text("leads.csv scored with lead-score").wait_for()
    failed = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").get_by_text(
        "Failed", exact=True))
    assert failed.get_by_test_id("stMetricValue").inner_text().strip() == "1"
    page.get_by_test_id("stDataFrame").first.wait_for()
    shot(page, "user-csv-batch")
    no_traceback(page)
    only_local_requests(page)
    with backend.client("alice") as alice:
        assert alice.get("/api/auth/user").json()["credits_remaining"] == 1000 - 1 - 2


def test_a_user_configures_a_webhook_and_an_admin_sees_alerts_and_operations(stack, page, browser):
    backend, ui_url = stack
    with backend.client("admin") as admin:
        assert admin.put("/api/settings", json={"webhooks": {"allowedTargets": ["127.0.0.1"]}}).status_code == 200
    log_in(page, ui_url, backend, "alice")
    go(page, "Webhooks")
    page.get_by_role("textbox", name="URL").fill("http://127.0.0.1:9/modelyard-hook")
    page.get_by_role("button", name="Configure", exact=True).click()
    page.get_by_text("I have copied it: hide the secret").wait_for()  # the generated secret, shown once
    with backend.client("alice") as alice:
        hooks = alice.get("/api/webhooks").json()["webhooks"]
    assert [h["url"] for h in hooks] == ["http://127.0.0.1:9/modelyard-hook"], "configured through the page"
    page.get_by_text("Delivery log").first.wait_for()
    shot(page, "user-webhooks")
    no_traceback(page)
    only_local_requests(page)

    admin_page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    admin_page.requested = []
    admin_page.on("request", lambda req: admin_page.requested.append(req.url))
    log_in(admin_page, ui_url, backend, "admin")
    go(admin_page, "Alerts and operations")
    for heading in ("Alerts", "Model status", "Usage analytics", "Cache and restart"):
        admin_page.get_by_role("heading", name=heading, exact=True).wait_for()
    link = admin_page.get_by_test_id("stLinkButton").get_by_role("link").first
    assert link.get_attribute("href") == f"{backend.url}/monitoring"
    shot(admin_page, "admin-operations")
    no_traceback(admin_page)
    only_local_requests(admin_page)
    admin_page.context.close()


def test_serve_stops_its_ui_when_it_is_stopped_or_killed(tmp_path):
    """The UI is serve's child: a SIGTERM to serve stops it, and so does a SIGKILL (the parent-death signal)."""
    launcher = Launcher(tmp_path / "procs", [])
    try:
        for stop in ("terminate", "sigkill"):
            ui_port = free_port()
            backend = start_backend(launcher, tmp_path / f"home-{stop}", ui_port=ui_port)
            wait_for_ui(f"http://127.0.0.1:{ui_port}", backend.server)
            assert "web UI      : http://127.0.0.1:" in backend.server.log()
            getattr(backend.server, stop)()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and _answers(ui_port):
                time.sleep(0.2)
            assert not _answers(ui_port), f"the UI outlived serve ({stop})"
    finally:
        launcher.stop_all()


def _answers(port: int) -> bool:
    try:
        httpx.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
        return True
    except httpx.TransportError:
        return False


def test_a_taken_ui_port_leaves_the_api_running_and_says_so(tmp_path):
    import socket

    launcher = Launcher(tmp_path / "procs", [])
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        try:
            backend = start_backend(launcher, tmp_path / "home", ui_port=taken)
            assert f"web UI      : not started: port {taken} is in use" in backend.server.log()
            assert httpx.get(f"{backend.url}/health").json()["status"] == "healthy"
        finally:
            launcher.stop_all()


def test_modelyard_ui_alone_serves_the_sign_in_page_against_backend_url(stack, browser, tmp_path):
    import subprocess

    from tests.e2e.processes import MODELYARD, clean_env

    backend, _ = stack
    port = free_port()
    with open(tmp_path / "ui.log", "wb") as log:
        child = subprocess.Popen([*MODELYARD, "ui", "--port", str(port)], env=clean_env({"BACKEND_URL": backend.url}),
                                 stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + UI_START_TIMEOUT
        while not _answers(port) and time.monotonic() < deadline:
            assert child.poll() is None, (tmp_path / "ui.log").read_text()
            time.sleep(0.25)
        context = browser.new_context()
        page = context.new_page()
        page.set_default_timeout(WAIT_MS)
        log_in(page, f"http://127.0.0.1:{port}", backend, "uma")  # universal: every section
        for section in ("Data science", "Labeling", "Admin"):
            page.get_by_test_id("stSidebarNav").get_by_text(section, exact=True).wait_for()
        context.close()
    finally:
        child.terminate()
        child.wait(10)
