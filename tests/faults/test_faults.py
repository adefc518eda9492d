"""Fault injection: kill, cut and flood the pipeline — the job completes, no line lost or doubled.

Every case ends with the same assertion as a clean run (assert_clean_end_state): the job is
done, exactly one result per input line, and the codes an undisturbed run gives. Servers that a
case stops or fills are throwaways on free ports; the shared ones are never touched.
"""

from __future__ import annotations

import os
import signal
import threading
import time
import uuid
from pathlib import Path

import psycopg2
import sqlalchemy as sa
from sqlalchemy import func, select

from tests.clitools import run_dxcoder, wait_until
from tests.conftest import TEST_BROKER, PipelineEnv, database_on, use_database, writes_held
from tests.faults.conftest import (
    Expected,
    assert_clean_end_state,
    job_done,
    record_recovery,
    write_claims,
)
from tests.servers import ThrowawayPostgres, ThrowawayRedis
from tests.workers import Beat, Worker, dxcoder_env
from worker import db
from worker.models import Chunk, Job, TaskMetric
from worker.models import Result as ResultRow
from worker.pipeline import producer

CHUNK = 200  # 3,000 lines -> 15 chunks
# Short limits so a dead worker's chunk comes back in seconds (validated like production).
FAST = {"task_time_limit": 10, "task_soft_time_limit": 8, "breaker_db_reset_timeout": 4,
        "visibility_timeout": 20, "lease_margin": 2, "retry_backoff_max": 4}


def _enqueue(ids, priority):  # type: ignore[no-untyped-def]
    from tasks.broker import publish_job_chunks

    publish_job_chunks(ids, priority)


def _send(ids, priority):  # type: ignore[no-untyped-def]
    """What `dxcoder submit` sends with: publish, then stamp the chunks sent."""
    from tasks.broker import send_job_chunks

    send_job_chunks(ids, priority)


def _use(pipeline: PipelineEnv) -> None:
    use_database(pipeline.database_url, pipeline.tmp_path, broker_url=TEST_BROKER,
                 queue=pipeline.queue, chunk_size=CHUNK)


def _chunks(job_id: str) -> list[Chunk]:
    with db.session_scope() as session:
        return list(session.scalars(select(Chunk).where(Chunk.job_id == job_id)
                                    .order_by(Chunk.chunk_no)))


def _running(job_id: str) -> int:
    return sum(1 for c in _chunks(job_id) if c.status == "running")


def test_1_sigkill_of_a_pool_process_mid_chunk(pipeline: PipelineEnv, fault_file: Path,
                                               clean_results: Expected) -> None:
    _use(pipeline)
    worker = pipeline.start_worker(chunk_size=CHUNK)
    with writes_held(pipeline.database_url, "task_metric"):
        job = producer.submit(fault_file, send=_send, force=True)
        wait_until(lambda: _running(job.job_id) >= 1, 60, "a chunk in flight", poll=0.05)
        killed_at = time.monotonic()
        for pid in worker.pool_pids():
            os.kill(pid, signal.SIGKILL)
    wait_until(lambda: job_done(job.job_id), 180, "the job")
    record_recovery("1 pool process SIGKILL", time.monotonic() - killed_at)
    assert_clean_end_state(job.job_id, clean_results)
    assert worker.process is not None and worker.process.poll() is None  # the worker lives on
    assert max(c.attempts for c in _chunks(job.job_id)) >= 2  # the killed chunk came back


def test_2_sigkill_of_the_whole_worker_and_a_new_one(pipeline: PipelineEnv, fault_file: Path,
                                                     clean_results: Expected) -> None:
    _use(pipeline)
    first = pipeline.start_worker(chunk_size=CHUNK, **FAST)
    with writes_held(pipeline.database_url, "task_metric"):
        job = producer.submit(fault_file, send=_send, force=True)
        wait_until(lambda: _running(job.job_id) >= 1, 60, "a chunk in flight", poll=0.05)
        first.kill()
        killed_at = time.monotonic()
    assert not job_done(job.job_id)
    # Its unacked chunks come back once the visibility timeout (20 s here) has passed.
    time.sleep(FAST["visibility_timeout"] + 1)
    pipeline.start_worker(chunk_size=CHUNK, **FAST)
    wait_until(lambda: job_done(job.job_id), 180, "the job")
    record_recovery("2 whole worker SIGKILL", time.monotonic() - killed_at,
                    note="includes the 20 s visibility timeout")
    assert_clean_end_state(job.job_id, clean_results)


