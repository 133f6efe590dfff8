"""Turning a model's answer into the contract's response fields: the shared vocabulary of the mappers."""

from __future__ import annotations

from typing import Any

from modelyard.gallery.declarations import Result


def level(
    p: float, cuts: tuple[float, float] = (0.3, 0.6), words: tuple[str, str, str] = ("Low", "Medium", "High")
) -> str:
    """Low below the first cut, High at or above the second."""
    return words[2] if p >= cuts[1] else words[1] if p >= cuts[0] else words[0]


def confidence(p: float) -> float:
    """A binary prediction's confidence: the probability of the class it predicts."""
    return round(max(p, 1.0 - p), 4)


def interval_confidence(value: float, lower: float, upper: float) -> float:
    """1 minus the 95% interval's half-width relative to the forecast (0 when it is wider than the forecast)."""
    if value <= 0:
        return 0.0
    return round(min(1.0, max(0.0, 1.0 - (upper - lower) / (2.0 * value))), 4)


def answer(r: Result, prediction: dict[str, Any]) -> dict[str, Any]:
    """The contract's envelope without `processing_time` / `credits_consumed` (the route adds those)."""
    major = r.version.lstrip("v").split(".")[0]
    return {"model": f"{r.declaration.contract_id}_v{major}", "prediction": {**prediction, "model_version": r.version}}


def binary(
    r: Result,
    probability_name: str,
    *,
    cuts: tuple[float, float] = (0.3, 0.6),
    level_name: str = "risk_level",
    factors: int = 3,
) -> dict[str, Any]:
    """The common block of a yes/no model: probability, level, confidence, 0/1 prediction, key factors."""
    p = r.positive
    return {
        probability_name: round(p, 4),
        level_name: level(p, cuts),
        "confidence": confidence(p),
        "prediction": int(p >= 0.5),
        "key_factors": r.factors(factors),
    }


def choice(r: Result, label_name: str, *, alternatives: int = 3) -> dict[str, Any]:
    """The common block of a multiclass model: the label, its probability, the runners-up, key factors."""
    ranked = sorted(r.probabilities.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return {
        label_name: ranked[0][0],
        "confidence": round(ranked[0][1], 4),
        "probabilities": {str(k): round(v, 4) for k, v in ranked},
        "alternatives": [{"option": k, "probability": round(v, 4)} for k, v in ranked[1 : alternatives + 1]],
        "key_factors": r.factors(3),
    }


def forecast(r: Result, value_name: str, *, decimals: int = 2) -> dict[str, Any]:
    """The common block of a forecasting model: the value, its 95% interval, drivers and risks."""
    return {
        value_name: round(r.value, decimals),
        "confidence_interval": {"lower": round(r.lower, decimals), "upper": round(r.upper, decimals)},
        "confidence": interval_confidence(r.value, r.lower, r.upper),
        "key_drivers": r.factors(3, sign=+1),
        "risk_factors": r.factors(3, sign=-1),
    }
