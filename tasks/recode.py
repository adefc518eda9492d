"""`dxcoder.nightly_recode` (beat) plans a recoding run; `dxcoder.recode_chunk` re-checks one chunk.

The logic lives in worker.recode; these are the delivery terms.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from tasks.app import app
from tasks.chunks import TRANSIENT
from worker import breakers
from worker.errors import DependencyUnavailable
from worker.logs import log_context, safe_traceback
from worker.recode import apply, runs
from worker.recode.reconcile import set_sender
from worker.settings import get_settings

log = logging.getLogger("dxcoder.task")
_s = get_settings()
# Recoding is background work: the lowest Redis priority step, so submitted jobs go first.
RECODE_PRIORITY = 9


def enqueue_recode_chunks(chunk_ids: Sequence[int]) -> None:
    """One message per recode chunk, ids only. Raises DependencyUnavailable or the broker's error."""
    queue = get_settings().queue
    with breakers.guard_redis(), app.producer_or_acquire() as producer:
        for chunk_id in chunk_ids:
            recode_chunk.apply_async((chunk_id,), queue=queue, priority=RECODE_PRIORITY,
                                     producer=producer)


def start_and_enqueue(*, trigger: str, **scope: Any) -> runs.Started:
    """Plan (or resume) a run, commit, then send its chunks."""
    started = runs.start(trigger=trigger, **scope)
    if started.chunk_ids:
        runs.enqueue(started.chunk_ids, enqueue_recode_chunks)
    return started


# The beat reconciler (dxcoder.reconcile) re-sends lost recode chunks through this.
set_sender(enqueue_recode_chunks)


# Planning is idempotent (one running run at a time, a stale one is resumed), so a redelivered
# or retried planner does no harm; transient outages retry a few times, then the next night
# (or `dxcoder recode run`) tries again.
@app.task(name="dxcoder.nightly_recode", bind=True, queue=_s.queue, acks_late=True,
          soft_time_limit=_s.task_soft_time_limit, time_limit=_s.task_time_limit,
          autoretry_for=TRANSIENT, retry_backoff=True, retry_backoff_max=_s.retry_backoff_max,
          retry_jitter=True, max_retries=5, ignore_result=True)
def nightly_recode(self: Task) -> dict[str, Any]:
    """Re-check every stored line whose outcome can change; exits early if a run is running."""
    with log_context(task_id=self.request.id, task_name=self.name):
        started = start_and_enqueue(trigger="beat")
        if started.outcome == "busy":
            log.warning("recode.busy", extra={"run_id": started.run_id,
                                              "detail": started.detail})
        return {"run_id": started.run_id, "outcome": started.outcome, "chunks": started.chunks}


@app.task(
    name="dxcoder.recode_chunk",
    bind=True,
    queue=_s.queue,
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=_s.task_soft_time_limit,
    time_limit=_s.task_time_limit,
    autoretry_for=TRANSIENT,
    retry_backoff=True,
    retry_backoff_max=_s.retry_backoff_max,
    retry_jitter=True,
    max_retries=_s.task_max_retries,
    ignore_result=True,
)
def recode_chunk(self: Task, chunk_id: int) -> dict[str, Any]:
    """Re-check recode chunk `chunk_id`; idempotent under redelivery (claimed, done once)."""
    with log_context(task_id=self.request.id, task_name=self.name, chunk_id=chunk_id):
        try:
            report = apply.process_chunk(chunk_id, task_id=self.request.id or "")
        except DependencyUnavailable as exc:
            # The breaker is open: wait at least its reset timeout instead of burning retries.
            countdown = exc.retry_after + random.uniform(0, exc.retry_after / 3)
            log.warning("recode.retry", extra={"reason": "breaker_open",
                                               "dependency": exc.dependency,
                                               "countdown_s": round(countdown, 1)})
            raise self.retry(exc=exc, countdown=countdown,
                             max_retries=_s.task_max_retries * 3) from None
        except TRANSIENT as exc:
            log.warning("recode.retry", extra={"reason": type(exc).__name__,
                                               "retries": self.request.retries})
            raise
        except SoftTimeLimitExceeded:
            apply.record_failure(chunk_id)
            log.error("recode.timeout", extra={"soft_time_limit_s": _s.task_soft_time_limit})
            raise self.retry(countdown=5) from None
        except Exception as exc:
            # A bug, not an outage: try again a little later; the chunk's attempt counter
            # turns one that always fails into an `error` chunk and a `failed` run.
            apply.record_failure(chunk_id)
            log.error("recode.failed", extra={"error": type(exc).__name__,
                                              "where": safe_traceback(exc)})
            raise self.retry(exc=exc, countdown=5 * (self.request.retries + 1),
                             max_retries=_s.max_attempts) from None
        return {"outcome": report.outcome, "run_id": report.run_id, "checked": report.checked}
