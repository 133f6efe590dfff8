"""create_app(settings): the runtime, routers, error handlers, middleware and lifespan."""
from __future__ import annotations

import fcntl
import logging
import os
import sys
from contextlib import asynccontextmanager

import psutil
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from modelyard import __version__, process
from modelyard.api import admin, auth, blobs, csv_scoring, docs, errors, jobs, live, mlops_dashboard, system
from modelyard.api import enterprise, labeling, monitoring, platform, predict, webhooks
from modelyard.api import model_registry, openapi, v2
from modelyard.api.metrics_middleware import MetricsMiddleware
from modelyard.api.middleware import BodyLimitMiddleware, RequestContextMiddleware
from modelyard.auth.service import AuthService
from modelyard.config import Settings
from modelyard.jobs.queue import Worker
from modelyard.ops.latency import LatencyWindow
from modelyard.runtime import Runtime

log = logging.getLogger("modelyard")


def bootstrap(runtime: Runtime) -> None:
    """Migrate, and on first start create the admin (printing a generated password once)."""
    runtime.db.migrate()
    settings = runtime.settings
    with runtime.db.session() as session:
        service = AuthService(session, secret="", token_ttl=60, limiter=runtime.limiter)
        admin = service.ensure_admin(settings.admin_username, settings.admin_password or None)
    name = settings.admin_username
    if admin.generated_password:
        print(f"modelyard: created user '{name}' with password: {admin.generated_password}\n"
              "modelyard: this password is shown only once; change it with "
              "`modelyard users reset-password`.", file=sys.stderr, flush=True)
    elif admin.password_ignored:
        state = f"{name} exists" if admin.exists else f"users exist but not {name}"
        log.warning("%s; MODELYARD_ADMIN_PASSWORD not applied; use `modelyard users reset-password %s` "
                    "(the variable only sets the password of the first account)", state, name)


def bootstrap_once(settings: Settings) -> None:
    """Bootstrap before `serve --workers N` starts its processes, which then skip it."""
    runtime = Runtime(settings)
    try:
        bootstrap(runtime)
    finally:
        runtime.close()
    os.environ["MODELYARD_BOOTSTRAPPED"] = "1"  # inherited by the worker processes


def from_environment() -> FastAPI:
    """The app of one of `serve --workers N`'s processes (uvicorn's factory)."""
    process.setup_logging()
    return create_app(Settings())


def _job_lock(settings: Settings):
    """With the embedded (SQLite) queue, one process of this data folder runs jobs: whoever holds the lock."""
    if not settings.is_embedded_queue:
        return True
    handle = open(settings.home_dir / "jobs.lock", "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def create_app(settings: Settings | None = None, *, run_worker: bool | None = None,
               immediate_jobs: bool = False) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings, immediate_jobs=immediate_jobs)
    start_worker = settings.runs_embedded_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if not os.environ.get("MODELYARD_BOOTSTRAPPED"):
            bootstrap(runtime)
        psutil.cpu_percent(interval=None)  # prime: later calls measure since the previous one
        worker = lock = None
        if start_worker and not immediate_jobs:
            lock = _job_lock(settings)
            if lock is None:
                log.info("jobs of this data folder run in another process (pid holding %s)",
                         settings.home_dir / "jobs.lock")
            else:
                worker = Worker(runtime.queue, settings, threads=settings.worker_threads, periodic=runtime.periodic)
                worker.start()
        runtime.start()
        try:
            yield
        finally:
            if worker:
                worker.stop()
            if lock not in (None, True):
                lock.close()  # releases the flock: another process of this folder may run jobs now
            runtime.close()

    app = FastAPI(title="modelyard", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="From a CSV to a versioned, deployed, monitored model behind an authenticated API.")
    app.state.runtime = runtime
    app.state.latency = LatencyWindow()
    app.state.ws_connections = live.Connections()

    errors.install(app)
    docs.install(app)  # /, /docs and /redoc from files shipped in the package (no CDN)
    for router in (predict.router, system.public, auth.public, blobs.router, system.private, auth.private, jobs.router,
                   admin.router, mlops_dashboard.router, csv_scoring.router, labeling.router, live.router,
                   model_registry.public, model_registry.router, platform.router, enterprise.router,
                   webhooks.router, v2.router, monitoring.public, monitoring.router):
        app.include_router(router)
    openapi.install(app)

    app.add_middleware(BodyLimitMiddleware, json_limit=settings.max_json_bytes,
                       upload_limit=settings.max_upload_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_credentials=settings.cors_allow_credentials,
                           allow_methods=["*"], allow_headers=["*"], expose_headers=["X-Request-ID", "ETag"])
    app.add_middleware(RequestContextMiddleware, latency=app.state.latency)
    app.add_middleware(MetricsMiddleware)
    return app
