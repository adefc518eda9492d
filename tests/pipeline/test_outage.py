"""A real PostgreSQL outage mid-job: the breaker opens, half-opens and closes; the job completes."""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select

from tests.clitools import wait_until
from tests.conftest import TEST_BROKER, database_on, use_database
from tests.servers import ThrowawayPostgres
from tests.workers import Worker, dxcoder_env
from worker import db
from worker.models import Chunk
from worker.pipeline import jobs, producer

SAMPLE = Path(__file__).resolve().parents[2] / "samples" / "claims.csv"




def test_postgres_outage_walks_the_breaker_and_the_job_completes(
        throwaway_pg: ThrowawayPostgres, tmp_path: Path) -> None:
    url = database_on(throwaway_pg)
    queue = f"dxcoder.test.{uuid.uuid4().hex[:10]}"
    use_database(url, tmp_path, broker_url=TEST_BROKER, queue=queue, chunk_size=50)
    env = dxcoder_env(url, tmp_path, TEST_BROKER, queue, chunk_size=50,
                      breaker_db_fail_max=3, breaker_db_reset_timeout=4, retry_backoff_max=4)
    worker = Worker(env, tmp_path / "worker.log").start()
    try:
        from tasks.broker import publish_job_chunks

        submitted = producer.stage_file(SAMPLE, force=True)
        with db.session_scope() as session:
            ids = list(session.scalars(select(Chunk.id).where(Chunk.job_id == submitted.job_id)
                                       .order_by(Chunk.chunk_no)))
        publish_job_chunks(ids[:3], 0)
        wait_until(lambda: jobs.job_status(submitted.job_id).chunks_done == 3, 120, "first chunks")
        db.dispose()

        throwaway_pg.stop()
        publish_job_chunks(ids[3:], 0)  # the rest of the job arrives while PostgreSQL is down
        wait_until(lambda: any(e.get("new_state") == "open" for e in worker.events()), 60,
              "the breaker to open")
        # Stay down past one reset timeout: the trial call fails and the breaker re-opens.
        wait_until(lambda: ("half-open", "open") in _postgres_changes(worker), 60,
              "a failed trial call to re-open the breaker")
        throwaway_pg.start()

        wait_until(lambda: jobs.job_status(submitted.job_id).finished, 180, "the job to complete")
    finally:
        worker.stop()
    status = jobs.job_status(submitted.job_id)
    assert status.lines_done == status.total_lines == 400
    assert "error" not in status.by_status and status.chunks_error == 0
    changes = _postgres_changes(worker)
    assert ("closed", "open") in changes
    assert ("open", "half-open") in changes
    assert ("half-open", "closed") in changes
    assert changes[-1][1] == "closed"
    waits = [e for e in worker.events()
             if e.get("event") == "chunk.retry" and e.get("reason") == "breaker_open"]
    assert waits and all(e["countdown_s"] >= 4 for e in waits)


def _postgres_changes(worker: Worker) -> list[tuple[str, str]]:
    """The PostgreSQL breaker's state changes the worker logged, in order."""
    return [(e["old_state"], e["new_state"]) for e in worker.events()
            if e.get("event") == "breaker.state_change" and e.get("breaker") == "postgresql"]
