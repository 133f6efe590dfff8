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

    id: int = Field(description="the model's place in the catalog, from 1")
    model_id: str | None = Field(description="its registered model's id (None until a tabular model is trained)")
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


class BatchItem(BaseModel):
    model: str = Field(min_length=1, max_length=100, description="a built-in model's name, e.g. lead-score")
    input: Any = Field(description="the model's input fields")


class BatchIn(BaseModel):
    requests: list[BatchItem] = Field(min_length=1)


class BatchResultOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    index: int
    model: str
    status: str = Field(description="success | failed")
    prediction: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    processing_time: float | None = None


class BatchOut(BaseModel):
    results: list[BatchResultOut]
    batch_stats: dict[str, Any]
    credits_consumed: int
    timestamp: str


class CsvBatchOut(BaseModel):
    message: str
    model: str
    results: list[dict[str, Any]]
    summary: dict[str, Any]
    data_quality: dict[str, Any]
    credits_consumed: int
    file_id: str


class RetrainedOut(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    version: str
    version_id: str
    activated: bool
    metrics: dict[str, Any]


class SignatureField(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    type: str = Field("number", pattern=r"^(number|integer|float|string|boolean)$")


class GalleryUploadMeta(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    version: str | None = Field(None, max_length=64)
    description: str | None = Field(None, max_length=5000)
    activate: bool = False
    signature: list[SignatureField] | None = Field(None, max_length=10_000)


class CsvJobOut(BaseModel):
    message: str
    job_id: str
    status: str
    status_url: str = Field(description="GET it for progress; its result holds summary, data_quality, credits")
    results_url: str = Field(description="GET it for the results CSV once the job has completed")
    file_id: str
    rows: int
    model: str
