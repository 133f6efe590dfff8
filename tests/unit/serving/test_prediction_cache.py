"""The prediction cache's own figures (size, memory, hits), in process memory and in a real Redis."""
from __future__ import annotations

import secrets

import orjson
import pytest

from modelyard.serving.cache import PredictionCache

ANSWER = {"predictions": [{"prediction": "yes", "confidence": 0.91}], "model_id": "mv_1"}


def fill(cache: PredictionCache, count: int) -> None:
    for n in range(count):
        cache.put("mv_1", {"row": n}, ANSWER)


def test_in_memory_facts_count_entries_and_their_bytes():
    cache = PredictionCache(seconds=60, entries=100)
    assert cache.facts()["size"] == 0 and cache.facts()["memory_usage_mb"] == 0
    fill(cache, 40)
    assert cache.get("mv_1", {"row": 3}) is not None and cache.get("mv_1", {"row": 99}) is None
    facts = cache.facts()
    one = len(orjson.dumps({"answer": ANSWER, "at": 1_700_000_000}))  # `at`: a 10-digit Unix time
    assert facts["size"] == 40 and facts["max_size"] == 100 and (facts["hits"], facts["misses"]) == (1, 1)
    assert abs(facts["memory_usage_mb"] * 2**20 - 40 * one) <= 0.0005 * 2**20  # rounded to 3 decimals of MB
    assert cache.clear() == 40 and cache.facts()["memory_usage_mb"] == 0


def test_in_redis_facts_are_what_redis_reports_for_this_namespace_only(redis_server):
    namespace = f"test-{secrets.token_hex(4)}"
    cache, other = (PredictionCache(redis_server, namespace=ns, seconds=60) for ns in (namespace, namespace + "x"))
    try:
        fill(cache, 25)
        fill(other, 5)
        facts = cache.facts()
        assert facts["backend"] == "redis" and facts["size"] == 25 and facts["max_size"] is None
        assert facts["memory_usage_mb"] * 2**20 >= 25 * len(orjson.dumps({"answer": ANSWER, "at": 0}))
    finally:
        assert cache.clear() == 25 and other.clear() == 5


def test_an_unreachable_redis_reports_unknown_figures_instead_of_failing():
    cache = PredictionCache("redis://127.0.0.1:1/0", seconds=60)
    facts = cache.facts()
    assert (facts["size"], facts["memory_usage_mb"]) == (None, None)


@pytest.mark.parametrize("seconds", [0, -1])
def test_a_disabled_cache_stores_nothing(seconds):
    cache = PredictionCache(seconds=seconds)
    fill(cache, 3)
    assert cache.get("mv_1", {"row": 1}) is None and cache.facts()["size"] == 0
