"""Application settings (one JSON document per section) and the activity log."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db.base import Base, utcnow


class AppSetting(Base):
    __tablename__ = "app_setting"

    section: Mapped[str] = mapped_column(String(50), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[int | None] = mapped_column(Integer, ForeignKey("user.id", ondelete="SET NULL"), default=None)


class Activity(Base):
    __tablename__ = "activity"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # act_<hex>
    type: Mapped[str] = mapped_column(String(30), index=True)  # upload | training | deployment | prediction | ...
    message: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("user.id", ondelete="SET NULL"), default=None,
                                               index=True)
    username: Mapped[str] = mapped_column(String(100), default="system")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    timestamp: Mapped[datetime] = mapped_column(default=utcnow, index=True)
