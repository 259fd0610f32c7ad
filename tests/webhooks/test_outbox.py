"""The outbox is written in the transaction of the state change: committed together or not at all."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from catalog.models import Asset, AssetState
from catalog.session import Catalog
from ingest.uploads import create_upload, end_upload
from tests.webhooks.conftest import add_endpoint
from webhooks import events, outbox
from webhooks.models import WebhookDelivery


def deliveries(catalog: Catalog) -> list[WebhookDelivery]:
    with catalog.session() as session:
        return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.created_at)).all())


def test_record_commits_with_the_change(catalog: Catalog) -> None:
    add_endpoint(catalog, "alice", "http://hooks.example.com/a")
    add_endpoint(catalog, "alice", "http://hooks.example.com/ready-only", (events.ASSET_READY,))
    add_endpoint(catalog, "bob", "http://hooks.example.com/b")
    with catalog.session() as session:
        asset = Asset(state=AssetState.FAILED, owner="alice", error="no video stream")
        session.add(asset)
        session.flush()
        message_id = outbox.record_asset(session, asset, events.ASSET_FAILED)
    rows = deliveries(catalog)
    assert len(rows) == 1  # alice's endpoint for every type; not ready-only's, not bob's
    assert rows[0].message_id == message_id and rows[0].event_type == "asset.failed"
    assert '"error":"no video stream"' in rows[0].payload


def test_a_rollback_leaves_no_delivery(catalog: Catalog) -> None:
    add_endpoint(catalog, "alice", "http://hooks.example.com/a")
    with pytest.raises(RuntimeError), catalog.session() as session:
        asset = Asset(state=AssetState.READY, owner="alice")
        session.add(asset)
        session.flush()
        outbox.record_asset(session, asset, events.ASSET_READY)
        raise RuntimeError("the state change failed after the event was recorded")
    assert deliveries(catalog) == []
    with catalog.session() as session:
        assert session.scalars(select(Asset)).all() == []


def test_no_owner_no_endpoint_no_delivery(catalog: Catalog) -> None:
    add_endpoint(catalog, "alice", "http://hooks.example.com/a")
    with catalog.session() as session:
        assert outbox.record(session, None, events.ASSET_READY, {}) is None
        assert outbox.record(session, "carol", events.ASSET_READY, {}) is None
    assert deliveries(catalog) == []


def test_upload_sites_record_created_and_deleted(catalog: Catalog) -> None:
    """The ingest's own transactions: creating an upload, terminating it."""
    add_endpoint(catalog, "alice", "http://hooks.example.com/a")
    info = create_upload(
        catalog,
        "u1",
        length=10,
        meta={},
        concat=None,
        parts=(),
        store_state={},
        expiry=timedelta(hours=1),
        owner="alice",
    )
    assert end_upload(catalog, info.id, "terminated")
    assert [d.event_type for d in deliveries(catalog)] == ["asset.created", "asset.deleted"]
