"""Re-send recode chunks whose message was lost (Redis restart, failed publish, dead worker).

Called by the job reconciler (worker.pipeline.reconcile) on every beat tick. Sending needs
Celery, which worker/ does not import: tasks.recode registers its sender here at import, so
only processes that can send (workers, beat's target) reconcile recode chunks; elsewhere this
does nothing and takes no leases.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import and_, or_, select, update

from worker import db
from worker.models import RecodeChunk, RecodeRun, utcnow
from worker.recode.runs import START_GRACE, Enqueue
from worker.settings import get_settings

log = logging.getLogger("dxcoder.reconcile")
_sender: Enqueue | None = None


def set_sender(send: Enqueue | None) -> None:
    """Install the function that publishes recode chunk ids (tasks.recode does, at import)."""
    global _sender
    _sender = send


def lost_chunks(queue_empty: bool, now: dt.datetime | None = None, limit: int = 5000
                ) -> list[int]:
    """Take the lost recode chunks' rows, push their lease forward and return their ids.

    Never sent (no lease) in a run older than the planner's grace; running past its lease (its
    worker is gone); queued past its lease while the broker queue is empty (its message is gone).
    """
    now = now or utcnow()
    lease = now + dt.timedelta(seconds=get_settings().lease_seconds)
    lost = [
        and_(RecodeChunk.status == "queued", RecodeChunk.lease_until.is_(None),
             RecodeRun.started_at < now - START_GRACE),
        and_(RecodeChunk.status == "running", RecodeChunk.lease_until < now),
    ]
    if queue_empty:
        lost.append(and_(RecodeChunk.status == "queued", RecodeChunk.lease_until < now))
    with db.session_scope() as session:
        query = (select(RecodeChunk.id).join(RecodeRun, RecodeRun.id == RecodeChunk.run_id)
                 .where(RecodeRun.status == "running", or_(*lost))
                 .order_by(RecodeChunk.id).limit(limit))
        if db.is_postgres(session):
            query = query.with_for_update(of=RecodeChunk, skip_locked=True)
        ids = list(session.scalars(query))
        if ids:
            session.execute(update(RecodeChunk).where(RecodeChunk.id.in_(ids))
                            .values(status="queued", lease_until=lease))
    return ids


def resend_lost(queue_empty: bool) -> int:
    """Find lost recode chunks and send them again; returns how many were sent."""
    send = _sender
    if send is None:
        return 0
    ids = lost_chunks(queue_empty)
    for at in range(0, len(ids), 500):
        send(ids[at:at + 500])
    if ids:
        log.warning("reconcile.recode_resent", extra={"chunks": len(ids)})
    return len(ids)
