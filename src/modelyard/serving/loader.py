"""Loaded models, one per version per process, each with the predictor it is served by.

Loading reads the artifact from the blob store with the loader for its format (the table is given by
the composition root), names a positional model by its signature, and builds its predictor: the one a
previous check chose (``VersionRef.serving``), or a fresh check (``compile.build``) whose report is
handed to ``on_report`` to be kept. Least recently used models go first past ``max_bytes``.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from cachetools import LRUCache

from modelyard.errors import Conflict
from modelyard.serving.versions import VersionRef

log = logging.getLogger("modelyard.serving")
Loader = Callable[[bytes], Any]


@dataclass
class LoadedModel:
    version_id: str
    estimator: Any  # named (bound) as serving calls it; None when loaded from a bundle
    predictor: Any  # CompiledPredictor or NativePredictor
    native: Any  # NativePredictor; None when loaded from a bundle
    report: dict[str, Any]
    task: str
    classes: list[Any] | None
    signature: list[dict[str, Any]]
    size: int


class ModelCache:
    def __init__(self, blobs: Any, loaders: Mapping[str, Loader], *, max_bytes: int,
                 sample: Callable[[VersionRef], Any] = lambda ref: None,
                 on_report: Callable[[str, dict], None] = lambda version_id, report: None):
        self._blobs = blobs
        self._loaders = loaders
        self._sample = sample
        self._on_report = on_report
        self._cache: LRUCache = LRUCache(maxsize=max_bytes, getsizeof=lambda m: max(1, m.size))
        self._lock = threading.Lock()
        self._loading: dict[str, threading.Lock] = {}
        self.hits = 0
        self.misses = 0

    def get(self, ref: VersionRef) -> LoadedModel:
        with self._lock:
            model = self._cache.get(ref.id)
            if model is not None:
                self.hits += 1
                return model
            key_lock = self._loading.setdefault(ref.id, threading.Lock())
        with key_lock:  # one load per version, however many requests wait for it
            with self._lock:
                model = self._cache.get(ref.id)
            if model is None:
                self.misses += 1
                model = self._load(ref)
                with self._lock:
                    if model.size <= self._cache.maxsize:
                        self._cache[ref.id] = model
                    self._loading.pop(ref.id, None)
            return model

    def _load(self, ref: VersionRef) -> LoadedModel:
        bundled = (ref.serving or {}).get("bundle")
        if bundled:
            try:
                return self._load_bundle(ref, bundled)
            except Exception:
                log.warning("could not load the compiled predictor of %s; loading its artifact", ref.id, exc_info=True)
        return self._load_artifact(ref)

    def _load_bundle(self, ref: VersionRef, key: str) -> LoadedModel:
        """The checked compiled predictor saved as data (serving/bundle.py): no artifact, no scikit-learn."""
        from modelyard.serving import bundle

        data = self._blobs.read_bytes(key)
        predictor = bundle.load(data)
        return LoadedModel(ref.id, None, predictor, None, ref.serving, ref.task, ref.classes,
                           list(ref.signature or []), len(data) * 4)

    def _load_artifact(self, ref: VersionRef) -> LoadedModel:
        from modelyard.registry.adapters import bind
        from modelyard.serving import compile
        from modelyard.serving.predictors import NativePredictor

        load = self._loaders.get(ref.format)
        if load is None:
            raise Conflict(f"models in format {ref.format!r} cannot be served")
        data = self._blobs.read_bytes(ref.artifact_key)
        signature = list(ref.signature or [])
        estimator = bind(load(data), signature)
        native = NativePredictor(estimator, ref.task, ref.classes, signature)
        if ref.serving:
            predictor, report = compile.rebuild(native, ref.serving), ref.serving
        else:
            try:
                sample = self._sample(ref)
            except Exception:
                log.warning("no check sample for %s", ref.id, exc_info=True)
                sample = None
            predictor, report = compile.build(native, sample)
            self._save_bundle(ref, predictor, report)
            self._on_report(ref.id, report)
        return LoadedModel(ref.id, estimator, predictor, native, report, ref.task, ref.classes, signature,
                           len(data) * 4)  # in-memory size is a few times the file; a fair eviction weight

    def _save_bundle(self, ref: VersionRef, predictor: Any, report: dict[str, Any]) -> None:
        from modelyard.serving import bundle

        try:
            data = bundle.dump(predictor)
            if data is not None:
                key = bundle.key_for(ref.artifact_key)
                self._blobs.put(key, data, content_type="application/zip")
                report["bundle"] = key
        except Exception:  # serving goes on from the artifact; only later loads are slower
            log.warning("could not save the compiled predictor of %s", ref.id, exc_info=True)

    def held(self) -> list[str]:
        """The ids of the versions loaded now."""
        with self._lock:
            return list(self._cache.keys())

    def reload(self, ref: VersionRef) -> None:
        """Load `ref` again from its artifact and swap it in; requests in flight finish on the old one."""
        model = self._load(ref)
        with self._lock:
            if model.size <= self._cache.maxsize:
                self._cache[ref.id] = model

    def holds(self, version_id: str) -> bool:
        with self._lock:
            return version_id in self._cache

    def __len__(self) -> int:
        return len(self._cache)
