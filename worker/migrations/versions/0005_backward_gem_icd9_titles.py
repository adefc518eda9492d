"""CMS's backward GEM, the ICD-9-CM v32 titles, the tabular notes claim edits check

The forward GEM (gem_mapping) now comes from CMS's own 2018 file; the backward file lets
`codeset show` list an ICD-10-CM code's ICD-9-CM sources, and CMS's v32 titles name ICD-9-CM
codes in messages and resolve legacy titles typed as text. code_note holds the tabular's
Excludes1, Code first and Use additional code notes, their references read into code ranges.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 19:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "gem_backward",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True,
                  nullable=False),
        sa.Column("icd10_code", sa.String(length=8), nullable=False),
        sa.Column("icd9_code", sa.String(length=8), nullable=True),
        sa.Column("approximate", sa.Boolean(), nullable=False),
        sa.Column("no_map", sa.Boolean(), nullable=False),
        sa.Column("combination", sa.Boolean(), nullable=False),
        sa.Column("scenario", sa.SmallInteger(), nullable=False),
        sa.Column("choice_list", sa.SmallInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_gem_backward")),
    )
    with op.batch_alter_table("gem_backward", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_gem_backward_icd10_code"), ["icd10_code"], unique=False)
    op.create_table(
        "icd9_title",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("short_title", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_icd9_title")),
    )
    op.create_table(
        "code_note",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("holder_code", sa.String(length=16), nullable=False),
        sa.Column("holder_low", sa.String(length=8), nullable=False),
        sa.Column("holder_high", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("refs", sa.JSON(), nullable=False),
        sa.Column("if_applicable", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["code_set_release.id"],
                                name=op.f("fk_code_note_release_id_code_set_release"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_code_note")),
    )
    with op.batch_alter_table("code_note", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_code_note_release_id"), ["release_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("code_note", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_code_note_release_id"))
    op.drop_table("code_note")
    op.drop_table("icd9_title")
    with op.batch_alter_table("gem_backward", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_gem_backward_icd10_code"))
    op.drop_table("gem_backward")
