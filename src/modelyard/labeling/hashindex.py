"""Multi-index hashing: find every 64-bit hash within a Hamming radius without comparing all pairs.

Each hash is cut into 4 bands of 16 bits. If two hashes differ in at most 11 bits, then by the
pigeonhole principle at least one band differs in at most 2 bits (4 bands × 3 bits = 12 > 11).
So a query probes, in each band's table, its own band value XOR every 16-bit mask of weight
≤ 2 (137 masks): 548 bucket look-ups that find every hash within distance 11, exactly, plus
some farther ones that are filtered out by computing their real distance.

The tables are CSR arrays (bucket offsets over the hashes sorted by band value), so a look-up
is two array reads and the whole probe runs vectorised in numpy over many queries at once.
With n indexed hashes a bucket holds about n / 65536 of them, so the work per query stays
nearly constant until n is in the millions: the whole search grows near-linearly with n.
"""
from __future__ import annotations

from itertools import combinations

import numpy as np

BANDS = 4
BAND_BITS = 16
BAND_MASK = (1 << BAND_BITS) - 1
PROBE_RADIUS = 2
GUARANTEED_DISTANCE = BANDS * (PROBE_RADIUS + 1) - 1  # 11: every hash this close is found


def _masks(bits: int, radius: int) -> np.ndarray:
    masks = [0]
    for weight in range(1, radius + 1):
        for positions in combinations(range(bits), weight):
            masks.append(sum(1 << p for p in positions))
    return np.array(masks, dtype=np.int64)


MASKS = _masks(BAND_BITS, PROBE_RADIUS)

if hasattr(np, "bitwise_count"):
    def popcount(values: np.ndarray) -> np.ndarray:
        return np.bitwise_count(values).astype(np.int64)
else:  # numpy < 2
    _BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)

    def popcount(values: np.ndarray) -> np.ndarray:
        as_bytes = np.ascontiguousarray(values, dtype=np.uint64).view(np.uint8).reshape(-1, 8)
        return _BYTE_COUNTS[as_bytes].sum(axis=1)


def as_hash_array(values) -> np.ndarray:
    return np.asarray(values, dtype=np.uint64).reshape(-1)


class HashIndex:
    """A static index over `hashes` (uint64); `within` answers (query, hash, distance) triples."""

    def __init__(self, hashes: np.ndarray):
        self.hashes = as_hash_array(hashes)
        self._orders: list[np.ndarray] = []
        self._offsets: list[np.ndarray] = []
        for band in range(BANDS):
            keys = self._band(self.hashes, band)
            order = np.argsort(keys, kind="stable")
            self._orders.append(order)
            self._offsets.append(np.searchsorted(keys[order], np.arange(BAND_MASK + 2)))

    def __len__(self) -> int:
        return len(self.hashes)

    @staticmethod
    def _band(hashes: np.ndarray, band: int) -> np.ndarray:
        return ((hashes >> np.uint64(band * BAND_BITS)) & np.uint64(BAND_MASK)).astype(np.int64)

    def within(self, queries: np.ndarray, max_distance: int = GUARANTEED_DISTANCE,
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query position, indexed position, distance) with distance ≤ max_distance.

        Complete up to GUARANTEED_DISTANCE; beyond it only what the probes happen to reach."""
        queries = as_hash_array(queries)
        found_q, found_e = [], []
        for band in range(BANDS):
            query_keys = self._band(queries, band)
            order, offsets = self._orders[band], self._offsets[band]
            for mask in MASKS:
                keys = query_keys ^ mask
                lo = offsets[keys]
                counts = offsets[keys + 1] - lo
                total = int(counts.sum())
                if total == 0:
                    continue
                q = np.repeat(np.arange(len(queries)), counts)
                starts = np.repeat(lo - (np.cumsum(counts) - counts), counts)
                e = order[starts + np.arange(total)]
                close = popcount(queries[q] ^ self.hashes[e]) <= max_distance
                found_q.append(q[close])
                found_e.append(e[close])
        if not found_q:
            empty = np.empty(0, dtype=np.int64)
            return empty, empty, empty
        q = np.concatenate(found_q)
        e = np.concatenate(found_e)
        # A pair close in several bands was found once per band: keep one of each.
        unique = np.unique(q * np.int64(max(len(self.hashes), 1)) + e)
        q, e = unique // max(len(self.hashes), 1), unique % max(len(self.hashes), 1)
        return q, e, popcount(queries[q] ^ self.hashes[e])
