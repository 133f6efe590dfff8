"""The job machinery on both queue backends (Huey on SQLite and on Redis) with real consumer threads."""
import secrets
import time
from datetime import timedelta

import pytest
from sqlalchemy import update

from modelyard.auth.service import AuthService
from modelyard.config import Settings
from modelyard.db.base import utcnow
from modelyard.jobs.models import Job
from modelyard.jobs.queue import Worker
from modelyard.jobs.service import JobService
from modelyard.runtime import Runtime


@pytest.fixture(params=["sqlite", "redis"])
def runtime(request, tmp_path, database_url):
    queue_url = f"sqlite:///{tmp_path / 'queue.db'}"
    if request.param == "redis":
        queue_url = request.getfixturevalue("redis_server")
    settings = Settings(_env_file=None, home=tmp_path / "home", database_url=database_url, queue_url=queue_url,
                        queue_name=f"test-{secrets.token_hex(4)}", secret_key="k" * 40,
                        job_heartbeat_seconds=0.2, job_stale_seconds=1.0, job_modules=["tests.support.jobs"])
    rt = Runtime(settings)
    rt.db.migrate()
    yield rt
    rt.queue.huey.flush()
    rt.close()


@pytest.fixture
def owner(runtime):
    with runtime.db.session() as session:
        return AuthService(session, secret="", token_ttl=60, limiter=runtime.limiter).create_user("owner", "pw-123456")


@pytest.fixture
def worker(runtime):
    pool = Worker(runtime.queue, runtime.settings, threads=2, periodic=runtime.periodic)
    pool.start()
    yield pool
    pool.stop()


def submit(runtime, owner, kind, **params):
    with runtime.db.session() as session:
        return JobService(session, runtime.queue).submit(kind, owner=owner, params=params).id


def wait_for(runtime, job_id, statuses, timeout=15.0) -> Job:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with runtime.db.session() as session:
            job = session.get(Job, job_id)
            if job.status in statuses:
                return job
        time.sleep(0.05)
    pytest.fail(f"job {job_id} still {job.status} after {timeout}s (wanted {statuses})")


def test_a_submitted_job_runs_and_records_its_result(runtime, owner, worker):
    job = wait_for(runtime, submit(runtime, owner, "test.echo", value="hi"), {"completed", "failed"})
    assert (job.status, job.result, job.progress, job.attempts) == ("completed", {"echo": "hi", "attempt": 1}, 100.0, 1)
    assert job.started_at <= job.finished_at


def test_a_failing_job_is_failed_with_its_reason(runtime, owner, worker):
    job = wait_for(runtime, submit(runtime, owner, "test.boom"), {"completed", "failed"})
    assert job.status == "failed"
    assert job.error == "ValueError: the target column is empty"
    assert job.progress == 30


def test_progress_never_moves_backwards(runtime, owner, worker):
    job_id = submit(runtime, owner, "test.steps", pause=0.15)
    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with runtime.db.session() as session:
            job = session.get(Job, job_id)
        seen.append(job.progress)
        if job.status == "completed":
            break
        time.sleep(0.03)
    assert seen == sorted(seen)
    assert job.status == "completed"
    assert 40 in seen


def test_a_queued_job_can_be_cancelled_before_it_runs(runtime, owner):
    job_id = submit(runtime, owner, "test.echo", value=1)
    with runtime.db.session() as session:
        JobService(session, runtime.queue).cancel(job_id, viewer=owner)
    pool = Worker(runtime.queue, runtime.settings, threads=1, periodic=runtime.periodic)
    pool.start()
    try:
        time.sleep(1.0)
        with runtime.db.session() as session:
            job = session.get(Job, job_id)
        assert (job.status, job.attempts) == ("cancelled", 0)
    finally:
        pool.stop()


def _orphan(runtime, job_id, attempts):
    """Make the job look like its worker died mid-run: in progress, heartbeat long gone."""
    with runtime.db.session() as session:
        session.execute(update(Job).where(Job.id == job_id).values(
            status="in_progress", attempts=attempts, worker="gone:1:1",
            heartbeat_at=utcnow() - timedelta(seconds=60)))


def test_a_job_whose_worker_died_is_retried(runtime, owner):
    with runtime.db.session() as session:
        job = JobService(session, runtime.queue).submit("test.echo", owner=owner, params={"value": 7})
    runtime.queue.huey.flush()  # the message is lost with the worker that had taken it
    _orphan(runtime, job.id, attempts=1)
    pool = Worker(runtime.queue, runtime.settings, threads=1, periodic=runtime.periodic)
    pool.start()
    try:
        done = wait_for(runtime, job.id, {"completed", "failed"})
    finally:
        pool.stop()
    assert (done.status, done.attempts, done.result["attempt"]) == ("completed", 2, 2)


