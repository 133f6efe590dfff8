"""Inspects an uploaded model in a child process, never in the server itself.

Native loaders are not hardened against hostile input: LightGBM aborts the whole process
(``terminate called…``) on some truncated model files, and a graph can loop or allocate without
bound. So upload checks (load, signature, smoke test) run in a child forked from a forkserver (a
clean, single-threaded process that has the libraries imported, so a child starts in milliseconds),
under a time limit and an address-space limit. A child that crashes, hangs or runs out of memory
fails the upload with a 4xx; the server process never loads bytes that have not passed there.
Serving later loads the same, unchanged bytes in-process.
"""
from __future__ import annotations

import multiprocessing
import threading
from typing import Any

from modelyard.errors import AppError, Unprocessable
from modelyard.registry import formats

TIMEOUT_SECONDS = 60.0
MEMORY_LIMIT_BYTES = 8 * 1024 ** 3
PRELOAD = ["modelyard.registry.formats", "modelyard.training.trainer"]
_lock = threading.Lock()
_context: Any = None


def _get_context():
    global _context
    with _lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(PRELOAD)
            _context = context
        return _context


def _child(conn, fmt: str, declared: formats.Declared | None, allow_pickle: bool, memory_limit: int,
           table: formats.TableInputs | None = None) -> None:
    """In the child: limit memory and threads, inspect, send back plain facts or the error."""
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))
    except (ImportError, ValueError, OSError):
        pass
    data = conn.recv_bytes()
    try:
        found = formats.inspect(fmt, data, declared=declared, allow_pickle=allow_pickle, table=table)
        conn.send(("ok", {"format": found.format, "task": found.task, "algorithm": found.algorithm,
                          "signature": found.signature, "classes": _plain(found.classes)}))
    except AppError as exc:
        conn.send(("error", (type(exc).__name__, exc.status, exc.code, exc.title, exc.message, _plain(exc.details))))
    except MemoryError:
        conn.send(("error", ("ModelCannotPredict", 422, formats.ModelCannotPredict.code,
                             formats.ModelCannotPredict.title, "loading or running the model ran out of memory "
                             f"(limit {memory_limit // 1024 ** 2} MiB)", None)))
    except Exception as exc:  # any other loader failure is the file's fault, reported as such
        conn.send(("error", ("UnsupportedModelFile", 400, "INVALID_FORMAT", "Invalid format",
                             f"the {fmt} loader failed: {type(exc).__name__}: {str(exc)[:300]}", None)))
    finally:
        conn.close()


def _plain(value: Any) -> Any:
    """Facts as plain Python values (numpy scalars in class labels and the like)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value.item() if hasattr(value, "item") and not isinstance(value, (str, bytes)) else value


class _Remote(AppError):
    """An error raised in the child, re-raised here with its status, code and message."""


def _raise(name: str, status: int, code: str, title: str, message: str, details: Any) -> None:
    cls = getattr(formats, name, None)
    if isinstance(cls, type) and issubclass(cls, AppError) and cls.status == status:
        raise cls(message, details=details)
    error = _Remote(message, details=details)
    error.status, error.code, error.title = status, code, title
    raise error


def inspect(fmt: str, data: bytes, *, declared: formats.Declared | None = None, allow_pickle: bool = False,
            table: formats.TableInputs | None = None, timeout: float = TIMEOUT_SECONDS,
            memory_limit: int = MEMORY_LIMIT_BYTES) -> dict[str, Any]:
    """``formats.inspect`` in a child process; its facts (format, task, algorithm, signature, classes)."""
    context = _get_context()
    parent, child = context.Pipe()
    process = context.Process(target=_child, args=(child, fmt, declared, allow_pickle, memory_limit, table),
                              daemon=True)
    process.start()
    child.close()
    answer, timed_out = None, False
    try:
        parent.send_bytes(data)
        timed_out = not parent.poll(timeout)
        answer = None if timed_out else parent.recv()
    except (EOFError, BrokenPipeError, ConnectionResetError):
        answer = None
    finally:
        parent.close()
        if answer is None and process.is_alive():
            process.kill()
        process.join(10)
    if timed_out:
        raise Unprocessable(f"checking the {fmt} model took longer than {timeout:.0f}s; it was refused")
    if answer is None:
        code = process.exitcode
        why = f"signal {-code}" if code and code < 0 else f"exit code {code}"
        raise formats.UnsupportedModelFile(f"the {fmt} loader crashed on this file ({why}); the file is malformed "
                                           "or truncated")
    status, payload = answer
    if status == "error":
        _raise(*payload)
    return payload
