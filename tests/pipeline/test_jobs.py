"""Bulk jobs through a real Redis and real prefork Celery workers against real PostgreSQL."""

from __future__ import annotations

import csv
from pathlib import Path

from sqlalchemy import func, select

from tests.clitools import cli, run_dxcoder, wait_until
from tests.conftest import PipelineEnv
from worker import db
from worker.models import Chunk, Job, TaskMetric
from worker.models import Result as ResultRow
from worker.pipeline import jobs, producer

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "samples" / "claims.csv"






def _result_lines(job_id: str) -> list[int]:
    with db.session_scope() as session:
        return list(session.scalars(select(ResultRow.line_no).where(ResultRow.job_id == job_id)
                                    .order_by(ResultRow.line_no)))


def test_submit_wait_completes_a_multi_chunk_job(pipeline: PipelineEnv) -> None:
    pipeline.start_worker()
    result = cli(pipeline, "submit", str(SAMPLE), "--wait")
    job_id = result.stdout.strip()
    assert result.returncode == 0, result.stderr
    assert f"job {job_id} done: 400/400 lines" in result.stderr
    assert _result_lines(job_id) == list(range(2, 402))  # physical lines: the header is 1
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "done" and job.chunk_count == 8
        assert job.chunks_done == 8
        assert sum(job.summary["by_status"].values()) == 400
        assert set(job.summary["by_status"]) <= {"resolved", "needs_review", "no_match",
                                                 "invalid_input"}
    again = cli(pipeline, "submit", str(SAMPLE))
    assert again.stdout.strip() == job_id
    assert "same content already submitted" in again.stderr


def test_redelivered_chunks_change_nothing(pipeline: PipelineEnv) -> None:
    pipeline.start_worker()
    submitted = producer.submit(SAMPLE, send=_send)
    wait_until(lambda: jobs.job_status(submitted.job_id).finished, what="the job")
    before = _result_lines(submitted.job_id)
    with db.session_scope() as session:
        ids = list(session.scalars(select(Chunk.id).where(Chunk.job_id == submitted.job_id)))
    _enqueue(ids, 0)  # every chunk delivered a second time
    _enqueue(ids, 0)  # and a third

    def skipped() -> int:
        with db.session_scope() as session:
            return session.scalar(select(func.count()).select_from(TaskMetric).where(
                TaskMetric.job_id == submitted.job_id, TaskMetric.outcome == "skipped")) or 0

    wait_until(lambda: skipped() == 2 * len(ids), what="the duplicate deliveries")
    assert _result_lines(submitted.job_id) == before == list(range(2, 402))
    status = jobs.job_status(submitted.job_id)
    assert status.chunks_done == status.chunk_count == len(ids)
    assert status.summary is not None and status.summary["lines"] == 400


def _enqueue(ids, priority):  # type: ignore[no-untyped-def]
    from tasks.broker import publish_job_chunks

    publish_job_chunks(ids, priority)


def _send(ids, priority):  # type: ignore[no-untyped-def]
    """What `dxcoder submit` sends with: publish, then stamp the chunks sent."""
    from tasks.broker import send_job_chunks

    send_job_chunks(ids, priority)


def test_task_metrics_add_up_to_the_job_totals(pipeline: PipelineEnv) -> None:
    pipeline.start_worker()
    result = cli(pipeline, "submit", str(SAMPLE), "--wait")
    job_id = result.stdout.strip()
    metrics = cli(pipeline, "metrics", job_id, "--json")
    assert metrics.returncode == 0, metrics.stderr
    import json

    data = json.loads(metrics.stdout)
    status = jobs.job_status(job_id)
    assert data["lines_written_by_tasks"] == 400 == status.lines_done
    assert data["by_status"] == status.by_status
    assert data["tasks"] == 8 and data["errors"] == 0
    assert data["task_ms_p50"] > 0 and data["task_ms_p95"] >= data["task_ms_p50"]
    with db.session_scope() as session:
        records = [m.record for m in session.scalars(
            select(TaskMetric).where(TaskMetric.job_id == job_id))]
    # One record per chunk, each of its 50 lines, with the time of each step: reading,
    # resolving and writing each take time, and they happen one after another within the total.
    assert sorted(record["chunk_no"] for record in records) == list(range(1, 9))
    for record in records:
        assert record["task_name"] == "dxcoder.resolve_chunk" and record["task_id"]
        assert set(record["breakers"]) == {"postgresql", "redis"}
        assert record["read_ms"] > 0 and record["resolve_ms"] > 0 and record["write_ms"] > 0
        steps = record["read_ms"] + record["resolve_ms"] + record["write_ms"]
        assert record["total_ms"] >= steps - 0.05  # each is rounded to 0.01 ms
        assert record["lines"] == 50 and sum(record["by_status"].values()) == 50
    # The same record went to the worker's JSON log, without any diagnosis text.
    logged = [e for w in pipeline.workers for e in w.events() if e.get("event") == "chunk.resolved"]
    assert len(logged) == 8 and {e["job_id"] for e in logged} == {job_id}
    log_text = "".join(w.log_path.read_text() for w in pipeline.workers)
    for line in SAMPLE.read_text().splitlines()[1:]:
        term = line.split(",")[1].strip()
        if len(term) > 6 and not term.replace(".", "").isalnum():
            assert term not in log_text


