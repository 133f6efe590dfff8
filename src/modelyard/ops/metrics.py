"""Prometheus metrics: what `GET /metrics` exposes, and the calls that record it.

Recorded by the metrics middleware (requests, latency, upload bodies, WebSocket connections, model
cache hits), by the services (predictions, model uploads) and read at scrape time (jobs by kind and
status from the database, process figures).

Several API processes on one host: start each with ``PROMETHEUS_MULTIPROC_DIR`` pointing at one
empty folder (prometheus-client's multiprocess mode, chosen when prometheus-client is first
imported). Every process then writes its samples there and any process's ``/metrics`` answers for
all of them; process figures carry a ``pid`` label. Without it, figures are this process's own.
Across hosts, scrape each host.
"""
from __future__ import annotations

import os
import re
import threading
import time
import weakref
from typing import TYPE_CHECKING, Any, Iterable

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily

from modelyard import __version__

if TYPE_CHECKING:
    from modelyard.db import Database

CONTENT_TYPE = prometheus_client.CONTENT_TYPE_LATEST
prometheus_client.disable_created_metrics()  # *_created series double the output and nobody reads them

REGISTRY = CollectorRegistry()
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

HTTP_REQUESTS = Counter("modelyard_http_requests_total", "HTTP requests by method, route template and status.",
                        ["method", "route", "status"], registry=REGISTRY)
