"""initial schema: code sets, GEMs, overrides, jobs, chunks, lines, results, metrics

Revision ID: 0001
Revises:
Create Date: 2026-11-29 11:03:27.593723
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "code_set_release",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("code_count", sa.Integer(), nullable=False),
        sa.Column("billable_count", sa.Integer(), nullable=False),
        sa.Column("term_count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_set_release")),
        sa.UniqueConstraint("label", name=op.f("uq_code_set_release_label")),
    )
    op.create_table(
        "data_version",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_data_version")),
    )
    op.create_table(
        "gem_mapping",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("icd9_code", sa.String(length=8), nullable=False),
        sa.Column("icd9_title", sa.Text(), nullable=False),
        sa.Column("icd10_code", sa.String(length=8), nullable=True),
        sa.Column("approximate", sa.Boolean(), nullable=False),
        sa.Column("no_map", sa.Boolean(), nullable=False),
        sa.Column("combination", sa.Boolean(), nullable=False),
        sa.Column("scenario", sa.SmallInteger(), nullable=False),
        sa.Column("choice_list", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gem_mapping")),
    )
    with op.batch_alter_table("gem_mapping", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gem_mapping_icd9_code"), ["icd9_code"], unique=False)

    op.create_table(
        "job",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("source_file", sa.Text(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=16), nullable=False),
        sa.Column("release_label", sa.String(length=32), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_lines", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("chunks_done", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("summary", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_job")),
    )
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_job_content_hash"), ["content_hash"], unique=False)

    op.create_table(
        "override",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("term_key", sa.String(length=1000), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_override")),
        sa.UniqueConstraint("term_key", name=op.f("uq_override_term_key")),
    )
    op.create_table(
        "task_metric",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("task_name", sa.String(length=64), nullable=False),
        sa.Column("job_id", sa.String(length=32), nullable=True),
        sa.Column("chunk_no", sa.Integer(), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("lines", sa.Integer(), nullable=False),
        sa.Column("total_ms", sa.Float(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_metric")),
    )
    with op.batch_alter_table("task_metric", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_metric_job_id"), ["job_id"], unique=False)

    op.create_table(
        "chunk",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("chunk_no", sa.Integer(), nullable=False),
        sa.Column("first_line", sa.Integer(), nullable=False),
        sa.Column("last_line", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_chunk_job_id_job"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chunk")),
        sa.UniqueConstraint("job_id", "chunk_no", name=op.f("uq_chunk_job_id")),
    )
    with op.batch_alter_table("chunk", schema=None) as batch_op:
        batch_op.create_index("ix_chunk_status_lease", ["status", "lease_until"], unique=False)

    op.create_table(
        "code",
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("billable", sa.Boolean(), nullable=False),
        sa.Column("parent", sa.String(length=8), nullable=True),
        sa.Column("level", sa.SmallInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["code_set_release.id"],
            name=op.f("fk_code_release_id_code_set_release"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("release_id", "code", name=op.f("pk_code")),
    )
    op.create_table(
        "input_line",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("term", sa.Text(), nullable=False),
        sa.Column("system", sa.String(length=16), nullable=False),
        sa.Column("date_of_service", sa.Date(), nullable=True),
        sa.Column("extra", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_input_line_job_id_job"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "line_no", name=op.f("pk_input_line")),
    )
    op.create_table(
        "result",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.Text(), nullable=False),
        sa.Column("input", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("code_set", sa.String(length=32), nullable=False),
        sa.Column("alternatives", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["job.id"], name=op.f("fk_result_job_id_job"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("job_id", "line_no", name=op.f("pk_result")),
    )
    op.create_table(
        "term",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"],
            ["code_set_release.id"],
            name=op.f("fk_term_release_id_code_set_release"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_term")),
    )
    with op.batch_alter_table("term", schema=None) as batch_op:
        batch_op.create_index("ix_term_release_code", ["release_id", "code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("term", schema=None) as batch_op:
        batch_op.drop_index("ix_term_release_code")

    op.drop_table("term")
    op.drop_table("result")
    op.drop_table("input_line")
    op.drop_table("code")
    with op.batch_alter_table("chunk", schema=None) as batch_op:
        batch_op.drop_index("ix_chunk_status_lease")

    op.drop_table("chunk")
    with op.batch_alter_table("task_metric", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_metric_job_id"))

    op.drop_table("task_metric")
    op.drop_table("override")
    with op.batch_alter_table("job", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_job_content_hash"))

    op.drop_table("job")
    with op.batch_alter_table("gem_mapping", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gem_mapping_icd9_code"))

    op.drop_table("gem_mapping")
    op.drop_table("data_version")
    op.drop_table("code_set_release")
