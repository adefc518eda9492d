"""Recoding runs: start one (or resume a crashed one), cut its chunks, count it done, report it.

One run at a time. Planners take a PostgreSQL advisory lock for the length of their transaction,
and a run still marked `running` makes the next start exit early and say so, unless every
unfinished chunk's lease has run out (its workers and messages are gone): then the next start
resumes that run instead of planning a new one, so the run ends with the report it would have
had without the crash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Iterator, Sequence
from typing import Any, Final

from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from worker import db
from worker.errors import JobError
from worker.models import RecodeChunk, RecodeRun, utcnow
from worker.pipeline.jobs import ChunkState
from worker.recode import select as selection
from worker.settings import get_settings

log = logging.getLogger("dxcoder.recode")

# Key of the advisory lock planners take (any constant bigint; "dxrecod" in ASCII).
ADVISORY_KEY = 0x6478_7265_636F_64
START_GRACE = dt.timedelta(seconds=60)


class RunState:
    """A recoding run's status: `running` until its last chunk is counted, then `done`, or
    `failed` when a chunk was given up."""

    RUNNING: Final = "running"
    DONE: Final = "done"
    FAILED: Final = "failed"
CLASSES = ("retitled", "deleted", "expanded", "newly_resolved", "recoded", "unchanged")


@dataclasses.dataclass(frozen=True)
class Started:
    """What a start did: planned a new run, resumed a crashed one, or found one running."""

    run_id: str | None
    outcome: str  # planned | resumed | busy
    lines: int = 0
    chunks: int = 0
    chunk_ids: tuple[int, ...] = ()
    detail: str = ""

    def line(self) -> str:
        if self.outcome == "busy":
            return self.detail
        verb = "resumed" if self.outcome == "resumed" else "started"
        return (f"recoding run {self.run_id} {verb}: {self.lines:,} lines to re-check in "
                f"{self.chunks:,} chunk{'' if self.chunks == 1 else 's'}")


def _cut(lines: Iterator[tuple[str, int]], size: int) -> Iterator[tuple[str, int, int, int]]:
    """(job, first line, last line, lines) ranges holding at most `size` candidate lines each."""
    job: str | None = None
    first = last = count = 0
    for job_id, line_no in lines:
        if job_id != job or count == size:
            if job is not None:
                yield job, first, last, count
            job, first, count = job_id, line_no, 0
        last, count = line_no, count + 1
    if job is not None and count:
        yield job, first, last, count


def plan(session: Session, run: RecodeRun, job_id: str | None, since: dt.date | None) -> int:
    """Write the run's chunk rows; returns how many lines they cover."""
    changes = selection.read_changes(session)
    size = get_settings().chunk_size
    total, rows = 0, []
    for job, first, last, count in _cut(
            selection.candidates(session, changes, job_id=job_id, since=since), size):
        total += count
        rows.append({"run_id": run.id, "job_id": job, "first_line": first, "last_line": last,
                     "status": "queued", "attempts": 0, "counts": {"planned": count}})
        if len(rows) >= 1000:
            session.execute(insert(RecodeChunk), rows)
            rows.clear()
    if rows:
        session.execute(insert(RecodeChunk), rows)
    run.chunk_count = int(session.scalar(select(func.count()).select_from(RecodeChunk)
                                         .where(RecodeChunk.run_id == run.id)) or 0)
    return total


def _unfinished(session: Session, run_id: str) -> list[int]:
    return list(session.scalars(
        select(RecodeChunk.id).where(RecodeChunk.run_id == run_id,
                                     RecodeChunk.status.in_(ChunkState.UNFINISHED))
        .order_by(RecodeChunk.id)))


def _is_stale(session: Session, run: RecodeRun, now: dt.datetime) -> bool:
    """True when no unfinished chunk of the run holds a live lease (its workers are gone).

    A run younger than the grace period is never stale: its planner may still be enqueueing.
    """
    if selection.aware(run.started_at) > now - START_GRACE:
        return False
    run_id = run.id
    live = session.scalar(select(func.count()).select_from(RecodeChunk).where(
        RecodeChunk.run_id == run_id, RecodeChunk.status.in_(ChunkState.UNFINISHED),
        RecodeChunk.lease_until >= now))
    return not live


def _planned_lines(session: Session, run_id: str, chunk_ids: Sequence[int]) -> int:
    counts = session.scalars(select(RecodeChunk.counts).where(RecodeChunk.id.in_(chunk_ids)))
    return sum(int((c or {}).get("planned", 0)) for c in counts)


