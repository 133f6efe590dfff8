"""Credits and rate limits hold under 50 concurrent calls spread over two API processes: on one data
folder (SQLite, process-memory limits per process) and in the scaled shape (PostgreSQL, Redis limits
shared by both processes)."""
from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.e2e.conftest import ADMIN_PASSWORD
from tests.e2e.processes import Launcher, bearer, login

pytestmark = pytest.mark.slow
CALL = {"text": "The support team was wonderful and fixed everything quickly."}


def fifty_calls(urls: list[str], key: str) -> list[httpx.Response]:
    def call(i: int) -> httpx.Response:
        return httpx.post(f"{urls[i % len(urls)]}/api/predict/sentiment", json=CALL, headers={"X-API-Key": key},
                          timeout=60)

    with ThreadPoolExecutor(max_workers=25) as pool:
        return list(pool.map(call, range(50)))


def registered_with(first, credits: int) -> tuple[str, int]:
    name = f"dev{secrets.token_hex(3)}"
    with httpx.Client(base_url=first.url, timeout=30) as client:
        new = client.post("/api/auth/register", json={"username": name, "email": f"{name}@example.com",
                                                      "password": "secret-pw"}).json()
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        current = client.get("/api/auth/user", headers={"X-API-Key": new["api_key"]}).json()["credits_remaining"]
        given = client.post(f"/admin/users/{new['user_id']}/credits", json={"credits": credits - current},
                            headers=admin)
        assert given.status_code == 200 and given.json()["credits_remaining"] == credits, given.text
    return new["api_key"], new["user_id"]


def remaining(url: str, key: str) -> int:
    return httpx.get(f"{url}/api/auth/user", headers={"X-API-Key": key}, timeout=30).json()["credits_remaining"]


def test_with_ten_credits_exactly_ten_of_fifty_concurrent_calls_succeed_on_one_data_folder(launch: Launcher,
                                                                                          tmp_path):
    env = {"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD}
    first, second = launch.serve(env, name="first"), launch.serve(env, name="second")
    key, _ = registered_with(first, 10)
    answers = fifty_calls([first.url, second.url], key)
    codes = sorted(r.status_code for r in answers)
    assert codes == [200] * 10 + [402] * 40, codes
    assert {r.json()["code"] for r in answers if r.status_code == 402} == {"INSUFFICIENT_CREDITS"}
    assert remaining(second.url, key) == 0


def test_two_scaled_api_hosts_share_one_rate_limit_and_one_credit_balance(launch: Launcher, scaled_env):
    limits = {"rate_limit_api_key": "30/hour"}  # per API key, counted in the shared Redis
    first = launch.serve(scaled_env("first", **limits), name="first")
    second = launch.serve(scaled_env("second", **limits), name="second")
    key, user_id = registered_with(first, 100)
    answers = fifty_calls([first.url, second.url], key)
    codes = [r.status_code for r in answers]
    # registered_with made 1 keyed call (GET /api/auth/user) before these: 29 of the 30 remain for them
    assert sorted(codes) == [200] * 29 + [429] * 21, sorted(codes)
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.json()["code"] == "RATE_LIMIT_EXCEEDED" and int(refused.headers["Retry-After"]) > 0
    assert refused.headers["X-RateLimit-Limit"] == "30" and refused.headers["X-RateLimit-Remaining"] == "0"
    ok = next(r for r in answers if r.status_code == 200)
    assert ok.json()["credits_consumed"] == 1 and "X-RateLimit-Reset" in ok.headers
    with httpx.Client(base_url=first.url, timeout=30) as client:  # the balance, asked with a JWT (the key is spent)
        admin = bearer(login(client, "admin", ADMIN_PASSWORD))
        users = client.get("/admin/users", headers=admin).json()
    assert next(u["credits_remaining"] for u in users if u["user_id"] == user_id) == 100 - 29


def test_two_scaled_api_hosts_share_one_predictions_limit(launch: Launcher, scaled_env):
    limits = {"rate_limit_predictions": "20/hour"}  # per user, every prediction call, counted in the shared Redis
    first = launch.serve(scaled_env("first", **limits), name="first")
    second = launch.serve(scaled_env("second", **limits), name="second")
    key, _ = registered_with(first, 100)
    answers = fifty_calls([first.url, second.url], key)
    assert sorted(r.status_code for r in answers) == [200] * 20 + [429] * 30
    refused = next(r for r in answers if r.status_code == 429)
    assert "predictions limit of your plan (20/hour)" in refused.json()["message"]
    assert refused.headers["X-RateLimit-Limit"] == "20" and int(refused.headers["Retry-After"]) > 0
    assert remaining(second.url, key) == 100 - 20, "refused calls charge nothing"
