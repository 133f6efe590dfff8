"""The multi-index over 64-bit hashes finds exactly what comparing every pair finds."""
import numpy as np

from modelyard.labeling.hashindex import GUARANTEED_DISTANCE, HashIndex, popcount


def random_hashes(rng, n):
    return rng.integers(0, 2**63, size=n, dtype=np.uint64) * np.uint64(2) + rng.integers(0, 2, size=n, dtype=np.uint64)


def flip(rng, value, bits):
    for bit in rng.choice(64, size=bits, replace=False):
        value ^= np.uint64(1) << np.uint64(int(bit))
    return value


def test_every_pair_within_the_guaranteed_distance_is_found():
    rng = np.random.default_rng(7)
    base = random_hashes(rng, 3000)
    queries = np.array([flip(rng, base[i], d) for i, d in zip(range(0, 3000, 10), rng.integers(0, 12, 300))],
                       dtype=np.uint64)
    q, e, dist = HashIndex(base).within(queries)
    found = set(zip(q.tolist(), e.tolist()))
    expected = {(qi, ei) for qi in range(len(queries))
                for ei in np.flatnonzero(popcount(base ^ queries[qi]) <= GUARANTEED_DISTANCE).tolist()}
    assert found == expected
    assert (dist <= GUARANTEED_DISTANCE).all()
    assert all((qi, qi * 10) in found for qi in range(len(queries))), "each planted near copy is found"


def test_a_smaller_radius_returns_only_closer_pairs():
    rng = np.random.default_rng(8)
    base = random_hashes(rng, 500)
    queries = np.array([flip(rng, base[0], 3), flip(rng, base[1], 9)], dtype=np.uint64)
    q, e, dist = HashIndex(base).within(queries, max_distance=4)
    assert list(zip(q.tolist(), e.tolist(), dist.tolist())) == [(0, 0, 3)]


def test_an_empty_index_finds_nothing():
    q, e, dist = HashIndex(np.zeros(0, dtype=np.uint64)).within(np.array([1, 2], dtype=np.uint64))
    assert len(q) == len(e) == len(dist) == 0
