"""A recoding run killed halfway and resumed ends like an uninterrupted one; beat starts runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.clitools import cli, wait_until
from tests.conftest import PG_SERVER, TEST_BROKER, PipelineEnv, writes_held
from tests.recode.helpers import (
    FY2025_DAY,
    FY2026_DAY,
    Beat,
    claims_file,
    report_rows,
    run_row,
    submit,
)
from tests.workers import dxcoder_env
from worker import db

CODES = ["G35", "C84.10", "S30.1XXA", "E11.9", "I10", "T78.07XA", "C84.11", "J45.909"]


def _stored_job(env: PipelineEnv, tmp_path: Path, lines: int) -> str:
    rows = [(CODES[n % len(CODES)], FY2026_DAY if n % 5 else FY2025_DAY) for n in range(lines)]
    return submit(env, claims_file(tmp_path / "claims.csv", rows), "--release", "FY2025")


@pytest.fixture
def twin(pipeline: PipelineEnv, pg_admin: sa.Engine, tmp_path: Path
         ) -> Iterator[tuple[PipelineEnv, PipelineEnv]]:
    """The pipeline's database after a stored job, and an exact copy with its own queue."""
    pipeline.start_worker()
    _stored_job(pipeline, tmp_path, 400)
    pipeline.stop_all()
    pipeline.workers.clear()
    db.dispose()
    source = pipeline.database_url.rsplit("/", 1)[1]
    name = f"dxcoder_twin_{uuid.uuid4().hex[:10]}"
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
    other_dir = tmp_path / "twin"
    other_dir.mkdir()
    other = PipelineEnv(f"{PG_SERVER}/{name}", other_dir, f"dxcoder.test.{uuid.uuid4().hex[:10]}")
    yield pipeline, other
    other.stop_all()
    with pg_admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _progress(url: str, run_id: str) -> tuple[int, int]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(sa.text("SELECT chunks_done, chunk_count FROM recode_run "
                                       "WHERE id = :id"), {"id": run_id}).one()
            return int(row[0]), int(row[1])
    finally:
        engine.dispose()


def _running(url: str, run_id: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT count(*) FROM recode_chunk WHERE run_id = :id "
                                            "AND status = 'running'"), {"id": run_id}).scalar_one())
    finally:
        engine.dispose()


def test_a_run_killed_halfway_and_resumed_ends_like_an_uninterrupted_one(
        twin: tuple[PipelineEnv, PipelineEnv]) -> None:
    whole, crashed = twin
    # Uninterrupted, on the original database.
    whole.start_worker(chunk_size=4)
    done = cli(whole, "recode", "run", "--wait", chunk_size=4)
    assert done.returncode == 0, done.stderr
    expected = report_rows(whole, done.stdout.strip())
    expected_counts = run_row(done.stdout.strip()).counts
    assert expected_counts is not None and expected_counts["changed"] > 100

    # The same run on the copy, its only worker killed after a few chunks.
    victim = crashed.start_worker(concurrency=1, chunk_size=4)
    started = cli(crashed, "recode", "run", chunk_size=4)
    assert started.returncode == 0, started.stderr
    run_id = started.stdout.strip()
    wait_until(lambda: _progress(crashed.database_url, run_id)[0] >= 3, timeout=60,
               what="a few chunks")
    # Kill it mid-chunk: its next chunk is claimed but cannot count itself done on the run.
    with writes_held(crashed.database_url, "recode_run"):
        wait_until(lambda: _running(crashed.database_url, run_id) >= 1, timeout=60,
                   what="a chunk in flight")
        victim.kill()
    finished, total = _progress(crashed.database_url, run_id)
    assert 3 <= finished < total, "the run finished before the worker was killed"

    crashed.start_worker(chunk_size=4)
    # The leases of the dead worker's chunks are still live: a new run would overlap; it says so.
    busy = cli(crashed, "recode", "run", chunk_size=4)
    assert busy.returncode == 1 and f"{run_id} is still running" in busy.stderr
    assert f"--resume {run_id}" in busy.stderr
    resumed = cli(crashed, "recode", "run", "--resume", run_id, "--wait", chunk_size=4)
    assert resumed.returncode == 0, resumed.stderr
    assert f"recoding run {run_id} resumed" in resumed.stderr
    assert report_rows(crashed, run_id) == expected
    counts = _counts(crashed.database_url, run_id)
    assert counts == expected_counts


def _counts(url: str, run_id: str) -> dict[str, int]:
    import json

    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            raw = conn.execute(sa.text("SELECT counts FROM recode_run WHERE id = :id"),
                               {"id": run_id}).scalar_one()
            return raw if isinstance(raw, dict) else json.loads(raw)
    finally:
        engine.dispose()


def test_beat_starts_the_nightly_run(pipeline: PipelineEnv, tmp_path: Path) -> None:
    # DXCODER_RECODE_CRONTAB="* * * * *": beat sends dxcoder.nightly_recode at the next minute.
    pipeline.start_worker()
    job_id = _stored_job(pipeline, tmp_path, 20)
    beat = Beat(dxcoder_env(pipeline.database_url, tmp_path, TEST_BROKER, pipeline.queue,
                            recode_crontab="* * * * *"), tmp_path).start()
    try:
        from sqlalchemy import select

        from worker.models import RecodeRun

        def beat_run() -> RecodeRun | None:
            with db.session_scope() as session:
                return session.scalar(select(RecodeRun).where(RecodeRun.trigger == "beat",
                                                              RecodeRun.status == "done"))

        wait_until(lambda: beat_run() is not None, timeout=100, what="the beat-triggered run")
    finally:
        beat.stop()
    run = beat_run()
    assert run is not None and run.counts is not None
    assert run.counts["expanded"] == 2 and run.counts["checked"] == 16
    rows = report_rows(pipeline, run.id)
    assert {r["job_id"] for r in rows} == {job_id}
    assert "dxcoder.nightly_recode" in beat.log_path.read_text()
