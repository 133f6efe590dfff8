"""The monitoring page and its feeds against a real `modelyard serve`: the JSON routes count what the test
predicted over HTTP; the page opens in headless Chromium (Debian's, driven by Playwright), signs in, shows
live numbers that change over `/ws` when predictions are made (and over polling when the socket is down),
and needs nothing but its own server. Screenshots are kept under MODELYARD_MONITORING_ARTIFACTS
(default tests/artifacts/monitoring)."""
from __future__ import annotations

import os
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import expect

from tests.e2e.processes import Launcher, ModelyardProcess, bearer, login

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(os.environ.get("MODELYARD_MONITORING_ARTIFACTS",
                                Path(__file__).resolve().parents[1] / "artifacts" / "monitoring"))
ADMIN_PASSWORD = "monitoring-admin-password-1"
WAIT_MS = 30_000


@pytest.fixture(scope="module")
def server(module_launch: Launcher, tmp_path_factory) -> ModelyardProcess:
    return module_launch.serve({"MODELYARD_HOME": str(tmp_path_factory.mktemp("home")),
                                "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
                                "MODELYARD_SECRET_KEY": "monitoring-e2e-secret-key-0123456789ab",
                                "MODELYARD_RATE_LIMIT_TOKEN": "1000000/hour"})


@pytest.fixture(scope="module")
def admin(server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as client:
        client.headers.update(bearer(login(client, "admin", ADMIN_PASSWORD)))
        yield client


def predict(client: httpx.Client, count: int, *, bad: int = 0) -> None:
    for i in range(count):
        answer = client.post("/api/predict/sentiment", json={"text": f"a fine day number {i} {secrets.token_hex(3)}"})
        assert answer.status_code == 200, answer.text
    for _ in range(bad):
        assert client.post("/api/predict/sentiment", json={"text": ""}).status_code == 422


def test_the_json_feeds_count_what_a_user_predicted(server, admin):
    name, password = f"mon{secrets.token_hex(3)}", "monitoring-user-pw"
    assert admin.post("/admin/users", json={"username": name, "password": password, "role": "user"}).status_code == 201
    with httpx.Client(base_url=server.url, timeout=60) as user:
        user.headers.update(bearer(login(user, name, password)))
        predict(user, 4, bad=1)
        metrics = user.get("/monitoring/api/metrics", params={"window": 10}).json()
        assert (metrics["totals"]["calls"], metrics["totals"]["errors"], metrics["totals"]["rows"]) == (5, 1, 5)
        assert metrics["totals"]["by_model"] == {"sentiment": 5} and sum(metrics["series"]["calls"]) == 5
        assert metrics["totals"]["latency_ms"]["p50"] > 0 and metrics["totals"]["error_rate"] == 20.0
        models = user.get("/monitoring/api/models").json()["models"]
        assert (models["sentiment"]["predictions_count"], models["sentiment"]["error_rate"]) == (5, 20.0)
        for window in (0, 100000):
            refused = user.get("/monitoring/api/metrics", params={"window": window})
            assert refused.status_code == 422 and "between 1 and 1440" in refused.json()["message"]
    everyone = admin.get("/monitoring/api/metrics", params={"window": 10}).json()["totals"]["calls"]
    assert everyone >= 5
    health = httpx.get(f"{server.url}/monitoring/api/health", timeout=30).json()
    assert health["status"] == "healthy" and {"timestamp", "version"} <= health.keys()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1366, "height": 768})  # a laptop screen
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    tab.requested = []
    tab.on("request", lambda req: tab.requested.append(req.url))
    try:
        yield tab
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(ARTIFACTS / f"{request.node.name}-last.png"), full_page=True)
        context.close()


def sign_in(page, server) -> None:
    page.goto(f"{server.url}/monitoring")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(ADMIN_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#board")).to_be_visible()


def calls_shown(page) -> int:
    return int(page.locator("#total-calls").inner_text().replace(",", ""))


def only_local_requests(page, server) -> None:
    foreign = {url for url in page.requested if not url.startswith((server.url, "data:", "blob:", "about:"))}
    assert page.requested and not foreign, sorted(foreign)


def test_the_page_shows_live_numbers_that_change_when_predictions_are_made(server, admin, page):
    frames: list[str] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(str(payload))))
    predict(admin, 2)
    sign_in(page, server)
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator("#who")).to_have_text("admin")
    before = admin.get("/monitoring/api/metrics", params={"window": 60}).json()["totals"]["calls"]
    expect(page.locator("#total-calls")).to_have_text(str(before))
    expect(page.locator("#chart-rate svg path")).to_have_count(1)
    expect(page.locator("#chart-latency svg path")).to_have_count(3)  # p50, p95, p99
    assert page.locator("#chart-models svg rect").count() >= 1, "bars per model are drawn"
    expect(page.locator("#models-table tbody")).to_contain_text("sentiment")

    seen = len(frames)
    predict(admin, 3, bad=1)
    expect(page.locator("#total-calls")).to_have_text(str(before + 4))  # pushed over /ws, no reload
    expect(page.locator("#total-errors")).not_to_have_text("0")
    assert any('"type":"monitoring"' in f.replace(" ", "") for f in frames[seen:]), "the update came over /ws"
    expect(page.locator("#latest-models")).to_contain_text(re.compile(r"sentiment: \d+"))
    expect(page.locator("#latency-p95")).to_have_text(re.compile(r"^[\d.]+ ms$"))
    assert "access_token" not in " ".join(page.requested) and ADMIN_PASSWORD not in " ".join(page.requested)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "monitoring-live.png"), full_page=True)
    page.get_by_role("combobox", name="Window").select_option("15")
    expect(page.locator("#range")).to_contain_text("(15 min)")
    expect(page.locator("#bucket")).to_have_text("15 s")
    expect(page.locator("#total-calls")).to_have_text(str(before + 4))
    only_local_requests(page, server)


