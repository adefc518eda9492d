"""Worker process life cycle: JSON logging, a fresh engine and breakers after fork, warm index."""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from worker import breakers, db
from worker.logs import setup_logging
from worker.settings import get_settings

log = logging.getLogger("dxcoder.worker")


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    # Connecting here stops Celery from configuring the root logger itself.
    setup_logging(get_settings())


@signals.worker_init.connect
def _worker_init(**_: Any) -> None:
    # In the main process, before the pool forks: build the index once for every child.
    from worker.pipeline.warmup import preload_resolver

    preload_resolver()
    db.dispose()  # no connection of the parent's crosses the fork


@signals.worker_process_init.connect
def _process_init(**_: Any) -> None:
    # The parent's pooled connections must not be used (or closed) by the child. The resolver's
    # index is inherited as is; it checks the database for changes on every batch.
    db.reset_after_fork()
    db.mark_worker_process()
    breakers.install()


@signals.worker_ready.connect
def _ready(**_: Any) -> None:
    settings = get_settings()
    log.info("worker.ready", extra={"settings": {k: v for k, v, _ in settings.describe()}})
