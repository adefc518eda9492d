"""Celery app and thin tasks: `celery -A tasks worker` finds `app` here."""

from tasks import chunks, inbox, lifecycle, recode, reconcile, signals  # noqa: F401  (register tasks and signal handlers)
from tasks.app import app

__all__ = ["app"]
