"""tier index of lifecycle tiering, shared by every origin and worker: tier_objects, tier_counters

Revision ID: 0006
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tier_objects",
        sa.Column("bucket", sa.String(length=64), nullable=False),
        sa.Column(
            "key",
            sa.String(length=1024).with_variant(sa.String(length=1024, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("tier", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.Float(), nullable=False),
        sa.Column("last_access", sa.Float(), nullable=False),
        sa.Column("restore_ready_at", sa.Float(), nullable=True),
        sa.Column("restored_until", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("bucket", "key"),
    )
    op.create_index(op.f("ix_tier_objects_tier"), "tier_objects", ["tier"], unique=False)
    op.create_table(
        "tier_counters",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("tier_counters")
    op.drop_index(op.f("ix_tier_objects_tier"), table_name="tier_objects")
    op.drop_table("tier_objects")
