"""Retention: purge a job's claims data (staged lines, results, result history, chunks, task
metrics), keeping a PHI-free summary row, and the inbox's archive/ and outbox/ files past it.

A purged job keeps its row: id, status `purged`, content hash, line and status counts, times,
and what the purge removed (`summary.purged`). Its name and file name are blanked: claims
exports are often named after a member or a provider. Each purge logs ids and counts only.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, delete, select, text, update
from sqlalchemy.orm import Session

from worker import db
from worker.errors import JobError, LockBusy
from worker.inbox import files as inbox_files
from worker.lifecycle import partitions
from worker.models import Chunk, Job, RecodeChunk, TaskMetric, utcnow
from worker.pipeline.jobs import JobState
from worker.settings import get_settings

log = logging.getLogger("dxcoder.lifecycle")

PURGED = JobState.PURGED
# Jobs still being worked on are never purged: their chunks would write into dropped tables.
UNFINISHED = ("queued", "running")
PURGED_NAME = "(purged)"


@dataclasses.dataclass(frozen=True)
class JobPurge:
    """What was (or, in a dry run, would be) removed for one job."""

    job_id: str
    created_at: dt.datetime
    rows: dict[str, int]

    def line(self) -> str:
        counts = ", ".join(f"{table} {n:,}" for table, n in self.rows.items())
        return f"{self.job_id}  {self.created_at:%Y-%m-%d}  {counts}"


@dataclasses.dataclass
class PurgeReport:
    dry_run: bool
    jobs: list[JobPurge] = dataclasses.field(default_factory=list)
    skipped_unfinished: list[str] = dataclasses.field(default_factory=list)
    files: list[Path] = dataclasses.field(default_factory=list)
    deferred: list[str] = dataclasses.field(default_factory=list)  # tables busy: next purge

    def totals(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for job in self.jobs:
            for table, n in job.rows.items():
                out[table] = out.get(table, 0) + n
        return out


def parse_age(value: str) -> dt.timedelta:
    """`90d`, `12w` or `90` (days) as people write a retention age."""
    raw = value.strip().lower()
    unit = raw[-1:] if raw[-1:] in ("d", "w") else "d"
    number = raw[:-1] if raw[-1:] in ("d", "w") else raw
    if not number.isdigit() or int(number) < 1:
        raise JobError(f"--older-than {value!r}: give a number of days or weeks, e.g. 90d or 12w")
    return dt.timedelta(days=int(number) * (7 if unit == "w" else 1))


def purge_note(session: Session, job_id: str) -> str | None:
    """A message for anything that refers to a purged job (recode runs, review decisions), or
    None when the job's data is still there."""
    job = session.get(Job, job_id)
    if job is None or job.status != PURGED:
        return None
    when = (job.summary or {}).get("purged", {}).get("at", "")
    return f"job {job_id} was purged{' on ' + when[:10] if when else ''}: its lines are no longer stored"


def purged_jobs_of_run(session: Session, run_id: str) -> list[str]:
    """purge_note() of every purged job a recoding run covered."""
    job_ids = session.scalars(select(RecodeChunk.job_id).distinct()
                              .where(RecodeChunk.run_id == run_id)).all()
    notes = (purge_note(session, job_id) for job_id in sorted(job_ids))
    return [note for note in notes if note is not None]


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def candidates(session: Session, *, older_than: dt.timedelta | None = None,
               job_id: str | None = None) -> tuple[list[Job], list[str]]:
    """Jobs to purge and unfinished ones left alone (ids)."""
    query = select(Job).where(Job.status != PURGED).order_by(Job.created_at)
    if job_id is not None:
        job = session.get(Job, job_id)
        if job is None:
            raise JobError(f"no job {job_id}: `dxcoder jobs` lists them")
        if job.status == PURGED:
            return [], []
        query = query.where(Job.id == job_id)
    if older_than is not None:
        query = query.where(Job.created_at < utcnow() - older_than)
    found = list(session.scalars(query))
    # A recoding chunk still to run on a job would write its history after the purge.
    recoding = set(session.scalars(select(RecodeChunk.job_id).distinct().where(
        RecodeChunk.status.in_(("queued", "running")))))
    unfinished = [j.id for j in found if j.status in UNFINISHED or j.id in recoding]
    return [j for j in found if j.id not in unfinished], unfinished


def _count(conn: Connection, table: str, job_id: str) -> int:
    return int(conn.execute(text(f"SELECT count(*) FROM {table} WHERE job_id = :job"),
                            {"job": job_id}).scalar() or 0)


