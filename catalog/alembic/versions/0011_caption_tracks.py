"""caption tracks of assets and their per-asset settings

Revision ID: 0011
Revises: 0016
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "caption_tracks",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=35), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("forced", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("vtt", sa.Text(), nullable=False),
        sa.Column("cue_count", sa.Integer(), nullable=False),
        sa.Column("published_key", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("asset_id", "language", "source", name="uq_caption_tracks_asset_language_source"),
    )
    op.create_index("ix_caption_tracks_asset_id", "caption_tracks", ["asset_id"])
    op.create_table(
        "caption_settings",
        sa.Column("asset_id", sa.String(length=64), nullable=False),
        sa.Column("generate", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("asset_id"),
    )


def downgrade() -> None:
    op.drop_table("caption_settings")
    op.drop_index("ix_caption_tracks_asset_id", table_name="caption_tracks")
    op.drop_table("caption_tracks")
