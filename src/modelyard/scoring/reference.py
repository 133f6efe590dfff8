"""What a model saw in training, per column: numeric ranges and category sets (for validation)."""
from __future__ import annotations

import threading
from typing import Any

from cachetools import LRUCache

from modelyard.data.models import Dataset
from modelyard.data.service import DataService
from modelyard.registry.models import ModelVersion

MAX_CATEGORIES = 200
_cache: LRUCache = LRUCache(maxsize=64)
_lock = threading.Lock()


def reference_for(version: ModelVersion, session, blobs) -> dict[str, dict[str, Any]]:
    """{column: {"min", "max"} | {"categories"}}, from the version's training data (empty if unknown)."""
    with _lock:
        if version.id in _cache:
            return _cache[version.id]
    file_id = (version.training_data or {}).get("file_id")
    dataset = session.get(Dataset, file_id) if file_id else None
    reference: dict[str, dict[str, Any]] = {}
    if dataset is not None:
        frame = DataService(session, blobs, max_bytes=0).load_frame(dataset)
        for field in version.signature or []:
            name = field["name"]
            if name not in frame.columns:
                continue
            column = frame[name]
            if field.get("type") in ("integer", "number"):
                import pandas as pd

                numbers = pd.to_numeric(column, errors="coerce").dropna()
                if len(numbers):
                    reference[name] = {"min": float(numbers.min()), "max": float(numbers.max())}
            else:
                values = column.dropna().astype(str).unique()
                if 0 < len(values) <= MAX_CATEGORIES:
                    reference[name] = {"categories": sorted(values.tolist())}
    with _lock:
        _cache[version.id] = reference
    return reference
