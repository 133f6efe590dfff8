"""Status figures, measured with psutil; the health of each part is in ops/health.py."""
from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from modelyard.runtime import Runtime


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


def human_bytes(size: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if size < 1024 or unit == "TB":
            return f"{size:.1f} {unit}" if unit != "B" else f"{int(size)} B"
        size /= 1024
    return f"{size:.1f} TB"


def human_uptime(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = f"{hours:02d}:{minutes:02d}:{secs:02d}"
    return f"{days} day{'s' if days != 1 else ''} {clock}" if days else clock


def host_figures(path: str) -> dict[str, Any]:
    memory = psutil.virtual_memory()
    disk = psutil.disk_usage(path)
    return {
        "memory": {"total": memory.total, "available": memory.available, "percent": memory.percent,
                   "used": memory.used, "free": memory.free},
        "cpu_percent": psutil.cpu_percent(interval=None),
        "disk_usage": {"total": disk.total, "used": disk.used, "free": disk.free, "percent": disk.percent},
    }


def uptime_seconds(runtime: "Runtime") -> float:
    return time.time() - runtime.started_at
