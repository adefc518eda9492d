"""`dxcoder.inbox_poll`: beat's pass over the configured inbox; the logic lives in worker.inbox."""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from tasks.app import app
from tasks.broker import send_job_chunks
from worker.inbox import Inbox
from worker.logs import log_context
from worker.settings import get_settings

log = logging.getLogger("dxcoder.task")

# No retries and no autoretry: the next beat tick is the retry, and every step of a poll is
# idempotent, so a poll cut off (time limit, lost worker, redelivery) is finished by the next one.
# Overlapping polls of one inbox are harmless: the second finds the advisory lock taken and stops.
# The limits leave room to stage a large file (minutes) and stay below the visibility timeout;
# a file too big for them is better served by `dxcoder inbox watch`.
@app.task(name="dxcoder.inbox_poll", bind=True, acks_late=True,
          soft_time_limit=1500, time_limit=1800, ignore_result=True, max_retries=0)
def inbox_poll(self: Task, directory: str | None = None) -> dict[str, Any]:
    """Poll `directory` (default: DXCODER_INBOX_DIR) once; returns counts per outcome."""
    target = directory or get_settings().inbox_dir
    with log_context(task_id=self.request.id, task_name=self.name):
        if not target:
            log.warning("inbox.not_configured")
            return {"configured": False}
        report = Inbox(target, send=send_job_chunks,
                       settle_seconds=get_settings().inbox_settle_seconds).poll()
        counts = {"submitted": len(report.submitted), "completed": len(report.completed),
                  "archived": len(report.archived), "rejected": len(report.rejected),
                  "waiting": len(report.waiting), "failed": len(report.failed),
                  "skipped": len(report.skipped),
                  "busy": report.busy}
        log.info("inbox.polled", extra=counts)
        return counts
