"""inbox files, recoding runs and history, result resolved_at

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 11:16:04.860921
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbox_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inbox", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_file")),
        sa.UniqueConstraint("inbox", "content_hash", name=op.f("uq_inbox_file_inbox")),
    )
    op.create_table(
        "recode_run",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("scope", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("chunks_done", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recode_run")),
    )
    op.create_table(
        "recode_chunk",
        sa.Column(
            "id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False
        ),
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("counts", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_recode_chunk_job_id_job"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["recode_run.id"], name=op.f("fk_recode_chunk_run_id_recode_run"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_recode_chunk")),
        sa.UniqueConstraint("run_id", "job_id", "first_line", name=op.f("uq_recode_chunk_run_id")),
    )
    with op.batch_alter_table("recode_chunk", schema=None) as batch_op:
        batch_op.create_index("ix_recode_chunk_status_lease", ["status", "lease_until"], unique=False)

    op.create_table(
        "result_history",
        sa.Column("run_id", sa.String(length=32), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("old_status", sa.String(length=16), nullable=False),
        sa.Column("old_code", sa.String(length=64), nullable=False),
        sa.Column("old_description", sa.Text(), nullable=False),
        sa.Column("old_method", sa.String(length=32), nullable=False),
        sa.Column("old_code_set", sa.String(length=32), nullable=False),
        sa.Column("new_status", sa.String(length=16), nullable=False),
        sa.Column("new_code", sa.String(length=64), nullable=False),
        sa.Column("new_description", sa.Text(), nullable=False),
        sa.Column("new_method", sa.String(length=32), nullable=False),
        sa.Column("new_code_set", sa.String(length=32), nullable=False),
        sa.Column("new_alternatives", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_result_history_job_id_job"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["recode_run.id"],
            name=op.f("fk_result_history_run_id_recode_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "job_id", "line_no", name=op.f("pk_result_history")),
    )
    with op.batch_alter_table("result", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("result", schema=None) as batch_op:
        batch_op.drop_column("resolved_at")

    op.drop_table("result_history")
    with op.batch_alter_table("recode_chunk", schema=None) as batch_op:
        batch_op.drop_index("ix_recode_chunk_status_lease")

    op.drop_table("recode_chunk")
    op.drop_table("recode_run")
    op.drop_table("inbox_file")
