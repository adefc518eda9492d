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
Revises: 0006 (the lead re-chains it after 0007 at merge)
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

from alembic import op

from worker.lifecycle import partitions

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

_KEYS = {"input_line": "job_id, line_no", "result": "job_id, line_no",
         "result_history": "run_id, job_id, line_no"}


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    conn.exec_driver_sql("ALTER TABLE result_history DROP CONSTRAINT fk_result_history_job_id_job")
    for table, key in _KEYS.items():
        conn.exec_driver_sql(f"ALTER TABLE {table} RENAME TO {table}_unpartitioned")
        conn.exec_driver_sql(f"ALTER INDEX pk_{table} RENAME TO pk_{table}_unpartitioned")
        conn.exec_driver_sql(f"CREATE TABLE {table} (LIKE {table}_unpartitioned INCLUDING DEFAULTS)"
                             " PARTITION BY LIST (job_id)")
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({key})")
        conn.exec_driver_sql(f"CREATE TABLE {table}_default PARTITION OF {table} DEFAULT")
    conn.exec_driver_sql(
        "ALTER TABLE result_history ADD CONSTRAINT fk_result_history_run_id_recode_run "
        "FOREIGN KEY (run_id) REFERENCES recode_run (id) ON DELETE CASCADE")
    for (job_id,) in conn.exec_driver_sql("SELECT id FROM job ORDER BY created_at").all():
        partitions.attach_job(conn, job_id)
    for table in _KEYS:
        conn.exec_driver_sql(f"INSERT INTO {table} SELECT * FROM {table}_unpartitioned")
        conn.exec_driver_sql(f"DROP TABLE {table}_unpartitioned")


def downgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "postgresql":
        return
    for table, key in _KEYS.items():
        conn.exec_driver_sql(f"CREATE TABLE {table}_plain (LIKE {table} INCLUDING DEFAULTS)")
        conn.exec_driver_sql(f"INSERT INTO {table}_plain SELECT * FROM {table}")
        conn.exec_driver_sql(f"DROP TABLE {table}")  # its partitions go with it
        conn.exec_driver_sql(f"ALTER TABLE {table}_plain RENAME TO {table}")
        conn.exec_driver_sql(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({key})")
    conn.exec_driver_sql(
        "ALTER TABLE result_history ADD CONSTRAINT fk_result_history_run_id_recode_run "
        "FOREIGN KEY (run_id) REFERENCES recode_run (id) ON DELETE CASCADE")
    conn.exec_driver_sql(
        "ALTER TABLE result_history ADD CONSTRAINT fk_result_history_job_id_job "
        "FOREIGN KEY (job_id) REFERENCES job (id) ON DELETE CASCADE")
