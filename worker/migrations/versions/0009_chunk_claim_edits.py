"""chunk.claim_edits: the claim edits a chunk checked where it made its results

A chunk checks the claims wholly inside it while their results are in memory, and keeps what
it found here, in the transaction that writes its results; the task that finishes the job then
checks only the claims that cross a chunk boundary (worker.pipeline.chunk_edits). NULL means
"not checked here": the job is checked whole, as before this column existed.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chunk", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claim_edits", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chunk", schema=None) as batch_op:
        batch_op.drop_column("claim_edits")
