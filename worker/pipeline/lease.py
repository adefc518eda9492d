"""The chunk lease kernel: the life cycle every kind of chunk shares, job chunks and recode chunks.

A delivery takes the chunk's lease (counting the attempt), works, then marks the chunk finished
first thing in the transaction that writes its results: the row's lock lets one delivery
through, so a chunk delivered twice, or twice at once, is written and counted once. The last
chunk counted on its parent (a job, a recoding run) completes it. A chunk that failed every
delivery is given up (`error`); an attempt that failed puts it back to `queued` with why.
What a chunk reads and writes is its kind's own (worker.pipeline.chunks, worker.recode.apply).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from worker import db
from worker.models import Chunk, Job, RecodeChunk, RecodeRun, utcnow
from worker.pipeline import jobs
from worker.pipeline.jobs import ChunkState, JobState
from worker.recode import runs
from worker.settings import get_settings


@dataclasses.dataclass(frozen=True)
class ChunkKind:
    """What differs between kinds of chunk: their tables, and how their parent completes."""

    name: str  # prefixes the kind's log events: "chunk", "recode"
    table: Any  # the ORM class of the chunk rows (models.Chunk, models.RecodeChunk)
    parent: Any  # the ORM class of their parent (models.Job, models.RecodeRun)
    parent_key: str  # the chunk column naming the parent: "job_id", "run_id"
    # Complete the parent (its last chunk was just counted), in the counting transaction.
    complete: Callable[[Session, str], object]
    # Whether a parent in this status completes when its last chunk is counted (a job still
    # `staging` completes at the end of its staging instead; a run no longer `running` is over).
    completes_in: Callable[[str], bool]
    # Job chunks also keep when they were sent, when they finished and why an attempt failed.
    tracks_delivery: bool


@dataclasses.dataclass
class ChunkLease:
    """A delivery's hold on one chunk, taken by `take_lease` (not a claim: a claim is a
    medical claim here)."""

    kind: ChunkKind
    chunk_id: int
    parent_id: str  # the job's id or the recoding run's
    job_id: str
    first_line: int
    last_line: int
    attempts: int  # deliveries so far, this one included
    chunk_no: int | None = None  # job chunks only


# Job chunks: their parent is a job, which a chunk counted while it is still staging does not
# complete (the end of its staging does).
JOB_CHUNKS = ChunkKind(
    name="chunk", table=Chunk, parent=Job, parent_key="job_id", complete=jobs.complete_job,
    completes_in=lambda status: status != JobState.STAGING, tracks_delivery=True)
# Recode chunks: their parent is a recoding run, completed by its last chunk while it runs.
RECODE_CHUNKS = ChunkKind(
    name="recode", table=RecodeChunk, parent=RecodeRun, parent_key="run_id",
    complete=runs.complete, completes_in=lambda status: status == runs.RunState.RUNNING,
    tracks_delivery=False)


def lease_deadline(now: dt.datetime | None = None) -> dt.datetime:
    """When a running attempt is certainly dead: past the hard time limit and a margin. The
    reconciler may then send its chunk again."""
    settings = get_settings()
    return (now or utcnow()) + dt.timedelta(seconds=settings.task_time_limit
                                            + settings.lease_margin)


def take_lease(session: Session, kind: ChunkKind, chunk_id: int) -> ChunkLease | None:
    """Count a delivery and take the lease; None when the chunk is already finished."""
    table = kind.table
    columns = [getattr(table, kind.parent_key), table.job_id, table.first_line, table.last_line,
               table.attempts]
    if kind.tracks_delivery:
        columns.append(table.chunk_no)
    row = session.execute(
        update(table)
        .where(table.id == chunk_id, table.status.in_(ChunkState.UNFINISHED))
        .values(attempts=table.attempts + 1, status=ChunkState.RUNNING,
                lease_until=lease_deadline())
        .returning(*columns)).first()
    if row is None:
        return None
    return ChunkLease(kind, chunk_id, row[0], row[1], row[2], row[3], row[4],
                      row[5] if kind.tracks_delivery else None)


def mark_finished(session: Session, lease: ChunkLease, status: str, error: str = "",
                  claim_edits: dict[str, Any] | None = None) -> bool:
    """Mark the chunk finished (`done` or `error`), first thing in the transaction that writes
    its results: the row's lock lets one delivery through. A concurrent delivery waits here,
    then finds the chunk finished (or deleted with a discarded job) and must write nothing;
    returns False then. `claim_edits` (job chunks): what the chunk found checking its own
    claims (worker.pipeline.chunk_edits), kept with its results."""
    table = lease.kind.table
    values: dict[str, Any] = {"status": status, "lease_until": None}
    if lease.kind.tracks_delivery:
        values.update(finished_at=utcnow(), last_error=error[:500], claim_edits=claim_edits)
    marked = session.execute(
        update(table).where(table.id == lease.chunk_id, table.status.in_(ChunkState.UNFINISHED))
        .values(**values))
    return bool(marked.rowcount == 1)  # type: ignore[attr-defined]


def count_on_parent(session: Session, lease: ChunkLease) -> bool:
    """Count the finished chunk on its parent, after its results; True if that completed it."""
    parent = lease.kind.parent
    done, total, status = session.execute(
        update(parent).where(parent.id == lease.parent_id)
        .values(chunks_done=parent.chunks_done + 1)
        .returning(parent.chunks_done, parent.chunk_count, parent.status)).one()
    if done < total or not lease.kind.completes_in(status):
        return False
    lease.kind.complete(session, lease.parent_id)
    return True


def last_error(session: Session, lease: ChunkLease) -> str:
    """Why the chunk's last attempt failed, as record_failure kept it ("" if unknown)."""
    if not lease.kind.tracks_delivery:
        return ""
    table = lease.kind.table
    return session.scalar(select(table.last_error).where(table.id == lease.chunk_id)) or ""


