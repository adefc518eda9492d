"""The delivery terms every chunk task shares (job chunks and recode chunks): what is retried,
how soon, and what is remembered on the chunk when an attempt fails."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from celery import Task
from celery.exceptions import SoftTimeLimitExceeded

from worker.errors import TRANSIENT_ERRORS, DependencyUnavailable
from worker.logs import safe_traceback
from worker.settings import get_settings

log = logging.getLogger("dxcoder.task")
_s = get_settings()

# Transient (worker.errors.TRANSIENT_ERRORS): retried with exponential backoff and jitter
# (1, 2, 4 ... capped at retry_backoff_max s; 12 retries outlast a two-minute outage with room).
# Everything else is permanent for this attempt: data errors never reach here (they become
# invalid_input lines), and a bug is retried a few times through the chunk's attempt counter.

# Options of a task that works on one chunk: the message is acknowledged only after the work
# (a lost worker's chunk comes back), transient errors retry with backoff, nothing is stored.
CHUNK_TASK_OPTIONS: dict[str, Any] = {
    "bind": True,
    "acks_late": True,
    "reject_on_worker_lost": True,
    "soft_time_limit": _s.task_soft_time_limit,
    "time_limit": _s.task_time_limit,
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": True,
    "retry_backoff_max": _s.retry_backoff_max,
    "retry_jitter": True,
    "max_retries": _s.task_max_retries,
    "ignore_result": True,
}


@contextmanager
def chunk_retry_policy(task: Task, event: str, record_failure: Callable[[str], None]
                       ) -> Iterator[None]:
    """Run a chunk's work under the shared retry rules; `event` prefixes the log events
    ("chunk" -> chunk.retry, chunk.timeout, chunk.failed) and `record_failure(reason)` marks
    the chunk queued again with why its attempt failed (type only, never input text)."""
    retries = task.request.retries
    try:
        yield
    except DependencyUnavailable as exc:
        # The breaker is open: wait at least its reset timeout instead of burning retries.
        countdown = exc.retry_after + random.uniform(0, exc.retry_after / 3)
        log.warning(f"{event}.retry", extra={"reason": "breaker_open",
                                             "dependency": exc.dependency,
                                             "countdown_s": round(countdown, 1),
                                             "retries": retries})
        raise task.retry(exc=exc, countdown=countdown,
                         max_retries=_s.task_max_retries * 3) from None
    except TRANSIENT_ERRORS as exc:
        log.warning(f"{event}.retry", extra={"reason": type(exc).__name__, "retries": retries})
        raise  # autoretry_for: exponential backoff with jitter
    except SoftTimeLimitExceeded:
        record_failure("soft time limit exceeded")
        log.error(f"{event}.timeout", extra={"soft_time_limit_s": _s.task_soft_time_limit})
        raise task.retry(countdown=5) from None
    except Exception as exc:
        # A bug, not an outage: remember it on the chunk and try again a little later; the
        # attempt counter turns a chunk that always fails into `error` lines (or chunk).
        record_failure(f"{type(exc).__name__} while resolving")
        log.error(f"{event}.failed", extra={"error": type(exc).__name__,
                                            "where": safe_traceback(exc)})
        raise task.retry(exc=exc, countdown=5 * (retries + 1),
                         max_retries=_s.max_attempts) from None
