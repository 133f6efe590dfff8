"""Job handlers used by the tests to prove the job machinery (named in settings.job_modules; the
composition root reads this module's HANDLERS table)."""
from __future__ import annotations

import time

from modelyard.jobs.context import JobContext


def echo(ctx: JobContext) -> dict:
    ctx.progress(50, "echoing")
    return {"echo": ctx.params.get("value"), "attempt": ctx.attempt}


def boom(ctx: JobContext) -> dict:
    ctx.progress(30, "about to fail")
    raise ValueError("the target column is empty")


def steps(ctx: JobContext) -> dict:
    seen = []
    for pct in (10, 40, 25, 90):  # 25 must not move progress backwards
        ctx.progress(pct, f"step {pct}")
        seen.append(pct)
        time.sleep(float(ctx.params.get("pause", 0)))
    return {"seen": seen}


HANDLERS = {"test.echo": echo, "test.boom": boom, "test.steps": steps}
