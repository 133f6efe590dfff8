"""Retail: demand forecasting, price optimization, customer segmentation.

Each recipe's docstring states its ground truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelyard.gallery import recipes as rx
from modelyard.gallery import responses as out
from modelyard.gallery.declarations import Derived, Result
from modelyard.gallery.industries.common import F, LGBM, choice, declare


def _our_price(values: dict) -> float:
    """our own price (no price gap)"""
    return values["price"]


def _current_price(values: dict) -> float:
    """the current price"""
    return values["current_price"]


def demand_data(rng, n):
    """Next-week units = historical x seasonality x (price/competitor)^-1.8 x (1.35 if promotion)
    x (1 + 0.08 ln(stores/10)) x log-normal noise (sigma 0.12)."""
    historical = np.round(rx.lognormal(rng, n, 500, 1.2, 1, 1e6))
    price = np.round(rx.lognormal(rng, n, 20, 0.8, 0.5, 5000), 2)
    d = {
        "historical_demand": historical,
        "price": price,
        "competitor_price": np.round(price * rng.uniform(0.7, 1.3, n), 2),
        "promotion": rng.random(n) < 0.25,
        "seasonality_index": rx.uniform(rng, n, 0.5, 2.0),
        "store_count": rx.integers(rng, n, 1, 200),
    }
    units = (
        historical
        * d["seasonality_index"]
        * (price / d["competitor_price"]) ** -1.8
        * np.where(d["promotion"], 1.35, 1.0)
        * (1 + 0.08 * np.log(d["store_count"] / 10))
        * rx.noise(rng, n, 0.12)
    )
    return pd.DataFrame({**d, "units": np.round(units)})


def demand_answer(r: Result) -> dict:
    block = out.forecast(r, "forecasted_demand", decimals=1)
    return out.answer(
        r,
        {
            **block,
            "recommended_stock": int(np.ceil(r.upper)),
            "demand_change": round(r.value / max(r.values["historical_demand"], 1e-9) - 1, 4),
        },
    )


DEMAND = declare(
    "retail",
    "demand-forecasting",
    "Demand Forecasting",
    "Forecasts next-period unit demand with a 95% interval for inventory planning.",
    fields=(
        F("historical_demand", "number", "units sold last period", required=True, minimum=0, maximum=1e9),
        F("price", "number", "our price", required=True, minimum=0.01, maximum=1e7),
        F("competitor_price", "number", "competitor's price", default=_our_price, minimum=0.01, maximum=1e7),
        F("promotion", "boolean", "on promotion", default=False),
        F("seasonality_index", "number", "seasonal factor (0.5-2.0)", default=1.0, minimum=0.5, maximum=2.0),
        F("store_count", "integer", "stores selling it", default=10, minimum=1, maximum=100_000),
    ),
    derived=(
        Derived(
            "price_ratio", lambda d: d["price"] / np.maximum(d["competitor_price"], 0.01), ("price", "competitor_price")
        ),
    ),
    task="regression",
    target="units",
    explains="units sold next period",
    relative_to="historical_demand",
    interval=True,
    simulate=demand_data,
    estimator=LGBM,
    seed=1301,
    respond=demand_answer,
    example={
        "historical_demand": 1200,
        "price": 19.99,
        "competitor_price": 21.5,
        "promotion": True,
        "seasonality_index": 1.3,
        "store_count": 25,
    },
)

CATEGORIES = ("grocery", "apparel", "electronics", "home", "beauty")


def price_data(rng, n):
    """The profit-maximising price found by price tests: unit cost x e/(e-1) for the elasticity e of the
    product (category base, +0.8 x competitor cheaper than cost markup, -0.6 x brand strength), capped,
    times log-normal noise (sigma 0.05); learned as a ratio to unit cost."""
    cost = np.round(rx.lognormal(rng, n, 15, 0.9, 0.2, 5000), 2)
    d = {
        "unit_cost": cost,
        "current_price": np.round(cost * rng.uniform(1.1, 2.5, n), 2),
        "competitor_price": np.round(cost * rng.uniform(1.1, 2.8, n), 2),
        "category": rx.pick(rng, n, CATEGORIES),
        "brand_strength": rx.uniform(rng, n, 1, 10, 1),
        "weekly_units": np.round(rx.lognormal(rng, n, 300, 1.0, 1, 1e6)),
    }
    e = (
        rx.effect(d["category"], dict(zip(CATEGORIES, (3.5, 2.2, 2.8, 2.5, 1.9))))
        - 0.12 * (d["brand_strength"] - 5)
        + 0.8 * np.clip(1.8 - d["competitor_price"] / cost, 0, None)
    )
    e = np.clip(e, 1.3, 6.0)
    return pd.DataFrame({**d, "optimal_price": np.round(cost * e / (e - 1) * rx.noise(rng, n, 0.05), 2)})


def price_answer(r: Result) -> dict:
    block = out.forecast(r, "optimal_price")
    current, cost = r.values["current_price"], r.values["unit_cost"]
    return out.answer(
        r,
        {
            **block,
            "current_price": current,
            "price_change_pct": round(100 * (r.value / current - 1), 2),
            "expected_margin_pct": round(100 * (1 - cost / r.value), 2) if r.value > 0 else None,
        },
    )


PRICE = declare(
    "retail",
    "price-optimization",
    "Price Optimization",
    "Recommends the profit-maximising price (with a 95% interval) learned from price tests.",
    fields=(
        F("unit_cost", "number", "unit cost", required=True, minimum=0.01, maximum=1e7),
        F("current_price", "number", "current price", required=True, minimum=0.01, maximum=1e7),
        F("competitor_price", "number", "competitor's price", default=_current_price, minimum=0.01, maximum=1e7),
        F("category", "string", "product category", default="home", choices=CATEGORIES),
        F("brand_strength", "number", "brand strength (1-10)", default=5.0, minimum=1, maximum=10),
        F("weekly_units", "number", "units sold per week", default=300.0, minimum=0, maximum=1e9),
    ),
    derived=(
        Derived(
            "competitor_markup",
            lambda d: d["competitor_price"] / np.maximum(d["unit_cost"], 0.01),
            ("competitor_price", "unit_cost"),
        ),
    ),
    task="regression",
    target="optimal_price",
    explains="the profit-maximising price",
    relative_to="unit_cost",
    interval=True,
    simulate=price_data,
    estimator=LGBM,
    seed=1302,
    respond=price_answer,
    example={
        "unit_cost": 12.5,
        "current_price": 24.99,
        "competitor_price": 22.0,
        "category": "apparel",
        "brand_strength": 7,
        "weekly_units": 450,
    },
)

SEGMENTS = ("champions", "loyal", "potential", "at_risk", "hibernating")
CHANNELS = ("online", "store", "omnichannel")
ACTIONS = {
    "champions": "reward and ask for referrals",
    "loyal": "upsell higher-value products",
    "potential": "offer membership or loyalty programme",
    "at_risk": "send a personalised win-back offer",
    "hibernating": "reactivate with a discount or let go",
}


def segment_data(rng, n):
    """Segments as an RFM review would name them, from a softmax of recency, frequency and spend scores."""
    d = {
        "recency_days": rx.integers(rng, n, 0, 400),
        "frequency": rng.poisson(6, n) + 1,
        "monetary_value": np.round(rx.lognormal(rng, n, 600, 0.9, 5, 1e6), 2),
        "tenure_months": rx.integers(rng, n, 1, 120),
        "channel": rx.pick(rng, n, CHANNELS, [0.45, 0.35, 0.2]),
    }
    r_ = -(d["recency_days"] - 90) / 60
    f_ = (d["frequency"] - 6) / 3
    m_ = np.log(d["monetary_value"] / 600)
    scores = {
        "champions": r_ + f_ + m_ - 1,
        "loyal": 0.5 * r_ + f_ + 0.3 * m_,
        "potential": r_ - 0.5 * f_ + 0.3 * (d["tenure_months"] < 12),
        "at_risk": -r_ + 0.7 * f_ + 0.5 * m_ - 0.5,
        "hibernating": -1.5 * r_ - f_,
    }
    return pd.DataFrame({**d, "segment": rx.label_from_scores(rng, scores, 0.5)})


SEGMENT = declare(
    "retail",
    "customer-segmentation",
    "Customer Segmentation",
    "Assigns a customer to an RFM segment with a recommended marketing action.",
    fields=(
        F("recency_days", "number", "days since the last purchase", required=True, minimum=0, maximum=10_000),
        F("frequency", "number", "purchases per year", required=True, minimum=0, maximum=10_000),
        F("monetary_value", "number", "spend per year", required=True, minimum=0, maximum=1e9),
        F("tenure_months", "number", "months as a customer", default=24.0, minimum=0, maximum=1200),
        F("channel", "string", "main purchase channel", default="online", choices=CHANNELS),
    ),
    target="segment",
    explains="the RFM segment",
    simulate=segment_data,
    estimator=LGBM,
    seed=1303,
    respond=choice("segment", lambda r: {"recommended_action": ACTIONS[r.label]}),
    example={
        "recency_days": 12,
        "frequency": 14,
        "monetary_value": 2400,
        "tenure_months": 36,
        "channel": "omnichannel",
    },
)

MODELS = (DEMAND, PRICE, SEGMENT)
