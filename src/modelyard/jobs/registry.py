"""Job handlers by kind. Domains register theirs with `@handler("kind")` at import."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from modelyard.jobs.context import JobContext

Handler = Callable[["JobContext"], "dict | None"]
HANDLERS: dict[str, Handler] = {}

# Modules that define the product's own handlers; imported by every worker.
BUILTIN_MODULES = ["modelyard.jobs.diagnostics", "modelyard.training.tasks", "modelyard.scoring.tasks", "modelyard.labeling.tasks"]


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


def load_handlers(extra_modules: list[str] | tuple[str, ...] = ()) -> dict[str, Handler]:
    for name in [*BUILTIN_MODULES, *extra_modules]:
        importlib.import_module(name)
    return HANDLERS
