"""A long fuzzing run against a real server: the checks of tests/api/test_openapi_fuzz.py, in every role, and the
cross-user probe of tests/api/test_cross_user_access.py, until at least N requests were sent.

    python bench/fuzz.py [--requests 100000] [--examples 10] [--seed 20261201] [--keep-home]

Run it from a checkout of modelyard with modelyard installed in the running Python (`pip install -e .`). It starts
`modelyard serve` (this interpreter, a fresh temporary home, rate limits raised out of the way) on a free port and
waits for /health; the admin creates the accounts (a user, a labeler, a user whose API key is sent as `X-API-Key`,
and the owner/intruders of the probe). Then, round after round (round r draws with seed + r, so a run is
repeatable on the same code): for each operation of the server's OpenAPI document, `--examples` valid and as many
invalid inputs, each sent in every role and checked (no 5xx, no undeclared status, body, content type and headers
as declared); after each round, every operation with an id in its path is called with the owner's ids as another
user and as a labeler (403 or 404, and none of the owner's data), and every list or report (a GET without an
id) likewise carries none of the owner's data. A leak is any other answer.

It prints one table (per role and in total: operations, requests, 5xx, schema violations, cross-user leaks, time)
and the first failures of each kind, with the server's log file for the tracebacks. Exit status 1 if anything failed.
"""
from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checks and the probe are the tests' own

import httpx  # noqa: E402
import hypothesis  # noqa: E402
import schemathesis  # noqa: E402
from hypothesis import HealthCheck, Phase  # noqa: E402
from schemathesis.generation import GenerationMode  # noqa: E402

from tests.api.test_cross_user_access import (  # noqa: E402
    ALLOWED, BODIES, SECRET, SHARED, concrete, leaks, operations_with_ids, owned_by_a,
)
from tests.api.test_openapi_fuzz import CHECKS  # noqa: E402
from tests.support.servers import serve_modelyard, stop_session  # noqa: E402

ROLES = ("user", "labeler", "api-key", "admin")
INTRUDERS = ("other-b", "labeler-b")
SHOWN = 5  # failures printed per kind


def start_server(home: Path, password: str) -> tuple[subprocess.Popen, str, Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.update(MODELYARD_HOME=str(home), MODELYARD_ADMIN_PASSWORD=password, MODELYARD_LOG_LEVEL="WARNING",
               MODELYARD_SECRET_KEY=secrets.token_hex(32), MODELYARD_RATE_LIMIT_TOKEN="100000000/hour",
               MODELYARD_RATE_LIMIT_API_KEY="100000000/hour", MODELYARD_RATE_LIMIT_PREDICTIONS="100000000/hour")
    log = home.parent / "server.log"
    process, base = serve_modelyard(env, log=log)
    return process, base, log


def accounts(client: httpx.Client, password: str) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    """Headers per role and per probe account (created by the admin), and the accounts' ids by name."""
    def login(username: str, secret: str) -> dict:
        response = client.post("/api/auth/login", json={"username": username, "password": secret})
        response.raise_for_status()
        return response.json()

    admin = {"Authorization": f"Bearer {login('admin', password)['access_token']}"}
    headers, ids = {"admin": admin}, {}
    for name, role in (("fuzz-user", "user"), ("fuzz-labeler", "labeler"), ("fuzz-script", "user"),
                       ("owner-a", "user"), ("other-b", "user"), ("labeler-a", "labeler"), ("labeler-b", "labeler")):
        created = client.post("/admin/users", headers=admin, json={"username": name, "password": f"{name}-password",
                                                                   "role": role})
        created.raise_for_status()
        ids[name] = str(created.json()["id"])
        headers[name] = {"Authorization": f"Bearer {login(name, f'{name}-password')['access_token']}"}
    key = client.post("/api/auth/keys", headers=headers["fuzz-script"], json={"name": "fuzz"})
    key.raise_for_status()
    headers["user"], headers["labeler"] = headers["fuzz-user"], headers["fuzz-labeler"]
    headers["api-key"] = {"X-API-Key": key.json()["api_key"]}
    return headers, ids


def draw(operation, mode: GenerationMode, count: int, seed: int) -> list:
    """`count` cases of one operation in one generation mode (fewer when the schema allows fewer)."""
    found: list = []

    @hypothesis.seed(seed)
    @hypothesis.settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
                         suppress_health_check=list(HealthCheck))
    @hypothesis.given(operation.as_strategy(generation_mode=mode))
    def collect(case):
        found.append(case)

    try:
        collect()
    except Exception:  # noqa: BLE001 - an operation with no invalid input (or none satisfiable) yields none
        pass
    return found[:count]


class Tally:
    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.failures: dict[str, Counter[str]] = defaultdict(Counter)
        self.examples: dict[str, list[str]] = defaultdict(list)
        self.seconds: Counter[str] = Counter()

    def fail(self, kind: str, role: str, text: str) -> None:
        self.failures[kind][role] += 1
        if len(self.examples[kind]) < SHOWN:
            self.examples[kind].append(f"[{role}] {text}")

    @property
    def total(self) -> int:
        return sum(self.requests.values())


