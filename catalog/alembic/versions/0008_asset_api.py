"""asset API: description, tags and source URL of assets; the edge purge outbox

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("description", sa.Text(), nullable=True))
        batch.add_column(sa.Column("tags", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("source_url", sa.Text(), nullable=True))
    # Keyset pagination of GET /assets walks (created_at, id).
    op.create_index("ix_assets_created_at_id", "assets", ["created_at", "id"])
    op.create_table(
        "edge_purges",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=512), nullable=False),
        sa.Column("remaining", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_edge_purges_next_attempt_at", "edge_purges", ["next_attempt_at"])


def downgrade() -> None:
    op.drop_index("ix_edge_purges_next_attempt_at", table_name="edge_purges")
    op.drop_table("edge_purges")
    op.drop_index("ix_assets_created_at_id", table_name="assets")
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("source_url")
        batch.drop_column("tags")
        batch.drop_column("description")
