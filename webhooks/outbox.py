"""The outbox: events written in the transaction of the state change they report.

Call `record` with the session that makes the change, before it commits: the deliveries commit with
the change or roll back with it. Delivery happens later (delivery.py), from these rows only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from catalog.models import Asset, utcnow
from webhooks import events
from webhooks.models import DeliveryState, WebhookDelivery, WebhookEndpoint


def record(session: Session, owner: str | None, event_type: str, data: dict[str, Any]) -> str | None:
    """Queue `event_type` for every endpoint of `owner` subscribed to it; the message id, or None
    when no endpoint wants it. Never commits: the caller's transaction decides."""
    if owner is None:
        return None  # objects older than owners: no one can have subscribed
    endpoints = session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.owner == owner)).all()
    wanted = [ep for ep in endpoints if event_type in ep.event_types]
    if not wanted:
        return None
    now = utcnow()
    message_id = events.new_message_id()
    payload = events.render_payload(event_type, data, now)
    for endpoint in wanted:
        session.add(
            WebhookDelivery(
                endpoint_id=endpoint.id,
                message_id=message_id,
                event_type=event_type,
                payload=payload,
                state=DeliveryState.PENDING,
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
        )
    return message_id


def asset_data(asset: Asset) -> dict[str, Any]:
    """What an asset event says about its asset (the asset API has the rest)."""
    data: dict[str, Any] = {"asset_id": asset.id, "state": asset.state, "title": asset.title}
    if asset.upload_id:
        data["upload_id"] = asset.upload_id
    if asset.duration is not None:
        data["duration"] = asset.duration
    if asset.error:
        data["error"] = asset.error
    return data


def record_asset(session: Session, asset: Asset, event_type: str) -> str | None:
    """`record` for an asset event, with the asset as it is now in `session`."""
    return record(session, asset.owner, event_type, asset_data(asset))


def record_upload(
    session: Session, owner: str | None, upload_id: str, asset_id: str | None, length: int | None, sha256: str
) -> str | None:
    """`record` for upload.completed: every byte is in and the original is staged."""
    data = {"upload_id": upload_id, "asset_id": asset_id, "length": length, "sha256": sha256}
    return record(session, owner, events.UPLOAD_COMPLETED, data)


def oldest_pending(session: Session) -> datetime | None:
    """Creation time of the oldest undelivered delivery (outbox lag), or None when all are done."""
    return session.scalars(
        select(WebhookDelivery.created_at)
        .where(WebhookDelivery.state == DeliveryState.PENDING)
        .order_by(WebhookDelivery.created_at)
        .limit(1)
    ).first()
