"""Metadata storage: one SQLAlchemy engine per process, SQLite (WAL) or PostgreSQL."""
from modelyard.db.base import Base, OwnedMixin, new_id, utcnow
from modelyard.db.engine import Database

__all__ = ["Base", "Database", "OwnedMixin", "new_id", "utcnow"]