def test_3_postgres_stopped_for_60_seconds(throwaway_pg: ThrowawayPostgres, fault_file: Path,
                                           clean_results: Expected, tmp_path: Path) -> None:
    url = database_on(throwaway_pg)
    queue = f"dxcoder.test.{uuid.uuid4().hex[:10]}"
    use_database(url, tmp_path, broker_url=TEST_BROKER, queue=queue, chunk_size=CHUNK)
    # Production breaker settings: 3 failures open it for 30 s.
    worker = Worker(dxcoder_env(url, tmp_path, TEST_BROKER, queue, chunk_size=CHUNK),
                    tmp_path / "worker.log").start()
    try:
        job = producer.stage_file(fault_file, force=True)
        ids = [c.id for c in _chunks(job.job_id)]
        from tasks.broker import publish_job_chunks

        publish_job_chunks(ids[:4], 0)
        wait_until(lambda: sum(c.status == "done" for c in _chunks(job.job_id)) >= 2, 120,
                 "the first chunks")
        db.dispose()
        throwaway_pg.stop()
        publish_job_chunks(ids[4:], 0)  # the rest of the job arrives during the outage
        time.sleep(60)
        throwaway_pg.start()
        back_at = time.monotonic()
        wait_until(lambda: job_done(job.job_id), 240, "the job after PostgreSQL returned")
        record_recovery("3 PostgreSQL down 60 s", time.monotonic() - back_at,
                        note="from PostgreSQL back to job done")
    finally:
        worker.stop()
    assert_clean_end_state(job.job_id, clean_results)
    events = worker.events()
    changes = [(e["old_state"], e["new_state"]) for e in events
               if e.get("event") == "breaker.state_change" and e.get("breaker") == "postgresql"]
    assert ("closed", "open") in changes and changes[-1][1] == "closed"
    waits = [e for e in events if e.get("event") == "chunk.retry"
             and e.get("reason") == "breaker_open"]
    # Waiting, not burning retries: every wait is at least the 30 s reset timeout, and no
    # chunk needed more than a handful of them for a 60 s outage.
    assert waits and all(e["countdown_s"] >= 30 for e in waits)
    assert max(e["retries"] for e in waits) <= 4
    assert all(c.status == "done" for c in _chunks(job.job_id))


def test_4_redis_restarted_with_an_empty_data_set(pipeline: PipelineEnv, tmp_path: Path,
                                                  throwaway_redis: ThrowawayRedis) -> None:
    redis_server = throwaway_redis
    big = write_claims(tmp_path / "big.csv", 12_000, seed=9)
    settings = dict(FAST, chunk_size=300, reconcile_interval=2, lease_seconds=5)
    env = dxcoder_env(pipeline.database_url, tmp_path, redis_server.url, pipeline.queue,
                      **settings)
    worker = Worker(env, tmp_path / "worker.log").start()
    beat = Beat(env, tmp_path).start()
    try:
        with writes_held(pipeline.database_url, "task_metric"):
            submitted = run_dxcoder("submit", str(big), database_url=pipeline.database_url,
                                    data_dir=tmp_path, env=env)
            assert submitted.returncode == 0, submitted.stderr
            job_id = submitted.stdout.strip()
            use_database(pipeline.database_url, tmp_path)
            wait_until(lambda: _running(job_id) >= 1, 120, "a chunk in flight", poll=0.05)
            redis_server.stop()  # every queued and unacked message is gone with it
            lost_at = time.monotonic()
        assert not job_done(job_id)
        redis_server.start()  # same port, empty data set
        wait_until(lambda: job_done(job_id), 240, "the job after the Redis restart")
        record_recovery("4 Redis restarted empty", time.monotonic() - lost_at)
    finally:
        beat.stop()
        worker.stop()
    with db.session_scope() as session:
        total = session.scalar(select(Job.total_lines).where(Job.id == job_id))
        count = session.scalar(select(func.count()).select_from(ResultRow)
                               .where(ResultRow.job_id == job_id))
    assert count == total == 12_000
    resent = [e for e in worker.events() if e.get("event") == "reconcile.resent"]
    assert resent and sum(e["chunks"] for e in resent) >= 1


