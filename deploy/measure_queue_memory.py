"""Measure Redis memory per queued chunk message: enqueue N real messages on a throwaway queue.

    DXCODER_BROKER_URL=redis://host:6379/15 python deploy/measure_queue_memory.py --messages 10000

Uses the producer's own path (tasks.broker), so the message is exactly what a submit sends.
Run it against a Redis (or a database number) with nothing else on it: it reads INFO memory
before and after, then deletes its queue. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import uuid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    queue = f"dxcoder.measure.{uuid.uuid4().hex[:8]}"
    os.environ["DXCODER_QUEUE"] = queue  # before the Celery app reads the settings

    import redis

    from tasks.broker import publish_job_chunks
    from worker.settings import get_settings

    client = redis.Redis.from_url(get_settings().broker_url)
    publish_job_chunks([0], 0)  # connect and declare first, so they are not counted
    client.delete(queue)
    time.sleep(1.0)
    before = int(client.info("memory")["used_memory"])
    started = time.perf_counter()
    publish_job_chunks(list(range(1, args.messages + 1)), 0)
    elapsed = time.perf_counter() - started
    after = int(client.info("memory")["used_memory"])
    sample = client.lindex(queue, 0) or b""
    queued = int(client.llen(queue))
    client.delete(queue)
    print(json.dumps({
        "messages": queued,
        "bytes_per_message": round((after - before) / max(queued, 1), 1),
        "message_bytes": len(sample),
        "enqueue_per_s": round(queued / elapsed, 1),
        "redis_version": client.info("server")["redis_version"],
    }))


if __name__ == "__main__":
    main()