def test_without_the_websocket_the_page_polls_and_still_updates(server, admin, page):
    page.route_web_socket(re.compile(r".*/ws$"), lambda ws: ws.close())  # the socket drops at once
    sign_in(page, server)
    expect(page.locator("#live")).to_have_text("polling")
    before = admin.get("/monitoring/api/metrics", params={"window": 60}).json()["totals"]["calls"]
    expect(page.locator("#total-calls")).to_have_text(str(before))
    predict(admin, 2)
    expect(page.locator("#total-calls")).to_have_text(str(before + 2))
    page.reload()  # the token is kept for this tab (sessionStorage): no second sign-in
    expect(page.locator("#board")).to_be_visible()
    expect(page.locator("#total-calls")).to_have_text(str(before + 2))
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#sign-in")).to_be_visible()
    expect(page.locator("#board")).to_be_hidden()
    expect(page.locator("#controls")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0, "signing out forgets the token"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "monitoring-sign-in.png"))


def test_a_user_signs_in_with_an_api_key_and_sees_only_their_own_calls(server, admin, page):
    name = f"key{secrets.token_hex(3)}"
    made = httpx.post(f"{server.url}/api/auth/register", timeout=30,
                      json={"username": name, "email": f"{name}@example.com", "password": "key-user-pw-1"})
    assert made.status_code in (200, 201), made.text
    key = made.json()["api_key"]
    predict(admin, 1)  # someone else's call: not this user's figure
    page.goto(f"{server.url}/monitoring")
    page.get_by_label("or an API key").fill(key)
    page.get_by_role("button", name="Use key").click()
    expect(page.locator("#live")).to_have_text("live")
    expect(page.locator("#scope")).to_have_text("Your prediction calls")
    expect(page.locator("#total-calls")).to_have_text("0")
    with httpx.Client(base_url=server.url, timeout=60, headers={"X-API-Key": key}) as user:
        predict(user, 1, bad=1)
    expect(page.locator("#total-calls")).to_have_text("2")
    expect(page.locator("#error-rate")).to_have_text("50 %")
    # half its calls failed: the model status's health (60 % success + 20 % latency + 20 % confidence) < 80
    expect(page.locator("#alerts")).to_contain_text(re.compile(r"Model sentiment health score is [\d.]+%"))
    assert key not in " ".join(page.requested), "the key never goes in a URL"


def test_the_page_draws_drift_per_feature_for_a_model_whose_inputs_moved(server, admin, page):
    """lead-score is trained here (so it has a training reference); 100 calls all from the largest companies
    with the highest engagement are far from its training data: the chart shows those features' PSI.
    (100 items: a batch counts one call per item against the admin plan's 200 predictions an hour.)"""
    example = {"company_size": "1000+", "budget": 150000, "industry_score": 8.5, "engagement_score": 10.0}
    items = [{"model": "lead-score", "input": {**example, "budget": 100000 + 1000 * i}} for i in range(100)]
    answer = admin.post("/api/enterprise/batch/predict", json={"requests": items})
    assert answer.status_code == 200, answer.text
    drift = admin.get("/monitoring/api/models").json()["models"]["lead-score"]["drift"]
    assert drift["rows"] == 100 and drift["status"] == "significant", drift
    assert drift["features"]["company_size"] > 0.25 and drift["features"]["engagement_score"] > 0.25

    sign_in(page, server)
    page.get_by_role("combobox", name="model").select_option("lead-score")
    expect(page.locator("#latest-drift")).to_contain_text("significant")
    assert page.locator("#chart-drift svg rect").count() == len(drift["features"]), "one bar per feature"
    expect(page.locator("#models-table tbody")).to_contain_text("significant")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "monitoring-drift.png"), full_page=True)
