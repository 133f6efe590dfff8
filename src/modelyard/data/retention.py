"""Retention: uploads older than `data.retentionDays` that no model was trained on are removed."""
from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select

from modelyard.data.models import Dataset
from modelyard.db.base import utcnow
from modelyard.ops.settings import SettingsService
from modelyard.registry.models import ModelVersion

if TYPE_CHECKING:
    from modelyard.db import Database
    from modelyard.storage.base import BlobStore

log = logging.getLogger("modelyard.retention")


def cleanup(db: "Database", blobs: "BlobStore", *, force: bool = False) -> list[str]:
    """Delete expired datasets (rows first, then blobs); a dataset a model version names is kept."""
    with db.session() as session:
        policy = SettingsService(session).section("data")
        if not policy.autoCleanup and not force:
            return []
        cutoff = utcnow() - timedelta(days=policy.retentionDays)
        referenced = {(v.training_data or {}).get("file_id")
                      for v in session.scalars(select(ModelVersion).where(ModelVersion.training_data.is_not(None)))}
        expired = [d for d in session.scalars(select(Dataset).where(Dataset.created_at < cutoff))
                   if d.id not in referenced]
        keys = [d.blob_key for d in expired]
        ids = [d.id for d in expired]
        for dataset in expired:
            session.delete(dataset)
    for key in keys:
        blobs.delete(key)
    if ids:
        log.info("retention removed %d dataset(s) older than the retention period", len(ids))
    return ids
