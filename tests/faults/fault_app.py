"""A real dxcoder worker app whose resolver raises on one marker term (fault injection only).

Started as `celery -A tests.faults.fault_app worker`: everything is the production app; the
patch is applied in the parent before the pool forks, so every pool process inherits it.
"""

from __future__ import annotations

from typing import Any

from tasks import app  # noqa: F401  (the production Celery app and its tasks)
from worker.resolver import engine

MARKER = "FAULT-INJECTED-LINE"
_original = engine.Resolver._decide


def _decide(self: Any, term: str, *args: Any, **kwargs: Any) -> Any:
    if term == MARKER:
        raise RuntimeError("injected resolver fault")
    return _original(self, term, *args, **kwargs)


engine.Resolver._decide = _decide  # type: ignore[method-assign]
