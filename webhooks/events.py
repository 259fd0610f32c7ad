"""Event types and the message envelope every delivery carries (Standard Webhooks payload shape)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

UPLOAD_COMPLETED = "upload.completed"  # every byte is in and the original is staged
ASSET_CREATED = "asset.created"  # an upload was created; its asset exists, state "uploading"
ASSET_PLAYABLE = "asset.playable"  # the lowest rung plays while the rest still encodes (or at ready)
ASSET_READY = "asset.ready"  # the whole ladder is published
ASSET_FAILED = "asset.failed"  # with the reason in data.error
ASSET_DELETED = "asset.deleted"
CAPTIONS_READY = "captions.ready"  # a caption track is published (uploaded, from the source or generated)

EVENT_TYPES = (
    UPLOAD_COMPLETED,
    ASSET_CREATED,
    ASSET_PLAYABLE,
    ASSET_READY,
    ASSET_FAILED,
    ASSET_DELETED,
    CAPTIONS_READY,
)


def new_message_id() -> str:
    """The webhook-id of one event: the same on every retry, so receivers can drop duplicates."""
    return f"msg_{uuid.uuid4().hex}"


def render_payload(event_type: str, data: dict[str, Any], at: datetime) -> str:
    """The JSON body of a delivery: fixed when the event is recorded, so every retry sends the same bytes."""
    body = {"type": event_type, "timestamp": at.isoformat().replace("+00:00", "Z"), "data": data}
    return json.dumps(body, separators=(",", ":"), sort_keys=True)
