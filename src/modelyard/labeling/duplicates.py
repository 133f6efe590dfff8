"""Near-duplicate search: for each query image, the closest earlier image by perceptual hashes.

Every image has one pHash and one dHash per view (full, centre 90 %, centre 80 %; see
images.HASH_VIEWS); a view's key is the two together, 128 bits. Two images match through a pair of
views where at least one side is the full image: the full picture against the other's full picture
(resized, recompressed), or against a centre crop of it (one image is a crop of the other). So
there are two indexes (hashindex.py): the full views of all images, queried with every view of
the query images, and the crop views, queried with their full views. A pair's distance is the mean
of its pHash and dHash distances (bits of 64), which the score maps to 0..1. Every pair within a
mean distance of 5.5 (score ≥ 0.89) is found exactly; pairs up to 16 (score 0.5) when the index
reaches them; farther pairs are not reported (score 0).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelyard.labeling.hashindex import GUARANTEED_DISTANCE, HashIndex, distance as bit_distance

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
    if any(len(value) != views * 16 for value in packed):
        raise ValueError("every image needs the same number of hash views")
    raw = np.frombuffer(bytes.fromhex("".join(packed)), dtype=">u8")  # 16 hex digits = one big-endian word
    return raw.astype(np.uint64).reshape(len(packed), views)


# Pairs are reported up to a mean distance of 16 (score 0.5); farther ones score 0 with no source.
# Beyond the guaranteed radius the index finds only some pairs, and a band match makes the rest of
# a random pair look closer than chance, so a looser cut would name random "sources".
MAX_SUM = 2 * 16


def nearest_earlier(table: HashTable, queries: np.ndarray, *, max_sum: int = MAX_SUM,
                    ) -> tuple[np.ndarray, np.ndarray]:
    """For each row number in `queries`: the closest earlier row (-1 for none) and its mean distance.

    Only pairs with pHash + dHash distance ≤ max_sum count. Ties go to the earliest row, the original."""
    queries = np.asarray(queries, dtype=np.int64)
    best = np.full(len(queries), -1, dtype=np.int64)
    mean = np.full(len(queries), np.inf)
    if len(table) == 0 or len(queries) == 0:
        return best, mean
    keys = np.stack([table.phash, table.dhash], axis=-1)  # (rows, views, 2)
    views = keys.shape[1]
    q, e, d = HashIndex(keys[:, 0]).within(keys[queries].reshape(-1, 2), max_sum)
    q_rows, e_rows, sums = [q // views], [e], [d]
    if views > 1:
        q, e, d = HashIndex(keys[:, 1:].reshape(-1, 2)).within(keys[queries, 0], max_sum)
        q_rows.append(q)
        e_rows.append(e // (views - 1))
        sums.append(d)
    q, e, d = np.concatenate(q_rows), np.concatenate(e_rows), np.concatenate(sums)
    earlier = e < queries[q]
    q, e, d = q[earlier], e[earlier], d[earlier]
    if len(q) == 0:
        return best, mean
    order = np.lexsort((e, d, q))  # by query, then distance, then earliest
    first = order[np.unique(q[order], return_index=True)[1]]
    best[q[first]] = e[first]
    mean[q[first]] = d[first] / 2.0
    return best, mean


def brute_force_nearest_earlier(table: HashTable, queries: np.ndarray, *, max_sum: int = MAX_SUM,
                                ) -> tuple[np.ndarray, np.ndarray]:
    """The same answer by comparing every pair (tests and the benchmark's baseline)."""
    keys = np.stack([table.phash, table.dhash], axis=-1)
    views = keys.shape[1]
    best = np.full(len(queries), -1, dtype=np.int64)
    mean = np.full(len(queries), np.inf)
    for n, row in enumerate(np.asarray(queries, dtype=np.int64)):
        if row == 0:
            continue
        pairs = [(qv, 0) for qv in range(views)] + [(0, ev) for ev in range(1, views)]
        sums = np.min([bit_distance(keys[:row, ev], keys[row, qv]) for qv, ev in pairs], axis=0)
        sums = np.where(sums <= max_sum, sums, np.iinfo(np.int64).max)
        candidate = int(np.argmin(sums))  # the first (earliest) of the closest
        if sums[candidate] <= max_sum:
            best[n], mean[n] = candidate, sums[candidate] / 2.0
    return best, mean


GUARANTEED_MEAN = GUARANTEED_DISTANCE / 2  # 5.5: every pair this close is found
