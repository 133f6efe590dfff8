"""Sustained load: one `modelyard serve` under a mix of logins, predictions, uploads and job polls.

    python bench/load.py [--minutes 10] [--clients 6] [--train-every 60] [--sample-every 10] [--json out.json]
                         [--set MODELYARD_X=VALUE ...]

Run it from a checkout of modelyard with modelyard installed in the running Python (`pip install -e .`,
or PYTHONPATH=src): the server is `python -c "from modelyard.cli import main; main()" serve --no-ui`
with this interpreter, on a fresh temporary home (the embedded shape: SQLite, a blob folder, the job
worker inside the server), request limits raised (tests/support/load.py: LOAD_ENV).

It prepares the data (4 users, each with an uploaded buyers CSV and a trained, deployed model
`load-buyers`), then for `--minutes` runs `--clients` threads that each pick, per request, a login (10 %),
a one-row prediction with random inputs (60 %), a 200-row CSV upload (10 %) or a poll of its user's
latest training job (20 %); one client starts a 5-second training every `--train-every` seconds.
The driver is tests/support/load.py, which tests/e2e/test_sustained_load.py runs for a minute.

It prints, per endpoint, requests, errors, error rate, req/s, p50 and p99 in ms; then the server's RSS
(psutil on its pid and its children: the supervisor and its API processes) sampled every `--sample-every` seconds, one line per minute, and the growth from the
end of the first minute to the end. The header gives the machine and its load average before the run:
figures taken while other work ran on the machine are not comparable. The exit status is 1 when any
request got an unexpected answer.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the driver lives with the tests that share it

from tests.support import load  # noqa: E402
from tests.support.servers import serve_modelyard, stop_session  # noqa: E402


def serve(home: Path, admin_password: str, settings: dict[str, str]) -> tuple[subprocess.Popen, str]:
    """`modelyard serve --no-ui` on a free port in `home` with `settings` added; waits for /health."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(load.LOAD_ENV, MODELYARD_HOME=str(home / "data"), MODELYARD_ADMIN_PASSWORD=admin_password,
               PYTHONUNBUFFERED="1")
    env.update(settings)
    return serve_modelyard(env, log=home / "serve.log", cwd=home, timeout=60)


def machine() -> str:
    load1, load5, _ = os.getloadavg()
    memory = psutil.virtual_memory().total / 2**30
    return (f"{platform.node()}: {os.cpu_count()} CPUs, {memory:.1f} GiB, Python {platform.python_version()}, "
            f"load average {load1:.2f} (1 min) {load5:.2f} (5 min) before the run")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--train-every", type=float, default=60.0)
    parser.add_argument("--sample-every", type=float, default=10.0)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--set", action="append", default=[], metavar="MODELYARD_X=VALUE",
                        help="a server setting, e.g. MODELYARD_PREDICTION_CACHE_SECONDS=0 (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary home (log, database) afterwards")
    args = parser.parse_args()

    print(f"# modelyard sustained load, {args.minutes:g} min, {args.clients} clients\n\n{machine()}\n", flush=True)
    home = Path(tempfile.mkdtemp(prefix="modelyard-load-"))
    password = secrets.token_urlsafe(16)
    settings = dict(item.split("=", 1) for item in args.set)
    if settings:
        print(f"server settings: {' '.join(args.set)}\n", flush=True)
    proc, url = serve(home, password, settings)
    try:
        started = time.monotonic()
        plan = load.prepare(url, password)
        print(f"prepared in {time.monotonic() - started:.0f} s (users, uploads, trained and deployed models)",
              flush=True)

        def progress(elapsed: float, rss: float) -> None:
            print(f"  {elapsed:5.0f} s  RSS {rss:.1f} MB", file=sys.stderr, flush=True)

        result = load.run(plan, pid=proc.pid, seconds=args.minutes * 60, clients=args.clients,
                          train_every=args.train_every, sample_every=args.sample_every, progress=progress)
        if proc.poll() is not None:
            print(f"the server exited with {proc.returncode} during the run", flush=True)
    finally:
        stop_session(proc)
    print(f"\n{load.table(result)}\n\n{result.trainings} trainings started under load "
          f"(each {load.TRAIN_BUDGET} s budget)\n")
    print(load.memory_table(result, warmup=60.0))
    for sample in getattr(result, "samples", [])[:5]:
        print(f"unexpected: {sample}")
    print(f"\nload average after the run: {os.getloadavg()[0]:.2f}; server log: {home / 'serve.log'}")
    if args.json:
        args.json.write_text(json.dumps({
            "seconds": result.seconds, "memory": result.memory, "trainings": result.trainings,
            "endpoints": {name: {"requests": len(s.latencies), "errors": s.errors,
                                 "latencies": s.latencies} for name, s in result.stats.items()}}))
    return 1 if result.unexpected() else 0


if __name__ == "__main__":
    sys.exit(main())
