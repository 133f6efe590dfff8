"""The composition root: every process-wide part, and every table of handlers, loaders and periodic
tasks, built here explicitly from settings. Nothing registers itself by being imported, so the API
server and `modelyard worker` have exactly the same capabilities; nothing connects at import.
"""
from __future__ import annotations

import functools
import importlib
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TYPE_CHECKING, Any

from modelyard.auth.cache import CredentialCache
from modelyard.auth.limits import UserLimits
from modelyard.config import Settings
from modelyard.db import Database
from modelyard.invalidation import RESTART, Invalidation, open_epochs, watch
from modelyard.jobs.context import Handler, JobResources
from modelyard.jobs.periodic import PeriodicTask
from modelyard.jobs.queue import JobQueue
from modelyard.ops.predlog import PredictionLog
from modelyard.ratelimit import Limiter
from modelyard.serving.cache import PredictionCache
from modelyard.serving.loader import ModelCache
from modelyard.serving.pipeline import PredictionPipeline
from modelyard.storage import open_blob_store
from modelyard.webhooks.events import Events
from modelyard.webhooks.triggers import watch as watch_events

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.auth.models import User
    from modelyard.gallery.service import GalleryService
    from modelyard.serving.pipeline import Served
    from modelyard.serving.versions import VersionRef

log = logging.getLogger("modelyard")
RETENTION_EVERY = 3600.0
EPOCHS_EVERY = 5.0
ANNOUNCED_ROWS = 100  # prediction.completed carries at most this many rows of a call's answer


class Runtime:
    """Built once per process (API server or worker)."""

    def __init__(self, settings: Settings, *, immediate_jobs: bool = False):
        self.settings = settings
        self.started_at = time.time()
        self.db = Database(settings.resolved_database_url)
        self.blobs = open_blob_store(settings)
        self.limiter = Limiter(settings.redis_url, namespace=settings.queue_name)
        self.limits = UserLimits(self.limiter, settings)
        self.invalidation = Invalidation(open_epochs(settings.redis_url, settings.home_dir, settings.queue_name))
        watch(self.db.sessions, self.invalidation.epochs)
        self.credentials = CredentialCache(self.db, self.invalidation, secret=settings.resolved_secret_key)
        self.models = ModelCache(self.blobs, model_loaders(), max_bytes=settings.model_cache_bytes,
                                 sample=self._check_sample, on_report=self._keep_report)
        self.prediction_log = PredictionLog(self.db, interval=settings.prediction_log_flush_seconds,
                                            keep_days=settings.prediction_log_days)
        self.predictions = PredictionPipeline(self.db, self.models, self.invalidation,
                                              max_rows=settings.max_predict_rows, allow_pickle=self._pickle_allowed,
                                              limits=self.limits, log=self.prediction_log,
                                              cache=PredictionCache(settings.redis_url, namespace=settings.queue_name,
                                                                    seconds=settings.prediction_cache_seconds,
                                                                    entries=settings.prediction_cache_entries))
        self.queue = JobQueue(settings, JobResources(self.db, self.blobs, settings), job_handlers(self),
                              immediate=immediate_jobs)
        self.periodic = periodic_tasks(self)
        # Webhook events: `self.events.emit(...)` from anywhere; deploys and credit charges raise theirs
        # from what the ORM commits (webhooks/triggers.py).
        self.events = Events(self.db, self.invalidation, self.queue, settings)
        watch_events(self.db.sessions, self.events)
        self._announcer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelyard-announce")
        self.predictions.completed = self._announce_prediction
        # POST /api/enterprise/admin/system/restart in any process: every process reloads what it holds.
        self.invalidation.on_move(RESTART, self.reload_models)

    def reload_models(self) -> dict[str, Any]:
        """Load each model this process holds again from its artifact and swap it in (requests in flight
        finish on the old copy); what was reloaded and what failed."""
        reloaded, failed = [], {}
        for version_id in self.models.held():
            try:
                self.models.reload(self.predictions.version(version_id))
                reloaded.append(version_id)
            except Exception as exc:  # a version deleted meanwhile, an artifact gone: reported, the rest go on
                failed[version_id] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
        if reloaded or failed:
            log.info("reloaded %d model(s) after a restart in place; %d failed", len(reloaded), len(failed))
        return {"reloaded": reloaded, "failed": failed}

    @functools.cached_property
    def gallery(self) -> "GalleryService":
        """The built-in models' service, built on first use (it imports the ML libraries)."""
        from modelyard.gallery.service import GalleryService

        return GalleryService(self.db, self.blobs, self.predictions, self.invalidation, home=self.settings.home_dir)

    def start(self) -> None:
        """Background work of every process: the prediction log's writer."""
        self.prediction_log.start()

    def close(self) -> None:
        self.prediction_log.stop()
        self.limiter.close()
        self._announcer.shutdown(wait=True)
        self.db.dispose()
        self.invalidation.epochs.close()

    def _announce_prediction(self, version: "VersionRef", viewer: "User", served: "Served", seconds: float) -> None:
        """`prediction.completed` to the caller's subscriptions. Nobody listening (known without I/O): nothing
        at all; otherwise the delivery is queued from a background thread, so the call never waits on it."""
        if self.events.wants_cached("prediction.completed", owner_id=viewer.id) is False:
            return
        result = served.answer
        rows = result.get("predictions")
        if isinstance(rows, list) and len(rows) > ANNOUNCED_ROWS:  # a payload stays small whatever the request
            result = {**result, "predictions": rows[:ANNOUNCED_ROWS], "truncated": True, "rows": len(rows)}
        payload = {"model": version.name, "model_version_id": version.id, "model_version": version.number,
                   "user_id": viewer.id, "result": result, "processing_time": round(seconds, 6),
                   "cached": served.cached_at is not None, "credits_consumed": served.credits}
        self._announcer.submit(self.events.emit, "prediction.completed", payload, owner_id=viewer.id)

    # Small pieces the serving path needs from the stores ------------------------------------------

    def _pickle_allowed(self) -> bool:
        from modelyard.ops.settings import SettingsService

        with self.db.session() as session:
            return bool(SettingsService(session).section("registry").allowPickle)

    def _check_sample(self, ref: "VersionRef") -> "pd.DataFrame | None":
        """The first rows of the data a version was trained on, as CSV text, when it is still there."""
        from modelyard.data.csvio import CsvDialect, iter_frames
        from modelyard.data.models import Dataset
        from modelyard.serving.compile import SAMPLE_ROWS

        recipe = (ref.training_data or {}).get("recipe")
        if recipe:  # a built-in gallery model: fresh rows of its synthetic recipe
            from modelyard.gallery.training import check_sample

            return check_sample(recipe, SAMPLE_ROWS)
        file_id = (ref.training_data or {}).get("file_id")
        if not file_id:
            return None
        with self.db.session() as session:
            dataset = session.get(Dataset, file_id)
            if dataset is None:
                return None
            key, dialect = dataset.blob_key, CsvDialect(dataset.encoding, dataset.delimiter)
        columns = {f["name"] for f in ref.signature}
        for chunk in iter_frames(self.blobs.open(key), dialect, chunk_rows=SAMPLE_ROWS, dtype=str):
            return chunk if columns <= set(chunk.columns) else None
        return None

    def _keep_report(self, version_id: str, report: dict[str, Any]) -> None:
        from sqlalchemy import update

        from modelyard.registry.models import ModelVersion

        with self.db.session() as session:
            session.execute(update(ModelVersion).where(ModelVersion.id == version_id, ModelVersion.serving.is_(None))
                            .values(serving=report))


