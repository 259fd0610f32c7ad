"""The edge purge outbox (migration catalog/alembic/versions/0008_asset_api.py).

One row per deleted asset, inserted in the transaction that marks the asset deleted, so a committed
deletion always has its purge. `remaining` lists the nodes still to purge, upstream first; the row is
removed once it is empty.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from catalog.models import Base, new_id, utcnow


class EdgePurge(Base):
    __tablename__ = "edge_purges"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    asset_id: Mapped[str] = mapped_column(String(64))
    prefix: Mapped[str] = mapped_column(String(512))  # "{asset}/": every object of the asset
    remaining: Mapped[list[Any]] = mapped_column(JSON)  # base URLs, in purge order
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
