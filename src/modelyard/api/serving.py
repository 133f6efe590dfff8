"""What the predict routes of every contract share: where a prediction runs, and fast JSON bodies.

A small request (at most INLINE_ROWS rows) whose model is resolved and loaded in this process is
predicted on the event loop: no thread hop, no I/O. Anything else (a cache miss, a large request, a
pickle whose permission is read from the database) runs in the thread pool.
"""
from __future__ import annotations

from typing import Any

import orjson
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from modelyard.auth.models import User
from modelyard.runtime import Runtime
from modelyard.serving.pipeline import Prediction

INLINE_ROWS = 100


class JSONBody(JSONResponse):
    """JSON rendered by orjson (several times faster than the standard library for prediction bodies)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


async def predict_ref(runtime: Runtime, ref: str, rows: list[dict[str, Any]], *, viewer: User) -> Prediction:
    pipeline = runtime.predictions
    if len(rows) <= INLINE_ROWS:
        version = pipeline.ready(ref, viewer=viewer)
        if version is not None:
            return pipeline.predict(version, rows, viewer=viewer)
    return await run_in_threadpool(lambda: pipeline.predict(pipeline.resolve(ref, viewer=viewer), rows, viewer=viewer))
