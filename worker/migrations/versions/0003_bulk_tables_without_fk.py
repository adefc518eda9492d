"""input_line and result without a foreign key to job

The two bulk tables take a million rows per large job. PostgreSQL checks a foreign key row by
row (an index probe and a lock on the job row each), which doubled the cost of staging and of
writing results: `INSERT .. SELECT` of 1,000,000 result rows took 15.1 s with the key and 7.3 s
without. Their rows are only ever written for a job that exists (the producer stages them in
the job's own transaction; a chunk writes results only after claiming its row of that job), and
nothing deletes jobs, so the key guarded nothing the code does not already guarantee.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 14:40:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_KEYS = (("input_line", "fk_input_line_job_id_job"), ("result", "fk_result_job_id_job"))


def upgrade() -> None:
    for table, name in _KEYS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(name, type_="foreignkey")


def downgrade() -> None:
    for table, name in _KEYS:
        with op.batch_alter_table(table) as batch:
            batch.create_foreign_key(name, "job", ["job_id"], ["id"], ondelete="CASCADE")
