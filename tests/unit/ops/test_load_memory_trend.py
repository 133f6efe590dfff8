"""The sustained-load test's memory check (tests/support/load.py: Result.trend_mb_per_minute) on RSS series
shaped like the ones measured (docs/hardening.md, "Sustained load"): a floor with 19 MiB steps from logins."""
from __future__ import annotations

import random

import pytest

from tests.support.load import Result

BOUND = 40.0  # tests/e2e/test_sustained_load.py: RSS_TREND_BOUND_MB_PER_MINUTE


def result(memory: list[tuple[float, float]]) -> Result:
    return Result(seconds=memory[-1][0], stats={}, memory=memory, processes=[1] * len(memory), trainings=1)


def logins_in_flight(seed: int) -> list[tuple[float, float]]:
    """One sample a second for 60 s, as the server gives argon2's blocks back (process.limit_malloc): a 430 MB
    floor plus the blocks (19 MiB) of the logins in flight at that sample, 0 to 3 of them."""
    rng = random.Random(seed)
    return [(float(t), 430.0 + 19.0 * sum(rng.random() < 0.15 for _ in range(3))) for t in range(61)]


@pytest.mark.parametrize("seed", range(20))
def test_logins_in_flight_are_not_a_trend_and_a_leak_on_top_of_them_is(seed):
    noise = logins_in_flight(seed)
    assert result(noise).trend_mb_per_minute(20.0) < BOUND
    leaking = [(t, mb + t) for t, mb in noise]  # 60 MB a minute on top of the same noise
    assert result(leaking).trend_mb_per_minute(20.0) > BOUND


def test_one_sample_moved_by_logins_decides_a_difference_but_not_the_trend():
    memory = [(float(t), 430.0) for t in range(61)]
    memory[-1] = (60.0, 430.0 + 3 * 19.0)  # three logins in flight at the last sample
    flat = result(memory)
    assert flat.growth_mb(20.0) == pytest.approx(57.0)  # the old check: a false failure
    assert flat.trend_mb_per_minute(20.0) == pytest.approx(0.0)


def test_too_few_samples_after_the_warm_up_is_an_error_not_a_trend():
    with pytest.raises(ValueError, match="too few"):
        result([(0.0, 430.0), (10.0, 431.0), (21.0, 432.0)]).trend_mb_per_minute(20.0)
