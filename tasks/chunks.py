"""`dxcoder.resolve_chunk`: resolve one chunk of a job; the logic lives in worker.pipeline.chunks."""

from __future__ import annotations

from typing import Any

from celery import Task

from tasks.app import app
from tasks.policy import CHUNK_TASK_OPTIONS, chunk_retry_policy
from worker import breakers, identity
from worker.logs import log_context
from worker.pipeline import chunks, lease


# Queue: settings.queue ("dxcoder.resolve"), routed by task_routes in celeryconfig (the task's
# own `queue` attribute is deprecated in Celery 5.5). Retries: tasks.policy.
@app.task(name="dxcoder.resolve_chunk", **CHUNK_TASK_OPTIONS)
def resolve_chunk(self: Task, chunk_id: int, database: str | None = None) -> dict[str, Any]:
    """Resolve chunk `chunk_id` (an id, never a payload) of database `database` (its identity);
    idempotent under redelivery. A message for another database is refused: acknowledged, not
    retried, nothing written (worker.identity)."""
    with log_context(task_id=self.request.id, task_name=self.name, chunk_id=chunk_id), \
            chunk_retry_policy(self, "chunk", lambda reason: lease.record_failure(
                lease.JOB_CHUNKS, chunk_id, reason)):
        if not identity.accepts(database, chunk_id=chunk_id, task_name=self.name):
            return {"outcome": "refused", "lines": 0, "job_id": None}
        states = breakers.get_breakers().states()
        report = chunks.process_chunk(chunk_id, task_id=self.request.id or "",
                                      breakers=states, retries=self.request.retries)
    return {"outcome": report.outcome, "lines": report.lines, "job_id": report.job_id}
