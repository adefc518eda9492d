"""`dxcoder.retention_purge` (beat, daily): purge claims data past DXCODER_RETENTION_DAYS.

The logic lives in worker.lifecycle.purge; these are the delivery terms.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from tasks.app import app
from worker.errors import TRANSIENT_ERRORS
from worker.lifecycle.purge import retention_purge
from worker.logs import log_context
from worker.settings import get_settings

log = logging.getLogger("dxcoder.task")
_s = get_settings()


# Idempotent and safe to overlap (each job row is locked while it is purged, a purged job is
# skipped), so redelivery does no harm; transient outages retry, then the next day catches up.
@app.task(name="dxcoder.retention_purge", bind=True, acks_late=True,
          soft_time_limit=_s.task_soft_time_limit, time_limit=_s.task_time_limit,
          autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, retry_backoff_max=_s.retry_backoff_max,
          retry_jitter=True, max_retries=5, ignore_result=True)
def retention_purge_task(self: Task) -> dict[str, Any]:
    """Purge every finished job and inbox archive/outbox file older than the retention."""
    with log_context(task_id=self.request.id, task_name=self.name):
        report = retention_purge(trigger="beat")
        return {"jobs": len(report.jobs), "files": len(report.files), **report.totals()}