HTTP_LATENCY = Histogram("modelyard_http_request_duration_seconds",
                         "HTTP request latency by method, route template and status.",
                         ["method", "route", "status"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
UPLOAD_REQUESTS = Counter("modelyard_upload_requests_total", "Requests carrying a file body, by route and status.",
                          ["route", "status"], registry=REGISTRY)
UPLOAD_BYTES = Counter("modelyard_upload_bytes_total", "Bytes received in file bodies, by route.", ["route"],
                       registry=REGISTRY)
MODEL_UPLOADS = Counter("modelyard_model_uploads_total", "Model files uploaded to the registry, by format and "
                        "outcome.", ["format", "outcome"], registry=REGISTRY)
MODEL_UPLOAD_BYTES = Counter("modelyard_model_upload_bytes_total", "Bytes of model files accepted by the registry.",
                             registry=REGISTRY)
PREDICTIONS = Counter("modelyard_predictions_total", "Rows predicted, by model and version.", ["model", "version"],
                      registry=REGISTRY)
PREDICTION_LATENCY = Histogram("modelyard_prediction_duration_seconds", "Time to predict one request, by model.",
                               ["model"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
CACHE_HITS = Counter("modelyard_model_cache_hits_total", "Loaded-model cache hits.", registry=REGISTRY)
CACHE_MISSES = Counter("modelyard_model_cache_misses_total", "Loaded-model cache misses (a model was loaded).",
                       registry=REGISTRY)
CACHED_MODELS = Gauge("modelyard_model_cache_models", "Models held in the loaded-model caches.",
                      registry=REGISTRY, multiprocess_mode="livesum")
WEBSOCKETS = Gauge("modelyard_websocket_connections", "Open WebSocket connections.", registry=REGISTRY,
                   multiprocess_mode="livesum")
INFO = Gauge("modelyard_build_info", "Always 1; the modelyard version as a label.", ["version"], registry=REGISTRY,
             multiprocess_mode="max")
INFO.labels(__version__).set(1)

# Multiprocess mode cannot aggregate prometheus-client's process collector; these stand in (pid-labelled).
PROCESS_MEMORY = Gauge("modelyard_process_resident_memory_bytes", "Resident memory of each modelyard process.",
                       registry=REGISTRY, multiprocess_mode="liveall")
PROCESS_CPU = Gauge("modelyard_process_cpu_seconds", "CPU time used by each modelyard process.",
                    registry=REGISTRY, multiprocess_mode="liveall")
PROCESS_THREADS = Gauge("modelyard_process_threads", "Threads of each modelyard process.", registry=REGISTRY,
                        multiprocess_mode="liveall")
PROCESS_FDS = Gauge("modelyard_process_open_fds", "Open file descriptors of each modelyard process.",
                    registry=REGISTRY, multiprocess_mode="liveall")

# prometheus-client's own process_*, python_* figures (single-process mode only).
STANDARD = CollectorRegistry()
prometheus_client.ProcessCollector(registry=STANDARD)
prometheus_client.PlatformCollector(registry=STANDARD)
prometheus_client.GCCollector(registry=STANDARD)

_lock = threading.Lock()
_process_refreshed = 0.0
_cache_seen: "weakref.WeakKeyDictionary[Any, tuple[int, int, int]]" = weakref.WeakKeyDictionary()


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or os.environ.get("prometheus_multiproc_dir") or None


def observe_request(method: str, route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(method, route, str(status)).inc()
    HTTP_LATENCY.labels(method, route, str(status)).observe(seconds)


def observe_upload_body(route: str, status: int, size: int) -> None:
    UPLOAD_REQUESTS.labels(route, str(status)).inc()
    UPLOAD_BYTES.labels(route).inc(size)


def observe_model_upload(fmt: str, outcome: str, size: int = 0) -> None:
    MODEL_UPLOADS.labels(fmt or "unknown", outcome).inc()
    if outcome == "accepted":
        MODEL_UPLOAD_BYTES.inc(size)


def observe_prediction(model: str, version: str, seconds: float, rows: int = 1) -> None:
    PREDICTIONS.labels(model, version).inc(rows)
    PREDICTION_LATENCY.labels(model).observe(seconds)


def sync_cache(cache: Any) -> None:
    """Carry a ModelCache's own hit/miss tallies into the counters (cheap: a few integer reads)."""
    if cache is None:
        return
    with _lock:
        hits, misses, size = _cache_seen.get(cache, (0, 0, 0))
        now_hits, now_misses, now_size = cache.hits, cache.misses, len(cache)
        _cache_seen[cache] = (now_hits, now_misses, now_size)
    if now_hits > hits:
        CACHE_HITS.inc(now_hits - hits)
    if now_misses > misses:
        CACHE_MISSES.inc(now_misses - misses)
    if now_size != size:
        CACHED_MODELS.inc(now_size - size)


def set_websockets(count: int) -> None:
    WEBSOCKETS.set(count)


def refresh_process(min_interval: float = 5.0) -> None:
    """This process's memory, CPU, threads and descriptors, at most every `min_interval` seconds."""
    global _process_refreshed
    now = time.monotonic()
    if now - _process_refreshed < min_interval:
        return
    _process_refreshed = now
    import psutil

    process = psutil.Process()
    with process.oneshot():
        PROCESS_MEMORY.set(process.memory_info().rss)
        times = process.cpu_times()
        PROCESS_CPU.set(times.user + times.system)
        PROCESS_THREADS.set(process.num_threads())
        try:
            PROCESS_FDS.set(process.num_fds())
        except (AttributeError, psutil.Error):
            pass


class JobsCollector:
    """Jobs by kind and status, counted in the database at scrape time (the same for every host)."""

    def __init__(self, db: "Database"):
        self._db = db

    def collect(self) -> Iterable[GaugeMetricFamily]:
        from sqlalchemy import func, select

        from modelyard.jobs.models import Job

        family = GaugeMetricFamily("modelyard_jobs", "Jobs in the database by kind and status.",
                                   labels=["kind", "status"])
        try:
            with self._db.session() as session:
                rows = session.execute(select(Job.kind, Job.status, func.count()).group_by(Job.kind, Job.status))
                for kind, status, count in rows:
                    family.add_metric([kind, status], count)
        except Exception:  # the scrape still answers; the database health has its own endpoint
            return []
        return [family]


class _Proxy:
    def __init__(self, registry: CollectorRegistry):
        self._registry = registry

    def collect(self):
        return self._registry.collect()


def exposition(db: "Database | None" = None) -> bytes:
    """The text exposition for one scrape: every process's samples (multiprocess) or this one's."""
    refresh_process(min_interval=0.0)
    registry = CollectorRegistry()
    path = multiprocess_dir()
    if path:
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry, path=path)
    else:
        registry.register(_Proxy(REGISTRY))
        registry.register(_Proxy(STANDARD))
    if db is not None:
        registry.register(JobsCollector(db))
    return generate_latest(registry)


def mark_process_dead() -> None:
    """Drop this process's live gauges from the multiprocess folder (at shutdown)."""
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(os.getpid())


_MODEL_LABEL = re.compile(r'[{,]model="((?:[^"\\]|\\.)*)"')


def without_models(exposition: bytes, names: set[str]) -> bytes:
    """The exposition without the samples labelled with a model in `names`, so that a user's view of the
    registry names no other user's models."""
    if not names:
        return exposition
    escaped = {n.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"') for n in names}  # as written
    kept = []
    for line in exposition.decode().splitlines(keepends=True):
        label = _MODEL_LABEL.search(line) if not line.startswith("#") else None
        if label is None or label.group(1) not in escaped:
            kept.append(line)
    return "".join(kept).encode()


def platform_exposition(base: bytes, per_model: dict[str, Any], cache_hit_rate: float | None) -> bytes:
    """`base` (the `/metrics` exposition) followed by the prediction platform contract's series, computed
    from the prediction log's last 24 hours (`per_model`: ops/analytics.py sums by model). They are gauges:
    a window's figures rise and fall; the true counters are `modelyard_predictions_total` above."""
    from prometheus_client.parser import text_string_to_metric_families

    requests = sum(sample.value for family in text_string_to_metric_families(base.decode())
                   if family.name == "modelyard_http_requests" for sample in family.samples
                   if sample.name == "modelyard_http_requests_total")
    registry = CollectorRegistry()
    series = {
        "model_predictions_total": ("Prediction calls in the last 24 hours, by model", lambda s: s.calls),
        "model_confidence_avg": ("Mean confidence over the last 24 hours, by model", lambda s: s.avg_confidence),
        "model_response_time_avg": ("Mean seconds per call over the last 24 hours, by model", lambda s: s.avg_seconds),
        "model_health_score": ("Health score (0-100) over the last 24 hours, by model", lambda s: s.health_score),
        "model_error_rate": ("Percent of calls that failed in the last 24 hours, by model", lambda s: s.error_rate),
    }
    for name, (description, read) in series.items():
        gauge = Gauge(name, description, ["model"], registry=registry)
        for model, sums in per_model.items():
            value = read(sums)
            if value is not None:
                gauge.labels(model).set(value)
    Gauge("api_requests_total", "HTTP requests answered (every modelyard process)", registry=registry).set(requests)
    hit_rate = Gauge("cache_hit_rate", "Prediction cache hit rate in percent (this process, since it started)",
                     registry=registry)
    if cache_hit_rate is not None:
        hit_rate.set(cache_hit_rate)
    return base + generate_latest(registry)
