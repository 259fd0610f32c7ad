"""upload locks shared by ingest processes

Revision ID: 0002
Revises: 0001
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
        "upload_locks",
        sa.Column("upload_id", sa.String(length=64), nullable=False),
        sa.Column("holder", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.Float(), nullable=False),
        sa.Column("release_requested", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("upload_id"),
    )


def downgrade() -> None:
    op.drop_table("upload_locks")
