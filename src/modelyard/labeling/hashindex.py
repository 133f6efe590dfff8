"""Multi-index hashing: find every key within a Hamming radius without comparing all pairs.

A key is a row of 64-bit words (here a pHash and a dHash: 128 bits); the distance of two keys is
the number of differing bits over all words. Each word is cut into bands, and every band gets a
table. If two keys differ in at most 2·B − 1 bits over B bands, some band differs in at most one
bit (pigeonhole), so probing each band's table with the query's band value and its single-bit
flips finds every such key: exactly, with no false negatives. Farther keys that a probe happens to
reach are returned too when they are within the caller's `max_distance`.

Band widths follow the index size: log2(entries) + 3 bits (8 to 21), so a bucket holds ~1/8 of
an entry on average and a query does a nearly constant amount of work as the index grows, which
makes indexing n keys and querying all of them grow near-linearly (until the width reaches its cap
of 21 bits at ~260,000 keys; beyond, buckets slowly fill). From 16 bits on there are 3 bands per
word, 6 for two words: every pair within 11 bits is found (GUARANTEED_DISTANCE); smaller indexes
have more, narrower bands and find even more.

Tables are CSR arrays (bucket offsets from a bincount), so a probe is two array reads, vectorised
in numpy over all queries at once.
"""
from __future__ import annotations

import math

import numpy as np

MIN_BAND_BITS, MAX_BAND_BITS = 8, 21
CHUNK = 16_384  # queries probed together: their arrays stay in cache
GUARANTEED_DISTANCE = 2 * 2 * (64 // MAX_BAND_BITS) - 1  # 11 for two words, at any index size

if hasattr(np, "bitwise_count"):
    def popcount(values: np.ndarray) -> np.ndarray:
        return np.bitwise_count(values).astype(np.int64)
else:  # numpy < 2
    _BYTE_COUNTS = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)

    def popcount(values: np.ndarray) -> np.ndarray:
        flat = np.ascontiguousarray(values, dtype=np.uint64)
        return _BYTE_COUNTS[flat.view(np.uint8).reshape(*flat.shape, 8)].sum(axis=-1)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between rows of words (summed over the last axis)."""
    return popcount(a ^ b).sum(axis=-1)


def _rows(values: np.ndarray, words: int | None = None) -> np.ndarray:
    """Keys as a 2-d (n, words) uint64 array; a 1-d array is one word per key."""
    values = np.ascontiguousarray(values, dtype=np.uint64)
    if values.ndim == 1:
        values = values.reshape(-1, 1)
    if words is not None and values.shape[1] != words:
        raise ValueError(f"queries have {values.shape[1]} words per key, the index {words}")
    return values


def band_layout(entries: int) -> list[tuple[int, int]]:
    """(shift, bits) of the bands of one 64-bit word, for an index of `entries` keys.

    Bands need not cover every bit: bits outside all bands can only add to a pair's distance, so
    "within 2·B − 1 bits overall" still puts some band within one bit."""
    bits = min(MAX_BAND_BITS, max(MIN_BAND_BITS, math.ceil(math.log2(max(entries, 2))) + 3))
    return [(i * bits, bits) for i in range(64 // bits)]


class HashIndex:
    """A static index over keys of shape (n, words), uint64."""

    def __init__(self, keys: np.ndarray):
        self.keys = _rows(keys)
        if len(self.keys) >= 2**31:
            raise ValueError("HashIndex holds fewer than 2**31 keys")
        self.layout = band_layout(len(self.keys))
        self.guaranteed = 2 * len(self.layout) * self.keys.shape[1] - 1
        self._tables = []  # (word, shift, bits, order, offsets)
        for word in range(self.keys.shape[1]):
            for shift, bits in self.layout:
                values = self._band(self.keys[:, word], shift, bits)
                order = np.argsort(values)  # order inside a bucket does not matter
                counts = np.bincount(values, minlength=1 << bits)
                starts = (np.cumsum(counts) - counts).astype(np.int32)
                counts = counts.astype(np.uint8 if counts.max() < 256 else np.int32)  # smaller: fewer cache misses
                self._tables.append((word, shift, bits, order, starts, counts))

    def __len__(self) -> int:
        return len(self.keys)

    @staticmethod
    def _band(words: np.ndarray, shift: int, bits: int) -> np.ndarray:
        return ((words >> np.uint64(shift)) & np.uint64((1 << bits) - 1)).astype(np.int32)

    def within(self, queries: np.ndarray, max_distance: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query row, key row, distance) with distance ≤ max_distance that the probes reach:
        all of them up to `self.guaranteed` bits, some beyond."""
        queries = _rows(queries, words=self.keys.shape[1])
        empty = np.empty(0, dtype=np.int64)
        if len(queries) == 0 or len(self.keys) == 0:
            return empty, empty, empty
        found_q, found_e = [], []
        for word, shift, bits, order, bucket_starts, bucket_sizes in self._tables:
            band = self._band(queries[:, word], shift, bits)
            by_value = np.argsort(band)  # probes then read the tables nearly in order
            band = band[by_value]
            flips = np.array([0, *(1 << b for b in range(bits))], dtype=np.int32)
            for begin in range(0, len(band), CHUNK):
                part, rows = band[begin:begin + CHUNK], by_value[begin:begin + CHUNK]
                for flip in flips:
                    keys = part ^ flip
                    hits = np.flatnonzero(bucket_sizes[keys])  # most probes land in empty buckets
                    if len(hits) == 0:
                        continue
                    counts = bucket_sizes[keys[hits]].astype(np.int64)
                    q = np.repeat(rows[hits], counts)
                    first = np.repeat(bucket_starts[keys[hits]] - (np.cumsum(counts) - counts), counts)
                    e = order[first + np.arange(int(counts.sum()))]
                    close = distance(queries[q], self.keys[e]) <= max_distance
                    found_q.append(q[close])
                    found_e.append(e[close])
        if not found_q:
            return empty, empty, empty
        # A pair close in several bands was found once per band: keep one of each.
        width = np.int64(len(self.keys))
        pairs = np.unique(np.concatenate(found_q) * width + np.concatenate(found_e))
        q, e = pairs // width, pairs % width
        return q, e, distance(queries[q], self.keys[e])
