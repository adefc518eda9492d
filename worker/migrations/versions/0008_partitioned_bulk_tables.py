"""input_line, result and result_history partitioned by job on PostgreSQL

A year of nightly million-line files is hundreds of millions of rows; retention purges them.
With one LIST partition per job a purge is DETACH + DROP of the job's partitions instead of a
DELETE of millions of rows (and the vacuum after it); a job's reads and writes touch its own
partitions only. deploy/README.md says why by job and not by date.

The existing rows are carried over: each job gets its partitions and the rows are copied in
with one INSERT .. SELECT per table; rows of no known job go to the DEFAULT partition.
result_history loses its foreign key to job, as input_line and result did in 0003: attaching a
partition would otherwise lock the job table, and its rows are only written for jobs that
exist. SQLite has no partitions: nothing changes there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import Connection

from worker.lifecycle import partitions

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_KEYS = {"input_line": "job_id, line_no", "result": "job_id, line_no",
         "result_history": "run_id, job_id, line_no"}


def _definitions(conn: Connection, table: str
                 ) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The table's indexes but its primary key, and its foreign keys: (name, definition)."""
    indexes = conn.exec_driver_sql(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = %(t)s AND indexname <> %(pk)s", {"t": table, "pk": f"pk_{table}"}).all()
    keys = conn.exec_driver_sql(
        "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
        "WHERE conrelid = to_regclass(%(t)s) AND contype = 'f'", {"t": table}).all()
    return ([(str(name), str(text)) for name, text in indexes],
            [(str(name), str(text)) for name, text in keys])


def _rebuild(conn: Connection, table: str, partitioned: bool) -> None:
    """Replace `table` by a partitioned (or plain) copy of it holding the same rows, indexes
    and foreign keys (a later migration's too)."""
    indexes, keys = _definitions(conn, table)
    conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {table}_old")
    conn.exec_driver_sql(f"ALTER INDEX pk_{table} RENAME TO pk_{table}_old")
    for name, _ in indexes:
        conn.exec_driver_sql(f'ALTER INDEX "{name}" RENAME TO "{name[:54]}_old"')
    conn.exec_driver_sql(f"CREATE TABLE {table} (LIKE {table}_old INCLUDING DEFAULTS)"
                         + (" PARTITION BY LIST (job_id)" if partitioned else ""))
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY "
                         f"({_KEYS[table]})")
    for _, definition in indexes:  # CREATE [UNIQUE] INDEX name ON [ONLY] schema.table USING ..
        head, target = definition.split(" ON ", 1)
        using = target.removeprefix("ONLY ").split(" ", 1)[1]
        conn.exec_driver_sql(f"{head} ON {table} {using}")
    for name, definition in keys:
        conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    if partitioned:
        conn.exec_driver_sql(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
        for (job_id,) in conn.exec_driver_sql("SELECT id FROM job ORDER BY created_at").all():
            partitions.attach_job(conn, job_id, (table,))
    conn.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM {table}_old")
    conn.exec_driver_sql(f"DROP TABLE {table}_old")  # a partitioned one: its partitions too


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql("ALTER TABLE result_history DROP CONSTRAINT fk_result_history_job_id_job")
    for table in _KEYS:
        _rebuild(conn, table, partitioned=True)


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table in _KEYS:
        _rebuild(conn, table, partitioned=False)
    conn.exec_driver_sql(
        "ALTER TABLE result_history ADD CONSTRAINT fk_result_history_job_id_job "
        "FOREIGN KEY (job_id) REFERENCES job (id) ON DELETE CASCADE")
