"""The short version of bench/load.py: about a minute of mixed load on one `modelyard serve` (embedded shape).

Same driver (tests/support/load.py): logins, one-row predictions, CSV uploads and job polls from six
clients, one training started at the beginning. It asserts correctness and memory only, never speed: every
request gets the answer its contract promises (no 5xx, no transport error, no timeout, no 429), and the
server's RSS, sampled every second after the warm-up, rises by less than RSS_TREND_BOUND_MB_PER_MINUTE
(its Theil-Sen slope). The bound, and why a trend and not a difference of two samples:
docs/hardening.md, "Sustained load".
"""
from __future__ import annotations

import secrets

import pytest

from tests.support import load

pytestmark = pytest.mark.slow

LOAD_SECONDS = 60.0
WARMUP_SECONDS = 20.0  # the first trainings and the first uploads' buffers settle in this window
# A leak of 60 MB a minute fails this (shown with one injected: docs/hardening.md). Measured here without one,
# over the 40 s after the warm-up: between -13 and +15 MB a minute. The difference of two single samples, which
# this test used before, moved by up to 50 MB from logins in flight (19 MiB each) and failed once in CI.
RSS_TREND_BOUND_MB_PER_MINUTE = 40.0
SAMPLE_EVERY = 1.0
TRAIN_EVERY = 1e6  # one training, at ~1 s, inside the warm-up: a training's transient RSS is not growth
# Bounded caches that fill under load are not leaks; made small here so that they fill during the warm-up
# (the default 10,000 prediction-cache entries take five minutes and tens of MB to fill: docs/hardening.md).
CACHE_ENTRIES = 200
ADMIN_PASSWORD = f"load-admin-{secrets.token_hex(6)}"


def test_a_minute_of_mixed_load_gets_no_unexpected_answer_and_memory_stays_flat(launch, tmp_path):
    server = launch.serve({"MODELYARD_HOME": str(tmp_path / "home"), "MODELYARD_ADMIN_PASSWORD": ADMIN_PASSWORD,
                           "MODELYARD_PREDICTION_CACHE_ENTRIES": str(CACHE_ENTRIES), **load.LOAD_ENV})
    plan = load.prepare(server.url, ADMIN_PASSWORD)

    result = load.run(plan, pid=server.pid, seconds=LOAD_SECONDS, clients=6, train_every=TRAIN_EVERY,
                      sample_every=SAMPLE_EVERY)

    report = f"{load.table(result)}\n\n{load.memory_table(result, warmup=WARMUP_SECONDS)}"
    print(report)  # shown with `pytest -rP`: the figures behind RSS_TREND_BOUND_MB_PER_MINUTE
    assert server.alive(), f"the server died under load:\n{report}"
    assert not result.unexpected(), f"unexpected answers {result.unexpected()}: {result.samples[:5]}\n{report}"
    assert all(s.server_errors == 0 for s in result.stats.values()), report
    for endpoint in ("POST /api/auth/login", "POST /api/predict/{model}", "POST /api/upload", "GET /api/jobs/{id}"):
        assert len(result.stats[endpoint].latencies) >= 20, f"too few {endpoint} requests to say anything:\n{report}"
    assert result.trainings >= 1, f"no training was started under load:\n{report}"
    trend = result.trend_mb_per_minute(WARMUP_SECONDS)
    assert trend < RSS_TREND_BOUND_MB_PER_MINUTE, f"RSS rose by {trend:.1f} MB a minute after the warm-up:\n{report}"
