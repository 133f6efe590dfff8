"""Stateful schemathesis: sequences that follow the document's links (create -> use -> delete) with the ids that
earlier answers gave, as a plain user and as an admin. The same rules as tests/api/test_openapi_fuzz.py.

Bounded for CI (a few dozen scenarios of a few steps per role), derandomized so that a run is repeatable.
"""
from __future__ import annotations

import os
from collections import Counter

import pytest

import schemathesis
import hypothesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis.errors import Flaky

from modelyard.api.openapi import LINKS
from modelyard.auth.service import AuthService
from tests.api.test_openapi_fuzz import CHECKS, fuzz_app  # noqa: F401 (fuzz_app is a fixture)

pytestmark = pytest.mark.slow
SCENARIOS = int(os.environ.get("MODELYARD_FUZZ_SCENARIOS", "100"))
SEED = 20261201
CONFIG = schemathesis.Config.from_dict({
    "seed": SEED,
    "generation": {"mode": "positive", "deterministic": True, "no-shrink": True, "database": "none"},
    # Only the document's own links (api/openapi.py LINKS), not links schemathesis would infer itself.
    "phases": {"stateful": {"enabled": True, "max-steps": 5, "inference": {"algorithms": []}}},
})


@pytest.fixture(scope="module")
def stateful_schema(fuzz_app):
    """Only the linked operations: the single calls are tests/api/test_openapi_fuzz.py's; here the chains."""
    linked = {label for source, _, _, targets in LINKS for label in (source, *targets)}
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, config=CONFIG).include(name=sorted(linked))


@pytest.fixture(scope="module")
def role_headers(stateful_schema, fuzz_app) -> dict[str, dict[str, str]]:
    runtime = fuzz_app.state.runtime
    with runtime.db.session() as session:
        auth = AuthService(session, secret=runtime.settings.resolved_secret_key, token_ttl=3600,
                           limiter=runtime.limiter)
        user = auth.create_user("chain-user", "chain-user-password", role="user")
        return {"user": {"Authorization": f"Bearer {auth.issue_token(user)}"},
                "admin": {"Authorization": f"Bearer {auth.issue_token(auth.get_by_username('admin'))}"}}


def test_linked_sequences_keep_every_operations_contract_for_a_user_and_an_admin(stateful_schema, role_headers):
    """One test for both roles: schemathesis ends the app's lifespan after a test, and it starts only once."""
    for role, headers in role_headers.items():
        chained, failures = run_chains(stateful_schema, headers)
        assert not failures, f"{role}:\n" + "\n".join(failures)
        # The links are followed: operations taking an id answered 2xx for ids that earlier steps created.
        assert sum(chained.values()) >= 3, (role, dict(chained))


def run_chains(schema, headers: dict[str, str]) -> tuple[Counter[str], list[str]]:
    """Run SCENARIOS scenarios, suite after suite (seeded); failures are collected, not raised.

    A scenario meets the state the earlier ones left (a name now taken, an object deleted), so hypothesis cannot
    replay one exactly and may stop a suite with Flaky; like schemathesis's own runner, a new suite (next seed)
    then carries on. Since failures are collected, such a stop never hides one."""
    chained: Counter[str] = Counter()
    failures: list[str] = []
    completed = [0]

    class Chains(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case):
            return {"headers": headers}

        def after_call(self, response, case):
            if "{" in case.path and response.status_code < 300:
                chained[f"{case.method} {case.path}"] += 1

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            try:
                case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)
            except Exception as exc:  # noqa: BLE001 - one failure or a group of them
                failures.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {exc}")

        def teardown(self):
            completed[0] += 1
            super().teardown()

    for suite in range(10):
        if completed[0] >= SCENARIOS:
            break
        try:
            hypothesis.seed(SEED + suite)(Chains).run(settings=settings(
                max_examples=SCENARIOS - completed[0], stateful_step_count=5, deadline=None, database=None,
                phases=[Phase.generate], suppress_health_check=list(HealthCheck)))
        except Flaky:
            continue
    assert completed[0] >= SCENARIOS // 2, completed[0]
    return chained, failures
