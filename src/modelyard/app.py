"""create_app(settings): the runtime, routers, error handlers, middleware and lifespan."""
from __future__ import annotations

import logging
import sys
from contextlib import asynccontextmanager

import psutil
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from modelyard import __version__
from modelyard.api import admin, auth, blobs, csv_scoring, errors, jobs, live, mlops_dashboard, system
from modelyard.api import labeling
from modelyard.api import model_registry, openapi
from modelyard.api.deps import AuthCache
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
        generated = service.ensure_admin(settings.admin_username, settings.admin_password or None)
    if generated:
        print(f"modelyard: created user '{settings.admin_username}' with password: {generated}\n"
              "modelyard: this password is shown only once; change it with "
              "`modelyard users reset-password`.", file=sys.stderr, flush=True)


def create_app(settings: Settings | None = None, *, run_worker: bool | None = None,
               immediate_jobs: bool = False) -> FastAPI:
    settings = settings or Settings()
    runtime = Runtime(settings, immediate_jobs=immediate_jobs)
    start_worker = settings.runs_embedded_worker if run_worker is None else run_worker

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        bootstrap(runtime)
        psutil.cpu_percent(interval=None)  # prime: later calls measure since the previous one
        worker = Worker(runtime, threads=settings.worker_threads) if start_worker and not immediate_jobs else None
        if worker:
            worker.start()
        runtime.tally.start()
        try:
            yield
        finally:
            runtime.tally.stop()
            if worker:
                worker.stop()
            runtime.close()

    app = FastAPI(title="modelyard", version=__version__, lifespan=lifespan,
                  description="From a CSV to a versioned, deployed, monitored model behind an authenticated API.")
    app.state.runtime = runtime
    app.state.settings = settings
    app.state.blobs = runtime.blobs
    app.state.auth_cache = AuthCache()
    app.state.latency = LatencyWindow()
    app.state.ws_connections = live.Connections()

    errors.install(app)
    for router in (system.public, auth.public, blobs.router, system.private, auth.private, jobs.router,
                   admin.router, mlops_dashboard.router, csv_scoring.router, labeling.router, live.router,
                   model_registry.public, model_registry.router):
        app.include_router(router)
    openapi.install(app)

    app.add_middleware(BodyLimitMiddleware, json_limit=settings.max_json_bytes,
                       upload_limit=settings.max_upload_bytes)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_credentials=settings.cors_allow_credentials,
                           allow_methods=["*"], allow_headers=["*"], expose_headers=["X-Request-ID"])
    app.add_middleware(RequestContextMiddleware, latency=app.state.latency)
    app.add_middleware(MetricsMiddleware)
    return app
