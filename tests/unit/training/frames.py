"""Generated tables with a learnable rule, for the training tests."""
from __future__ import annotations

import numpy as np
import pandas as pd

PLANS = ["basic", "plus", "pro"]
REGIONS = ["north", "south", "east", "west"]


def churn(n: int = 600, *, seed: int = 0) -> pd.DataFrame:
    """Binary 'churned' (yes/no) decided by income and plan; numeric, integer, categorical,
    boolean, datetime and id columns, with missing values in income and plan."""
    rng = np.random.default_rng(seed)
    income = rng.normal(50, 15, n)
    plan = rng.choice(PLANS, n)
    score = (income - 50) / 15 + np.select([plan == "pro", plan == "basic"], [2.0, -2.0], 0.0)
    frame = pd.DataFrame({
        "customer_id": [f"C{i:06d}" for i in range(n)],
        "income": income,
        "age": rng.integers(18, 80, n),
        "plan": plan,
        "region": rng.choice(REGIONS, n),
        "newsletter": rng.random(n) < 0.4,
        "signup": pd.date_range("2022-01-01", periods=n, freq="6h").strftime("%Y-%m-%d %H:%M:%S"),
        "churned": np.where(score > 0, "yes", "no"),
    })
    frame.loc[rng.random(n) < 0.05, "income"] = np.nan
    frame.loc[rng.random(n) < 0.05, "plan"] = None
    return frame


def prices(n: int = 600, *, seed: int = 1) -> pd.DataFrame:
    """Numeric 'price' = 3·size − 2·age + a region effect + noise; a few missing sizes."""
    rng = np.random.default_rng(seed)
    size = rng.uniform(20, 200, n)
    age = rng.uniform(0, 50, n)
    region = rng.choice(REGIONS, n)
    effect = pd.Series(region).map({"north": 40.0, "south": -40.0, "east": 0.0, "west": 15.0}).to_numpy()
    frame = pd.DataFrame({"size": size, "age": age, "region": region,
                          "price": 3 * size - 2 * age + effect + rng.normal(0, 10, n)})
    frame.loc[rng.random(n) < 0.03, "size"] = np.nan
    return frame


def tiers(n: int = 600, *, seed: int = 2) -> pd.DataFrame:
    """Three classes (bronze/gold/silver) by bands of 'spend' plus a 'vip' bump."""
    rng = np.random.default_rng(seed)
    spend = rng.uniform(0, 300, n)
    vip = rng.choice(["y", "n"], n, p=[0.2, 0.8])
    points = spend + np.where(vip == "y", 60, 0)
    tier = np.select([points < 100, points < 200], ["bronze", "silver"], "gold")
    return pd.DataFrame({"spend": spend, "vip": vip, "noise": rng.normal(size=n), "tier": tier})


def wide(n: int, *, seed: int = 3) -> pd.DataFrame:
    """A larger binary table (numbers, categories, ids) for time-budget tests."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(8)})
    frame["colour"] = rng.choice(["red", "green", "blue", "black"], n)
    frame["city"] = rng.choice([f"city{i}" for i in range(40)], n)
    frame["ref"] = np.arange(n).astype(str)
    frame["label"] = np.where(frame["x0"] - frame["x1"] + (frame["colour"] == "red") > 0.5, "a", "b")
    return frame
