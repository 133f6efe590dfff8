"""Generated datasets with a learnable rule, as CSV bytes."""
from __future__ import annotations

import io

import numpy as np
import pandas as pd


def buyers(rows: int = 400, seed: int = 0) -> pd.DataFrame:
    """will_buy is 'yes' when income is high and the region is not south; a little missing data."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "age": rng.integers(18, 80, rows),
        "income": rng.integers(20_000, 120_000, rows),
        "region": rng.choice(["north", "south", "east", "west"], rows),
        "purchases": rng.integers(0, 10, rows),
    })
    frame["will_buy"] = np.where((frame.income > 60_000) & (frame.region != "south"), "yes", "no")
    frame.loc[rng.choice(rows, rows // 20, replace=False), "age"] = np.nan
    return frame


def prices(rows: int = 400, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"rooms": rng.integers(1, 8, rows), "area": rng.uniform(20, 250, rows),
                          "city": rng.choice(["a", "b", "c"], rows)})
    frame["price"] = 1000 * frame.area + 5000 * frame.rooms + frame.city.map({"a": 0, "b": 20_000, "c": 50_000}) \
        + rng.normal(0, 5000, rows)
    return frame


def to_csv(frame: pd.DataFrame) -> bytes:
    buffer = io.StringIO()
    frame.to_csv(buffer, index=False)
    return buffer.getvalue().encode()
