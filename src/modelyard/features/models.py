"""Feature tables: named CSV/Parquet uploads with entity key columns, indexed for point lookups.

A ``FeatureTable`` is a name under its owner; each upload (the first, and every replace) is a
``FeatureTableVersion``; lookups read the table's current version. Its rows are stored in the
database, one ``FeatureRow`` per entity, keyed by ``(table_version_id, key)`` — the primary key is
the index, so a lookup is one indexed read on SQLite and PostgreSQL alike, from any API host.

The key is a canonical encoding of the entity key values, in the table's key-column order: the
JSON array of each value as text, without spaces (``json.dumps(values, separators=(",", ":"),
ensure_ascii=False)``), e.g. ``["1","2024-01-01"]`` for customer_id=1, purchase_date_id=2024-01-01.
Each value is the text as written in the CSV (surrounding spaces trimmed) — CSV key columns are
never parsed as numbers, so ``007`` stays ``007``. From Parquet: integers in decimal, floats with
no fraction as integers (``1.0`` → ``1``), other floats by ``repr``, dates as ``YYYY-MM-DD``,
timestamps as ISO 8601 (``YYYY-MM-DD`` when at midnight), booleans as ``true``/``false``. Query
parameters are encoded the same way (trimmed text), so ``?customer_id=1`` finds the row whose CSV
cell was ``1``. Empty key values are refused; an encoded key is at most 512 characters.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from modelyard.db.base import Base, OwnedMixin

MAX_KEY_CHARS = 512


class FeatureTable(OwnedMixin, Base):
    __tablename__ = "feature_table"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # ft_<hex>
    name: Mapped[str] = mapped_column(String(100), index=True)
    description: Mapped[str | None] = mapped_column(Text, default=None)
    key_columns: Mapped[list[str]] = mapped_column(JSON, default=list)
    current_version_id: Mapped[str | None] = mapped_column(String(40), default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)

    versions: Mapped[list["FeatureTableVersion"]] = relationship(
        back_populates="table", order_by="FeatureTableVersion.number", cascade="all, delete-orphan",
        passive_deletes=True)


class FeatureTableVersion(OwnedMixin, Base):
    __tablename__ = "feature_table_version"
    __table_args__ = (UniqueConstraint("table_id", "number"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # ftv_<hex>
    table_id: Mapped[str] = mapped_column(String(40), ForeignKey("feature_table.id", ondelete="CASCADE"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    filename: Mapped[str] = mapped_column(String(255))
    file_format: Mapped[str] = mapped_column(String(10))  # csv | parquet
    blob_key: Mapped[str] = mapped_column(String(300))
    size: Mapped[int] = mapped_column(BigInteger, default=0)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    columns: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{name, type}]

    table: Mapped[FeatureTable] = relationship(back_populates="versions")


class FeatureRow(Base):
    """One entity's features; ``key`` is the canonical encoding described in the module docstring."""

    __tablename__ = "feature_row"

    table_version_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("feature_table_version.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(String(MAX_KEY_CHARS), primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
