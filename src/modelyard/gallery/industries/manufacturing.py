"""Manufacturing: quality control, predictive maintenance, supply chain optimization.

Each recipe's docstring states its ground truth.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from modelyard.gallery import recipes as rx
from modelyard.gallery import responses as out
from modelyard.gallery.declarations import Result
from modelyard.gallery.industries.common import F, LGBM, yes_no, declare


GRADES = ("A", "B", "C")


def quality_data(rng, n):
    """Defect: log-odds -3 + 0.004 (temperature-200)^2 / 10 + 0.5 |pressure-5| + 0.03 (humidity-45)
    + 0.002 (speed-1200) + 0.6 vibration + grade (B +0.4, C +1.0) - 0.08 operator years."""
    d = {
        "temperature": rx.normal(rng, n, 200, 12, 150, 260),
        "pressure": rx.normal(rng, n, 5, 0.8, 1, 10, 2),
        "humidity": rx.uniform(rng, n, 20, 80, 1),
        "machine_speed": rx.normal(rng, n, 1200, 150, 600, 2000, 0),
        "vibration": np.round(rx.lognormal(rng, n, 1.0, 0.5, 0.05, 10), 2),
        "material_grade": rx.pick(rng, n, GRADES, [0.5, 0.35, 0.15]),
        "operator_experience_years": rx.uniform(rng, n, 0, 30, 1),
    }
    logit = (
        -3.0
        + 0.0004 * (d["temperature"] - 200) ** 2
        + 0.5 * np.abs(d["pressure"] - 5)
        + 0.03 * (d["humidity"] - 45)
        + 0.002 * (d["machine_speed"] - 1200)
        + 0.6 * d["vibration"]
        + rx.effect(d["material_grade"], {"A": 0, "B": 0.4, "C": 1.0})
        - 0.08 * d["operator_experience_years"]
        + 0.5
    )
    return pd.DataFrame({**d, "defect": rx.bernoulli(rng, logit)})


QUALITY = declare(
    "manufacturing",
    "quality-control",
    "Quality Control",
    "Predicts the probability that a produced unit is defective from process parameters.",
    fields=(
        F("temperature", "number", "process temperature (°C)", required=True, minimum=-50, maximum=2000),
        F("pressure", "number", "pressure (bar)", required=True, minimum=0, maximum=1000),
        F("humidity", "number", "relative humidity (%)", default=45.0, minimum=0, maximum=100),
        F("machine_speed", "number", "machine speed (rpm)", default=1200.0, minimum=0, maximum=100_000),
        F("vibration", "number", "vibration (mm/s)", default=1.0, minimum=0, maximum=1000),
        F("material_grade", "string", "material grade", default="A", choices=GRADES),
        F("operator_experience_years", "number", "operator experience in years", default=5.0, minimum=0, maximum=60),
    ),
    target="defect",
    explains="1 when the unit failed inspection",
    simulate=quality_data,
    estimator=LGBM,
    seed=1401,
    respond=yes_no(
        "defect_probability",
        cuts=(0.1, 0.3),
        extra=lambda r: {
            "quality": "fail" if r.positive >= 0.5 else "pass",
            "quality_score": round(100 * (1 - r.positive), 1),
        },
    ),
    example={
        "temperature": 212,
        "pressure": 5.6,
        "humidity": 58,
        "machine_speed": 1350,
        "vibration": 1.8,
        "material_grade": "B",
        "operator_experience_years": 2,
    },
)

EQUIPMENT = ("pump", "compressor", "conveyor", "motor", "press")


def maintenance_data(rng, n):
    """Failure within 30 days: log-odds -6 + 0.00008 operating hours + 0.05 (temperature-70) + 0.8 vibration
    + 0.012 days since maintenance + 0.25 errors + type (compressor +0.5, press +0.3)."""
    d = {
        "equipment_type": rx.pick(rng, n, EQUIPMENT),
        "operating_hours": rx.integers(rng, n, 0, 40_000),
        "temperature": rx.normal(rng, n, 70, 10, 20, 130),
        "vibration": np.round(rx.lognormal(rng, n, 1.2, 0.5, 0.05, 20), 2),
        "pressure": rx.normal(rng, n, 6, 1.2, 0, 15, 2),
        "days_since_maintenance": rx.integers(rng, n, 0, 365),
        "error_count_30d": rng.poisson(1.5, n),
    }
    logit = (
        -6.0
        + 0.00008 * d["operating_hours"]
        + 0.05 * (d["temperature"] - 70)
        + 0.8 * d["vibration"]
        + 0.012 * d["days_since_maintenance"]
        + 0.25 * d["error_count_30d"]
        + 0.1 * np.abs(d["pressure"] - 6)
        + rx.effect(d["equipment_type"], {"pump": 0, "compressor": 0.5, "conveyor": -0.2, "motor": 0, "press": 0.3})
    )
    return pd.DataFrame({**d, "failed": rx.bernoulli(rng, logit)})


def maintenance_extra(r: Result) -> dict:
    p = r.positive
    return {
        "maintenance_needed": p >= 0.5,
        "health_score": round(100 * (1 - p), 1),
        "recommended_within_days": 3 if p >= 0.7 else 7 if p >= 0.5 else 14 if p >= 0.3 else 30,
    }


MAINTENANCE = declare(
    "manufacturing",
    "predictive-maintenance",
    "Predictive Maintenance",
    "Predicts the probability that equipment fails within 30 days, and when to service it.",
    fields=(
        F("equipment_type", "string", "equipment type", required=True, choices=EQUIPMENT),
        F("operating_hours", "number", "operating hours", required=True, minimum=0, maximum=1e6),
        F("temperature", "number", "operating temperature (°C)", required=True, minimum=-50, maximum=500),
        F("vibration", "number", "vibration (mm/s)", required=True, minimum=0, maximum=1000),
        F("pressure", "number", "pressure (bar)", default=6.0, minimum=0, maximum=1000),
        F("days_since_maintenance", "number", "days since the last service", default=90.0, minimum=0, maximum=10_000),
        F("error_count_30d", "integer", "error events in 30 days", default=1, minimum=0, maximum=100_000),
    ),
    target="failed",
    explains="1 when the equipment failed within 30 days",
    simulate=maintenance_data,
    estimator=LGBM,
    seed=1402,
    respond=yes_no("failure_probability", extra=maintenance_extra),
    example={
        "equipment_type": "compressor",
        "operating_hours": 18500,
        "temperature": 84,
        "vibration": 2.9,
        "pressure": 7.1,
        "days_since_maintenance": 160,
        "error_count_30d": 4,
    },
)

MODES = ("road", "rail", "sea", "air")


def supply_data(rng, n):
    """Actual lead time = quoted x (1 + 0.6 (1 - reliability)) x mode factor (sea 1.15, air 0.9)
    x (1 + 0.05 log10(1 + km/100)) x (1 + 0.1 order size / 10k) x log-normal noise (sigma 0.1)."""
    d = {
        "quoted_lead_time_days": rx.integers(rng, n, 1, 90),
        "supplier_reliability": rx.uniform(rng, n, 0.5, 1.0, 3),
        "distance_km": np.round(rx.lognormal(rng, n, 800, 1.2, 1, 20_000)),
        "transport_mode": rx.pick(rng, n, MODES, [0.5, 0.2, 0.2, 0.1]),
        "order_quantity": rx.integers(rng, n, 10, 20_000),
        "daily_demand": np.round(rx.lognormal(rng, n, 40, 1.0, 0.1, 1e5), 1),
    }
    actual = (
        d["quoted_lead_time_days"]
        * (1 + 0.6 * (1 - d["supplier_reliability"]))
        * rx.effect(d["transport_mode"], {"road": 1.0, "rail": 1.05, "sea": 1.15, "air": 0.9})
        * (1 + 0.05 * np.log10(1 + d["distance_km"] / 100))
        * (1 + 0.1 * d["order_quantity"] / 10_000)
        * rx.noise(rng, n, 0.1)
    )
    return pd.DataFrame({**d, "actual_lead_time_days": np.round(actual, 1)})


def supply_answer(r: Result) -> dict:
    block = out.forecast(r, "predicted_lead_time_days", decimals=1)
    demand, quoted = r.values["daily_demand"], r.values["quoted_lead_time_days"]
    return out.answer(
        r,
        {
            **block,
            "expected_delay_days": round(r.value - quoted, 1),
            "reorder_point": int(np.ceil(demand * r.upper)),
            "safety_stock": int(np.ceil(demand * max(r.upper - r.value, 0.0))),
        },
    )


SUPPLY = declare(
    "manufacturing",
    "supply-chain-optimization",
    "Supply Chain Optimization",
    "Predicts the real supplier lead time (95% interval) and the reorder point and safety stock it implies.",
    fields=(
        F(
            "quoted_lead_time_days",
            "number",
            "lead time quoted by the supplier",
            required=True,
            minimum=0.5,
            maximum=1000,
        ),
        F("daily_demand", "number", "units used per day", required=True, minimum=0, maximum=1e9),
        F("supplier_reliability", "number", "share of past orders on time (0-1)", default=0.9, minimum=0, maximum=1),
        F("distance_km", "number", "shipping distance", default=800.0, minimum=0, maximum=40_000),
        F("transport_mode", "string", "transport mode", default="road", choices=MODES),
        F("order_quantity", "number", "units per order", default=1000.0, minimum=1, maximum=1e9),
    ),
    task="regression",
    target="actual_lead_time_days",
    explains="the real lead time in days",
    relative_to="quoted_lead_time_days",
    interval=True,
    simulate=supply_data,
    estimator=LGBM,
    seed=1403,
    respond=supply_answer,
    example={
        "quoted_lead_time_days": 21,
        "daily_demand": 120,
        "supplier_reliability": 0.82,
        "distance_km": 6500,
        "transport_mode": "sea",
        "order_quantity": 5000,
    },
)

MODELS = (QUALITY, MAINTENANCE, SUPPLY)
