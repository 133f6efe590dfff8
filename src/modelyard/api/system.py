"""Health (public) and status (authenticated) in each contract's shape."""
from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from modelyard.api.deps import CurrentUser, JobsDep, RegistryDep, RuntimeDep, current_user
from modelyard.jobs.periodic import last_runs
from modelyard.ops import health as parts
from modelyard.ops import status
from modelyard.ops.schemas import HealthOut, HostStatusOut, SystemStatusOut, WorkerOut

public = APIRouter(tags=["system"])
private = APIRouter(tags=["system"], dependencies=[Depends(current_user)])


def _health(runtime) -> JSONResponse:
    body, code = parts.health_body(runtime, status.now_iso())
    return JSONResponse(body, status_code=code)


@public.get("/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def health(runtime: RuntimeDep):
    return _health(runtime)


@public.get("/monitoring/api/health", response_model=HealthOut, responses={503: {"model": HealthOut}})
def monitoring_health(runtime: RuntimeDep):
    return _health(runtime)


@private.get("/api/status", response_model=SystemStatusOut)
def system_status(runtime: RuntimeDep, jobs: JobsDep, registry: RegistryDep, user: CurrentUser):
    ops = parts.operations(runtime)
    host = status.host_figures(str(runtime.settings.home_dir))
    counts = jobs.counts_by_status()
    used = runtime.blobs.usage_bytes() if "blob_store" not in ops.report.down else 0
    uptime = status.uptime_seconds(runtime)
    workers = [WorkerOut(**vars(w)) for w in ops.queue.live_workers] if ops.queue else []
    return SystemStatusOut(
        status=ops.status, models_count=registry.count_versions(viewer=user), active_jobs=counts.get("in_progress", 0), queued_jobs=counts.get("queued", 0),
        storage_used=status.human_bytes(used), storage_used_bytes=used,
        cpu_usage=f"{host['cpu_percent']:.0f}%", memory_usage=f"{host['memory']['percent']:.0f}%",
        uptime=status.human_uptime(uptime), uptime_seconds=round(uptime, 1),
        components=ops.report.checks, live_workers=len(workers), workers=workers,
        oldest_queued_job_age_seconds=ops.queue.oldest_queued_age_seconds if ops.queue else None,
        warnings=ops.warnings,
        periodic=last_runs(runtime.db) if "database" not in ops.report.down else {},
    )


@private.get("/status", response_model=HostStatusOut)
def host_status(runtime: RuntimeDep):
    host = status.host_figures(str(runtime.settings.home_dir))
    return HostStatusOut(status="healthy", memory=host["memory"], cpu_usage=f"{host['cpu_percent']}%",
                         disk_usage=host["disk_usage"])
