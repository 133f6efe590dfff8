"""The latency sketch behind the monitoring percentiles: within 1 % of the exact nearest-rank value."""
from __future__ import annotations

import math
import random

import pytest

from modelyard.ops.monitoring import LatencySketch, check_window
from modelyard.errors import Unprocessable


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@pytest.mark.parametrize("seed", range(5))
def test_percentiles_of_skewed_latencies_are_within_one_percent(seed):
    rng = random.Random(seed)
    values = [rng.lognormvariate(3, 1.2) for _ in range(5000)] + [rng.uniform(0.01, 0.5) for _ in range(50)]
    sketch = LatencySketch()
    for value in values:
        sketch.add(value)
    for q in (0.01, 0.5, 0.9, 0.95, 0.99, 1.0):
        assert sketch.percentile(q) == pytest.approx(exact(values, q), rel=0.0101)


def test_merged_sketches_answer_like_one():
    values = [random.Random(7).expovariate(0.05) for _ in range(2000)]
    one, left, right = LatencySketch(), LatencySketch(), LatencySketch()
    for i, value in enumerate(values):
        one.add(value)
        (left if i % 2 else right).add(value)
    left.merge(right)
    assert left.count == one.count
    assert [left.percentile(q) for q in (0.5, 0.99)] == [one.percentile(q) for q in (0.5, 0.99)]


def test_an_empty_sketch_has_no_percentile_and_zero_latency_counts():
    sketch = LatencySketch()
    assert sketch.percentile(0.5) is None
    sketch.add(0.0)
    assert sketch.count == 1 and sketch.percentile(0.5) < 0.01


@pytest.mark.parametrize("window", [0, 1441])
def test_windows_out_of_range_are_refused(window):
    with pytest.raises(Unprocessable, match="between 1 and 1440"):
        check_window(window)
