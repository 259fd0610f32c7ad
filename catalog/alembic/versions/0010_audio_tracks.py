"""assets: the loudness option and the published audio tracks with their measured loudness

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("loudnorm", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("audio_tracks", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("audio_tracks")
        batch.drop_column("loudnorm")
