"""Model bodies in the mlops-dashboard contract's shape (shared by the other registry views)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from modelyard.registry.models import ModelVersion


class ModelSummaryOut(BaseModel):
    id: str
    model_id: str = Field(description="the same as id, under the name every other answer uses")
    name: str
    version: int
    version_label: str
    type: str
    algorithm: str
    accuracy: float | None
    status: str
    created_at: datetime
    deployed_at: datetime | None

    @classmethod
    def of(cls, v: ModelVersion) -> "ModelSummaryOut":
        return cls(id=v.id, model_id=v.id, name=v.name, version=v.number, version_label=v.label, type=v.task,
                   algorithm=v.algorithm, accuracy=(v.metrics or {}).get("accuracy"), status=v.status,
                   created_at=v.created_at, deployed_at=v.deployed_at)


class ModelPage(BaseModel):
    models: list[ModelSummaryOut]
    total: int
    page: int
    limit: int


class ModelDetailOut(ModelSummaryOut):
    format: str
    metrics: dict[str, Any]
    parameters: dict[str, Any]
    training_data: dict[str, Any] | None
    signature: list[dict[str, Any]]
    target: str | None
    classes: list[Any] | None
    feature_importances: dict[str, float] | None
    training_job_id: str | None
    training_time: float | None
    endpoint: str
    owner_id: int
    serving: dict[str, Any] | None = None  # the predictor that serves it (compiled or native) and why

    @classmethod
    def of(cls, v: ModelVersion) -> "ModelDetailOut":
        return cls(**ModelSummaryOut.of(v).model_dump(), format=v.format, metrics=v.metrics or {},
                   parameters=v.params or {}, training_data=v.training_data, signature=v.signature or [],
                   target=v.target, classes=v.classes, feature_importances=v.feature_importances,
                   training_job_id=v.training_job_id, training_time=v.training_seconds,
                   endpoint=f"/api/predict/{v.id}", owner_id=v.owner_id, serving=v.serving)


class DeployOut(BaseModel):
    model_id: str
    name: str
    status: str
    deployment_time: datetime
    endpoint: str
