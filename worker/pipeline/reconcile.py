"""The reconciler: re-send chunks whose message was lost (Redis restart, failed publish, dead worker).

One pass over both kinds of chunk (worker.pipeline.lease), job chunks and recode chunks, run by
beat every minute; safe to overlap with itself (rows are taken FOR UPDATE SKIP LOCKED).
- A chunk never sent whose parent is older than a grace period: send it (a job chunk without
  `enqueued_at` of a job no longer staging; a recode chunk without a lease).
- A running chunk past its lease: its worker is gone (the lease outlives the hard time limit).
- A queued chunk past its lease while the broker queue is empty: its message is gone.
- A job still staging six hours after it began: its producer died part-way; it is deleted.
Recode chunks are looked at only while their run is running. The senders are passed in: the
domain does not publish (tasks.broker does).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import and_, or_, select, update

from worker import db
from worker.models import Chunk, Job, RecodeChunk, RecodeRun, utcnow
from worker.pipeline.jobs import ChunkState, JobState
from worker.pipeline.lease import JOB_CHUNKS, RECODE_CHUNKS, ChunkKind
from worker.recode.runs import START_GRACE, RunState
from worker.settings import get_settings

log = logging.getLogger("dxcoder.reconcile")
NEVER_SENT_GRACE = dt.timedelta(seconds=30)
STAGING_ABANDONED_AFTER = dt.timedelta(hours=6)
# Publishes chunk ids (the reconciler sends what it finds in batches of this many).
Send = Callable[[Sequence[int]], None]
BATCH = 500


def _never_sent(kind: ChunkKind, now: dt.datetime) -> Any:
    if kind is JOB_CHUNKS:
        # A job still staging sends its batches itself (or is abandoned: see below).
        return and_(Chunk.status == ChunkState.QUEUED, Chunk.enqueued_at.is_(None),
                    Job.status != JobState.STAGING, Job.created_at < now - NEVER_SENT_GRACE)
    return and_(RecodeChunk.status == ChunkState.QUEUED, RecodeChunk.lease_until.is_(None),
                RecodeRun.started_at < now - START_GRACE)


def lost_chunks(kind: ChunkKind, queue_empty: bool, now: dt.datetime | None = None,
                limit: int = 5000) -> list[int]:
    """Take the lost chunks' rows of `kind`, push their lease forward and return their ids."""
    now = now or utcnow()
    lease = now + dt.timedelta(seconds=get_settings().lease_seconds)
    table, parent = kind.table, kind.parent
    lost = [_never_sent(kind, now),
            and_(table.status == ChunkState.RUNNING, table.lease_until < now)]
    if queue_empty:
        lost.append(and_(table.status == ChunkState.QUEUED, table.lease_until < now))
    where = [or_(*lost)]
    if kind is RECODE_CHUNKS:
        where.append(RecodeRun.status == RunState.RUNNING)
    values: dict[str, Any] = {"status": ChunkState.QUEUED, "lease_until": lease}
    if kind.tracks_delivery:
        values["enqueued_at"] = now
    with db.session_scope() as session:
        query = (select(table.id)
                 .join(parent, parent.id == getattr(table, kind.parent_key)).where(*where)
                 .order_by(table.id).limit(limit))
        if db.is_postgres(session):
            query = query.with_for_update(of=table, skip_locked=True)
        ids = list(session.scalars(query))
        if ids:
            session.execute(update(table).where(table.id.in_(ids)).values(**values))
    return ids


def discard_abandoned_staging(now: dt.datetime | None = None) -> list[str]:
    """Delete jobs still `staging` long after they began: their producer was killed part-way
    through the file (a live one stages a million lines in seconds). Returns their ids."""
    from worker.pipeline.producer import discard_job

    now = now or utcnow()
    with db.session_scope() as session:
        ids = list(session.scalars(select(Job.id).where(
            Job.status == JobState.STAGING, Job.created_at < now - STAGING_ABANDONED_AFTER)))
    for job_id in ids:
        discard_job(job_id)
        log.warning("reconcile.discarded_staging", extra={"job_id": job_id})
    return ids


def reconcile(queue_depth: Callable[[], int], *, send_job_chunks: Send,
              send_recode_chunks: Send) -> int:
    """Find lost chunks (of jobs and of recoding runs) and send them again; returns how many
    were sent. Also deletes jobs whose producer died while staging them."""
    discard_abandoned_staging()
    queue_empty = queue_depth() == 0
    sent = 0
    for kind, send, event in ((JOB_CHUNKS, send_job_chunks, "reconcile.resent"),
                              (RECODE_CHUNKS, send_recode_chunks, "reconcile.recode_resent")):
        ids = lost_chunks(kind, queue_empty)
        for start in range(0, len(ids), BATCH):
            send(ids[start:start + BATCH])
        if ids:
            log.warning(event, extra={"chunks": len(ids)})
        sent += len(ids)
    return sent
