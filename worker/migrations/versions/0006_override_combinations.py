"""override.code holds `+`-joined codes

An approved mapping may name several codes (an entry listing several diagnoses, a guideline
combination with the code it adds): E11.22+N18.30 does not fit the eight characters of one code.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 20:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("override", schema=None) as batch_op:
        batch_op.alter_column("code", existing_type=sa.String(length=8),
                              type_=sa.String(length=64), existing_nullable=False)


def downgrade() -> None:
    # A combination cannot be kept in eight characters: those mappings go.
    op.execute("DELETE FROM override WHERE code LIKE '%+%'")
    with op.batch_alter_table("override", schema=None) as batch_op:
        batch_op.alter_column("code", existing_type=sa.String(length=64),
                              type_=sa.String(length=8), existing_nullable=False)
