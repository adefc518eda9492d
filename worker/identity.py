"""Which database a chunk id belongs to: every chunk message carries it, a worker of another
database refuses the message instead of acting on its own chunk with the same id.

Chunk ids are per-database sequences, so two databases that share one Redis queue (a SQLite
job retried through the broker, staging and production workers on one Redis, a second team's
database) hand out the same ids. The identity must be the same for every process that uses one
database, however it reaches it (`db-host` from producers, `postgres` inside compose, an IP, a
PgBouncer in front, other credentials), and differ for every other database, copies included:

- PostgreSQL: the cluster's `system_identifier` (pg_control_system(), fixed at initdb, kept by
  streaming replicas and failover) and the database's oid. A database created from another as
  TEMPLATE, or restored from a dump, gets a new oid (or lives in another cluster), so it is a
  different database, as it should be. A hash of the URL would refuse the same database reached
  under two host names; a UUID stamped in a table would be copied along with the data.
- SQLite: the database file's resolved path (only one host can use it).

A refused message leaves its chunk queued: the reconciler of the chunk's own database sends it
again, stamped correctly, when its lease runs out.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading

import sqlalchemy.exc
from sqlalchemy import text

from worker import db
from worker.settings import get_settings

log = logging.getLogger("dxcoder.chunk")
_lock = threading.Lock()
_known: dict[str, str] = {}  # effective database URL -> its identity


def database_identity() -> str:
    """The identity of the database this process uses (one query the first time)."""
    url = get_settings().effective_database_url
    with _lock:
        found = _known.get(url)
    if found is not None:
        return found
    identity = _read_identity(url)
    with _lock:
        _known[url] = identity
    return identity


def _read_identity(url: str) -> str:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        resolved = os.path.realpath(path) if path and path != ":memory:" else url
        return "sqlite-" + hashlib.sha256(resolved.encode()).hexdigest()[:16]
    # Through the guarded session, as every other read: a database that refuses connections
    # opens the breaker, so the task waits out its reset timeout instead of spending its
    # retries in seconds (fault 9: a full server).
    with db.session_scope() as session:
        oid, name = session.execute(text(
            "SELECT oid, datname FROM pg_database WHERE datname = current_database()")).one()
    try:
        with db.session_scope() as session:
            system_id = session.execute(
                text("SELECT system_identifier FROM pg_control_system()")).scalar_one()
    except sqlalchemy.exc.ProgrammingError:
        # A service that revokes pg_control_system (PUBLIC may run it by default): the
        # database's name and oid still tell apart the databases of one server.
        log.warning("database.identity_without_system_identifier")
        return f"pg-{name}-{oid}"
    return f"pg-{system_id}-{oid}"


def accepts(message_database: str | None, *, chunk_id: int, task_name: str) -> bool:
    """Whether a message stamped with `message_database` is for this process's database; a
    message for another (or stamped by nothing: an older producer) is logged and refused."""
    own = database_identity()
    if message_database == own:
        return True
    log.error("chunk.refused", extra={
        "chunk_id": chunk_id, "task_name": task_name,
        "message_database": message_database or "none", "worker_database": own,
        "reason": "the message is for another database" if message_database
        else "the message names no database"})
    return False
