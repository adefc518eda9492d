"""Beat sends the daily retention purge; a real worker purges the jobs past retention."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import sqlalchemy as sa

from tests.clitools import run_dxcoder, wait_until
from tests.conftest import TEST_BROKER, PipelineEnv
from tests.workers import Beat, dxcoder_env
from worker import db


def _job(pipeline: PipelineEnv, tmp_path: Path, name: str) -> str:
    claims = tmp_path / f"{name}.csv"
    claims.write_text(f"id,term\n{name},E11.9\n")
    done = run_dxcoder("run", str(claims), "-o", str(tmp_path / f"{name}.out"), "--quiet",
                       "--processes", "1", database_url=pipeline.database_url, data_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    with db.get_engine().connect() as conn:
        return str(conn.execute(sa.text("SELECT id FROM job WHERE name = :n"),
                                {"n": claims.name}).scalar_one())


def _status(job_id: str) -> str:
    with db.get_engine().connect() as conn:
        return str(conn.execute(sa.text("SELECT status FROM job WHERE id = :j"),
                                {"j": job_id}).scalar_one())


def test_beat_purges_jobs_past_retention(pipeline: PipelineEnv, tmp_path: Path) -> None:
    old, recent = _job(pipeline, tmp_path, "old"), _job(pipeline, tmp_path, "recent")
    with db.get_engine().begin() as conn:
        conn.execute(sa.text("UPDATE job SET created_at = :t WHERE id = :j"),
                     {"t": dt.datetime.now(dt.UTC) - dt.timedelta(days=31), "j": old})
    settings = {"purge_crontab": "* * * * *", "retention_days": 30}
    pipeline.start_worker(**settings)
    beat = Beat(dxcoder_env(pipeline.database_url, tmp_path, TEST_BROKER, pipeline.queue,
                            **settings), tmp_path).start()
    try:
        wait_until(lambda: _status(old) == "purged", timeout=150, what="the beat-triggered purge")
    finally:
        beat.stop()
    assert _status(recent) == "done"
    assert "dxcoder.retention_purge" in beat.log_path.read_text()
    with db.get_engine().connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM result WHERE job_id = :j"),
                            {"j": old}).scalar_one() == 0
