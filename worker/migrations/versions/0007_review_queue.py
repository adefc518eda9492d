"""review queue: reviewers' decisions, and overrides that say who approved them, where, for when

A person's decision on a needs_review entry is kept (review_decision: who, when, which job,
job or global scope, applied or waiting for a second reviewer). The override table, which holds
approved mappings, gains the reviewer, the job the decision came from and an optional
date-of-service window outside which the mapping does not apply.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("override", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reviewer", sa.String(length=128), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("job_id", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("dos_from", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("dos_to", sa.Date(), nullable=True))
    op.create_table(
        "review_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("entry_key", sa.String(length=1000), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.Column("decision", sa.String(length=64), nullable=False),
        sa.Column("reviewer", sa.String(length=128), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("scope", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("dos_from", sa.Date(), nullable=True),
        sa.Column("dos_to", sa.Date(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_review_decision")),
    )
    op.create_index("ix_review_decision_job_id", "review_decision", ["job_id"])
    op.create_index("ix_review_decision_entry_key_state", "review_decision",
                    ["entry_key", "state"])


def downgrade() -> None:
    op.drop_index("ix_review_decision_entry_key_state", table_name="review_decision")
    op.drop_index("ix_review_decision_job_id", table_name="review_decision")
    op.drop_table("review_decision")
    with op.batch_alter_table("override", schema=None) as batch_op:
        batch_op.drop_column("dos_to")
        batch_op.drop_column("dos_from")
        batch_op.drop_column("job_id")
        batch_op.drop_column("reviewer")
