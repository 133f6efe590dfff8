"""The multi-index over 128-bit keys finds exactly what comparing every pair finds."""
import numpy as np
import pytest

from modelyard.labeling.hashindex import GUARANTEED_DISTANCE, HashIndex, band_layout, distance


def random_keys(rng, n, words=2):
    return rng.integers(0, 2**64, size=(n, words), dtype=np.uint64, endpoint=False)


def flip(rng, key, bits):
    key = key.copy()
    for bit in rng.choice(64 * len(key), size=bits, replace=False):
        key[bit // 64] ^= np.uint64(1) << np.uint64(int(bit % 64))
    return key


@pytest.mark.parametrize("n", [40, 3000, 20000])
def test_every_pair_within_the_guaranteed_distance_is_found(n):
    rng = np.random.default_rng(n)
    keys = random_keys(rng, n)
    index = HashIndex(keys)
    assert index.guaranteed >= GUARANTEED_DISTANCE
    planted = list(range(0, n, max(1, n // 300)))
    queries = np.array([flip(rng, keys[i], int(d)) for i, d in zip(planted, rng.integers(0, 12, len(planted)))])
    q, e, dist = index.within(queries, GUARANTEED_DISTANCE)
    found = set(zip(q.tolist(), e.tolist()))
    expected = {(qi, int(ei)) for qi in range(len(queries))
                for ei in np.flatnonzero(distance(keys, queries[qi]) <= GUARANTEED_DISTANCE)}
    assert found == expected
    assert (dist <= GUARANTEED_DISTANCE).all()
    assert all((qi, i) in found for qi, i in enumerate(planted)), "each planted near copy is found"


def test_a_smaller_radius_returns_only_closer_pairs():
    rng = np.random.default_rng(8)
    keys = random_keys(rng, 500)
    queries = np.array([flip(rng, keys[0], 3), flip(rng, keys[1], 9)])
    q, e, dist = HashIndex(keys).within(queries, max_distance=4)
    assert list(zip(q.tolist(), e.tolist(), dist.tolist())) == [(0, 0, 3)]


def test_bands_widen_with_the_index_so_buckets_stay_nearly_empty():
    assert [bits for _, bits in band_layout(1_000)] == [13] * 4
    assert [bits for _, bits in band_layout(100_000)] == [20] * 3
    assert [bits for _, bits in band_layout(10_000_000)] == [21] * 3, "capped: tables stay ≤ 2M buckets"


def test_an_empty_index_finds_nothing():
    q, e, dist = HashIndex(np.zeros((0, 2), dtype=np.uint64)).within(np.ones((2, 2), dtype=np.uint64), 11)
    assert len(q) == len(e) == len(dist) == 0
