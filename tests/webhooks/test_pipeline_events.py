"""The transcoder records its events: a real job (ffmpeg) yields asset.playable then asset.ready, a bad
original asset.failed with the reason; the task sends them, signed, to a loopback receiver."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from catalog.models import Asset
from tests.media import make_clip
from tests.transcoder.harness import pipeline_context, submit
from tests.webhooks.conftest import add_endpoint
from tests.webhooks.receiver import Receiver
from transcoder.pipeline import run_job
from webhooks.models import WebhookDelivery
from webhooks.settings import WebhookSettings
from webhooks.tasks import run_deliveries

pytestmark = pytest.mark.ffmpeg


def test_job_events_in_order_and_delivered(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    good = make_clip(tmp_path / "clip.mp4", seconds=2, size="320x180")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 4000)
    with Receiver() as receiver:
        endpoint = add_endpoint(ctx.catalog, "alice", receiver.url)
        ids = []
        for source in (good, bad):
            asset_id, job_id = submit(ctx, source)
            with ctx.catalog.session() as s:
                s.get(Asset, asset_id).owner = "alice"  # type: ignore[union-attr]
            run_job(ctx, job_id)
            ids.append(asset_id)
        with ctx.catalog.session() as s:
            recorded = [(d.event_type, d.payload) for d in s.scalars(select(WebhookDelivery))]
        assert [t for t, _ in recorded] == ["asset.playable", "asset.ready", "asset.failed"]
        report = run_deliveries(ctx.catalog, WebhookSettings(allow_private_targets=True))
        assert len(report.delivered) == 3
    events = [Webhook(endpoint.secret).verify(r.body, r.headers) for r in receiver.received]
    assert [(e["type"], e["data"]["asset_id"]) for e in events] == [
        ("asset.playable", ids[0]),
        ("asset.ready", ids[0]),
        ("asset.failed", ids[1]),
    ]
    assert events[1]["data"]["state"] == "ready"
    assert events[2]["data"]["state"] == "failed" and events[2]["data"]["error"]
