"""Per-process set-up shared by `modelyard serve` (and each of its worker processes) and `modelyard worker`:
math-library thread pools, logging, and Prometheus' multiprocess folder."""
from __future__ import annotations

import atexit
import logging
import logging.handlers
import os
import queue
import shutil
from pathlib import Path


def limit_math_threads(share: int) -> None:
    """Give this process its share of the cores for OpenMP/BLAS pools (set before numpy loads).

    Several API processes on few cores must not each spin a pool as wide as the machine: measured here,
    two HistGradientBoosting servers on 2 cores with default pools fell from ~650 to 1-2 requests/s."""
    threads = str(max(1, share))
    # LightGBM and scikit-learn each bring an OpenMP runtime; spinning idle threads starve each other.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
        os.environ.setdefault(name, threads)


MALLOC_ARENAS = "2"
MALLOC_MMAP_THRESHOLD = str(4 * 2**20)  # bytes: blocks this large are mapped on their own and unmapped when freed
_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter numbers (malloc.h)
_M_ARENA_MAX = -8


def limit_malloc() -> None:
    """Make glibc's malloc give memory back, in this process and its children (each setting unless already set).

    MALLOC_ARENA_MAX: glibc gives each thread that meets a busy lock an arena of its own, up to 8 per core,
    and keeps what each arena once held. Under sustained mixed load (docs/hardening.md) the server's RSS
    rose by tens of MB a minute for five minutes with the default, and stayed flat with 2 arenas.

    MALLOC_MMAP_THRESHOLD_: glibc maps a large block on its own, but once one is freed it raises the
    threshold to that size (up to 32 MiB), so the next ones come from the heap and stay in RSS after they
    are freed. Each login's argon2 check takes 19 MiB: with the sliding threshold the server held one to
    three of them for tens of seconds after the logins ended (RSS in steps of 19 MiB); a fixed threshold
    hands each back when its login ends.

    Children started with a fresh interpreter (uvicorn's API processes) read the variables; this process
    calls mallopt itself."""
    settings = ((_M_ARENA_MAX, os.environ.setdefault("MALLOC_ARENA_MAX", MALLOC_ARENAS)),
                (_M_MMAP_THRESHOLD, os.environ.setdefault("MALLOC_MMAP_THRESHOLD_", MALLOC_MMAP_THRESHOLD)))
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        for parameter, value in settings:
            libc.mallopt(parameter, int(value))
    except (OSError, AttributeError, ValueError):  # not glibc (musl, macOS), or not a number: nothing to set
        pass


class _DeferredQueueHandler(logging.handlers.QueueHandler):
    """Hands the record to the queue as it is; the listener thread formats it, not the request."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if record.exc_info and not record.exc_text:  # tracebacks cannot cross threads later
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.exc_info = None
        return record


def setup_logging() -> None:
    """Log lines go through a queue so request threads never wait on the terminal (once per process)."""
    root = logging.getLogger()
    if any(isinstance(h, logging.handlers.QueueHandler) for h in root.handlers):
        return
    records: queue.SimpleQueue = queue.SimpleQueue()  # lock-free put: no Condition to notify per line
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    listener = logging.handlers.QueueListener(records, handler)
    listener.start()
    atexit.register(listener.stop)  # flush the last lines (shutdown, a failed start) before exit
    root.handlers[:] = [_DeferredQueueHandler(records)]
    root.setLevel(os.environ.get("MODELYARD_LOG_LEVEL", "INFO").upper())
    logging.getLogger("alembic.runtime").setLevel(logging.WARNING)  # "Context impl …", one line per migration


def shared_metrics_folder(home: Path) -> str:
    """A fresh folder where every API process of this host writes its Prometheus samples (set before
    prometheus-client is first imported; inherited by the worker processes)."""
    existing = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if existing:
        return existing
    folder = home / "prometheus"
    shutil.rmtree(folder, ignore_errors=True)  # samples of a previous run would be counted again
    folder.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    return str(folder)
