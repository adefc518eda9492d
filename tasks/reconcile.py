"""`dxcoder.reconcile` (beat): re-send chunks of both kinds whose messages were lost."""

from __future__ import annotations

from celery import Task

from tasks import broker
from tasks.app import app
from worker.logs import log_context
from worker.pipeline import reconcile as reconciler


def reconcile_once() -> int:
    """One pass of the reconciler with the production senders; returns how many were sent."""
    return reconciler.reconcile(
        broker.queue_depth,
        # The reconciler stamped what it sends (its lease taken): publish only. Lost job chunks
        # go first (priority 0), recode chunks keep their background priority.
        send_job_chunks=lambda ids: broker.publish_job_chunks(ids, 0),
        send_recode_chunks=broker.publish_recode_chunks)


@app.task(name="dxcoder.reconcile", bind=True, acks_late=True,
          soft_time_limit=50, time_limit=60, ignore_result=True, max_retries=0)
def reconcile(self: Task) -> int:
    """Re-send lost chunks. No retries: the next beat tick is the retry."""
    with log_context(task_id=self.request.id, task_name=self.name):
        return reconcile_once()
