"""Per-job partitions of the bulk tables on PostgreSQL (LIST on job_id; deploy/README.md says why).

Each job gets one partition of input_line, result and result_history, created before its lines
are staged; a purge detaches and drops them, never a DELETE over millions of rows. A DEFAULT
partition catches rows of a job that has none (a job created by a path that skipped
`prepare_job`): nothing fails, and a purge deletes those rows from it.

SQLite has no partitions: everything here is a no-op there and purges delete rows.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from worker.errors import LockBusy

T = TypeVar("T")

log = logging.getLogger("dxcoder.lifecycle")

PARTITIONED = ("input_line", "result", "result_history")
# Job ids are uuid4 hex; anything else never becomes part of an identifier (it stays in DEFAULT).
_JOB_ID = re.compile(r"^[0-9a-z_]{1,40}$")
# ATTACH and DETACH lock the parent table: waiting behind a long transaction would stall every
# query queued after them, so they give up quickly and try again.
LOCK_TIMEOUT = "3s"
ATTEMPTS = 5


def partition_name(table: str, job_id: str) -> str:
    return f"{table}_{job_id}"


def is_partitioned(conn: Connection) -> bool:
    if conn.dialect.name != "postgresql":
        return False
    kind = conn.exec_driver_sql(
        "SELECT relkind FROM pg_class WHERE oid = to_regclass('input_line')").scalar()
    return kind == "p"


def has_partition(conn: Connection, table: str, job_id: str) -> bool:
    return conn.exec_driver_sql(
        "SELECT to_regclass(%(name)s) IS NOT NULL",
        {"name": partition_name(table, job_id)}).scalar() is True


def attach_job(conn: Connection, job_id: str, tables: Sequence[str] = PARTITIONED) -> bool:
    """Create and attach the job's partitions (idempotent) in `conn`'s transaction.

    CREATE TABLE .. PARTITION OF would take an ACCESS EXCLUSIVE lock on the parent, blocking
    every reader; a table created on its own and then ATTACHed takes SHARE UPDATE EXCLUSIVE,
    which readers and writers of other jobs pass.
    """
    if not _JOB_ID.match(job_id):
        return False
    for table in tables:
        name = partition_name(table, job_id)
        if has_partition(conn, table, job_id):
            continue
        conn.exec_driver_sql(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS)')
        conn.exec_driver_sql(
            f"ALTER TABLE \"{table}\" ATTACH PARTITION \"{name}\" FOR VALUES IN ('{job_id}')")
    return True


def prepare_job(bind: Engine | Connection, job_id: str) -> None:
    """Give a new job its partitions, committed in a short transaction of their own before the
    job's lines are staged (the staging transaction may last minutes; it must not hold the
    parent's lock). No-op on SQLite and on an unpartitioned schema."""
    engine = bind.engine if isinstance(bind, Connection) else bind
    if engine.dialect.name != "postgresql":
        return
    with_lock_retries(engine, lambda conn: attach_job(conn, job_id)
                      if is_partitioned(conn) else False)


def drop_job(conn: Connection, job_id: str) -> dict[str, int]:
    """Detach and drop the job's partitions (rows of the job in DEFAULT are deleted); returns
    rows removed per table. Runs in `conn`'s transaction."""
    removed: dict[str, int] = {}
    for table in PARTITIONED:
        count = 0
        if _JOB_ID.match(job_id) and has_partition(conn, table, job_id):
            name = partition_name(table, job_id)
            count = int(conn.exec_driver_sql(f'SELECT count(*) FROM "{name}"').scalar() or 0)
            conn.exec_driver_sql(f'ALTER TABLE "{table}" DETACH PARTITION "{name}"')
            conn.exec_driver_sql(f'DROP TABLE "{name}"')
        count += conn.execute(text(f"DELETE FROM {table}_default WHERE job_id = :job"),
                              {"job": job_id}).rowcount
        removed[table] = count
    return removed


# lock_timeout ran out, or PostgreSQL broke a deadlock with a transaction of another job.
_RETRIED = ("55P03", "40P01")


def with_lock_retries(engine: Engine, work: Callable[[Connection], T]) -> T:
    """Run work(conn) in a transaction with a short lock_timeout, retried while the tables are
    busy; LockBusy after the last attempt."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with engine.begin() as conn:
                if conn.dialect.name == "postgresql":
                    conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
                return work(conn)
        except DBAPIError as exc:
            if getattr(exc.orig, "pgcode", None) not in _RETRIED:
                raise
            log.warning("partition.lock_wait", extra={"attempt": attempt})
            time.sleep(attempt)
    raise LockBusy(f"the bulk tables (input_line, result, result_history) stayed locked through "
                   f"{ATTEMPTS} attempts; try again once the lock holder (a migration, a "
                   "maintenance lock) is done")


def forget_job(engine: Engine, job_id: str) -> None:
    """Drop the partitions of a job that no longer exists (a discarded submit). A busy table
    leaves them for later: empty partitions cost nothing but a catalog entry."""
    if engine.dialect.name != "postgresql":
        return
    try:
        with_lock_retries(engine, lambda conn: drop_job(conn, job_id)
                          if is_partitioned(conn) else {})
    except LockBusy:
        log.warning("partition.left", extra={"job_id": job_id})


def analyze_new(engine: Engine, job_id: str) -> list[str]:
    """ANALYZE the job's input_line and result partitions if they never were; returns them.

    A job is exported right after its last chunk, before autovacuum has analyzed its brand-new
    partitions; without statistics PostgreSQL takes each page of the export's join for one row
    and joins it by nested loop, quadratic in the page (2,000 lines: 2.2 s instead of 5 ms).
    The unpartitioned table never met this: its statistics came from the jobs before.
    """
    if engine.dialect.name != "postgresql" or not _JOB_ID.match(job_id):
        return []
    names = [partition_name(table, job_id) for table in ("input_line", "result")]
    with engine.begin() as conn:
        fresh = list(conn.execute(text(
            "SELECT relname FROM pg_stat_user_tables WHERE relname IN (:a, :b) "
            "AND last_analyze IS NULL AND last_autoanalyze IS NULL"),
            {"a": names[0], "b": names[1]}).scalars())
        for name in fresh:
            conn.exec_driver_sql(f'ANALYZE "{name}"')
    return fresh