def send(case, role: str, headers: dict[str, str], tally: Tally) -> None:
    started = time.perf_counter()
    try:
        response = case.call(headers=headers, timeout=60)
    except Exception as exc:  # noqa: BLE001 - a dropped connection is a server failure too
        tally.requests[role] += 1
        tally.fail("5xx", role, f"{case.method} {case.formatted_path}: {type(exc).__name__}: {exc}")
        return
    tally.requests[role] += 1
    tally.seconds[role] += time.perf_counter() - started
    where = f"{case.method} {case.formatted_path} -> {response.status_code}"
    if response.status_code >= 500:
        tally.fail("5xx", role, f"{where} {response.text[:160]}")
        return
    try:
        case.validate_response(response, checks=CHECKS)
    except Exception as exc:  # noqa: BLE001 - schemathesis raises one failure or a group of them
        tally.fail("schema", role, f"{where}: {str(exc).strip().splitlines()[0][:200]}")


def probe(client: httpx.Client, headers: dict, ids: dict[str, str], tally: Tally) -> None:
    """Every operation with an id in its path, with the owner's ids, and every list or report (a GET without an
    id), as another user and as a labeler."""
    document = client.get("/openapi.json").json()
    reads = [path for path, ops in document["paths"].items() if "get" in ops and "{" not in path
             and ("GET", path) not in SHARED and not path.startswith(("/docs", "/redoc", "/openapi"))]
    for path in reads:
        for intruder in INTRUDERS:
            started = time.perf_counter()
            response = client.get(path, headers=headers[intruder])
            tally.requests["probe"] += 1
            tally.seconds["probe"] += time.perf_counter() - started
            if SECRET in response.text:
                tally.fail("leak", "probe", f"{intruder}: GET {path} -> {response.status_code} {response.text[:160]}")
    for method, path in operations_with_ids(document):
        if (method, path) in ALLOWED:
            continue
        url = concrete(path, ids)
        for intruder in INTRUDERS:
            started = time.perf_counter()
            response = client.request(method, url, headers=headers[intruder], **BODIES.get((method, path), {}))
            tally.requests["probe"] += 1
            tally.seconds["probe"] += time.perf_counter() - started
            if response.status_code not in (403, 404) or leaks(response.text, url):
                tally.fail("leak", "probe", f"{intruder}: {method} {url} -> {response.status_code} "
                                            f"{response.text[:160]}")


def run(args: argparse.Namespace, base: str, password: str) -> tuple[Tally, int, float]:
    client = httpx.Client(base_url=base, timeout=60)
    headers, account_ids = accounts(client, password)
    fuzz_accounts = {account_ids[n] for n in ("fuzz-user", "fuzz-labeler", "fuzz-script")}
    probe_ids = {"user_id": account_ids["owner-a"]} | owned_by_a(client, headers)
    config = schemathesis.Config.from_dict({"generation": {"database": "none", "no-shrink": True}})
    schema = schemathesis.openapi.from_url(f"{base}/openapi.json", config=config)
    operations = [result.ok() for result in schema.get_all_operations()]
    tally, started, round_ = Tally(), time.monotonic(), 0
    while tally.total < args.requests:
        for index, operation in enumerate(operations):
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                for case in draw(operation, mode, args.examples, args.seed + round_ * 1000 + index):
                    for role in ROLES:
                        if role == "admin" and case.method in ("PATCH", "DELETE") \
                                and str(case.path_parameters.get("user_id")) in fuzz_accounts | {
                                    account_ids[n] for n in ("owner-a", "other-b", "labeler-a", "labeler-b")}:
                            continue  # the admin would deactivate an account the run still uses
                        send(case, role, headers[role], tally)
            if tally.total >= args.requests:
                break
        probe(client, headers, probe_ids, tally)
        round_ += 1
        print(f"round {round_}: {tally.total} requests, {time.monotonic() - started:.0f} s", file=sys.stderr)
    return tally, len(operations), time.monotonic() - started


def table(tally: Tally, operations: int, elapsed: float) -> str:
    rows = ["| role | operations | requests | 5xx | schema violations | cross-user leaks | time (s) |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for role in (*ROLES, "probe"):
        rows.append(f"| {role} | {operations if role != 'probe' else '-'} | {tally.requests[role]} | "
                    f"{tally.failures['5xx'][role]} | {tally.failures['schema'][role]} | "
                    f"{tally.failures['leak'][role]} | {tally.seconds[role]:.0f} |")
    total = {kind: sum(tally.failures[kind].values()) for kind in ("5xx", "schema", "leak")}
    rows.append(f"| **all** | {operations} | {tally.total} | {total['5xx']} | {total['schema']} | "
                f"{total['leak']} | {elapsed:.0f} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000, help="send at least this many requests")
    parser.add_argument("--examples", type=int, default=10, help="valid (and as many invalid) inputs per "
                                                                 "operation and round")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--keep-home", action="store_true", help="keep the server's home and log afterwards")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="modelyard-fuzz-"))
    password = secrets.token_urlsafe(16)
    process, base, log = start_server(workdir / "home", password)
    try:
        tally, operations, elapsed = run(args, base, password)
    finally:
        stop_session(process)
    print(table(tally, operations, elapsed))
    for kind, examples in tally.examples.items():
        print(f"\nfirst {kind} failures:")
        print("\n".join(f"  {line}" for line in examples))
    if args.keep_home or tally.examples:
        print(f"\nserver log: {log}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if tally.examples else 0


if __name__ == "__main__":
    sys.exit(main())
