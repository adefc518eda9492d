"""Load the resolver's indexes and the edits' notes once in a parent, so the processes it forks share them.

Celery's prefork pool and `dxcoder run` both fork their workers: an index built before the fork
is shared copy-on-write instead of being read and built again in every child (seconds each, and
inside a task's time limit). gc.freeze() keeps the collector from touching (and so copying) the
shared objects.
"""

from __future__ import annotations

import gc
import logging
import time

from worker.contract import SYSTEM_ICD9CM, Entry
from worker.settings import get_settings

log = logging.getLogger("dxcoder.warmup")


def preload_resolver() -> dict[str, float]:
    """Build every loaded release's index and the GEM table now; returns seconds per release.

    A database that cannot be read yet is not fatal: the children then load lazily.
    """
    from worker.resolver import get_resolver

    started = time.perf_counter()
    try:
        resolver = get_resolver()
        seconds = {label: round(resolver.load(label), 2) for label in resolver.release_labels()}
        resolver.resolve([Entry(line_no=0, term="250.00", system=SYSTEM_ICD9CM)])  # the GEMs
        if get_settings().claim_edits:  # the tabular's notes, for the chunks' claim edits
            from worker.pipeline import chunk_edits

            chunk_edits.checker()
    except Exception as exc:
        log.warning("resolver.preload_failed", extra={"error": type(exc).__name__})
        return {}
    gc.collect()
    gc.freeze()
    log.info("resolver.preloaded", extra={"releases": seconds,
                                          "seconds": round(time.perf_counter() - started, 2)})
    return seconds