def model_loaders() -> dict[str, Any]:
    """Format -> loader (bytes -> model). Only formats that run no uploaded code, and pickle, which is
    served only while an admin allows it (checked by the pipeline)."""
    from modelyard.registry import formats

    return dict(formats.LOADERS)


def job_handlers(runtime: Runtime) -> dict[str, Handler]:
    """Job kind -> handler, with the domain services each one needs bound here."""
    from modelyard.gallery.batches import JOB_KIND as PLATFORM_CSV
    from modelyard.gallery.batches import score_csv_job
    from modelyard.jobs.diagnostics import diagnostics
    from modelyard.labeling.qc import JOB_KIND as QC
    from modelyard.labeling.tasks import quality_control
    from modelyard.scoring.tasks import retrain, score_part, score_upload
    from modelyard.training.tasks import train_model
    from modelyard.webhooks.delivery import deliver as deliver_webhook
    from modelyard.webhooks.service import JOB_KIND as WEBHOOK

    handlers: dict[str, Handler] = {
        "diagnostics": diagnostics,
        "training": train_model,
        "scoring.predict": partial(score_upload, predictions=runtime.predictions),
        "scoring.part": partial(score_part, predictions=runtime.predictions),
        "scoring.retrain": partial(retrain, predictions=runtime.predictions),
        QC: quality_control,
        PLATFORM_CSV: lambda ctx: score_csv_job(ctx, gallery=runtime.gallery, pipeline=runtime.predictions),
        WEBHOOK: partial(deliver_webhook, app_secret=runtime.settings.resolved_secret_key),
    }
    for name in runtime.settings.job_modules:  # extra kinds (tests, extensions): each module's HANDLERS table
        handlers.update(importlib.import_module(name).HANDLERS)
    return handlers


def periodic_tasks(runtime: Runtime) -> list[PeriodicTask]:
    """Work every worker does on a timer (the stale-job reaper is the worker's own)."""
    from modelyard.data.retention import cleanup
    from modelyard.ops import alerts
    from modelyard.webhooks.service import prune_deliveries

    return [PeriodicTask("retention", RETENTION_EVERY, partial(cleanup, runtime.db, runtime.blobs), first_after=60.0),
            PeriodicTask("prediction-log-retention", RETENTION_EVERY, runtime.prediction_log.prune, first_after=90.0),
            PeriodicTask("alerts", alerts.EVERY_SECONDS, partial(alerts.evaluate, runtime), first_after=30.0),
            # a worker serves no requests: this is how it sees a restart in place (and any other epoch move)
            PeriodicTask("epochs", EPOCHS_EVERY, runtime.invalidation.refresh, first_after=EPOCHS_EVERY, record=False),
            PeriodicTask("webhook-log-retention", RETENTION_EVERY, partial(prune_deliveries, runtime.db),
                         first_after=90.0)]
