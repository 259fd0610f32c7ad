"""Catalog tables of webhooks (migration catalog/alembic/versions/0007_webhooks.py).

webhook_deliveries is the outbox: one row per event and subscribed endpoint, inserted in the
transaction of the state change it reports, so a committed change always has its deliveries and a
rolled-back one never does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from catalog.models import Base, new_id, utcnow


class DeliveryState:
    PENDING = "pending"  # due at next_attempt_at (also while one attempt is in flight)
    DELIVERED = "delivered"  # a 2xx answer
    FAILED = "failed"  # still refused when the retry window ended, or the target became refused


class WebhookEndpoint(Base):
    __tablename__ = "webhook_endpoints"

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=lambda: f"ep_{new_id()}")
    owner: Mapped[str] = mapped_column(String(128), index=True)
    url: Mapped[str] = mapped_column(Text)
    # Standard Webhooks secret (whsec_...). Kept as is: every delivery is signed with it.
    secret: Mapped[str] = mapped_column(String(128))
    event_types: Mapped[list[Any]] = mapped_column(JSON)
    description: Mapped[str | None] = mapped_column(String(512), nullable=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    deliveries: Mapped[list[WebhookDelivery]] = relationship(
        back_populates="endpoint", cascade="all, delete-orphan", passive_deletes=True
    )


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True, default=new_id)
    endpoint_id: Mapped[str] = mapped_column(ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), index=True)
    # webhook-id: one per event, the same on every attempt and every endpoint.
    message_id: Mapped[str] = mapped_column(String(64), index=True)
    event_type: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)  # the exact body sent
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When it is next due; while an attempt is in flight, the end of that attempt's lease (a worker
    # killed mid-send leaves it due again then).
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)

    endpoint: Mapped[WebhookEndpoint] = relationship(back_populates="deliveries")
    attempt_log: Mapped[list[WebhookAttempt]] = relationship(
        back_populates="delivery", cascade="all, delete-orphan", passive_deletes=True, order_by="WebhookAttempt.id"
    )


class WebhookAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True)
    attempted_at: Mapped[datetime] = mapped_column(default=utcnow)
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: no HTTP answer
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)

    delivery: Mapped[WebhookDelivery] = relationship(back_populates="attempt_log")
