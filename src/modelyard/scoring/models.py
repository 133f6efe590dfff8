"""CSV scoring uploads: a dataset (purpose "scoring") plus its validation against the active model."""
from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from modelyard.data.models import Dataset
from modelyard.db.base import Base, OwnedMixin


class ScoringUpload(OwnedMixin, Base):
    __tablename__ = "scoring_upload"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # upl_YYYYMMDD_NNNNN
    dataset_id: Mapped[str] = mapped_column(String(40), ForeignKey("dataset.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(20), default="uploaded")  # uploaded | valid | invalid
    validation: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    validated_version_id: Mapped[str | None] = mapped_column(String(40), default=None)
    labeled_rows: Mapped[int] = mapped_column(Integer, default=0)

    dataset: Mapped[Dataset] = relationship()
