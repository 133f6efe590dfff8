"""Online prediction bodies (mlops-dashboard dialect)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from modelyard.serving.pipeline import Served
    from modelyard.serving.versions import VersionRef


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

    cached_at: int | None = Field(None, alias="_cached_at",
                                  description="present when answered from the prediction cache: when (Unix time)")

    @staticmethod
    def body(version: "VersionRef", served: "Served") -> dict[str, Any]:
        """This schema's JSON, built directly (the hot path skips model validation of its own output);
        `served.answer` holds `predictions` and `ignored_columns`."""
        body = {**served.answer, "model_id": version.id, "model_name": version.name,
                "model_version": version.number, "timestamp": utc_now_text()}
        if served.cached_at is not None:
            body["_cached_at"] = served.cached_at
        return body


def utc_now_text() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