def give_up(session: Session, lease: ChunkLease, message: str,
            write: Callable[[Session], int] | None = None) -> tuple[int, bool] | None:
    """A chunk that failed every delivery: mark it `error` (with `message`), let `write` store
    what its lines become, and count it on its parent, in the caller's transaction. Returns
    (what `write` wrote, whether the parent completed), or None when another delivery had
    finished it."""
    if not mark_finished(session, lease, ChunkState.ERROR, message):
        return None
    written = write(session) if write is not None else 0
    return written, count_on_parent(session, lease)


def record_failure(kind: ChunkKind, chunk_id: int, error: str, *, requeue: bool = True) -> None:
    """An attempt failed: put the chunk back to `queued` (its attempt was counted) and, where
    the kind keeps it, remember why (type and a short reason, never input text)."""
    values: dict[str, Any] = {"status": ChunkState.QUEUED} if requeue else {}
    if kind.tracks_delivery:
        values["last_error"] = error[:500]
    if not values:
        return
    table = kind.table
    with db.session_scope() as session:
        session.execute(update(table).where(table.id == chunk_id,
                                            table.status.in_(ChunkState.UNFINISHED))
                        .values(**values))


def stamp_sent(kind: ChunkKind, chunk_ids: list[int]) -> None:
    """After their messages went out: give the chunks still queued a lease (the reconciler
    re-sends a queued chunk past it once the broker queue is empty), and a job chunk its
    `enqueued_at`."""
    now = utcnow()
    values: dict[str, Any] = {"lease_until": now + dt.timedelta(
        seconds=get_settings().lease_seconds)}
    if kind.tracks_delivery:
        values["enqueued_at"] = now
    table = kind.table
    with db.session_scope() as session:
        session.execute(update(table).where(table.id.in_(chunk_ids),
                                            table.status == ChunkState.QUEUED)
                        .values(**values))


def elapsed_ms(since: float) -> float:
    """Milliseconds since the perf_counter reading `since`, as the metrics records keep them."""
    return round((time.perf_counter() - since) * 1000, 2)
