"""Webhooks over real processes: `vodstack up` (its beat worker sends), a loopback receiver that is down
for its first requests, a real tuspy upload and transcode. Every event arrives, verified with the
Standard Webhooks reference library; retries carry the same webhook-id."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from standardwebhooks.webhooks import Webhook

from tests.media import make_clip
from tests.vodstack.test_stack import start_stack, stop_stack, tus_upload, wait_for_terminal
from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.stack, pytest.mark.ffmpeg, pytest.mark.timeout(600)]

WANTED = ["upload.completed", "asset.playable", "asset.ready"]


def webhook_samples(text: str) -> dict[str, float]:
    rows = [line.split(" ") for line in text.splitlines() if line.startswith("vodstack_webhook")]
    return {row[0]: float(row[1]) for row in rows}


@contextlib.contextmanager
def own_catalog() -> Iterator[dict[str, str]]:
    """On a configured PostgreSQL catalog (CI's second run), a database of this test's own: the beat worker
    sends every due delivery in its catalog, and other tests' endpoints (dead receivers) would count in the
    metrics this test reads. On SQLite the stack's catalog is already its own."""
    url = os.environ.get("VODSTACK_CATALOG_URL", "")
    if not url.startswith("postgresql"):
        yield {}
        return
    name = f"vs_webhooks_{uuid.uuid4().hex[:12]}"
    admin = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {"VODSTACK_CATALOG_URL": url.rsplit("/", 1)[0] + "/" + name}
    finally:
        with psycopg.connect(admin, autocommit=True) as db:
            db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_upload_events_reach_a_receiver_that_was_down(tmp_path: Path) -> None:
    env = {"VODSTACK_WEBHOOKS_ALLOW_PRIVATE_TARGETS": "true", "VODSTACK_WEBHOOKS_SWEEP_INTERVAL_SECONDS": "1"}
    with own_catalog() as catalog_env, Receiver(statuses=[503, 503]) as receiver:
        env |= catalog_env
        stack = start_stack(tmp_path, env)
        try:
            api = stack.info["ingest"]
            subscribe = {"url": receiver.url, "event_types": WANTED}
            made = httpx.post(f"{api}/webhooks", json=subscribe, headers=stack.headers)
            assert made.status_code == 201, made.text
            endpoint = made.json()
            asset_id = tus_upload(stack, make_clip(tmp_path / "clip.mp4", seconds=4, size="320x180"))
            assert wait_for_terminal(stack, asset_id)["state"] == "ready"
            deadline, deliveries = time.monotonic() + 120, []
            while time.monotonic() < deadline:
                # Until the worker recorded every outcome (it does so after the receiver answered).
                deliveries = httpx.get(f"{api}/webhooks/{endpoint['id']}/deliveries", headers=stack.headers).json()
                if len(deliveries) == len(WANTED) and {d["state"] for d in deliveries} == {"delivered"}:
                    break
                time.sleep(0.5)
            # The beat worker's metrics: every attempt counted by outcome, the outbox drained (the
            # gauge is set at the end of the sweep that recorded the last outcome: poll for it).
            samples: dict[str, float] = {}
            while time.monotonic() < deadline and samples.get("vodstack_webhook_outbox_lag_seconds") != 0:
                samples = webhook_samples(httpx.get(stack.info["worker_metrics"]["worker-1"]).text)  # type: ignore[index]
                time.sleep(0.5)
        finally:
            stop_stack(stack, tmp_path)
    verified = [Webhook(endpoint["secret"]).verify(r.body, r.headers) for r in receiver.received]
    by_id = {r.headers["webhook-id"]: event for r, event in zip(receiver.received, verified, strict=True)}
    assert sorted(e["type"] for e in by_id.values()) == sorted(WANTED)  # each event once per id, none lost
    assert all(e["data"]["asset_id"] == asset_id for e in by_id.values())
    in_time = [e["type"] for e in sorted(by_id.values(), key=lambda e: e["timestamp"])]
    assert in_time == WANTED
    # The two refused attempts were retried with the same id, and the deliveries list shows them.
    assert len(receiver.received) == len(by_id) + 2
    assert {d["state"] for d in deliveries} == {"delivered"}
    statuses = sorted(a["status_code"] for d in deliveries for a in d["attempt_log"])
    assert statuses == [204, 204, 204, 503, 503]
    assert samples['vodstack_webhook_deliveries_total{outcome="delivered"}'] == 3
    assert samples['vodstack_webhook_deliveries_total{outcome="retrying"}'] == 2
    assert samples["vodstack_webhook_outbox_lag_seconds"] == 0
