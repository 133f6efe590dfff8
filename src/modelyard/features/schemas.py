"""Bodies of the feature-table routes."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from modelyard.features.models import FeatureTable, FeatureTableVersion
from modelyard.registry.models import ModelVersion


class FeatureTableVersionOut(BaseModel):
    id: str
    number: int
    filename: str
    format: str
    size: int
    rows: int
    created_at: datetime

    @classmethod
    def of(cls, v: FeatureTableVersion) -> "FeatureTableVersionOut":
        return cls(id=v.id, number=v.number, filename=v.filename, format=v.file_format, size=v.size, rows=v.rows,
                   created_at=v.created_at)


class FeatureTableOut(BaseModel):
    id: str
    name: str
    description: str | None
    key_columns: list[str]
    columns: list[dict[str, Any]]
    rows: int
    version: int | None
    owner_id: int
    created_at: datetime
    updated_at: datetime | None

    @classmethod
    def of(cls, table: FeatureTable, current: FeatureTableVersion | None) -> "FeatureTableOut":
        return cls(id=table.id, name=table.name, description=table.description, key_columns=table.key_columns,
                   columns=current.columns if current else [], rows=current.rows if current else 0,
                   version=current.number if current else None, owner_id=table.owner_id,
                   created_at=table.created_at, updated_at=table.updated_at)


class LinkedModelOut(BaseModel):
    model_version_id: str
    model_name: str
    model_version: str
    status: str

    @classmethod
    def of(cls, v: ModelVersion) -> "LinkedModelOut":
        return cls(model_version_id=v.id, model_name=v.name, model_version=v.label, status=v.status)


class FeatureTableDetailOut(FeatureTableOut):
    versions: list[FeatureTableVersionOut]
    models: list[LinkedModelOut]


class FeatureTableList(BaseModel):
    tables: list[FeatureTableOut]
    total: int


class FeatureRowOut(BaseModel):
    table: str
    keys: dict[str, str]
    values: dict[str, Any]
