"""Sustained mixed load on one running `modelyard serve`: the driver behind bench/load.py and
tests/e2e/test_sustained_load.py (one implementation, two lengths).

`prepare(url, admin_password)` logs in as admin, creates the load users, uploads the buyers CSV, trains
and deploys a model. `run(plan, pid=..., seconds=...)` then runs `clients` threads, each with its own
HTTP connection, choosing per request (weights in MIX): a login, a one-row prediction with random
inputs (so the prediction cache does not answer), a CSV upload, or a poll of a training job; one
client also starts a small training job every `train_every` seconds, which the pollers then follow.
A thread samples the RSS of the server's process tree (psutil on its pid and its children: the uvicorn
supervisor and its API processes) every `sample_every` seconds.

Every answer other than the one the contract promises (200, or 202 for a training start), every
transport error and every timeout counts as an error of its endpoint. The server is started with
its request limits raised (LOAD_ENV), so a 429 is an error too.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field

import httpx
import psutil

from tests.support.datasets import buyers, to_csv

USERS = 4
PASSWORD = "load-user-password-1"
MODEL_NAME = "load-buyers"
TRAIN_BUDGET = 5  # seconds of each training started under load (max_training_time)
MIX = {"predict": 60, "poll_job": 20, "login": 10, "upload": 10}
REQUEST_TIMEOUT = 30.0
UPLOAD_ROWS = 200
# The limits a real deployment sets per user would turn a load test into a rate-limit test.
LOAD_ENV = {
    "MODELYARD_RATE_LIMIT_TOKEN": "100000000/hour",
    "MODELYARD_RATE_LIMIT_API_KEY": "100000000/hour",
    "MODELYARD_RATE_LIMIT_PREDICTIONS": "100000000/hour",
    "MODELYARD_RATE_LIMIT_UPLOADS": "100000000/hour",
}
ENDPOINTS = ("POST /api/auth/login", "POST /api/predict/{model}", "POST /api/upload", "POST /api/train",
             "GET /api/jobs/{id}")


@dataclass
class Plan:
    """What prepare() made: the server's URL, the users' names and a file and job to start from."""
    url: str
    users: list[str]
    file_id: str
    jobs: dict[str, str]  # each user's training job, which its clients poll until they start another
    model_id: str


@dataclass
class Stats:
    """Answers of one endpoint: latencies of every request and the unexpected answers, by kind."""
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    server_errors: int = 0

    def add(self, seconds: float, problem: str | None, status: int | None) -> None:
        self.latencies.append(seconds)
        if problem is not None:
            self.errors[problem] = self.errors.get(problem, 0) + 1
        if status is not None and status >= 500:
            self.server_errors += 1


@dataclass
class Result:
    seconds: float
    stats: dict[str, Stats]
    memory: list[tuple[float, float]]  # (seconds since start, RSS of the server's process tree in MB)
    processes: list[int]  # processes in the tree at each sample: a change means one died or was restarted
    trainings: int

    def unexpected(self) -> dict[str, dict[str, int]]:
        return {name: s.errors for name, s in self.stats.items() if s.errors}

    def rss_at(self, seconds: float) -> float:
        """The last RSS sample taken at or before `seconds` (the first sample when none is)."""
        before = [mb for t, mb in self.memory if t <= seconds]
        return before[-1] if before else self.memory[0][1]

    def growth_mb(self, warmup: float) -> float:
        """RSS at the end minus RSS at `warmup` seconds."""
        return self.memory[-1][1] - self.rss_at(warmup)

    def trend_mb_per_minute(self, warmup: float) -> float:
        """How fast RSS rises after `warmup` seconds, in MB a minute: the Theil-Sen slope of those samples
        (the median of the slopes between every two of them). Logins in flight at one sample (argon2 takes
        19 MiB each) move that sample, and so any difference of two samples, by tens of MB; they barely move
        the median slope, while a leak moves every pair."""
        from scipy.stats import theilslopes

        after = [(t, mb) for t, mb in self.memory if t >= warmup]
        if len(after) < 3:
            raise ValueError(f"{len(after)} RSS samples after {warmup:g} s: too few for a trend")
        return 60.0 * theilslopes([mb for _, mb in after], [t for t, _ in after]).slope


# --- preparation -----------------------------------------------------------------------------------


def login(client: httpx.Client, username: str, password: str) -> str:
    answer = client.post("/api/auth/login", json={"username": username, "password": password})
    if answer.status_code != 200:
        raise RuntimeError(f"login of {username}: {answer.status_code} {answer.text[:500]}")
    return answer.json()["access_token"]


def _ok(answer: httpx.Response, status: int, what: str) -> dict:
    if answer.status_code != status:
        raise RuntimeError(f"{what}: {answer.status_code} {answer.text[:1000]}")
    return answer.json()


def _wait_job(client: httpx.Client, job_id: str, headers: dict, timeout: float = 180.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = _ok(client.get(f"/api/training/{job_id}", headers=headers), 200, f"GET /api/training/{job_id}")
        if job["status"] in ("completed", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise RuntimeError(f"training job {job_id} did not finish within {timeout:.0f}s")


def prepare(url: str, admin_password: str, *, admin: str = "admin") -> Plan:
    """Users, an uploaded CSV, a trained and deployed model; everything the load needs."""
    with httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT) as client:
        headers = {"Authorization": f"Bearer {login(client, admin, admin_password)}"}
        users = [f"load{i}" for i in range(USERS)]
        for name in users:
            _ok(client.post("/admin/users", headers=headers,
                            json={"username": name, "password": PASSWORD, "role": "user"}), 201, f"create {name}")
        owner = {"Authorization": f"Bearer {login(client, users[0], PASSWORD)}"}
        upload = client.post("/api/upload", headers=owner,
                             files={"file": ("buyers.csv", to_csv(buyers(400)), "text/csv")})
        file_id = _ok(upload, 200, "POST /api/upload")["file_id"]
        job_id = _start_training(client, owner, file_id)
        job = _wait_job(client, job_id, owner)
        if job["status"] != "completed":
            raise RuntimeError(f"the first training did not complete: {job}")
        model_id = job["model_id"]
        _ok(client.post(f"/api/models/{model_id}/deploy", headers=owner), 200, "deploy")
        jobs = {users[0]: job_id}
        for name in users[1:]:  # each user predicts with a model of their own: tenancy allows nothing else
            mine = {"Authorization": f"Bearer {login(client, name, PASSWORD)}"}
            uploaded = client.post("/api/upload", headers=mine,
                                   files={"file": ("buyers.csv", to_csv(buyers(400)), "text/csv")})
            jobs[name] = _start_training(client, mine, _ok(uploaded, 200, "upload")["file_id"])
            trained = _wait_job(client, jobs[name], mine)
            if trained["status"] != "completed":
                raise RuntimeError(f"the training of {name} did not complete: {trained}")
            _ok(client.post(f"/api/models/{trained['model_id']}/deploy", headers=mine), 200, "deploy")
    return Plan(url=url, users=users, file_id=file_id, jobs=jobs, model_id=model_id)


def _start_training(client: httpx.Client, headers: dict, file_id: str) -> str:
    body = {"file_id": file_id, "model_type": "classification", "name": MODEL_NAME,
            "training_params": {"max_training_time": TRAIN_BUDGET, "target": "will_buy"}}
    return _ok(client.post("/api/train", json=body, headers=headers), 202, "POST /api/train")["job_id"]


# --- the load --------------------------------------------------------------------------------------


class _Client(threading.Thread):
    """One simulated user: its own connection, token, uploaded files and jobs to poll."""

    def __init__(self, index: int, plan: Plan, shared: _Shared, trainer: bool):
        super().__init__(name=f"load-client-{index}", daemon=True)
        self.rng = random.Random(index)
        self.plan = plan
        self.shared = shared
        self.trainer = trainer
        self.username = plan.users[index % len(plan.users)]
        self.stats = {name: Stats() for name in ENDPOINTS}
        self.csv = to_csv(buyers(UPLOAD_ROWS, seed=index))
        self.files: list[str] = []

    def run(self) -> None:
        with httpx.Client(base_url=self.plan.url, timeout=REQUEST_TIMEOUT) as http:
            self.http = http
            self.headers = {"Authorization": f"Bearer {login(http, self.username, PASSWORD)}"}
            next_training = time.monotonic()
            while not self.shared.stop.is_set():
                if self.trainer and time.monotonic() >= next_training and self.files:
                    self._train()
                    next_training = time.monotonic() + self.shared.train_every
                    continue
                kind = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
                getattr(self, f"_{kind}")()

    def _call(self, endpoint: str, expected: int, method: str, path: str, **kwargs) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            answer = self.http.request(method, path, headers=kwargs.pop("headers", self.headers), **kwargs)
        except httpx.HTTPError as exc:
            self.stats[endpoint].add(time.perf_counter() - started, type(exc).__name__, None)
            return None
        problem = None if answer.status_code == expected else f"HTTP {answer.status_code}"
        self.stats[endpoint].add(time.perf_counter() - started, problem, answer.status_code)
        if problem and len(self.shared.samples) < 20:
            self.shared.samples.append(f"{method} {path} -> {answer.status_code}: {answer.text[:300]}")
        return None if problem else answer

    def _login(self) -> None:
        answer = self._call("POST /api/auth/login", 200, "POST", "/api/auth/login", headers={},
                            json={"username": self.username, "password": PASSWORD})
        if answer is not None:
            self.headers = {"Authorization": f"Bearer {answer.json()['access_token']}"}

    def _predict(self) -> None:
        row = {"age": self.rng.randint(18, 80), "income": self.rng.randint(20_000, 120_000),
               "region": self.rng.choice(["north", "south", "east", "west"]), "purchases": self.rng.randint(0, 9)}
        self._call("POST /api/predict/{model}", 200, "POST", f"/api/predict/{MODEL_NAME}", json={"data": [row]})

    def _upload(self) -> None:
        answer = self._call("POST /api/upload", 200, "POST", "/api/upload",
                            files={"file": ("load.csv", self.csv, "text/csv")})
        if answer is not None:
            self.files = [*self.files[-4:], answer.json()["file_id"]]

    def _poll_job(self) -> None:
        job_id = self.shared.jobs.get(self.username, self.plan.jobs[self.username])
        self._call("GET /api/jobs/{id}", 200, "GET", f"/api/jobs/{job_id}")

    def _train(self) -> None:
        body = {"file_id": self.files[-1], "model_type": "classification", "name": f"{MODEL_NAME}-retrain",
                "training_params": {"max_training_time": TRAIN_BUDGET, "target": "will_buy"}}
        answer = self._call("POST /api/train", 202, "POST", "/api/train", json=body)
        if answer is not None:
            self.shared.jobs[self.username] = answer.json()["job_id"]
            self.shared.trainings += 1


class _Shared:
    def __init__(self, train_every: float):
        self.stop = threading.Event()
        self.train_every = train_every
        self.jobs: dict[str, str] = {}  # the latest training job of each user, which its clients poll
        self.trainings = 0
        self.samples: list[str] = []  # the first unexpected answers, for the report


def tree_rss_mb(pid: int) -> tuple[float, int]:
    """RSS of `pid` and all its descendants in MB, and how many processes that is: `modelyard serve` is a
    uvicorn supervisor whose API processes (one per core by default) are its children."""
    root = psutil.Process(pid)
    total, count = 0, 0
    for process in [root, *root.children(recursive=True)]:
        try:
            total += process.memory_info().rss
            count += 1
        except psutil.NoSuchProcess:
            pass
    return total / 2**20, count


def _sample_memory(pid: int, every: float, stop: threading.Event, out: list, counts: list, started: float) -> None:
    while True:
        mb, count = tree_rss_mb(pid)
        out.append((time.monotonic() - started, mb))
        counts.append(count)
        if stop.wait(every):
            mb, count = tree_rss_mb(pid)
            out.append((time.monotonic() - started, mb))
            counts.append(count)
            return


def run(plan: Plan, *, pid: int, seconds: float, clients: int = 6, train_every: float = 60.0,
        sample_every: float = 10.0, progress=None) -> Result:
    """The mixed load for `seconds`; `progress(elapsed, rss_mb)` is called at each memory sample."""
    shared = _Shared(train_every)
    threads = [_Client(i, plan, shared, trainer=(i == 0)) for i in range(clients)]
    memory: list[tuple[float, float]] = []
    counts: list[int] = []
    started = time.monotonic()
    sampler = threading.Thread(target=_sample_memory, args=(pid, sample_every, shared.stop, memory, counts, started),
                               daemon=True)
    sampler.start()
    for thread in threads:
        thread.start()
    seen = 0
    while time.monotonic() - started < seconds:
        time.sleep(min(1.0, max(0.0, seconds - (time.monotonic() - started))))
        if progress and len(memory) > seen:
            seen = len(memory)
            progress(*memory[-1])
    shared.stop.set()
    for thread in threads:
        thread.join(REQUEST_TIMEOUT + 5)
    sampler.join(5)
    elapsed = time.monotonic() - started
    merged = {name: Stats() for name in ENDPOINTS}
    for thread in threads:
        for name, stats in thread.stats.items():
            merged[name].latencies += stats.latencies
            merged[name].server_errors += stats.server_errors
            for problem, count in stats.errors.items():
                merged[name].errors[problem] = merged[name].errors.get(problem, 0) + count
    result = Result(seconds=elapsed, stats=merged, memory=memory, processes=counts, trainings=shared.trainings)
    result.samples = shared.samples  # type: ignore[attr-defined]
    return result


# --- the report ------------------------------------------------------------------------------------


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def table(result: Result) -> str:
    """Per endpoint: requests, error rate, throughput, p50/p99; Markdown."""
    lines = ["| endpoint | requests | errors | error rate | req/s | p50 ms | p99 ms |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    total, failed = 0, 0
    for name, stats in result.stats.items():
        count, errors = len(stats.latencies), sum(stats.errors.values())
        total, failed = total + count, failed + errors
        rate = f"{100 * errors / count:.2f} %" if count else "-"
        lines.append(f"| `{name}` | {count} | {errors} | {rate} | {count / result.seconds:.1f} | "
                     f"{1000 * _percentile(stats.latencies, 0.5):.0f} | {1000 * _percentile(stats.latencies, 0.99):.0f} |")
    lines.append(f"| all | {total} | {failed} | {100 * failed / max(total, 1):.2f} % | {total / result.seconds:.1f} | | |")
    return "\n".join(lines)


def memory_table(result: Result, *, warmup: float = 60.0) -> str:
    """RSS samples, one line per minute, then the growth and the trend (MB a minute) after the warm-up."""
    lines = ["| time | server RSS MB (all processes) |", "|---:|---:|"]
    shown = -60.0
    for t, mb in result.memory:
        if t - shown >= 60.0 or (t, mb) == result.memory[-1]:
            lines.append(f"| {t:5.0f} s | {mb:.1f} |")
            shown = t
    start, end = result.rss_at(warmup), result.memory[-1][1]
    low = min(mb for t, mb in result.memory if t >= warmup) if result.memory[-1][0] >= warmup else end
    high = max(mb for t, mb in result.memory if t >= warmup) if result.memory[-1][0] >= warmup else end
    lines.append("")
    after = sum(1 for t, _ in result.memory if t >= warmup)
    trend = f"{result.trend_mb_per_minute(warmup):+.1f} MB a minute" if after >= 3 else "too few samples"
    lines.append(f"RSS at {warmup:.0f} s: {start:.1f} MB; at the end: {end:.1f} MB; growth {end - start:+.1f} MB "
                 f"({100 * (end - start) / start:+.1f} %); range after {warmup:.0f} s: {low:.1f}–{high:.1f} MB; "
                 f"trend after {warmup:.0f} s (Theil-Sen): {trend}; "
                 f"{len(result.memory)} samples; processes in the tree: {sorted(set(result.processes))}")
    return "\n".join(lines)
