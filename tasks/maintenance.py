"""Periodic maintenance on beat: `dxcoder.reconcile` re-sends chunks whose messages were lost."""

from __future__ import annotations

import logging

import redis
from celery import Task

from tasks.app import app
from tasks.enqueue import enqueue_chunks
from worker import breakers
from worker.logs import log_context
from worker.pipeline import reconcile as reconciler
from worker.settings import get_settings

log = logging.getLogger("dxcoder.task")
_s = get_settings()
# kombu's Redis transport keeps one list per priority step: name, name\x06\x163, ...
_PRIORITY_SEP = "\x06\x16"
_broker: redis.Redis | None = None


def queue_length() -> int:
    """Messages waiting in the chunk queue, read from the broker itself (not the breaker Redis)."""
    global _broker
    if _broker is None:
        _broker = breakers.redis_client(_s.broker_url)
    client = _broker
    with breakers.guard_redis():
        keys = [_s.queue] + [f"{_s.queue}{_PRIORITY_SEP}{step}" for step in (3, 6, 9)]
        return int(sum(client.llen(key) for key in keys))


@app.task(name="dxcoder.reconcile", bind=True, acks_late=True,
          soft_time_limit=50, time_limit=60, ignore_result=True, max_retries=0)
def reconcile(self: Task) -> int:
    """Re-send lost chunks. No retries: the next beat tick is the retry."""
    with log_context(task_id=self.request.id, task_name=self.name):
        return reconciler.reconcile(enqueue_chunks, queue_length)
