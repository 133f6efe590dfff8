"""Login throttling per (account, address), per account and per address, with an admin's unlock."""
from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from modelyard.cli import app as cli

PER_PAIR, PER_ACCOUNT, PER_ADDRESS = 3, 6, 10


@pytest.fixture
def settings(settings):
    return settings.model_copy(update={"login_max_failures": PER_PAIR, "login_max_failures_account": PER_ACCOUNT,
                                       "login_max_failures_address": PER_ADDRESS})


@pytest.fixture
def from_address(client, app):
    """`from_address(ip)`: a client of the same running app whose requests come from `ip`."""
    return lambda ip: TestClient(app, client=(ip, 50000))


def attempt(http, username: str, password: str):
    return http.post("/api/auth/login", json={"username": username, "password": password})


def test_one_persons_typos_lock_only_that_account_from_that_address(client, accounts, from_address):
    office = from_address("10.1.1.1")
    for _ in range(PER_PAIR):
        assert attempt(office, "admin", "typo").status_code == 401

    locked = attempt(office, "admin", "admin-password-1")
    colleague = attempt(office, "user-account", "user-account-pw")
    elsewhere = attempt(from_address("10.2.2.2"), "admin", "admin-password-1")

    assert locked.status_code == 429, locked.text
    assert colleague.status_code == 200, "another account behind the same address was locked out"
    assert elsewhere.status_code == 200, "the account was locked out from every address"
    wait = int(locked.headers["Retry-After"])
    assert 0 < wait <= 900
    body = locked.json()
    assert body["code"] == "RATE_LIMIT_EXCEEDED"
    assert "for this account from your address" in body["message"]
    assert "try again in" in body["message"] and "minutes" in body["message"]
    assert "modelyard users unlock admin" in body["message"]
    assert body["details"]["retry_after_seconds"] == wait


def test_a_successful_login_clears_the_count_for_that_address(client, accounts, from_address):
    office = from_address("10.1.1.1")
    for _ in range(PER_PAIR - 1):
        attempt(office, "admin", "typo")
    assert attempt(office, "admin", "admin-password-1").status_code == 200
    for _ in range(PER_PAIR - 1):
        assert attempt(office, "admin", "typo").status_code == 401
    assert attempt(office, "admin", "admin-password-1").status_code == 200


def test_guesses_at_one_account_from_many_addresses_lock_the_account(client, accounts, from_address):
    for n in range(PER_ACCOUNT):
        assert attempt(from_address(f"10.0.0.{n}"), "admin", "guess").status_code == 401

    fresh = attempt(from_address("10.9.9.9"), "admin", "admin-password-1")
    other = attempt(from_address("10.9.9.9"), "user-account", "user-account-pw")

    assert fresh.status_code == 429, fresh.text
    assert "for this account;" in fresh.json()["message"]
    assert other.status_code == 200


def test_one_address_guessing_many_accounts_is_throttled_only_at_the_higher_threshold(client, accounts,
                                                                                     from_address):
    proxy = from_address("10.5.5.5")
    for n in range(PER_ADDRESS):
        assert attempt(proxy, f"nobody-{n}", "guess").status_code == 401

    refused = attempt(proxy, "user-account", "user-account-pw")
    other_address = attempt(from_address("10.6.6.6"), "user-account", "user-account-pw")

    assert refused.status_code == 429, refused.text
    assert "from your address" in refused.json()["message"]
    assert int(refused.headers["Retry-After"]) > 0
    assert other_address.status_code == 200


def test_modelyard_users_unlock_lets_the_account_in_again(client, accounts, from_address, settings, monkeypatch,
                                                          tmp_path):
    office = from_address("10.1.1.1")
    for _ in range(PER_ACCOUNT):  # the last ones are refused (throttled) and not counted
        attempt(office, "admin", "typo")
    assert attempt(office, "admin", "admin-password-1").status_code == 429

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["users", "unlock", "admin"], env={
        "MODELYARD_HOME": str(settings.home), "MODELYARD_DATABASE_URL": settings.database_url})

    assert result.exit_code == 0, result.output
    assert f"admin unlocked ({PER_PAIR} recent failed logins forgiven)" in result.output
    assert "using data folder" in result.output
    assert attempt(office, "admin", "admin-password-1").status_code == 200


def test_throttled_attempts_do_not_extend_the_wait(client, accounts, from_address, app):
    from sqlalchemy import func, select

    from modelyard.auth.models import LoginEvent

    office = from_address("10.1.1.1")
    for _ in range(PER_PAIR):
        attempt(office, "admin", "typo")
    first = int(attempt(office, "admin", "typo").headers["Retry-After"])
    for _ in range(5):
        assert attempt(office, "admin", "typo").status_code == 429
    assert int(attempt(office, "admin", "typo").headers["Retry-After"]) <= first
    with app.state.runtime.db.session() as session:
        throttled = session.scalar(select(func.count()).select_from(LoginEvent).where(LoginEvent.reason == "throttled"))
    assert throttled == 7, "each refused attempt is still recorded in the login history"
