"""The process-wide parts built from settings: database, blob store, queue, limiter."""
from __future__ import annotations

import time

from modelyard.config import Settings
from modelyard.db import Database
from modelyard.jobs.queue import JobQueue
from modelyard.jobs.registry import load_handlers
from modelyard.ops.activity import PredictionTally
from modelyard.ratelimit import Limiter
from modelyard.serving.loader import ModelCache
from modelyard.storage import open_blob_store


class Runtime:
    """Built once per process (API server or worker); nothing connects at import."""

    def __init__(self, settings: Settings, *, immediate_jobs: bool = False):
        self.settings = settings
        self.started_at = time.time()
        self.db = Database(settings.resolved_database_url)
        self.blobs = open_blob_store(settings)
        self.limiter = Limiter(settings.redis_url, namespace=settings.queue_name)
        load_handlers(settings.job_modules)
        self.queue = JobQueue(self, immediate=immediate_jobs)
        self.models = ModelCache(self.blobs, max_bytes=settings.model_cache_bytes)
        self.tally = PredictionTally(self.db)

    def close(self) -> None:
        self.db.dispose()
