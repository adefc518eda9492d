"""A chunk message names its database: a worker never acts on another database's chunk that
happens to share its id, and an embedded job's retry never goes to the shared queue."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy import func, select

from tests.clitools import run_dxcoder
from tests.conftest import PG_SERVER, TEST_BROKER, PipelineEnv, _drop
from worker import db
from worker.identity import database_identity
from worker.models import Chunk
from worker.models import Result as ResultRow
from worker.pipeline import jobs, producer

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "claims.csv"


def _queued_messages(queue: str) -> int:
    client = redis.Redis.from_url(TEST_BROKER)
    keys = [queue] + [f"{queue}\x06\x16{step}" for step in (3, 6, 9)]
    return int(sum(client.llen(key) for key in keys))


@pytest.fixture
def other_pg_url(pg_admin: sa.Engine, pg_template: str) -> Iterator[str]:
    """A second loaded PostgreSQL database on the same server: its chunk ids start at 1 too."""
    name = f"dxcoder_o_{uuid.uuid4().hex[:10]}"
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield f"{PG_SERVER}/{name}"
    _drop(pg_admin, name)


def test_a_worker_refuses_chunks_of_another_database(pipeline: PipelineEnv,
                                                     other_pg_url: str) -> None:
    # This database has a job whose chunks were never sent: ids 1..8.
    mine = producer.stage_file(SAMPLE)
    with db.session_scope() as session:
        my_chunks = sorted(session.scalars(select(Chunk.id).where(Chunk.job_id == mine.job_id)))
    worker = pipeline.start_worker()
    # Another database's producer sends its own chunks 1..8 to the same queue.
    env = {**pipeline.env(), "DXCODER_DATABASE_URL": other_pg_url}
    sent = run_dxcoder("submit", str(SAMPLE), database_url=other_pg_url,
                       data_dir=pipeline.tmp_path, env=env)
    assert sent.returncode == 0, sent.stderr
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        refused = [e for e in worker.events() if e.get("event") == "chunk.refused"]
        if len(refused) >= len(my_chunks):
            break
        time.sleep(0.3)
    time.sleep(2)  # a message that came back (not acked, retried) would be refused again
    refused = [e for e in worker.events() if e.get("event") == "chunk.refused"]
    assert sorted(e["chunk_id"] for e in refused) == my_chunks
    assert {e["worker_database"] for e in refused} == {database_identity()}
    assert len({e["message_database"] for e in refused}) == 1
    assert refused[0]["message_database"] != database_identity()
    assert not [e for e in worker.events() if e.get("event") in ("chunk.retry", "chunk.failed")]
    assert _queued_messages(pipeline.queue) == 0  # acknowledged, not waiting to come back
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ResultRow)) == 0
        rows = session.execute(select(Chunk.status, Chunk.attempts)
                               .where(Chunk.job_id == mine.job_id)).all()
    assert {tuple(row) for row in rows} == {("queued", 0)}  # nothing of this database written
    # Messages stamped by this database are served as ever.
    send_job_chunks(my_chunks)
    deadline = time.monotonic() + 120
    while not jobs.job_status(mine.job_id).finished:
        assert time.monotonic() < deadline, "this database's own chunks were not served"
        time.sleep(0.3)
    assert jobs.job_status(mine.job_id).lines_done == 400


def _enqueue(chunk_ids: list[int], priority: int) -> None:
    from tasks.broker import publish_job_chunks

    publish_job_chunks(chunk_ids, priority)


def send_job_chunks(chunk_ids: list[int]) -> None:
    from tasks import broker

    broker.send_job_chunks(chunk_ids)


def test_identity_is_the_same_under_another_host_name_and_differs_per_database(
        pg_url: str, other_pg_url: str, tmp_path: Path) -> None:
    from tests.conftest import use_database

    own = database_identity()
    use_database(pg_url.replace("127.0.0.1", "localhost"), tmp_path)
    assert database_identity() == own
    use_database(other_pg_url, tmp_path)
    assert database_identity() != own  # a copy (CREATE DATABASE .. TEMPLATE) is another database


def test_retry_of_an_embedded_job_resolves_here_and_sends_nothing(sqlite_url: str,
                                                                  tmp_path: Path,
                                                                  queue_name: str) -> None:
    env = {"DXCODER_BROKER_URL": TEST_BROKER, "DXCODER_QUEUE": queue_name,
           "DXCODER_RUN_CHUNK_SIZE": "100"}
    doomed = run_dxcoder("run", str(SAMPLE), "-o", str(tmp_path / "out.csv"), "--quiet",
                         database_url=sqlite_url, data_dir=tmp_path,
                         env={**env, "DXCODER_MAX_ATTEMPTS": "0"})
    assert doomed.returncode == 1 and "(error 400)" in doomed.stdout, doomed.stderr
    job_id = jobs.list_jobs(1)[0].id
    retried = run_dxcoder("retry", job_id, database_url=sqlite_url, data_dir=tmp_path, env=env)
    assert retried.returncode == 0, retried.stderr
    assert f"job {job_id}: 4 chunks resolved again" in retried.stdout
    assert f"job {job_id} done: 400/400 lines" in retried.stderr
    status = jobs.job_status(job_id)
    assert status.ok and "error" not in status.by_status
    assert _queued_messages(queue_name) == 0


def test_a_worker_refuses_recode_chunks_of_another_database(pipeline: PipelineEnv,
                                                            tmp_path: Path) -> None:
    from tasks.broker import send_recode_chunks
    from tasks.recode import recode_chunk
    from tests.recode.helpers import FY2026_DAY, claims_file, submit
    from worker.models import RecodeChunk
    from worker.recode import runs

    worker = pipeline.start_worker()
    # A job pinned to FY2025 with FY2026 dates: a recoding run has lines to change.
    job_id = submit(pipeline, claims_file(tmp_path / "pinned.csv", [("G35", FY2026_DAY)]),
                    "--release", "FY2025")
    started = runs.start(trigger="cli")
    assert started.chunk_ids
    # A message for the same chunk id stamped by another database.
    for chunk_id in started.chunk_ids:
        recode_chunk.apply_async((chunk_id,), {"database": "pg-1-1"}, queue=pipeline.queue)
    deadline = time.monotonic() + 60
    while not [e for e in worker.events() if e.get("event") == "chunk.refused"]:
        assert time.monotonic() < deadline, "the worker did not refuse the message"
        time.sleep(0.3)
    refused = [e for e in worker.events() if e.get("event") == "chunk.refused"]
    assert [(e["chunk_id"], e["task_name"], e["message_database"]) for e in refused] == [
        (chunk_id, "dxcoder.recode_chunk", "pg-1-1") for chunk_id in started.chunk_ids]
    with db.session_scope() as session:
        chunk_rows = session.execute(select(RecodeChunk.status, RecodeChunk.attempts)
                                     .where(RecodeChunk.id.in_(started.chunk_ids))).all()
        code = session.scalar(select(ResultRow.code).where(ResultRow.job_id == job_id))
    assert {tuple(row) for row in chunk_rows} == {("queued", 0)} and code == "G35"
    # Stamped by this database, the same chunks are served.
    send_recode_chunks(started.chunk_ids)
    deadline = time.monotonic() + 120
    while runs.get_run(str(started.run_id)).status == "running":
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.3)
    with db.session_scope() as session:
        assert session.scalar(select(ResultRow.code).where(ResultRow.job_id == job_id)) == "G35.D"
