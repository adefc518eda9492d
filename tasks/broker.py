"""The broker seam: every message dxcoder publishes, and what it reads back from the broker.

Only the CLI's entry points and tasks/ call this; the domain (worker/) gets these functions
passed in (a `send` callback, a queue-depth probe) and never imports Celery or kombu.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

import redis
from kombu.exceptions import OperationalError as KombuOperationalError

from worker import breakers
from worker.errors import BrokerUnavailable
from worker.identity import database_identity
from worker.pipeline import lease, producer
from worker.settings import Settings, get_settings

# Recoding is background work: the lowest Redis priority step, so submitted jobs go first.
RECODE_PRIORITY = 9
# kombu's Redis transport keeps one list per priority step (celeryconfig: 0, 3, 6, 9):
# the queue itself for 0 and `queue\x06\x16N` for the others.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)
# Chunk ids per publish-then-stamp step: a broker failure leaves at most this many sent but
# unstamped (the reconciler's lease rule covers them).
BATCH = 500
_broker: redis.Redis | None = None


@contextlib.contextmanager
def _broker_errors() -> Iterator[None]:
    # kombu's connection errors become the domain's BrokerUnavailable (a TransientError), inside
    # the Redis breaker so that it counts them.
    try:
        yield
    except KombuOperationalError as exc:
        raise BrokerUnavailable(f"the broker refused the message ({type(exc).__name__})") from exc


def _publish(task_name: str, chunk_ids: Sequence[int], priority: int) -> None:
    """One message per chunk: its id and its database's identity (a worker of another database
    refuses it). Raises DependencyUnavailable (breaker open) or BrokerUnavailable."""
    from tasks.app import app

    task = app.tasks[task_name]
    queue = get_settings().queue
    database = database_identity()
    with breakers.guard_redis(), _broker_errors(), app.producer_or_acquire() as producer:
        for chunk_id in chunk_ids:
            task.apply_async((chunk_id,), {"database": database}, queue=queue,
                             priority=priority, producer=producer)


def publish_job_chunks(chunk_ids: Sequence[int], priority: int) -> None:
    """Publish `dxcoder.resolve_chunk` messages for job chunks (ids only, nothing stamped)."""
    _publish("dxcoder.resolve_chunk", chunk_ids, priority)


def publish_recode_chunks(chunk_ids: Sequence[int], priority: int = RECODE_PRIORITY) -> None:
    """Publish `dxcoder.recode_chunk` messages for recode chunks (ids only, nothing stamped)."""
    _publish("dxcoder.recode_chunk", chunk_ids, priority)


def send_job_chunks(chunk_ids: Sequence[int], priority: int | None = None) -> None:
    """Send job chunks: publish a batch, then stamp it sent (`enqueued_at` and a lease); stops
    at the first broker failure (re-raised). Chunks left unstamped are the reconciler's to send.
    `priority`: by default from the job's chunk count (producer.job_priority)."""
    ids = list(chunk_ids)
    if not ids:
        return
    if priority is None:
        priority = producer.job_priority(ids)
    for at in range(0, len(ids), BATCH):
        part = ids[at:at + BATCH]
        publish_job_chunks(part, priority)
        lease.stamp_sent(lease.JOB_CHUNKS, part)


def send_recode_chunks(chunk_ids: Sequence[int]) -> None:
    """Send recode chunks: publish a batch, then give it a lease; stops at the first broker
    failure (re-raised). Chunks left without a lease are picked up by the reconciler."""
    ids = list(chunk_ids)
    for at in range(0, len(ids), BATCH):
        part = ids[at:at + BATCH]
        publish_recode_chunks(part)
        lease.stamp_sent(lease.RECODE_CHUNKS, part)


def queue_depth(client: redis.Redis | None = None, queue: str | None = None) -> int:
    """Messages waiting in the chunk queue over every priority step, read from the broker itself.

    Without `client`: through the Redis breaker, on a client kept for the process (the
    reconciler's view); health and the exporter pass their own short-timeout client.
    """
    global _broker
    settings = get_settings()
    queue = queue or settings.queue
    keys = [queue] + [f"{queue}{_PRIORITY_SEP}{step}" for step in _PRIORITY_STEPS]
    if client is not None:
        return _sum_lengths(client, keys)
    if _broker is None:
        _broker = breakers.redis_client(settings.broker_url)
    with breakers.guard_redis():
        return _sum_lengths(_broker, keys)


def _sum_lengths(client: redis.Redis, keys: list[str]) -> int:
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
    return int(sum(pipe.execute()))


def workers_online(settings: Settings) -> list[str]:
    """Names of workers that answer within the timeout and consume our queue.

    `inspect active_queues` is a ping that also says what each worker consumes, so a worker of
    another deployment on the same Redis is not counted as ours.
    """
    from tasks.app import app

    replies = app.control.inspect(timeout=float(settings.health_timeout)).active_queues() or {}
    return sorted(name for name, queues in replies.items()
                  if any(q.get("name") == settings.queue for q in queues or []))