def _purge_one(conn: Connection, job_id: str, *, dry_run: bool) -> dict[str, int]:
    """Remove one job's rows in `conn`'s transaction (a dry run only counts them)."""
    rows: dict[str, int] = {}
    # The job row locked first: two purges at once (beat and a person) purge it once.
    status = conn.execute(select(Job.status).where(Job.id == job_id).with_for_update()).scalar()
    if status in (None, PURGED, *UNFINISHED):
        return rows
    if conn.execute(select(RecodeChunk.id).where(
            RecodeChunk.job_id == job_id,
            RecodeChunk.status.in_(("queued", "running"))).limit(1)).first() is not None:
        return rows
    if dry_run:
        for table in (*partitions.PARTITIONED, "chunk", "task_metric"):
            rows[table] = _count(conn, table, job_id)
        return rows
    if partitions.is_partitioned(conn):
        rows.update(partitions.drop_job(conn, job_id))
    else:  # SQLite, or PostgreSQL before migration 0008: plain deletes
        for table in partitions.PARTITIONED:
            rows[table] = conn.execute(text(f"DELETE FROM {table} WHERE job_id = :job"),
                                       {"job": job_id}).rowcount
    rows["chunk"] = conn.execute(delete(Chunk).where(Chunk.job_id == job_id)).rowcount
    rows["task_metric"] = conn.execute(
        delete(TaskMetric).where(TaskMetric.job_id == job_id)).rowcount
    job_summary = conn.execute(select(Job.summary).where(Job.id == job_id)).scalar()
    summary: dict[str, Any] = dict(job_summary or {})
    summary["purged"] = {"at": utcnow().isoformat(timespec="seconds"), "rows": rows}
    conn.execute(update(Job).where(Job.id == job_id).values(
        status=PURGED, name=PURGED_NAME, source_file="", summary=summary))
    return rows


def purge_jobs(*, older_than: dt.timedelta | None = None, job_id: str | None = None,
               dry_run: bool = False, trigger: str = "cli") -> PurgeReport:
    """Purge the jobs older than `older_than` (or the one `job_id`), one transaction per job so
    a purge cut off part-way leaves whole jobs, purged or not."""
    report = PurgeReport(dry_run)
    with db.session_scope() as session:
        jobs, report.skipped_unfinished = candidates(session, older_than=older_than,
                                                     job_id=job_id)
        found = [(j.id, _aware(j.created_at)) for j in jobs]
    if job_id is not None and report.skipped_unfinished:
        raise JobError(f"job {job_id} is still running (or a recoding run has chunks of it "
                       "to do): purge it once it is done (`dxcoder status JOB`)")
    engine = db.get_engine()
    for found_id, created_at in found:
        try:
            rows = partitions.with_lock_retries(
                engine, functools.partial(_purge_one, job_id=found_id, dry_run=dry_run))
        except LockBusy:
            # A long export or staging holds the tables: this job waits for the next purge.
            log.warning("job.purge_deferred", extra={"job_id": found_id, "trigger": trigger})
            report.deferred.append(found_id)
            continue
        if not rows:  # purged by another run meanwhile, or started again (`dxcoder retry`)
            continue
        report.jobs.append(JobPurge(found_id, created_at, rows))
        if not dry_run:
            log.info("job.purged", extra={"job_id": found_id, "trigger": trigger, **rows})
    return report


def expired_inbox_files(inbox: Path, older_than: dt.timedelta) -> list[Path]:
    """Files in the inbox's archive/ and outbox/ last modified before the retention cut-off."""
    cutoff = (utcnow() - older_than).timestamp()
    out = []
    for sub in (inbox_files.ARCHIVE, inbox_files.OUTBOX):
        directory = inbox / sub
        if not directory.is_dir() or directory.is_symlink():
            continue
        for path in sorted(directory.iterdir()):
            if path.is_file() and not path.is_symlink() and path.stat().st_mtime < cutoff:
                out.append(path)
    return out


def purge_inbox(report: PurgeReport, older_than: dt.timedelta, inbox: str | None = None) -> None:
    root = inbox if inbox is not None else get_settings().inbox_dir
    if not root:
        return
    report.files = expired_inbox_files(Path(root), older_than)
    if report.dry_run:
        return
    for path in report.files:
        path.unlink(missing_ok=True)
    if report.files:
        log.info("inbox.purged", extra={"files": len(report.files)})


def sweep_default(engine: Engine) -> dict[str, int]:
    """Delete rows of purged jobs from the DEFAULT partitions: something that wrote for a job
    after its purge (a review decision on a stale screen) put them there, not in a partition."""
    if engine.dialect.name != "postgresql":
        return {}
    swept: dict[str, int] = {}
    with engine.begin() as conn:
        if not partitions.is_partitioned(conn):
            return {}
        for table in partitions.PARTITIONED:
            count = conn.execute(text(
                f"DELETE FROM {table}_default WHERE job_id IN "
                "(SELECT id FROM job WHERE status = :purged)"), {"purged": PURGED}).rowcount
            if count:
                swept[table] = count
    if swept:
        log.warning("retention.swept_default", extra=swept)
    return swept


def retention_purge(trigger: str = "beat") -> PurgeReport:
    """The daily purge: every finished job and inbox file older than DXCODER_RETENTION_DAYS."""
    age = dt.timedelta(days=get_settings().retention_days)
    report = purge_jobs(older_than=age, trigger=trigger)
    sweep_default(db.get_engine())
    purge_inbox(report, age)
    log.info("retention.purged", extra={"trigger": trigger, "jobs": len(report.jobs),
                                        "files": len(report.files),
                                        "skipped_unfinished": len(report.skipped_unfinished),
                                        **report.totals()})
    return report
