"""Sending due deliveries: claim a batch, send each outside any transaction, record what happened.

A claim moves a delivery's next_attempt_at past now by a lease (a conditional UPDATE, so two sweeps
never send the same attempt); if the worker dies mid-send the lease runs out and the delivery is
due again. Receivers may therefore see a message twice, with the same webhook-id, never zero times.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import delete, select, update

from catalog.session import Catalog, rows_updated
from webhooks import outbox
from webhooks.backoff import RetryPolicy
from webhooks.metrics import WebhookMetrics
from webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webhooks.sender import Outcome
from webhooks.signing import signed_headers

log = logging.getLogger(__name__)


class Sender(Protocol):
    def send(self, url: str, headers: dict[str, str], body: str) -> Outcome:
        """POST `body` to `url`; never raises for network or HTTP errors (they are the Outcome)."""
        ...


@dataclass(frozen=True)
class Claimed:
    id: str
    url: str
    secret: str
    message_id: str
    payload: str


@dataclass
class SweepReport:
    delivered: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def claim_due(catalog: Catalog, now: datetime, limit: int, lease_seconds: float) -> list[Claimed]:
    """Take up to `limit` due deliveries for one attempt each."""
    lease_until = now + timedelta(seconds=lease_seconds)
    claimed: list[Claimed] = []
    with catalog.session() as session:
        rows = session.execute(
            select(WebhookDelivery, WebhookEndpoint)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .where(WebhookDelivery.state == DeliveryState.PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        ).all()
        for delivery, endpoint in rows:
            won = rows_updated(
                session,
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery.id,
                    WebhookDelivery.state == DeliveryState.PENDING,
                    WebhookDelivery.next_attempt_at <= now,
                )
                .values(next_attempt_at=lease_until)
                .execution_options(synchronize_session=False),
            )
            if won:
                claimed.append(
                    Claimed(delivery.id, endpoint.url, endpoint.secret, delivery.message_id, delivery.payload)
                )
    return claimed


def record_outcome(
    catalog: Catalog,
    claimed: Claimed,
    outcome: Outcome,
    now: datetime,
    policy: RetryPolicy,
    uniform: Callable[[], float],
) -> str | None:
    """Store one attempt and the delivery's next state: "delivered", "retrying", "failed", or None
    when the delivery is gone (its endpoint was deleted meanwhile)."""
    with catalog.session() as session:
        delivery = session.get(WebhookDelivery, claimed.id)
        if delivery is None or delivery.state != DeliveryState.PENDING:
            return None
        delivery.attempts += 1
        delivery.last_status, delivery.last_error = outcome.status_code, outcome.error
        session.add(
            WebhookAttempt(
                delivery_id=delivery.id,
                attempted_at=now,
                status_code=outcome.status_code,
                error=outcome.error,
                duration_ms=outcome.duration_ms,
            )
        )
        if outcome.ok:
            delivery.state, delivery.delivered_at = DeliveryState.DELIVERED, now
            return "delivered"
        next_at = (
            None
            if outcome.refused
            else policy.next_attempt(_aware(delivery.created_at), delivery.attempts, now, uniform)
        )
        if next_at is None:
            delivery.state = DeliveryState.FAILED
            return "failed"
        delivery.next_attempt_at = next_at
        return "retrying"


def prune(catalog: Catalog, before: datetime) -> int:
    """Delete delivered and failed deliveries created before `before` (their attempts go with them)."""
    done = (DeliveryState.DELIVERED, DeliveryState.FAILED)
    with catalog.session() as session:
        old = select(WebhookDelivery.id).where(WebhookDelivery.state.in_(done), WebhookDelivery.created_at < before)
        ids = list(session.scalars(old.limit(1000)).all())
        if ids:
            session.execute(delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
            session.execute(delete(WebhookDelivery).where(WebhookDelivery.id.in_(ids)))
        return len(ids)


def deliver_due(
    catalog: Catalog,
    sender: Sender,
    *,
    policy: RetryPolicy,
    clock: Callable[[], datetime],
    uniform: Callable[[], float],
    batch_size: int = 50,
    max_batches: int = 20,
    lease_seconds: float = 60.0,
    metrics: WebhookMetrics | None = None,
) -> SweepReport:
    """Send every due delivery (bounded: `max_batches` claims of `batch_size`)."""
    report = SweepReport()
    for _ in range(max_batches):
        batch = claim_due(catalog, clock(), batch_size, lease_seconds)
        for claimed in batch:
            timestamp = int(clock().timestamp())
            headers = signed_headers(claimed.secret, claimed.message_id, timestamp, claimed.payload)
            outcome = sender.send(claimed.url, headers, claimed.payload)
            state = record_outcome(catalog, claimed, outcome, clock(), policy, uniform)
            if state is None:
                continue
            getattr(report, state).append(claimed.id)
            if metrics is not None:
                metrics.deliveries.labels(state).inc()
            if state != "delivered":
                log.info("webhook %s to %s: %s (%s)", claimed.message_id, claimed.url, outcome.error, state)
        if len(batch) < batch_size:
            break
    if metrics is not None:
        with catalog.session() as session:
            oldest = outbox.oldest_pending(session)
        metrics.lag.set(0.0 if oldest is None else max(0.0, (clock() - _aware(oldest)).total_seconds()))
    return report
