"""Celery settings, mapped from dxcoder's Settings; each line says why it is set this way."""

from __future__ import annotations

from celery.schedules import crontab

from worker.settings import get_settings

_s = get_settings()

broker_url = _s.broker_url
# No result backend: results, job state and metrics live in PostgreSQL (the source of truth).
task_ignore_result = True
result_backend = None

# Only JSON crosses the broker: tasks carry ids, and pickle would let a broker write code to run.
accept_content = ["json"]
result_accept_content = ["json"]
task_serializer = "json"
result_serializer = "json"

# Ack after the chunk is committed, so a worker that dies mid-chunk loses nothing; a killed pool
# process re-queues its message (task_reject_on_worker_lost). The chunk's attempt counter stops
# a chunk that kills its worker every time from looping forever.
task_acks_late = True
task_reject_on_worker_lost = True
# One message per process at a time: a long chunk never holds others hostage in a prefetch buffer.
worker_prefetch_multiplier = 1

# Time limits below the visibility timeout (validated in Settings): Redis must never hand a
# chunk to a second worker while the first is still allowed to run it.
task_soft_time_limit = _s.task_soft_time_limit
task_time_limit = _s.task_time_limit

broker_transport_options = {
    # > hard time limit + the longest retry countdown (ETA tasks wait unacked in the worker).
    "visibility_timeout": _s.visibility_timeout,
    # Small jobs go out with a higher priority (0) than large ones, so they are not starved.
    "queue_order_strategy": "priority",
    "priority_steps": [0, 3, 6, 9],
}
# Same reasoning for any result transport someone adds later.
result_backend_transport_options = {"visibility_timeout": _s.visibility_timeout}

task_default_queue = _s.queue
task_routes = {
    "dxcoder.resolve_chunk": {"queue": _s.queue},
    "dxcoder.reconcile": {"queue": _s.queue},
    "dxcoder.nightly_recode": {"queue": _s.queue},
    "dxcoder.recode_chunk": {"queue": _s.queue},
    "dxcoder.inbox_poll": {"queue": _s.queue},
}

# A producer must fail fast (and say so) when Redis is down, not hang: the reconciler re-sends.
task_publish_retry = True
task_publish_retry_policy = {"max_retries": 2, "interval_start": 0.2, "interval_step": 0.5,
                             "interval_max": 1.0}
broker_connection_retry_on_startup = True
broker_connection_timeout = 4
# If the broker connection drops, cancel running acks_late tasks: their messages come back.
worker_cancel_long_running_tasks_on_connection_loss = True

# Our JSON logging, configured in the setup_logging signal (tasks/signals.py).
worker_hijack_root_logger = False
worker_redirect_stdouts = False

# Flower needs task events.
worker_send_task_events = True
task_send_sent_event = True

# Exactly one beat runs (deploy/); every entry expires so a backlog never replays stale runs,
# and each task is safe to overlap (SKIP LOCKED / idempotent).
beat_schedule = {
    "reconcile-lost-chunks": {
        "task": "dxcoder.reconcile",
        "schedule": float(_s.reconcile_interval),
        "options": {"expires": float(_s.reconcile_interval)},
    },
}
_minute, _hour, _dom, _month, _dow = _s.recode_crontab.split()
recode_schedule = crontab(minute=_minute, hour=_hour, day_of_month=_dom, month_of_year=_month,
                          day_of_week=_dow)
# A planner that could not start within an hour is dropped: the next night's run covers it.
beat_schedule["nightly-recode"] = {
    "task": "dxcoder.nightly_recode",
    "schedule": recode_schedule,
    "options": {"expires": 3600.0},
}
# The daily retention purge; a purge that could not start within an hour waits for the next day.
_minute, _hour, _dom, _month, _dow = _s.purge_crontab.split()
beat_schedule["retention-purge"] = {
    "task": "dxcoder.retention_purge",
    "schedule": crontab(minute=_minute, hour=_hour, day_of_month=_dom, month_of_year=_month,
                        day_of_week=_dow),
    "options": {"expires": 3600.0},
}
# The inbox is polled only when one is configured; a tick that could not start before the next
# one is due is dropped (the next tick does the same work).
if _s.inbox_dir:
    beat_schedule["inbox-poll"] = {
        "task": "dxcoder.inbox_poll",
        "schedule": float(_s.inbox_poll_interval),
        "options": {"expires": float(_s.inbox_poll_interval)},
    }
timezone = "UTC"
