"""The reconciler: re-send chunks whose message was lost (Redis restart, failed publish, dead worker).

Run by beat every minute; safe to overlap with itself (rows are taken FOR UPDATE SKIP LOCKED).
- A chunk never sent (no enqueued_at) whose job is older than a grace period: send it.
- A running chunk past its lease: its worker is gone (the lease outlives the hard time limit).
- A queued chunk past its lease while the broker queue is empty: its message is gone.
- A job still staging six hours after it began: its producer died part-way; it is deleted.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from sqlalchemy import and_, or_, select, update

from worker import db
from worker.models import Chunk, Job, utcnow
from worker.settings import get_settings

log = logging.getLogger("dxcoder.reconcile")
NEVER_SENT_GRACE = dt.timedelta(seconds=30)
STAGING_ABANDONED_AFTER = dt.timedelta(hours=6)


def lost_chunks(queue_empty: bool, now: dt.datetime | None = None, limit: int = 5000) -> list[int]:
    """Take the lost chunks' rows, push their lease forward and return their ids."""
    now = now or utcnow()
    lease = now + dt.timedelta(seconds=get_settings().lease_seconds)
    lost = [
        # A job still staging sends its batches itself (or is abandoned: see below).
        and_(Chunk.status == "queued", Chunk.enqueued_at.is_(None), Job.status != "staging",
             Job.created_at < now - NEVER_SENT_GRACE),
        and_(Chunk.status == "running", Chunk.lease_until < now),
    ]
    if queue_empty:
        lost.append(and_(Chunk.status == "queued", Chunk.lease_until < now))
    with db.session_scope() as session:
        query = (select(Chunk.id).join(Job, Job.id == Chunk.job_id).where(or_(*lost))
                 .order_by(Chunk.id).limit(limit))
        if db.is_postgres(session):
            query = query.with_for_update(of=Chunk, skip_locked=True)
        ids = list(session.scalars(query))
        if ids:
            session.execute(update(Chunk).where(Chunk.id.in_(ids))
                            .values(status="queued", enqueued_at=now, lease_until=lease))
    return ids


def discard_abandoned_staging(now: dt.datetime | None = None) -> list[str]:
    """Delete jobs still `staging` long after they began: their producer was killed part-way
    through the file (a live one stages a million lines in seconds). Returns their ids."""
    from worker.pipeline.producer import discard_job

    now = now or utcnow()
    with db.session_scope() as session:
        ids = list(session.scalars(select(Job.id).where(
            Job.status == "staging", Job.created_at < now - STAGING_ABANDONED_AFTER)))
    for job_id in ids:
        discard_job(job_id)
        log.warning("reconcile.discarded_staging", extra={"job_id": job_id})
    return ids


def reconcile(enqueue: Callable[[Sequence[int], int], None], queue_length: Callable[[], int]
              ) -> int:
    """Find lost chunks (of jobs and of recoding runs) and send them again; returns how many
    were sent. Also deletes jobs whose producer died while staging them."""
    from worker.recode.reconcile import resend_lost

    discard_abandoned_staging()
    queue_empty = queue_length() == 0
    ids = lost_chunks(queue_empty=queue_empty)
    if ids:
        for start in range(0, len(ids), 500):
            enqueue(ids[start:start + 500], 0)
        log.warning("reconcile.resent", extra={"chunks": len(ids)})
    return len(ids) + resend_lost(queue_empty)