def test_a_job_whose_worker_died_on_its_last_attempt_is_failed_with_a_reason(runtime, owner):
    with runtime.db.session() as session:
        job = JobService(session, runtime.queue).submit("test.echo", owner=owner, params={})
    runtime.queue.huey.flush()
    _orphan(runtime, job.id, attempts=2)
    assert runtime.queue.runner.reap_stale() == []
    with runtime.db.session() as session:
        failed = session.get(Job, job.id)
    assert failed.status == "failed"
    assert "stopped responding" in failed.error and "2 attempt" in failed.error


def test_a_live_job_is_not_reaped(runtime, owner, worker):
    job_id = submit(runtime, owner, "test.steps", pause=0.6)
    wait_for(runtime, job_id, {"in_progress"})
    time.sleep(1.5)  # longer than job_stale_seconds: only the heartbeat keeps it alive
    assert runtime.queue.runner.reap_stale() == []
    assert wait_for(runtime, job_id, {"completed", "failed"}).status == "completed"


def test_periodic_tasks_run_in_the_worker_and_their_last_run_is_recorded(runtime):
    from modelyard.jobs.periodic import PeriodicTask, last_runs

    ran = []
    task = PeriodicTask("test-tick", 0.2, lambda: ran.append(1) or ["a", "b"], first_after=0.0)
    pool = Worker(runtime.queue, runtime.settings, threads=1, periodic=[task])
    pool.start()
    try:
        deadline = time.monotonic() + 10
        while len(ran) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        pool.stop()
    assert len(ran) >= 2, "a periodic task every 0.2 s ran fewer than twice in 10 s"
    last = last_runs(runtime.db)["test-tick"]
    assert (last["status"], last["detail"]) == ("ok", "2 item(s)")
    assert last["finished_at"] >= last["started_at"]


def test_every_worker_gets_the_periodic_tasks_from_the_composition_root(runtime):
    every = {t.name: t.every for t in runtime.periodic}
    assert every == {"retention": 3600.0, "prediction-log-retention": 3600.0, "alerts": 60.0,
                     "webhook-log-retention": 3600.0, "epochs": 5.0}


def submit_later(runtime, owner, *, attempts: int, **params) -> str:
    with runtime.db.session() as session:
        return JobService(session, runtime.queue).submit("test.later", owner=owner, params=params,
                                                         max_attempts=attempts).id


def test_a_failed_attempt_is_queued_again_after_its_delay_until_one_succeeds(runtime, owner, worker):
    started = time.monotonic()
    job = wait_for(runtime, submit_later(runtime, owner, attempts=3, succeed_on=3, retry_in=1.0),
                   {"completed", "failed"}, timeout=30)
    assert (job.status, job.attempts, job.result) == ("completed", 3, {"attempt": 3})
    assert time.monotonic() - started >= 2.0  # two waits of a second each, in Huey's schedule


def test_a_failed_last_attempt_fails_the_job_with_its_reason(runtime, owner, worker):
    job = wait_for(runtime, submit_later(runtime, owner, attempts=2, succeed_on=9, retry_in=0.2),
                   {"completed", "failed"}, timeout=30)
    assert (job.status, job.attempts, job.error) == ("failed", 2, "receiver said 503 on attempt 2")


def test_a_failed_attempt_without_a_retry_fails_at_once(runtime, owner, worker):
    job = wait_for(runtime, submit_later(runtime, owner, attempts=5, succeed_on=9, retry_in=None),
                   {"completed", "failed"}, timeout=30)
    assert (job.status, job.attempts, job.error) == ("failed", 1, "receiver said 503 on attempt 1")


def test_a_fanned_out_job_gathers_its_children_in_order_and_retries_a_failed_child_alone(runtime, owner, worker):
    job = wait_for(runtime, submit(runtime, owner, "test.squares", numbers=list(range(12)), flaky=[5]),
                   {"completed", "failed"}, timeout=30)
    assert job.status == "completed", job.error
    assert job.result["squares"] == [n * n for n in range(12)]
    assert job.result["attempts"] == [2 if n == 5 else 1 for n in range(12)]  # only the failed child ran twice


def test_a_parent_runs_its_own_children_when_no_other_thread_is_free(runtime, owner):
    pool = Worker(runtime.queue, runtime.settings, threads=1, periodic=[])  # the parent holds the only thread
    pool.start()
    try:
        job = wait_for(runtime, submit(runtime, owner, "test.squares", numbers=[1, 2, 3]), {"completed", "failed"})
    finally:
        pool.stop()
    assert (job.status, job.result["squares"]) == ("completed", [1, 4, 9])


def test_a_child_failing_on_its_last_attempt_fails_the_parent_naming_it_and_stops_the_rest(runtime, owner, worker):
    job = wait_for(runtime, submit(runtime, owner, "test.squares", numbers=list(range(30)), broken=[3]),
                   {"completed", "failed"}, timeout=30)
    assert job.status == "failed"
    assert job.error == "ChildFailed: part 4 of 30 failed after 2 attempt(s): RuntimeError: cannot square 3 on attempt 2"
    with runtime.db.session() as session:
        children = session.query(Job).filter(Job.id.like(f"{job.id}.%")).all()
    assert len(children) == 30
    assert not [c.id for c in children if c.status == "queued"]  # none left for a worker to pick up