def test_run_and_submit_agree(pipeline: PipelineEnv, tmp_path: Path) -> None:
    pipeline.start_worker()
    submitted = cli(pipeline, "submit", str(SAMPLE), "--wait")
    assert submitted.returncode == 0, submitted.stderr
    distributed = tmp_path / "distributed.csv"
    assert cli(pipeline, "results", submitted.stdout.strip(), "-o", str(distributed)
                ).returncode == 0
    embedded = tmp_path / "embedded.csv"
    from tests.conftest import load_everything, use_database

    sqlite_dir = tmp_path / "embedded"
    use_database(f"sqlite:///{sqlite_dir / 'dx.sqlite3'}", sqlite_dir)
    load_everything()
    run = run_dxcoder("run", str(SAMPLE), "-o", str(embedded), "--quiet",
                      database_url=f"sqlite:///{sqlite_dir / 'dx.sqlite3'}", data_dir=sqlite_dir,
                      env={"DXCODER_RUN_CHUNK_SIZE": "64"})
    assert run.returncode == 0, run.stderr
    assert "400/400 lines" in run.stdout
    assert distributed.read_text() == embedded.read_text()
    with distributed.open() as fh:
        rows = list(csv.DictReader(fh))
    # Numbered by physical line: the header is line 1.
    assert [int(r["line_no"]) for r in rows] == list(range(2, 402))
    assert {r["payer"] for r in rows} == {"MEDICARE", "AETNA", "BCBS"}  # passed through


def test_exhausted_chunks_become_error_lines_and_retry_sends_them_again(
        pipeline: PipelineEnv) -> None:
    # A worker allowed zero attempts gives up on every chunk at once: the lines become `error`.
    doomed = pipeline.start_worker(max_attempts=0)
    result = cli(pipeline, "submit", str(SAMPLE), "--wait")
    job_id = result.stdout.strip()
    assert result.returncode == 1
    assert f"job {job_id} done: 400/400 lines (error 400)" in result.stderr
    results = cli(pipeline, "results", job_id, "--format", "jsonl")
    first = results.stdout.splitlines()[0]
    assert '"status": "error"' in first and f"dxcoder retry {job_id}" in first
    doomed.stop()
    pipeline.start_worker()
    retried = cli(pipeline, "retry", job_id)
    assert retried.returncode == 0 and "8 chunks queued again" in retried.stdout
    wait_until(lambda: jobs.job_status(job_id).finished, what="the retried job")
    status = jobs.job_status(job_id)
    assert status.ok and status.lines_done == 400 and "error" not in status.by_status
    assert cli(pipeline, "retry", job_id).stdout.strip() == f"job {job_id} has no error lines to retry"


def test_reconciler_sends_chunks_that_were_never_sent(pipeline: PipelineEnv) -> None:
    # A submit whose publish failed after the commit: the job exists, no message went out.
    submitted = producer.stage_file(SAMPLE)
    with db.session_scope() as session:
        job = session.get(Job, submitted.job_id)
        assert job is not None
        job.created_at = job.created_at.replace(year=job.created_at.year - 1)
    pipeline.start_worker()
    from tasks.reconcile import reconcile_once

    assert reconcile_once() == 8
    assert reconcile_once() == 0  # leases taken: a second run sends nothing
    wait_until(lambda: jobs.job_status(submitted.job_id).finished, what="the reconciled job")
    assert _result_lines(submitted.job_id) == list(range(2, 402))


def test_workers_start_on_the_first_chunks_while_the_file_is_still_staged(
        pipeline: PipelineEnv, tmp_path: Path) -> None:
    from tests.faults.conftest import write_claims

    pipeline.start_worker()
    claims = write_claims(tmp_path / "claims.csv", 100_000, seed=41)  # 50 chunks, 5 batches
    done = cli(pipeline, "submit", str(claims), "--wait", chunk_size=2000)
    assert done.returncode in (0, 1), done.stderr
    job_id = done.stdout.strip()
    assert _result_lines(job_id) == list(range(2, 100_002))  # the header is line 1
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "done"
        assert (job.total_lines, job.chunk_count, job.chunks_done) == (100_000, 50, 50)
        first_done = session.scalar(select(func.min(Chunk.finished_at))
                                    .where(Chunk.job_id == job_id))
        last_sent = session.scalar(select(func.max(Chunk.enqueued_at))
                                   .where(Chunk.job_id == job_id))
    # Each batch is sent once committed: a chunk was done before the last batch went out.
    assert first_done is not None and last_sent is not None and first_done < last_sent


def test_the_reconciler_deletes_a_job_whose_producer_died_while_staging(
        pipeline: PipelineEnv, tmp_path: Path) -> None:
    from tests.faults.conftest import write_claims
    from worker.models import InputLine
    from worker.pipeline.reconcile import discard_abandoned_staging

    claims = write_claims(tmp_path / "claims.csv", 30_000, seed=42)  # 50-line chunks here
    staging = producer.BatchStaging(claims)
    batches = staging.batches()
    assert len(next(batches)) == 10  # the producer dies here: first batch committed, no more
    job_id = staging.job_id
    assert discard_abandoned_staging() == []  # a staging job is left alone for hours
    with db.session_scope() as session:
        job = session.get(Job, job_id)
        assert job is not None and job.status == "staging"
        job.created_at = job.created_at.replace(year=job.created_at.year - 1)
    assert discard_abandoned_staging() == [job_id]
    with db.session_scope() as session:
        for table in (Job, Chunk, InputLine):
            column = Job.id if table is Job else table.job_id  # type: ignore[attr-defined]
            assert session.scalar(select(func.count()).select_from(table)
                                  .where(column == job_id)) == 0
