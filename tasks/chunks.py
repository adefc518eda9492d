"""`dxcoder.resolve_chunk`: resolve one chunk of a job; the logic lives in worker.pipeline.chunks."""

from __future__ import annotations

import logging
import random
from typing import Any

import redis.exceptions
import sqlalchemy.exc
from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from tasks.app import app
from worker import breakers
from worker.errors import DependencyUnavailable
from worker.logs import log_context, safe_traceback
from worker.pipeline import chunks
from worker.settings import get_settings

log = logging.getLogger("dxcoder.task")
_s = get_settings()

# Transient: the server is down, restarting or full. Retried with exponential backoff and jitter
# (1, 2, 4 ... capped at retry_backoff_max s; 12 retries outlast a two-minute outage with room).
# Everything else is permanent for this attempt: data errors never reach here (they become
# invalid_input lines), and a bug is retried a few times through the chunk's attempt counter.
TRANSIENT = (sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError,
             sqlalchemy.exc.TimeoutError, redis.exceptions.ConnectionError)


# Queue: settings.queue ("dxcoder.resolve"), routed by task_routes in celeryconfig (the task's
# own `queue` attribute is deprecated in Celery 5.5).
@app.task(
    name="dxcoder.resolve_chunk",
    bind=True,
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
def resolve_chunk(self: Task, chunk_id: int) -> dict[str, Any]:
    """Resolve chunk `chunk_id` (an id, never a payload); idempotent under redelivery."""
    with log_context(task_id=self.request.id, task_name=self.name, chunk_id=chunk_id):
        try:
            states = breakers.get_breakers().states()
            report = chunks.process_chunk(chunk_id, task_id=self.request.id or "",
                                          breakers=states, retries=self.request.retries)
        except DependencyUnavailable as exc:
            # The breaker is open: wait at least its reset timeout instead of burning retries.
            countdown = exc.retry_after + random.uniform(0, exc.retry_after / 3)
            log.warning("chunk.retry", extra={"reason": "breaker_open",
                                              "dependency": exc.dependency,
                                              "countdown_s": round(countdown, 1),
                                              "retries": self.request.retries})
            raise self.retry(exc=exc, countdown=countdown,
                             max_retries=_s.task_max_retries * 3) from None
        except TRANSIENT as exc:
            log.warning("chunk.retry", extra={"reason": type(exc).__name__,
                                              "retries": self.request.retries})
            raise
        except SoftTimeLimitExceeded:
            chunks.record_failure(chunk_id, "soft time limit exceeded", requeue=True)
            log.error("chunk.timeout", extra={"soft_time_limit_s": _s.task_soft_time_limit})
            raise self.retry(countdown=5) from None
        except Exception as exc:
            # A bug, not an outage: remember it on the chunk and try again a little later; the
            # attempt counter turns a chunk that always fails into `error` lines.
            chunks.record_failure(chunk_id, f"{type(exc).__name__} while resolving", requeue=True)
            log.error("chunk.failed", extra={"error": type(exc).__name__,
                                             "where": safe_traceback(exc)})
            raise self.retry(exc=exc, countdown=5 * (self.request.retries + 1),
                             max_retries=_s.max_attempts) from None
        return {"outcome": report.outcome, "lines": report.lines, "job_id": report.job_id}
