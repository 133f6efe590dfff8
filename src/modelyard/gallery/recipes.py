"""Small pieces the training-data recipes are written with (seeded numpy only; nothing is downloaded).

Every recipe draws its inputs from plausible distributions and computes the target from a stated
ground-truth relationship plus noise: a binary target is a Bernoulli draw from the logistic of a
linear score (so even a perfect model is unsure near the boundary); a regression target carries
multiplicative log-normal noise.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def sigmoid(z: Any) -> Any:
    return 1.0 / (1.0 + np.exp(-z))


def bernoulli(rng: np.random.Generator, logit: Any) -> np.ndarray:
    """0/1 labels drawn with probability sigmoid(logit)."""
    return (rng.random(len(logit)) < sigmoid(np.asarray(logit, dtype=float))).astype(int)


def pick(rng: np.random.Generator, n: int, choices: Sequence[str], p: Sequence[float] | None = None) -> np.ndarray:
    p = None if p is None else np.asarray(p, dtype=float) / np.sum(p)
    return rng.choice(np.asarray(choices, dtype=object), size=n, p=p)


def effect(values: np.ndarray, table: dict[str, float]) -> np.ndarray:
    """Per-row effect of a categorical column."""
    return np.array([table[v] for v in values], dtype=float)


def lognormal(rng: np.random.Generator, n: int, median: float, sigma: float, lo: float, hi: float) -> np.ndarray:
    return np.clip(median * np.exp(rng.normal(0.0, sigma, n)), lo, hi)


def uniform(rng: np.random.Generator, n: int, lo: float, hi: float, decimals: int = 2) -> np.ndarray:
    return np.round(rng.uniform(lo, hi, n), decimals)


def normal(
    rng: np.random.Generator, n: int, mean: float, sd: float, lo: float, hi: float, decimals: int = 1
) -> np.ndarray:
    return np.round(np.clip(rng.normal(mean, sd, n), lo, hi), decimals)


def integers(rng: np.random.Generator, n: int, lo: int, hi: int) -> np.ndarray:
    """Whole numbers in [lo, hi], both included."""
    return rng.integers(lo, hi + 1, n)


def noise(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Multiplicative log-normal noise with median 1."""
    return np.exp(rng.normal(0.0, sigma, n))


def label_from_scores(rng: np.random.Generator, scores: dict[str, np.ndarray], temperature: float = 1.0) -> np.ndarray:
    """A multiclass label drawn from the softmax of per-class scores (the noise is the draw itself)."""
    names = list(scores)
    matrix = np.column_stack([scores[k] for k in names]) / temperature
    matrix -= matrix.max(axis=1, keepdims=True)
    proba = np.exp(matrix)
    proba /= proba.sum(axis=1, keepdims=True)
    draws = rng.random(len(matrix))[:, None] > np.cumsum(proba, axis=1)
    return np.asarray(names, dtype=object)[np.minimum(draws.sum(axis=1), len(names) - 1)]
