"""Near-duplicate search: for each query image, the closest earlier image by perceptual hashes.

Every image has one pHash and one dHash per view (full, centre 90 %, centre 80 %; see
images.HASH_VIEWS). Two images match through a pair of views where at least one side is the full
image: the full picture against the other's full picture (resized, recompressed) or against a
centre crop of it (the new image is a crop of the old, or the other way round). Candidates come
from the pHash multi-index (hashindex.py: complete up to pHash distance 11); each is then measured
by the mean of its pHash and dHash distances, which the score maps to 0..1.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelyard.labeling.hashindex import HashIndex, popcount

# Mean pHash/dHash distance (bits of 64) → similarity. Resizes and recompressions measure 0–4,
# centred crops up to 20 % 0–7, different images 16 and up (31 on average).
DISTANCES = (0.0, 5.0, 16.0, 24.0)
SCORES = (1.0, 0.9, 0.5, 0.0)


def similarity(distance: np.ndarray | float) -> np.ndarray | float:
    return np.interp(distance, DISTANCES, SCORES)


@dataclass(frozen=True)
class HashTable:
    """Hashes of images in upload order (row i is earlier than row j when i < j): shape (n, views)."""

    phash: np.ndarray
    dhash: np.ndarray

    @classmethod
    def from_hex(cls, phashes: list[str], dhashes: list[str]) -> "HashTable":
        return cls(_unpack(phashes), _unpack(dhashes))

    def __len__(self) -> int:
        return len(self.phash)


def _unpack(packed: list[str]) -> np.ndarray:
    if not packed:
        return np.zeros((0, 1), dtype=np.uint64)
    views = len(packed[0]) // 16
    flat = [int(value[i:i + 16], 16) for value in packed for i in range(0, views * 16, 16)]
    return np.array(flat, dtype=np.uint64).reshape(len(packed), views)


def nearest_earlier(table: HashTable, queries: np.ndarray, index: HashIndex | None = None,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """For each row number in `queries`: the closest earlier row (-1 for none) and its distance.

    Ties go to the earliest row, the original. `index` may be reused across calls (over
    table.phash flattened row-major)."""
    queries = np.asarray(queries, dtype=np.int64)
    best = np.full(len(queries), -1, dtype=np.int64)
    distance = np.full(len(queries), np.inf)
    if len(table) == 0 or len(queries) == 0:
        return best, distance
    views = table.phash.shape[1]
    index = index or HashIndex(table.phash.reshape(-1))
    q, e, _ = index.within(table.phash[queries].reshape(-1))
    q_row, q_view = q // views, q % views
    e_row, e_view = e // views, e % views
    keep = (e_row < queries[q_row]) & ((q_view == 0) | (e_view == 0))
    q_row, q_view, e_row, e_view = q_row[keep], q_view[keep], e_row[keep], e_view[keep]
    if len(q_row) == 0:
        return best, distance
    q_abs = queries[q_row]
    p_dist = popcount(table.phash[q_abs, q_view] ^ table.phash[e_row, e_view])
    d_dist = popcount(table.dhash[q_abs, q_view] ^ table.dhash[e_row, e_view])
    mean = (p_dist + d_dist) / 2.0
    order = np.lexsort((e_row, mean, q_row))  # by query, then distance, then earliest
    first = np.unique(q_row[order], return_index=True)[1]
    chosen = order[first]
    best[q_row[chosen]] = e_row[chosen]
    distance[q_row[chosen]] = mean[chosen]
    return best, distance


def brute_force_nearest_earlier(table: HashTable, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The same answer by comparing every pair (for tests and the benchmark's baseline)."""
    views = table.phash.shape[1]
    best = np.full(len(queries), -1, dtype=np.int64)
    distance = np.full(len(queries), np.inf)
    for n, row in enumerate(np.asarray(queries, dtype=np.int64)):
        if row == 0:
            continue
        earlier_p, earlier_d = table.phash[:row], table.dhash[:row]
        for qv in range(views):
            for ev in range(views):
                if qv and ev:
                    continue
                p = popcount(earlier_p[:, ev] ^ table.phash[row, qv])
                d = popcount(earlier_d[:, ev] ^ table.dhash[row, qv])
                mean = np.where(p <= 11, (p + d) / 2.0, np.inf)  # what the index guarantees to find
                candidate = int(np.argmin(mean))
                if mean[candidate] < distance[n] or (mean[candidate] == distance[n] and candidate < best[n]):
                    best[n], distance[n] = candidate, float(mean[candidate])
    best[~np.isfinite(distance)] = -1
    return best, distance
