"""Response bodies of the prediction-platform routes over the gallery (OpenAPI documentation; the routes
answer the gallery service's dicts, which carry each model's own fields)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class BuiltinOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    model: str = Field(description="the contract's model id, e.g. lead_scoring_v1")
    prediction: dict[str, Any] = Field(description="the model's own fields (docs/gallery.md)")
    processing_time: float = Field(description="seconds")
    credits_consumed: int
    cached_at: int | None = Field(None, alias="_cached_at", description="present when served from the cache")


class GalleryModelOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str | None
    name: str
    display_name: str
    version: str | None
    status: str
    description: str
    features: list[str]
    training_data_size: int | None
    last_retrained: datetime | str | None
    credits: int


class GalleryListOut(BaseModel):
    models: list[GalleryModelOut]
    total: int
    active: int


class ActivatedOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    status: str
