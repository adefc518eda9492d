"""Logging set-up: JSON events (python-json-logger) with task and job context on every record.

Claims data is PHI: callers log event names and counts, never diagnosis text or patient ids.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import logging.handlers
import os
import socket
import sys
import traceback
import types
from collections.abc import Iterator, Mapping
from typing import Any

from pythonjsonlogger.json import JsonFormatter

from worker import private
from worker.settings import Settings

# Context fields stamped on every record emitted while a task (or CLI job) runs.
CONTEXT_FIELDS = ("task_id", "task_name", "job_id", "chunk_no")
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "dxcoder_log_context", default=types.MappingProxyType({})
)
_HOST = socket.gethostname()


class ContextFilter(logging.Filter):
    """Copies the current task/job context and host/pid onto each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get()
        for name in CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, ctx.get(name))
        record.host = _HOST
        return True


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Within the block, every record carries these fields (task_id, job_id, chunk_no...)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def _formatter(fmt: str) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter(
            ["asctime", "levelname", "name", "message", "process", *CONTEXT_FIELDS, "host"],
            rename_fields={"asctime": "ts", "levelname": "level", "name": "logger",
                           "message": "event", "process": "pid"},
            timestamp=False,
        )
    return logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s job=%(job_id)s chunk=%(chunk_no)s"
    )


class _PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Log files (and each one rotation starts) are created 0600: events carry job ids and
    counts, and an operator's DEBUG run may say more."""

    def __init__(self, filename: str, settings: Settings, **kwargs: Any) -> None:
        self._settings = settings  # before the base class opens the file
        super().__init__(filename, **kwargs)

    def _open(self) -> io.TextIOWrapper:
        fd = private.open_append(self.baseFilename, self._settings)
        return open(fd, "a", encoding=self.encoding, errors=self.errors)  # noqa: SIM115


def setup_logging(settings: Settings, *, stream: Any = None) -> None:
    """Configure the root logger once per process: stderr, plus a rotating file if configured."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_dxcoder", False):
            root.removeHandler(handler)
            handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(stream or sys.stderr)]
    if settings.log_file:
        os.makedirs(os.path.dirname(os.path.abspath(settings.log_file)), exist_ok=True)
        handlers.append(
            _PrivateRotatingFileHandler(
                settings.log_file,
                settings,
                maxBytes=settings.log_max_bytes,
                backupCount=settings.log_backup_count,
                encoding="utf-8",
            )
        )
    for handler in handlers:
        handler.setFormatter(_formatter(settings.log_format))
        handler.addFilter(ContextFilter())
        handler._dxcoder = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    # Library chatter that would drown our events at INFO.
    for noisy in ("sqlalchemy.engine", "alembic.runtime.migration", "urllib3"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))


def safe_traceback(exc: BaseException, limit: int = 12) -> list[str]:
    """Where an exception came from (file:line in function), without its message.

    Exception messages can quote data (a driver's DataError names the bad value), and claims
    data is PHI; the frames are enough to find the bug.
    """
    frames = traceback.extract_tb(exc.__traceback__)[-limit:]
    return [f"{'/'.join(f.filename.rsplit('/', 2)[-2:])}:{f.lineno} in {f.name}" for f in frames]
