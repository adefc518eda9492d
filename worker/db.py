"""The one way to the database: a pooled engine per process and a session scope around each use."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

from worker import private
from worker.memo import remember
from worker.settings import Settings, get_settings

log = logging.getLogger(__name__)

# A guard wraps every session scope. The default does nothing; the pipeline installs the
# PostgreSQL circuit breaker here (worker.breakers.install), so every caller is guarded alike.
Guard = Callable[[], contextlib.AbstractContextManager[Any]]
_guard: Guard = contextlib.nullcontext

_lock = threading.Lock()
_engine: Engine | None = None
_engine_pid: int | None = None
_engine_url: str | None = None
_sessions: sessionmaker[Session] | None = None
_worker_process = False


def set_guard(guard: Guard | None) -> None:
    """Install the context manager every session scope runs inside (None removes it)."""
    global _guard
    _guard = guard or contextlib.nullcontext


def mark_worker_process() -> None:
    """Size the pool for a prefork child (one task at a time) instead of the CLI defaults."""
    global _worker_process
    _worker_process = True


def build_engine(settings: Settings, *, worker_process: bool = False) -> Engine:
    """Create an engine from the settings; SQLite gets WAL and foreign keys, PostgreSQL a pool."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            if not path.startswith("file:"):
                # Created here 0600 (SQLite would use the umask); its -wal/-shm take this mode.
                private.ensure_file(path.split("?", 1)[0], settings)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 60},
            pool_pre_ping=settings.db_pool_pre_ping,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    pool_size = settings.worker_db_pool_size if worker_process else settings.db_pool_size
    overflow = settings.worker_db_max_overflow if worker_process else settings.db_max_overflow
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=overflow,
        pool_pre_ping=settings.db_pool_pre_ping,
        pool_recycle=settings.db_pool_recycle,
        pool_timeout=10,
        connect_args={"application_name": "dxcoder", "connect_timeout": 5},
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def get_engine() -> Engine:
    """The engine of this process, built on first use and again after a fork."""
    global _engine, _engine_pid, _engine_url, _sessions
    settings = get_settings()
    url = settings.effective_database_url
    with _lock:
        if _engine is None or _engine_pid != os.getpid() or _engine_url != url:
            if _engine is not None and _engine_pid == os.getpid():
                _engine.dispose()
            _engine = build_engine(settings, worker_process=_worker_process)
            _engine_pid, _engine_url = os.getpid(), url
            _sessions = sessionmaker(bind=_engine, expire_on_commit=False)
        return _engine


def reset_after_fork() -> None:
    """Called in each new worker process: drop the parent's pool without closing its sockets.

    `dispose(close=False)` is SQLAlchemy's recipe for multiprocessing: the child must not
    reuse or close connections the parent owns.
    """
    global _engine, _sessions
    with _lock:
        if _engine is not None:
            _engine.dispose(close=False)
        _engine = None
        _sessions = None


def dispose() -> None:
    """Close every pooled connection of this process (tests, shutdown)."""
    global _engine, _sessions
    with _lock:
        if _engine is not None:
            _engine.dispose()
        _engine = None
        _sessions = None


@contextlib.contextmanager
def session_scope() -> Iterator[Session]:
    """One session, one transaction: commit on success, roll back on error, always close."""
    get_engine()
    assert _sessions is not None
    with _guard():
        session = _sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


_compiled: dict[tuple[int, str], tuple[ClauseElement, SQLCompiler]] = {}


def fetch_tuples(session: Session, statement: ClauseElement, params: dict[str, Any]
                 ) -> list[tuple[Any, ...]]:
    """A query's rows as the DBAPI cursor returns them: plain tuples, no SQLAlchemy Row objects
    or result processing, for hot paths whose columns need none (text, integer and float come
    back as str, int and float on both backends; dates differ: SQLite gives ISO text)."""
    connection = session.connection()
    dialect = connection.dialect
    key = (id(statement), dialect.name)
    found = _compiled.get(key)
    if found is None or found[0] is not statement:
        compiler = statement.compile(dialect=dialect)
        assert isinstance(compiler, SQLCompiler)
        # Few: statements built per call (an export's) are not kept long.
        found = remember(_compiled, key, (statement, compiler), 64)
    compiled = found[1]
    values = compiled.construct_params(params)
    # SQLite's `?` placeholders take the values as a list, in the statement's order.
    positions = compiled.positiontup
    args = [values[name] for name in positions] if positions else values
    cursor = connection.connection.cursor()
    try:
        cursor.execute(compiled.string, args)
        return list(cursor.fetchall())
    finally:
        cursor.close()


def is_postgres(session_or_engine: Session | Engine) -> bool:
    bind = session_or_engine.get_bind() if isinstance(session_or_engine, Session) else session_or_engine
    return bind.dialect.name == "postgresql"


def table_names() -> set[str]:
    return set(inspect(get_engine()).get_table_names())
