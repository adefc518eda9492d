"""Publishing chunk ids to the broker, behind the Redis circuit breaker."""

from __future__ import annotations

from collections.abc import Sequence

from worker import breakers
from worker.identity import database_identity
from worker.settings import get_settings


def enqueue_chunks(chunk_ids: Sequence[int], priority: int) -> None:
    """One message per chunk: its id and its database's identity (a worker of another database
    refuses it). Raises DependencyUnavailable or the broker's error."""
    from tasks.app import app
    from tasks.chunks import resolve_chunk

    queue = get_settings().queue
    database = database_identity()
    with breakers.guard_redis(), app.producer_or_acquire() as producer:
        for chunk_id in chunk_ids:
            resolve_chunk.apply_async((chunk_id,), {"database": database}, queue=queue,
                                      priority=priority, producer=producer)
