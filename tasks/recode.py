"""`dxcoder.nightly_recode` (beat) plans a recoding run; `dxcoder.recode_chunk` re-checks one chunk.

The logic lives in worker.recode; these are the delivery terms.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task

from tasks.app import app
from tasks.broker import send_recode_chunks
from tasks.policy import CHUNK_TASK_OPTIONS, chunk_retry_policy
from worker import identity
from worker.errors import TRANSIENT_ERRORS
from worker.logs import log_context
from worker.pipeline import lease
from worker.recode import apply, runs
from worker.settings import get_settings

log = logging.getLogger("dxcoder.task")
_s = get_settings()
def start_and_send(*, trigger: str, **scope: Any) -> runs.Started:
    """Plan (or resume) a run, commit, then send its chunks."""
    started = runs.start(trigger=trigger, **scope)
    if started.chunk_ids:
        send_recode_chunks(started.chunk_ids)
    return started


# Planning is idempotent (one running run at a time, a stale one is resumed), so a redelivered
# or retried planner does no harm; transient outages retry a few times, then the next night
# (or `dxcoder recode run`) tries again.
@app.task(name="dxcoder.nightly_recode", bind=True, acks_late=True,
          soft_time_limit=_s.task_soft_time_limit, time_limit=_s.task_time_limit,
          autoretry_for=TRANSIENT_ERRORS, retry_backoff=True, retry_backoff_max=_s.retry_backoff_max,
          retry_jitter=True, max_retries=5, ignore_result=True)
def nightly_recode(self: Task) -> dict[str, Any]:
    """Re-check every stored line whose outcome can change; exits early if a run is running."""
    with log_context(task_id=self.request.id, task_name=self.name):
        started = start_and_send(trigger="beat")
        if started.outcome == "busy":
            log.warning("recode.busy", extra={"run_id": started.run_id,
                                              "detail": started.detail})
        return {"run_id": started.run_id, "outcome": started.outcome, "chunks": started.chunks}


@app.task(name="dxcoder.recode_chunk", **CHUNK_TASK_OPTIONS)
def recode_chunk(self: Task, chunk_id: int, database: str | None = None) -> dict[str, Any]:
    """Re-check recode chunk `chunk_id` of database `database`; idempotent under redelivery
    (claimed, done once). A chunk that always fails becomes an `error` chunk and its run
    `failed`; a message for another database is refused (worker.identity)."""
    with log_context(task_id=self.request.id, task_name=self.name, chunk_id=chunk_id), \
            chunk_retry_policy(self, "recode", lambda reason: lease.record_failure(
                lease.RECODE_CHUNKS, chunk_id, reason)):
        if not identity.accepts(database, chunk_id=chunk_id, task_name=self.name):
            return {"outcome": "refused", "run_id": None, "checked": 0}
        report = apply.process_chunk(chunk_id, task_id=self.request.id or "")
    return {"outcome": report.outcome, "run_id": report.run_id, "checked": report.checked}
