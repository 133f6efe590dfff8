"""Shared trained results for the training tests.

OpenMP threads are told to sleep rather than spin while they wait, before scikit-learn or
LightGBM load (hence the late imports): both bring their own OpenMP runtime, and with the
default policy on a 2-core machine that also runs other tests one LightGBM fit measured 1-4 s
instead of 0.2-0.4 s, which makes time-budget tests meaningless.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from modelyard.training.trainer import TrainResult, train  # noqa: E402

from . import frames  # noqa: E402


@pytest.fixture(scope="session")
def churn_result() -> TrainResult:
    """Binary churn model; three extra rows have an empty target and must be dropped."""
    data = frames.churn(600)
    empty_targets = data.head(3).assign(churned=[None, np.nan, "  "])
    return train(pd.concat([data, empty_targets], ignore_index=True), target="churned", time_budget=60)


@pytest.fixture(scope="session")
def price_result() -> TrainResult:
    return train(frames.prices(600), target="price", time_budget=60)


@pytest.fixture(scope="session")
def tier_result() -> TrainResult:
    return train(frames.tiers(600), target="tier", time_budget=60)
