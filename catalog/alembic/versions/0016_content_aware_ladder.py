"""content-aware ladder: the analysis on the asset, target and sampled VMAF on each rendition

Revision ID: 0016
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("ladder_analysis", sa.JSON(), nullable=True))
    with op.batch_alter_table("renditions") as batch:
        batch.add_column(sa.Column("target_vmaf", sa.Float(), nullable=True))
        batch.add_column(sa.Column("sampled_vmaf", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("renditions") as batch:
        batch.drop_column("sampled_vmaf")
        batch.drop_column("target_vmaf")
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("ladder_analysis")