def test_5_redis_down_when_submit_runs(pipeline: PipelineEnv, fault_file: Path) -> None:
    closed = ThrowawayRedis()  # a free port nobody listens on
    env = dxcoder_env(pipeline.database_url, pipeline.tmp_path, closed.url, pipeline.queue)
    result = run_dxcoder("submit", str(fault_file), database_url=pipeline.database_url,
                         data_dir=pipeline.tmp_path, env=env)
    assert result.returncode == 1
    assert "cannot reach Redis" in result.stderr and "no job was created" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 0


def test_6_the_same_chunk_delivered_twice_at_once(pipeline: PipelineEnv, fault_file: Path,
                                                  clean_results: Expected) -> None:
    _use(pipeline)
    pipeline.start_worker(chunk_size=CHUNK)
    job = producer.stage_file(fault_file, force=True)
    ids = [c.id for c in _chunks(job.job_id)]
    # Each chunk twice in a row: the two pool processes take both copies at the same time.
    _enqueue([i for chunk_id in ids for i in (chunk_id, chunk_id)], 0)
    wait_until(lambda: job_done(job.job_id), 180, "the job")

    def runs() -> int:
        with db.session_scope() as session:
            return session.scalar(select(func.count()).select_from(TaskMetric)
                                  .where(TaskMetric.job_id == job.job_id)) or 0

    wait_until(lambda: runs() == 2 * len(ids), 60, "both copies of every chunk")
    assert_clean_end_state(job.job_id, clean_results)
    with db.session_scope() as session:
        written = session.scalar(select(func.sum(TaskMetric.lines))
                                 .where(TaskMetric.job_id == job.job_id))
    assert written == 3000  # the metrics count every line once, whoever wrote it


def test_7_a_line_that_makes_the_resolver_raise(pipeline: PipelineEnv, tmp_path: Path,
                                                clean_results: Expected, fault_file: Path) -> None:
    from tests.faults.fault_app import MARKER

    _use(pipeline)
    lines = fault_file.read_text().splitlines()
    poisoned = tmp_path / "poisoned.csv"
    # The marker replaces the term of lines 10 and 2,500; every other line is as before.
    body = [line if n not in (10, 2500) else f"X{n},{MARKER},auto,2026-01-02,BCBS"
            for n, line in enumerate(lines[1:], start=1)]
    poisoned.write_text("\n".join([lines[0], *body]) + "\n")
    log = tmp_path / "fault-worker.log"
    worker = Worker(pipeline.env(chunk_size=CHUNK), log, app="tests.faults.fault_app").start()
    pipeline.workers.append(worker)
    job = producer.submit(poisoned, send=_send, force=True)
    wait_until(lambda: job_done(job.job_id), 180, "the job")
    with db.session_scope() as session:
        rows = {r.line_no: r for r in session.scalars(
            select(ResultRow).where(ResultRow.job_id == job.job_id))}
    assert len(rows) == 3000
    poisoned_lines = (11, 2501)  # data lines 10 and 2,500, after the header on line 1
    for n in poisoned_lines:
        assert rows[n].status == "error"
        assert rows[n].message == "internal error while resolving this line (RuntimeError)"
    expected = {k: v for k, v in clean_results.items() if k not in poisoned_lines}
    assert {k: (r.status, r.code) for k, r in rows.items() if k not in poisoned_lines} == expected
    assert worker.process is not None and worker.process.poll() is None
    assert MARKER not in log.read_text()  # the log names the failure, never the input


