"""What `limit_malloc()`'s fixed mmap threshold costs a login, and what it gives back, measured in one run.

    python bench/login_memory.py [--logins 60] [--rounds 3] [--threads 3]

Each round starts two fresh interpreters, one with glibc's defaults and one after
`modelyard.process.limit_malloc()` (as `modelyard serve` and `modelyard worker` call it), with every
`MALLOC_*` variable of the caller removed. Each checks `--logins` passwords with modelyard's own argon2
parameters (`auth.credentials.verify_password`, 19 MiB a check), first one after another, then from
`--threads` threads at once (logins of several clients in flight), and prints:

- milliseconds per check (median and 90th percentile) one after another;
- the RSS the process still held, above what it held before its first argon2 call, once every check had ended
  (after the sequential part and after the threaded part).

The table shows the two settings side by side for each round; the figures are in docs/hardening.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

_CHILD = r"""
import json, sys, threading, time
import psutil
from modelyard import process
if sys.argv[1] == "limited":
    process.limit_malloc()
from modelyard.auth.credentials import hash_password, verify_password

logins, threads = int(sys.argv[2]), int(sys.argv[3])
me = psutil.Process()
mib = lambda: me.memory_info().rss / 2**20
before = mib()  # after the imports, before the first 19 MiB block
stored = hash_password("correct horse battery staple")
times = []
for _ in range(logins):
    started = time.perf_counter()
    verify_password(stored, "wrong password")
    times.append((time.perf_counter() - started) * 1000)
kept_sequential = mib() - before

def many(n):
    for _ in range(n):
        verify_password(stored, "wrong password")

pool = [threading.Thread(target=many, args=(max(1, logins // threads),)) for _ in range(threads)]
for t in pool:
    t.start()
for t in pool:
    t.join()
print(json.dumps({"times": times, "kept_sequential": kept_sequential, "kept_threaded": mib() - before}))
"""


def measure(mode: str, logins: int, threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    done = subprocess.run([sys.executable, "-c", _CHILD, mode, str(logins), str(threads)], env=env,
                          capture_output=True, text=True, check=True, timeout=600)
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--logins", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=3)
    args = parser.parse_args()

    print(f"{args.logins} argon2 checks per process (time_cost=2, memory_cost=19456), then {args.threads} threads\n")
    print("| round | malloc | ms per check, median | p90 | RSS kept after sequential (MiB) | after threaded (MiB) |")
    print("|---:|---|---:|---:|---:|---:|")
    for round_ in range(1, args.rounds + 1):
        for mode, label in (("defaults", "glibc's defaults"), ("limited", "limit_malloc()")):
            row = measure(mode, args.logins, args.threads)
            times = sorted(row["times"])
            p90 = times[int(0.9 * (len(times) - 1))]
            print(f"| {round_} | {label} | {statistics.median(times):.1f} | {p90:.1f} "
                  f"| {row['kept_sequential']:.1f} | {row['kept_threaded']:.1f} |")


if __name__ == "__main__":
    main()
