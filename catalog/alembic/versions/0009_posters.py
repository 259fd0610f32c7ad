"""creator posters: the current poster version of an asset and the versions retired from it

Revision ID: 0009
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch: SQLite adds columns in place, but keeps this file one recipe for both backends.
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("poster", sa.JSON(none_as_null=True), nullable=True))
        batch.add_column(sa.Column("poster_retired", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("poster_retired")
        batch.drop_column("poster")