def test_8_flood_of_jobs_and_a_small_job_behind_a_large_one(pipeline: PipelineEnv,
                                                            tmp_path: Path) -> None:
    _use(pipeline)
    pipeline.start_worker(chunk_size=100)
    use_database(pipeline.database_url, pipeline.tmp_path, broker_url=TEST_BROKER,
                 queue=pipeline.queue, chunk_size=100)
    large = write_claims(tmp_path / "large.csv", 8000, seed=21)  # 80 chunks
    small = write_claims(tmp_path / "small.csv", 60, seed=22)  # 1 chunk
    big_job = producer.submit(large, send=_send, force=True)
    small_job = producer.submit(small, send=_send, force=True)
    files = [write_claims(tmp_path / f"f{n}.csv", 100 + 37 * n, seed=100 + n) for n in range(20)]
    env = pipeline.env(chunk_size=100)
    results: list[tuple[int, str]] = []

    def produce(batch: list[Path]) -> None:
        for path in batch:
            done = run_dxcoder("submit", str(path), "--force", database_url=pipeline.database_url,
                               data_dir=pipeline.tmp_path, env=env)
            results.append((done.returncode, done.stdout.strip()))

    producers = [threading.Thread(target=produce, args=(files[n::4],)) for n in range(4)]
    for thread in producers:
        thread.start()
    for thread in producers:
        thread.join()
    assert len(results) == 20 and all(code == 0 for code, _ in results)
    job_ids = [job_id for _, job_id in results]
    wait_until(lambda: all(job_done(j) for j in [*job_ids, big_job.job_id, small_job.job_id]),
             300, "every job")
    with db.session_scope() as session:
        for job_id in job_ids:
            job = session.get(Job, job_id)
            assert job is not None and job.status == "done"
        counts = dict(session.execute(
            sa.text("SELECT j.id, count(r.line_no) FROM job j JOIN result r ON r.job_id = j.id "
                    "GROUP BY j.id")).all())
        totals = dict(session.execute(select(Job.id, Job.total_lines)).all())
        big, little = session.get(Job, big_job.job_id), session.get(Job, small_job.job_id)
    assert counts == totals and len(totals) == 22
    # Small jobs are published with a higher priority: the one-chunk job submitted behind the
    # 80-chunk job finishes while the large one still runs.
    assert little is not None and big is not None and little.finished_at is not None
    assert big.finished_at is not None and little.finished_at < big.finished_at


def test_9_postgres_refusing_new_connections(throwaway_pg: ThrowawayPostgres, fault_file: Path,
                                             clean_results: Expected, tmp_path: Path) -> None:
    url = database_on(throwaway_pg)
    queue = f"dxcoder.test.{uuid.uuid4().hex[:10]}"
    use_database(url, tmp_path, broker_url=TEST_BROKER, queue=queue, chunk_size=CHUNK)
    job = producer.stage_file(fault_file, force=True)
    ids = [c.id for c in _chunks(job.job_id)]
    # A producer knows its database's identity from staging, before it sends (the messages
    # below are sent while the server is full).
    from worker.identity import database_identity

    database_identity()
    db.dispose()
    worker = Worker(dxcoder_env(url, tmp_path, TEST_BROKER, queue, chunk_size=CHUNK, **FAST),
                    tmp_path / "worker.log").start()
    held = []
    dsn = f"host=127.0.0.1 port={throwaway_pg.port} user=postgres dbname=postgres"
    try:
        while True:  # take every connection slot the server has
            try:
                held.append(psycopg2.connect(dsn, connect_timeout=3))
            except psycopg2.OperationalError as exc:
                assert "too many clients" in str(exc) or "remaining connection slots" in str(exc)
                break
        from tasks.broker import publish_job_chunks

        publish_job_chunks(ids, 0)
        time.sleep(15)  # the workers knock on a full server
        refused = [e for e in worker.events() if e.get("event") == "chunk.retry"]
        assert refused, "the workers should have met the full server"
        for conn in held:
            conn.close()
        held.clear()
        freed_at = time.monotonic()
        use_database(url, tmp_path, broker_url=TEST_BROKER, queue=queue, chunk_size=CHUNK)
        wait_until(lambda: job_done(job.job_id), 180, "the job after slots freed")
        record_recovery("9 PostgreSQL connection limit", time.monotonic() - freed_at)
    finally:
        for conn in held:
            conn.close()
        worker.stop()
    assert_clean_end_state(job.job_id, clean_results)
