"""Jobs: their statuses and their chunks', completion, queries (list, status, metrics), retry."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import statistics
from typing import Any, Final

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from worker import contract, db
from worker.errors import JobError
from worker.models import Chunk, Job, TaskMetric, utcnow
from worker.models import Result as ResultRow

log = logging.getLogger("dxcoder.chunk")


class JobState:
    """A job's status: `staging` while its file is read, `queued` until a chunk starts,
    `running`, `done` once every chunk is counted (its summary stamped), `purged` once its
    claims data is removed past retention (worker.lifecycle.purge; the summary row stays)."""

    STAGING: Final = "staging"
    QUEUED: Final = "queued"
    RUNNING: Final = "running"
    DONE: Final = "done"
    PURGED: Final = "purged"


class ChunkState:
    """A chunk's status (job chunks and recode chunks alike): `queued` (sent or waiting to be),
    `running` (leased by a delivery), then `done` or `error` (gave up after max_attempts)."""

    QUEUED: Final = "queued"
    RUNNING: Final = "running"
    DONE: Final = "done"
    ERROR: Final = "error"
    UNFINISHED: Final = (QUEUED, RUNNING)
    FINISHED: Final = (DONE, ERROR)


# The task_metric outcome of a retry's correction record (not a task run): see _uncount_retried.
RETRY_CORRECTION = "retried"
RESOLVE_TASK = "dxcoder.resolve_chunk"


def get_job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        # Accept a unique prefix, as people copy the first characters of an id.
        matches = list(session.scalars(select(Job).where(Job.id.startswith(job_id)).limit(2)))
        if len(matches) == 1 and len(job_id) >= 6:
            return matches[0]
        raise JobError(f"no job {job_id!r}; `dxcoder jobs` lists them")
    return job


@dataclasses.dataclass
class JobStatus:
    id: str
    name: str
    status: str
    total_lines: int
    lines_done: int
    chunk_count: int
    chunks_done: int
    chunks_error: int
    by_status: dict[str, int]
    created_at: str
    finished_at: str | None
    release: str | None
    summary: dict[str, Any] | None
    # Counted from the stored results (so a recoding run's changes show); only when asked for.
    by_method: dict[str, int] | None = None

    @property
    def finished(self) -> bool:
        return self.status == JobState.DONE

    @property
    def ok(self) -> bool:
        """Every line has a result and none is `error` (the exit status of `submit --wait`)."""
        return (self.finished and self.lines_done == self.total_lines
                and not self.by_status.get(contract.ERROR))

    def line(self) -> str:
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(self.by_status.items())) or "no results"
        return (f"job {self.id} {self.status}: {self.lines_done:,}/{self.total_lines:,} lines "
                f"({counts})")


def job_status(job_id: str, *, methods: bool = False) -> JobStatus:
    """Progress and counts of a job, read from its stored results; `methods` adds the count
    per method (one more pass over the results, so progress polling leaves it out)."""
    with db.session_scope() as session:
        job = get_job(session, job_id)
        by_status = dict(session.execute(
            select(ResultRow.status, func.count()).where(ResultRow.job_id == job.id)
            .group_by(ResultRow.status)).all())
        by_method = None
        if methods:
            # "none": no stage decided (invalid input, error), as the chunk summaries say it.
            by_method = {str(method or "none"): int(count) for method, count in session.execute(
                select(ResultRow.method, func.count()).where(ResultRow.job_id == job.id)
                .group_by(ResultRow.method).order_by(ResultRow.method))}
        errors = session.scalar(select(func.count()).select_from(Chunk)
                                .where(Chunk.job_id == job.id, Chunk.status == ChunkState.ERROR)) or 0
        return JobStatus(
            id=job.id, name=job.name, status=job.status, total_lines=job.total_lines,
            lines_done=int(sum(by_status.values())), chunk_count=job.chunk_count,
            chunks_done=job.chunks_done, chunks_error=int(errors),
            by_status={k: int(v) for k, v in by_status.items()},
            created_at=job.created_at.isoformat(timespec="seconds"),
            finished_at=job.finished_at.isoformat(timespec="seconds") if job.finished_at else None,
            release=job.release_label, summary=job.summary, by_method=by_method)


def list_jobs(limit: int = 50) -> list[Job]:
    with db.session_scope() as session:
        return list(session.scalars(select(Job).order_by(Job.created_at.desc()).limit(limit)))


def job_metrics(job_id: str) -> dict[str, Any]:
    """Per-job aggregates from the task-metrics records and the chunk rows."""
    with db.session_scope() as session:
        job = get_job(session, job_id)
        records = list(session.scalars(select(TaskMetric).where(TaskMetric.job_id == job.id)
                                       .order_by(TaskMetric.id)))
        metrics = [m for m in records if m.outcome != RETRY_CORRECTION]  # the task runs
        attempts = list(session.scalars(select(Chunk.attempts).where(Chunk.job_id == job.id)))
        durations = [m.total_ms for m in metrics if m.outcome == "done"]
        lines = sum(m.lines for m in records)
        elapsed = None
        if job.finished_at is not None:
            elapsed = (job.finished_at - job.created_at).total_seconds()
        by_status: dict[str, int] = {}
        by_method: dict[str, int] = {}
        for m in records:
            if m.lines:  # only runs that wrote results (and retries' corrections) count
                for key, value in (m.record.get("by_status") or {}).items():
                    by_status[key] = by_status.get(key, 0) + int(value)
                for key, value in (m.record.get("by_method") or {}).items():
                    by_method[key] = by_method.get(key, 0) + int(value)
        by_status = {key: value for key, value in by_status.items() if value}
        by_method = {key: value for key, value in by_method.items() if value}
        return {
            "job_id": job.id, "status": job.status, "lines": job.total_lines,
            "lines_written_by_tasks": lines, "tasks": len(metrics),
            "elapsed_s": round(elapsed, 3) if elapsed is not None else None,
            "lines_per_s": round(job.total_lines / elapsed, 1) if elapsed else None,
            "task_ms_p50": round(statistics.median(durations), 1) if durations else None,
            "task_ms_p95": round(_percentile(durations, 95), 1) if durations else None,
            "redeliveries": int(sum(max(a - 1, 0) for a in attempts)),
            "task_retries": int(sum(int(m.record.get("retries", 0)) for m in metrics)),
            "errors": by_status.get(contract.ERROR, 0),
            "chunks_exhausted": sum(1 for m in metrics if m.outcome == "exhausted"),
            "by_status": by_status, "by_method": by_method,
        }


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


def _uncount_retried(session: Session, job_id: str) -> None:
    """Take the `error` results about to be deleted out of the line totals (the exporter's
    dxcoder_lines_total, `dxcoder metrics`): their lines are counted again, once, by the run
    that resolves them. Totals count lines, not attempts. One correction record, the counts
    negative, in the same transaction as the delete."""
    by_method: dict[str, int] = {method: int(count) for method, count in session.execute(
        select(ResultRow.method, func.count()).where(ResultRow.job_id == job_id,
                                                     ResultRow.status == contract.ERROR)
        .group_by(ResultRow.method))}
    lines = int(sum(by_method.values()))
    if not lines:
        return
    record = {"outcome": RETRY_CORRECTION, "job_id": job_id, "lines": -lines,
              "by_status": {contract.ERROR: -lines},
              "by_method": {str(m or "none"): -int(n) for m, n in by_method.items()}}
    session.add(TaskMetric(task_name=RESOLVE_TASK, job_id=job_id, outcome=RETRY_CORRECTION,
                           lines=-lines, total_ms=0.0, record=record))


def prepare_retry(job_id: str) -> tuple[str, list[int]]:
    """Drop the job's `error` results and put their chunks back in the queue; returns chunk ids.

    Lines that resolved keep their results (ON CONFLICT keeps them when the chunk runs again).
    """
    with db.session_scope() as session:
        job = get_job(session, job_id)
        error_lines = select(ResultRow.line_no).where(ResultRow.job_id == job.id,
                                                      ResultRow.status == contract.ERROR)
        chunk_ids = list(session.scalars(
            select(Chunk.id).where(
                Chunk.job_id == job.id,
                (Chunk.status == ChunkState.ERROR) | Chunk.id.in_(
                    select(Chunk.id).where(Chunk.job_id == job.id).join(
                        ResultRow, (ResultRow.job_id == Chunk.job_id)
                        & ResultRow.line_no.between(Chunk.first_line, Chunk.last_line)
                        & (ResultRow.status == contract.ERROR))))
            .order_by(Chunk.chunk_no)))
        if not chunk_ids:
            return job.id, []
        _uncount_retried(session, job.id)
        session.execute(delete(ResultRow).where(ResultRow.job_id == job.id,
                                                ResultRow.line_no.in_(error_lines)))
        session.execute(update(Chunk).where(Chunk.id.in_(chunk_ids))
                        .values(status=ChunkState.QUEUED, attempts=0, enqueued_at=None, lease_until=None,
                                finished_at=None, last_error=""))
        finished = session.scalar(select(func.count()).select_from(Chunk).where(
            Chunk.job_id == job.id, Chunk.status.in_(ChunkState.FINISHED))) or 0
        job.chunks_done = int(finished)
        job.status = JobState.RUNNING
        job.finished_at = None
        job.summary = None
        job.started_at = job.started_at or utcnow()
        return job.id, chunk_ids


def complete_job(session: Session, job_id: str) -> None:
    """Stamp the job done with its summary: lines by status and method, duration."""
    by_status = dict(session.execute(
        select(ResultRow.status, func.count()).where(ResultRow.job_id == job_id)
        .group_by(ResultRow.status)).all())
    by_method = dict(session.execute(
        select(ResultRow.method, func.count()).where(ResultRow.job_id == job_id)
        .group_by(ResultRow.method)).all())
    job = session.get(Job, job_id)
    assert job is not None
    finished = utcnow()
    created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=dt.UTC)
    job.status = JobState.DONE
    job.finished_at = finished
    job.summary = {
        "lines": int(sum(by_status.values())),
        "by_status": {k: int(v) for k, v in sorted(by_status.items())},
        "by_method": {(k or "none"): int(v) for k, v in sorted(by_method.items(), key=lambda i: i[0] or "")},
        "duration_s": round((finished - created).total_seconds(), 3),
    }
    log.info("job.completed", extra={"job_id": job_id, **job.summary})
