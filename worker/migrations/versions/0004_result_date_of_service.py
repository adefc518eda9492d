"""result.date_of_service: every result carries the date of service it was resolved for

The date was staged with the line but dropped from the result, so a results file (CSV, JSONL)
or a query on the result table could not tell which date a code was valid on. Existing results
take it from their staged line.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("result") as batch:
        batch.add_column(sa.Column("date_of_service", sa.Date(), nullable=True))
    # One statement, the same on PostgreSQL and SQLite; lines without a date stay NULL.
    op.execute("UPDATE result SET date_of_service = (SELECT input_line.date_of_service "
               "FROM input_line WHERE input_line.job_id = result.job_id "
               "AND input_line.line_no = result.line_no)")


def downgrade() -> None:
    with op.batch_alter_table("result") as batch:
        batch.drop_column("date_of_service")
