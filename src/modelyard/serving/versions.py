"""A version as the serving path needs it: a detached snapshot, safe to cache and share across threads."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from modelyard.registry.models import ModelVersion


@dataclass(frozen=True)
class VersionRef:
    id: str
    model_id: str
    name: str
    number: int
    label: str
    status: str
    format: str
    task: str
    owner_id: int
    artifact_key: str
    signature: list[dict[str, Any]]
    classes: list[Any] | None
    feature_table: str | None
    training_data: dict[str, Any] | None
    serving: dict[str, Any] | None
    builtin: bool = False  # a gallery model: priced by its declaration (gallery/catalog.py)

    @classmethod
    def of(cls, v: ModelVersion) -> "VersionRef":
        return cls(v.id, v.model_id, v.name, v.number, v.label, v.status, v.format, v.task, v.owner_id,
                   v.artifact_key, list(v.signature or []), list(v.classes) if v.classes is not None else None,
                   v.feature_table, dict(v.training_data) if v.training_data else None,
                   dict(v.serving) if v.serving else None, v.builtin)
