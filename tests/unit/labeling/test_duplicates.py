"""Near-duplicate search over perceptual hashes: the index agrees with brute force; real images score right."""
import io

import numpy as np
import pytest

from modelyard.labeling.duplicates import HashTable, brute_force_nearest_earlier, nearest_earlier, similarity
from modelyard.labeling.hashindex import GUARANTEED_DISTANCE
from modelyard.labeling.images import inspect_image
from tests.support.images import center_crop, encode, jpeg, resized, scene


def test_the_index_answers_what_comparing_every_pair_answers():
    rng = np.random.default_rng(3)
    n, views = 1500, 3
    phash = rng.integers(0, 2**63, size=(n, views), dtype=np.uint64)
    dhash = rng.integers(0, 2**63, size=(n, views), dtype=np.uint64)
    for i in range(100, n, 7):  # plant near copies of earlier rows, through various views
        j = int(rng.integers(0, i))
        noise = np.uint64(int(rng.integers(0, 2**5)))
        view = int(rng.integers(0, views))
        phash[i, 0], dhash[i, 0] = phash[j, view] ^ noise, dhash[j, view] ^ noise
    table = HashTable(phash, dhash)
    queries = np.arange(n)
    fast = nearest_earlier(table, queries, max_sum=GUARANTEED_DISTANCE)
    slow = brute_force_nearest_earlier(table, queries, max_sum=GUARANTEED_DISTANCE)
    assert (fast[0] == slow[0]).all()
    assert np.array_equal(fast[1], slow[1])
    assert (fast[0] >= 0).sum() >= len(range(100, n, 7))


def test_the_score_falls_with_the_distance():
    assert similarity(0) == 1.0
    assert similarity(5) == pytest.approx(0.9)
    assert similarity(16) == pytest.approx(0.5)
    assert similarity(30) == 0.0
    values = [similarity(d) for d in range(0, 32)]
    assert values == sorted(values, reverse=True)


def score(first: bytes, second: bytes) -> float:
    a, b = inspect_image(io.BytesIO(first)), inspect_image(io.BytesIO(second))
    table = HashTable.from_hex([a.phash, b.phash], [a.dhash, b.dhash])
    best, distance = nearest_earlier(table, np.array([1]))
    return float(similarity(distance[0])) if best[0] == 0 else 0.0


@pytest.mark.parametrize("seed", [11, 12, 13])
@pytest.mark.parametrize("change", ["resized to 40 %", "JPEG quality 50", "centre 85 %", "centre 80 %, JPEG 70"])
def test_edited_copies_of_an_image_score_at_least_0_9(seed, change):
    original = scene(seed, (800, 600))
    copy = {"resized to 40 %": lambda: encode(resized(original, 0.4)),
            "JPEG quality 50": lambda: jpeg(original, 50),
            "centre 85 %": lambda: encode(center_crop(original, 0.85)),
            "centre 80 %, JPEG 70": lambda: jpeg(center_crop(original, 0.8), 70)}[change]()
    assert score(encode(original), copy) >= 0.9


def test_different_images_score_below_0_5():
    pictures = [encode(scene(seed)) for seed in range(900, 930)]
    checked = [inspect_image(io.BytesIO(p)) for p in pictures]
    table = HashTable.from_hex([c.phash for c in checked], [c.dhash for c in checked])
    best, distance = nearest_earlier(table, np.arange(len(checked)))
    scores = [float(similarity(d)) if b >= 0 else 0.0 for b, d in zip(best, distance)]
    assert max(scores) < 0.5
