"""Uploaded tabular datasets: the bytes live in the blob store, the profile here."""
from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, BigInteger, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from modelyard.db.base import Base, OwnedMixin


class Dataset(OwnedMixin, Base):
    __tablename__ = "dataset"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # file_<hex>
    filename: Mapped[str] = mapped_column(String(255))  # as the client named it; never a path
    blob_key: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    rows: Mapped[int] = mapped_column(Integer)
    columns: Mapped[int] = mapped_column(Integer)
    column_names: Mapped[list[str]] = mapped_column(JSON)
    encoding: Mapped[str] = mapped_column(String(20))
    delimiter: Mapped[str] = mapped_column(String(4))
    profile: Mapped[dict[str, Any]] = mapped_column(JSON)  # per column: type, missing, unique...; warnings
    purpose: Mapped[str] = mapped_column(String(20), default="training")  # training | scoring | features
