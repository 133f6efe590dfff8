"""Loads model artifacts by format and keeps them cached per process, evicted by size."""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Callable

from cachetools import LRUCache

from modelyard.errors import Conflict
from modelyard.registry.models import ModelVersion
from modelyard.storage.base import BlobStore

# format -> function(bytes) -> estimator; formats that run no uploaded code on load.
LOADERS: dict[str, Callable[[bytes], Any]] = {}


def loader(fmt: str):
    def register(fn):
        LOADERS[fmt] = fn
        return fn

    return register


@loader("skops")
def _load_skops(data: bytes) -> Any:
    from modelyard.training.artifacts import load

    return load(data)


@dataclass
class LoadedModel:
    version_id: str
    estimator: Any
    task: str
    classes: list[Any] | None
    signature: list[dict[str, Any]]
    size: int


class ModelCache:
    """One loaded copy per version per process; least recently used ones go first past `max_bytes`."""

    def __init__(self, blobs: BlobStore, *, max_bytes: int):
        self._blobs = blobs
        self._cache: LRUCache = LRUCache(maxsize=max_bytes, getsizeof=lambda m: max(1, m.size))
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get(self, version: ModelVersion) -> LoadedModel:
        with self._lock:
            model = self._cache.get(version.id)
            if model is not None:
                self.hits += 1
                return model
            key_lock = self._loading.setdefault(version.id, threading.Lock())
        with key_lock:  # one load per version, however many requests wait for it
            with self._lock:
                model = self._cache.get(version.id)
            if model is None:
                self.misses += 1
                model = self._load(version)
                with self._lock:
                    if model.size <= self._cache.maxsize:
                        self._cache[version.id] = model
                    self._loading.pop(version.id, None)
            return model

    def _load(self, version: ModelVersion) -> LoadedModel:
        load = LOADERS.get(version.format)
        if load is None:
            raise Conflict(f"models in format {version.format!r} cannot be served")
        from modelyard.registry.adapters import bind

        data = self._blobs.read_bytes(version.artifact_key)
        signature = list(version.signature or [])
        # Models that read inputs by position (ONNX, XGBoost...) are named by their signature here, once.
        return LoadedModel(version.id, bind(load(data), signature), version.task, version.classes, signature,
                           len(data) * 4)  # in-memory size is a few times the file; a fair eviction weight

    def evict(self, version_id: str) -> None:
        with self._lock:
            self._cache.pop(version_id, None)

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()

    def __len__(self) -> int:
        return len(self._cache)
