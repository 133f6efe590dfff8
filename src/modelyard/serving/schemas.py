"""Online prediction bodies (mlops-dashboard dialect)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class PredictIn(BaseModel):
    data: list[dict[str, Any]] = Field(min_length=1)


class PredictionOut(BaseModel):
    prediction: Any
    confidence: float | None = None
    probabilities: dict[str, float] | None = None


class PredictOut(BaseModel):
    predictions: list[PredictionOut]
    model_id: str
    model_name: str
    model_version: int
    timestamp: datetime
    ignored_columns: list[str] = Field(default_factory=list, description="input columns the model does not use")
