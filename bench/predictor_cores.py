"""Compiled predictor cores against the estimator they replace, same model, same rows, one run.

    python bench/predictor_cores.py [--repeat 2000]

Prints, per model, microseconds per call for 1 and 100 rows and seconds for 200,000 rows (one thread
each): HistGradientBoosting (200 trees) through `HistTreesCore` (its own walk up to 16 rows) and through
scikit-learn's `predict_proba`; a RandomForest (100 trees, depth ≤ 18) through onnxruntime's
double-precision tree ensemble (`onnx_core`, as serving compiles it) and through scikit-learn. It also
prints the largest difference in probabilities between the two, which must stay under 1e-5.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

from modelyard.serving.predictors import HistTreesCore, onnx_core


def per_call(fn, repeat: int) -> float:
    fn()
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5000, 30))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    big = rng.normal(size=(200_000, 30))
    models = {
        "HistGradientBoosting (200 trees)": (HistGradientBoostingClassifier(max_iter=200, random_state=0).fit(X, y),
                                             lambda m: HistTreesCore(m, "classification", [0, 1])),
        "RandomForest (100 trees)": (RandomForestClassifier(max_depth=18, min_samples_leaf=2, random_state=0,
                                                            n_jobs=1).fit(X, y),
                                     lambda m: onnx_core(m, X.shape[1], "classification", [0, 1])),
    }
    print(f"{'model':<34}{'path':<28}{'1 row µs':>10}{'100 rows µs':>13}{'200k rows s':>13}")
    for name, (model, make) in models.items():
        core = make(model)
        for path, fn in ((f"modelyard {core.name}", lambda rows: core(rows).proba),
                         ("scikit-learn predict_proba", model.predict_proba)):
            one = per_call(lambda: fn(big[:1]), args.repeat)
            hundred = per_call(lambda: fn(big[:100]), max(1, args.repeat // 10))
            started = time.perf_counter()
            for i in range(0, len(big), 20_000):
                fn(big[i:i + 20_000])
            print(f"{name:<34}{path:<28}{one:>10.0f}{hundred:>13.0f}{time.perf_counter() - started:>13.2f}")
        for rows in (big[:8], big[:20_000]):
            diff = np.max(np.abs(core(rows).proba - model.predict_proba(rows)))
            print(f"{'':<34}max |Δp| on {len(rows):,} rows: {diff:.1e}")


if __name__ == "__main__":
    main()
