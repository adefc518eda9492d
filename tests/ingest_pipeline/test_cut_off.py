"""Nothing half-submitted: a submit cut off by Ctrl-C or SIGTERM, a Redis or a PostgreSQL outage
leaves no job (or a job the reconciler completes), and the CLI says which."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.clitools import cli, cut_off_when, one_code_csv
from tests.conftest import PipelineEnv
from tests.ingest_pipeline.helpers import SAMPLE, job_count, staged_line_count
from tests.servers import ThrowawayPostgres, ThrowawayRedis
from worker import db


@pytest.fixture
def stopped_redis(throwaway_redis: ThrowawayRedis) -> str:
    throwaway_redis.stop()
    return throwaway_redis.url


def test_redis_down_before_submit_creates_no_job(pipeline: PipelineEnv, stopped_redis: str
                                                 ) -> None:
    done = cli(pipeline, "submit", str(SAMPLE), broker_url=stopped_redis, timeout=120)
    assert done.returncode == 1, done.stderr
    # The last line is the error (the breaker may log its fallback to local state above it).
    message = done.stderr.strip().splitlines()[-1]
    assert message.startswith("dxcoder: error: cannot reach Redis at redis://127.0.0.1:")
    assert "no job was created" in message and "Traceback" not in done.stderr
    assert job_count() == 0 and staged_line_count() == 0


def _staging_started(database_url: str) -> bool:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND query LIKE :copy"), {"copy": "COPY input_line%"}).scalar())
    finally:
        engine.dispose()


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_mid_staging_leaves_no_job(pipeline: PipelineEnv, tmp_path: Path,
                                                     stop: signal.Signals) -> None:
    big = one_code_csv(tmp_path / "big.csv", 1_500_000)
    done = cut_off_when(["submit", str(big)], pipeline.env(),
                        lambda: _staging_started(pipeline.database_url), "staging never started",
                        cut=lambda process: process.send_signal(stop))
    out, err = done.stdout, done.stderr
    assert done.returncode == 1, (out, err)
    assert out == ""  # no job id was printed
    assert "interrupted while staging" in err and "no job was created" in err
    assert job_count() == 0 and staged_line_count() == 0


@pytest.fixture
def stopped_postgres(tmp_path: Path) -> Iterator[str]:
    server = ThrowawayPostgres().init()
    url = server.url.rsplit("/", 1)[0] + "/dx"
    admin = sa.create_engine(server.url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql("CREATE DATABASE dx")
    admin.dispose()
    server.stop()
    yield url
    server.destroy()


def test_postgres_down_fails_with_a_clear_message(pipeline: PipelineEnv, stopped_postgres: str,
                                                  tmp_path: Path) -> None:
    db.dispose()
    done = cli(pipeline, "submit", str(SAMPLE), database_url=stopped_postgres, timeout=120)
    assert done.returncode == 1, done.stderr
    message = done.stderr.strip()
    assert len(message.splitlines()) == 1, message
    assert message.startswith("dxcoder: error: cannot use the database at ")
    assert "check DXCODER_DATABASE_URL and that the server is running" in message
    run = cli(pipeline, "run", str(SAMPLE), "-o", str(tmp_path / "out.csv"), "--quiet",
              database_url=stopped_postgres, timeout=120)
    assert run.returncode == 1 and "cannot use the database" in run.stderr
    assert not (tmp_path / "out.csv").exists()


def test_redis_lost_while_staging_leaves_a_job_the_reconciler_completes(
        pipeline: PipelineEnv, tmp_path: Path, throwaway_redis: ThrowawayRedis) -> None:
    import re

    from sqlalchemy import func, select

    from tests.clitools import wait_until
    from worker.models import Chunk, Job
    from worker.models import Result as ResultRow
    from worker.pipeline import jobs

    broker = throwaway_redis
    big = one_code_csv(tmp_path / "big.csv", 100_000)
    env = pipeline.env(chunk_size=10_000)
    env["DXCODER_BROKER_URL"] = broker.url
    # Redis dies while the lines are staged: the job commits, the sends fail.
    done = cut_off_when(["submit", str(big)], env,
                        lambda: _staging_started(pipeline.database_url),
                        "staging never started", cut=lambda _: broker.stop(), timeout=180)
    out, err = done.stdout, done.stderr
    assert done.returncode == 1, (out, err)
    message = err.strip().splitlines()[-1]
    found = re.search(r"after job ([0-9a-f]{32}) was stored; the reconciler", message)
    assert found, message
    job_id = found.group(1)
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.total_lines == 100_000 and job.chunk_count == 10
        assert session.scalar(select(func.count()).select_from(Chunk).where(
            Chunk.job_id == job_id, Chunk.enqueued_at.is_(None))) == 10
        job.created_at = job.created_at.replace(year=job.created_at.year - 1)

    # Redis is back (the shared one): the reconciler sends what was never sent.
    pipeline.start_worker()
    from tasks.reconcile import reconcile_once

    assert reconcile_once() == 10
    wait_until(lambda: jobs.job_status(job_id).finished, timeout=300, what="the job")
    with db.session_scope() as session:
        assert session.scalar(select(func.count()).select_from(ResultRow)
                              .where(ResultRow.job_id == job_id)) == 100_000
