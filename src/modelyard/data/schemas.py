"""Dataset bodies: the contract's upload answer, plus the profile and the dialect it was read with."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any, Literal

from pydantic import BaseModel, PlainSerializer

from modelyard.data.models import Dataset


def _utc_z(value: datetime) -> str:
    """2024-01-20T10:30:00Z, as the contract writes times."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


UtcTime = Annotated[datetime, PlainSerializer(_utc_z, return_type=str)]


class Validation(BaseModel):
    status: Literal["valid", "warning"]
    warnings: list[str]


class UploadOut(BaseModel):
    """POST /api/upload: the contract's fields, then `profile`, `encoding` and `delimiter`."""

    file_id: str
    filename: str
    size: int
    rows: int
    columns: int
    column_names: list[str]
    upload_time: UtcTime
    validation: Validation
    profile: dict[str, Any]
    encoding: str
    delimiter: str

    @classmethod
    def of(cls, dataset: Dataset) -> UploadOut:
        warnings = list(dataset.profile.get("warnings", []))
        return cls(
            file_id=dataset.id, filename=dataset.filename, size=dataset.size, rows=dataset.rows,
            columns=dataset.columns, column_names=list(dataset.column_names), upload_time=dataset.created_at,
            validation=Validation(status="warning" if warnings else "valid", warnings=warnings),
            profile=dataset.profile, encoding=dataset.encoding, delimiter=dataset.delimiter,
        )


class DatasetOut(UploadOut):
    """One dataset in a listing or on its own: the same body as the upload answer."""


class DatasetPage(BaseModel):
    datasets: list[DatasetOut]
    total: int
    limit: int
    offset: int