def start(*, trigger: str, job_id: str | None = None, since: dt.date | None = None,
          dry_run: bool = False, resume: str | None = None) -> Started:
    """Plan a run (or resume one) in one transaction; the caller enqueues `chunk_ids` after.

    `resume` names a run to continue whatever its leases say (the operator knows its workers
    are gone); duplicates this may send are harmless, chunks are claimed once.
    """
    now = utcnow()
    with db.session_scope() as session:
        if db.is_postgres(session) and not session.scalar(
                select(func.pg_try_advisory_xact_lock(ADVISORY_KEY))):
            return Started(None, "busy", detail="another recoding run is being planned right "
                                                "now; not starting a second one")
        if resume is not None:
            run = session.get(RecodeRun, resume)
            if run is None:
                raise JobError(f"no recoding run {resume!r}; `dxcoder recode list` shows them")
            if run.status != RunState.RUNNING:
                return Started(run.id, "busy", detail=f"recoding run {run.id} is already "
                                                      f"{run.status}; nothing to resume")
            return _resume(session, run, now)
        active = session.scalar(select(RecodeRun).where(RecodeRun.status == RunState.RUNNING)
                                .order_by(RecodeRun.started_at).limit(1))
        if active is not None:
            if _is_stale(session, active, now):
                return _resume(session, active, now)
            return Started(active.id, "busy", detail=(
                f"recoding run {active.id} is still running ({active.chunks_done}/"
                f"{active.chunk_count} chunks done); not starting another"))
        run = RecodeRun(id=uuid.uuid4().hex, trigger=trigger, dry_run=dry_run,
                        scope={"job": job_id, "since": since.isoformat() if since else None},
                        status=RunState.RUNNING, started_at=now)
        session.add(run)
        session.flush()
        lines = plan(session, run, job_id, since)
        ids = _unfinished(session, run.id)
        if not ids:
            complete(session, run.id)
        started = Started(run.id, "planned", lines, len(ids), tuple(ids))
    log.info("recode.started", extra={"run_id": started.run_id, "trigger": trigger,
                                      "dry_run": dry_run, "lines": started.lines,
                                      "chunks": started.chunks})
    return started


def _resume(session: Session, run: RecodeRun, now: dt.datetime) -> Started:
    ids = _unfinished(session, run.id)
    if ids:
        session.execute(update(RecodeChunk).where(RecodeChunk.id.in_(ids))
                        .values(status=ChunkState.QUEUED, lease_until=None))
    else:
        complete(session, run.id)  # every chunk finished but the run was never counted done
    log.warning("recode.resumed", extra={"run_id": run.id, "chunks": len(ids)})
    return Started(run.id, "resumed", _planned_lines(session, run.id, ids), len(ids), tuple(ids))


def complete(session: Session, run_id: str) -> dict[str, Any]:
    """Sum the chunks' counts onto the run, stamp it done and log `recode.completed`."""
    run = session.get(RecodeRun, run_id)
    assert run is not None
    totals = dict.fromkeys(CLASSES, 0)
    failed = 0
    for status, counts in session.execute(select(RecodeChunk.status, RecodeChunk.counts)
                                          .where(RecodeChunk.run_id == run_id)):
        failed += status == ChunkState.ERROR
        for name, value in (counts or {}).items():
            if name != "planned":
                totals[name] = totals.get(name, 0) + int(value)
    totals["checked"] = sum(totals[name] for name in CLASSES)
    totals["changed"] = totals["checked"] - totals["unchanged"]
    totals["failed_chunks"] = failed
    finished = utcnow()
    run.counts = totals
    run.status = RunState.FAILED if failed else RunState.DONE
    run.finished_at = finished
    record = {"run_id": run.id, "trigger": run.trigger, "dry_run": run.dry_run,
              "status": run.status, "chunks": run.chunk_count, "counts": totals,
              "duration_s": round((finished - selection.aware(run.started_at)).total_seconds(), 3)}
    log.info("recode.completed", extra=record)
    return record


def list_runs(limit: int = 20) -> list[RecodeRun]:
    with db.session_scope() as session:
        return list(session.scalars(select(RecodeRun).order_by(RecodeRun.started_at.desc())
                                    .limit(limit)))


def get_run(run_id: str) -> RecodeRun:
    """The run by id or unique id prefix; JobError names what to do when there is none."""
    with db.session_scope() as session:
        run = session.get(RecodeRun, run_id)
        if run is None and len(run_id) >= 4:
            found = list(session.scalars(select(RecodeRun).where(
                RecodeRun.id.like(f"{run_id}%")).limit(2)))
            run = found[0] if len(found) == 1 else None
        if run is None:
            raise JobError(f"no recoding run {run_id!r}; `dxcoder recode list` shows them")
        return run
