"""The registry: a model is a name; versions hold artifacts, signatures, metrics and status."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, String, Text, UniqueConstraint, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from modelyard.db.base import Base, OwnedMixin

VERSION_STATUSES = ("trained", "deployed", "archived")


class RegisteredModel(OwnedMixin, Base):
    __tablename__ = "registered_model"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # reg_<hex>
    name: Mapped[str] = mapped_column(String(100), index=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    deployed_version_id: Mapped[str | None] = mapped_column(String(40), default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    # A built-in gallery model (owned by the system account): every user sees it; only admins change it.
    builtin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    versions: Mapped[list["ModelVersion"]] = relationship(back_populates="model", order_by="ModelVersion.number")


class ModelVersion(OwnedMixin, Base):
    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("model_id", "number"), UniqueConstraint("model_id", "label"))

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # model_<hex>
    model_id: Mapped[str] = mapped_column(String(40), ForeignKey("registered_model.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(64))  # the version as its author named it ("1", "2024-06")
    status: Mapped[str] = mapped_column(String(20), default="trained", index=True)
    task: Mapped[str] = mapped_column(String(20))  # classification | regression
    algorithm: Mapped[str] = mapped_column(String(100))
    format: Mapped[str] = mapped_column(String(20))  # skops | onnx | lightgbm | xgboost | pickle
    artifact_key: Mapped[str] = mapped_column(String(300))
    artifact_size: Mapped[int] = mapped_column(BigInteger, default=0)
    artifacts: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)  # extra files: name -> blob key
    signature: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, type}]
    target: Mapped[str | None] = mapped_column(String(255), default=None)
    classes: Mapped[list[Any] | None] = mapped_column(JSON, default=None)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    feature_importances: Mapped[dict[str, float] | None] = mapped_column(JSON, default=None)
    training_data: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    training_job_id: Mapped[str | None] = mapped_column(String(40), default=None)
    training_seconds: Mapped[float | None] = mapped_column(Float, default=None)
    feature_table: Mapped[str | None] = mapped_column(String(100), default=None)
    serving: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)  # which predictor serves it, and why
    deployed_at: Mapped[datetime | None] = mapped_column(default=None)
    archived_at: Mapped[datetime | None] = mapped_column(default=None)

    model: Mapped[RegisteredModel] = relationship(back_populates="versions")

    @property
    def name(self) -> str:
        return self.model.name

    @property
    def builtin(self) -> bool:
        return self.model.builtin
