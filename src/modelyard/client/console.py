"""How the client commands talk to people and scripts: results on stdout (a Rich table, or JSON with
`--json`), messages and progress bars on stderr, and exit codes a script can trust:

    0  done
    1  the server refused (its message, code and HTTP status on stderr)
    2  the command could not run as given: usage, a missing file, not logged in
    3  the server could not be reached
    4  a job the command waited for failed or was cancelled
  130  interrupted (Ctrl-C); a job being followed goes on on the server
"""
from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from modelyard.client.errors import JobFailed, ModelyardError, Unreachable

OK, REFUSED, USAGE, UNREACHABLE, JOB_FAILED, INTERRUPTED = 0, 1, 2, 3, 4, 130

out = Console(soft_wrap=True)  # results
err = Console(stderr=True, soft_wrap=True)  # messages and progress; a message stays one line for grep


def fail(message: str, code: int = USAGE) -> NoReturn:
    err.print(f"modelyard: error: {message}", markup=False, highlight=False)
    raise SystemExit(code)


def note(message: str) -> None:
    err.print(message, markup=False, highlight=False)


def exit_code(exc: ModelyardError) -> int:
    if isinstance(exc, Unreachable):
        return UNREACHABLE
    if isinstance(exc, JobFailed):
        return JOB_FAILED
    return REFUSED


def describe(exc: ModelyardError) -> str:
    """The server's message, then its code, HTTP status and request id in brackets (for its logs)."""
    facts = [f for f in (exc.code, f"HTTP {exc.status}" if exc.status else None,
                         f"request {exc.request_id}" if exc.request_id else None) if f]
    text = exc.message + (f" [{', '.join(facts)}]" if facts and not isinstance(exc, Unreachable) else "")
    if exc.status == 401:
        text += "\n  sign in again with `modelyard login` (or set MODELYARD_API_KEY)"
    issues = exc.details.get("issues") if isinstance(exc.details, dict) else None
    for issue in issues or []:
        if isinstance(issue, dict) and issue.get("message"):
            text += f"\n  - {issue['message']}"
    return text


@contextmanager
def handled() -> Iterator[None]:
    """Every command body runs in here: a ModelyardError becomes its message on stderr and its exit code."""
    try:
        yield
    except ModelyardError as exc:
        fail(describe(exc), exit_code(exc))
    except KeyboardInterrupt:
        fail("interrupted", INTERRUPTED)
    except OSError as exc:  # a file to read or write (the server's failures are ModelyardErrors)
        fail(f"{exc.strerror or exc}: {exc.filename}" if exc.filename else str(exc), USAGE)


def emit(data: Any, as_json: bool, human: Callable[[Any], Any] | None = None) -> None:
    """A result: JSON on stdout for scripts, else what `human` renders (a Table, or a line of text)."""
    if as_json or human is None:
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        sys.stdout.flush()
        return
    shown = human(data)
    if shown is not None:
        out.print(shown, highlight=False)


def table(rows: Sequence[dict], columns: Sequence[tuple[str, str]], *, title: str | None = None) -> Table | str:
    """Rows as a Rich table of `(key, heading)` columns; an empty list says so in words."""
    if not rows:
        return f"no {title or 'rows'}"
    grid = Table(title=title, title_justify="left")
    for _, heading in columns:
        grid.add_column(heading, overflow="fold")
    for row in rows:
        grid.add_row(*[_cell(row.get(key)) for key, _ in columns])
    return grid


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def bars() -> Progress:
    """Progress bars on stderr: what, bar, percent, time, then bytes moved or the job's current step."""
    return Progress(TextColumn("{task.description:<9}"), BarColumn(), TaskProgressColumn(), TimeElapsedColumn(),
                    TextColumn("{task.fields[detail]}"), console=err, transient=False)


def bytes_callback(progress: Progress, description: str) -> Callable[[int, int | None], None]:
    """An on_progress(done, total) for the client that moves one bar of `progress`."""
    task = progress.add_task(description, total=None, detail="")

    def update(done: int, total: int | None) -> None:
        size = f"{_size(done)} of {_size(total)}" if total else _size(done)
        progress.update(task, completed=done, total=total, detail=size)

    return update


def _size(count: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if count < 1000 or unit == "GB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


def job_callback(progress: Progress, description: str) -> Callable[[Any], None]:
    """An on_progress(JobState) that moves one bar by the job's percentage and shows its current step."""
    task = progress.add_task(description, total=100, detail="queued")

    def update(state: Any) -> None:
        progress.update(task, completed=state.progress, detail=state.step or state.status)

    return update
