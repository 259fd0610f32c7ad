"""MP4 downloads of an asset: the per-asset option and the published files

Revision ID: 0012
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: SQLite cannot alter tables in place (Alembic copies the table there; PostgreSQL alters it).
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("mp4_downloads", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("downloads", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("downloads")
        batch.drop_column("mp4_downloads")
