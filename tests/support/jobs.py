"""Job handlers used by the tests to prove the job machinery (named in settings.job_modules; the
composition root reads this module's HANDLERS table)."""
from __future__ import annotations

import time

from modelyard.jobs.context import AttemptFailed, JobContext


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


def squares(ctx: JobContext) -> dict:
    """A parent: one child per number; the results come back in order."""
    states = ctx.fan_out("test.square", [{"n": n, "fail_once": n in ctx.params.get("flaky", []),
                                          "fail_always": n in ctx.params.get("broken", [])}
                                         for n in ctx.params["numbers"]])
    return {"squares": [s.result["square"] for s in states], "attempts": [s.attempts for s in states]}


def square(ctx: JobContext) -> dict:
    time.sleep(float(ctx.params.get("pause", 0.02)))
    if ctx.params["fail_always"] or (ctx.params["fail_once"] and ctx.attempt == 1):
        raise RuntimeError(f"cannot square {ctx.params['n']} on attempt {ctx.attempt}")
    return {"square": ctx.params["n"] ** 2}


def later(ctx: JobContext) -> dict:
    """Fails its attempts in an expected way (AttemptFailed) until attempt `succeed_on`."""
    if ctx.attempt < ctx.params["succeed_on"]:
        raise AttemptFailed(f"receiver said 503 on attempt {ctx.attempt}", retry_in=ctx.params["retry_in"])
    return {"attempt": ctx.attempt}


HANDLERS = {"test.later": later, "test.echo": echo, "test.boom": boom, "test.steps": steps, "test.squares": squares,
            "test.square": square}
