"""Delivery to a real loopback receiver, through the worker's task; retries on an injected clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from catalog.models import Asset, AssetState
from catalog.session import Catalog
from catalog.settings import CatalogSettings
from jobs.celery_app import LIGHT_QUEUE, make_celery
from jobs.settings import BrokerSettings
from tests.webhooks.conftest import add_endpoint, as_utc
from tests.webhooks.receiver import Receiver
from webhooks import events, outbox
from webhooks.backoff import RetryPolicy
from webhooks.delivery import SweepReport, deliver_due
from webhooks.metrics import WebhookMetrics
from webhooks.models import DeliveryState, WebhookAttempt, WebhookDelivery
from webhooks.sender import HttpSender
from webhooks.settings import WebhookSettings
from webhooks.tasks import DELIVER_TASK, PRUNE_TASK, register

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = RetryPolicy(first_delay=5.0, max_delay=3600.0, window=24 * 3600.0)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def asset_event(catalog: Catalog, owner: str, event_type: str, at: datetime | None = None) -> str:
    with catalog.session() as session:
        asset = Asset(state=AssetState.READY, owner=owner, title="clip")
        session.add(asset)
        session.flush()
        message_id = outbox.record_asset(session, asset, event_type)
        assert message_id is not None
        if at is not None:
            for d in session.scalars(select(WebhookDelivery).where(WebhookDelivery.message_id == message_id)):
                d.created_at = d.next_attempt_at = at
        return message_id


def send_once(catalog: Catalog, *, allow_private: bool) -> SweepReport:
    """One sweep at T0 with the real HTTP sender."""
    sender = HttpSender(timeout=5, allow_private=allow_private)
    try:
        return deliver_due(catalog, sender, policy=POLICY, clock=Clock(T0), uniform=lambda: 0.5)
    finally:
        sender.close()


def the_delivery(catalog: Catalog) -> WebhookDelivery:
    with catalog.session() as session:
        return session.scalars(select(WebhookDelivery)).one()


def test_task_delivers_signed_events_to_a_loopback_receiver(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """SQLite only: this Celery warns when a task name is registered twice in one process."""
    catalog = Catalog(CatalogSettings(url=f"sqlite:///{tmp_path / 'catalog.db'}"))
    app = make_celery(BrokerSettings(url="filesystem://", folder=tmp_path / "broker"))
    register(app, WebhookSettings(allow_private_targets=True), lambda: catalog, LIGHT_QUEUE)
    assert app.conf.task_routes[DELIVER_TASK] == {"queue": "light"}
    assert app.conf.beat_schedule["vodstack-webhooks"]["task"] == DELIVER_TASK
    assert app.conf.beat_schedule["vodstack-webhooks-prune"]["task"] == PRUNE_TASK
    assert app.conf.task_routes[PRUNE_TASK] == {"queue": "light"}
    with Receiver() as receiver:
        endpoint = add_endpoint(catalog, "alice", receiver.url)
        first = asset_event(catalog, "alice", events.ASSET_PLAYABLE)
        second = asset_event(catalog, "alice", events.ASSET_READY)
        assert app.tasks[DELIVER_TASK]() == 2  # the task function, run in this process
        assert app.tasks[DELIVER_TASK]() == 0  # nothing due: nothing sent twice
        assert app.tasks[PRUNE_TASK]() == 0  # nothing older than 30 days
    assert [r.headers["webhook-id"] for r in receiver.received] == [first, second]
    for got in receiver.received:
        payload = Webhook(endpoint.secret).verify(got.body, got.headers)
        assert payload["data"]["state"] == "ready"
        assert got.path == "/hooks"
    assert [json.loads(r.body)["type"] for r in receiver.received] == ["asset.playable", "asset.ready"]
    catalog.dispose()


def test_failures_retry_on_schedule_then_deliver(catalog: Catalog) -> None:
    clock, registry = Clock(T0), CollectorRegistry()
    metrics = WebhookMetrics(registry)
    with Receiver(statuses=[500, 503]) as receiver:
        add_endpoint(catalog, "alice", receiver.url)
        message_id = asset_event(catalog, "alice", events.ASSET_READY, at=T0)
        sender = HttpSender(timeout=5, allow_private=True)
        run = lambda: deliver_due(catalog, sender, policy=POLICY, clock=clock, uniform=lambda: 0.0, metrics=metrics)  # noqa: E731
        try:
            assert run().retrying
            assert as_utc(the_delivery(catalog).next_attempt_at) == T0 + timedelta(seconds=2.5)
            clock.now = T0 + timedelta(seconds=2)
            assert not run().retrying  # not due yet
            assert registry.get_sample_value("vodstack_webhook_outbox_lag_seconds") == 2.0
            clock.now = T0 + timedelta(seconds=2.5)
            assert run().retrying
            clock.now += timedelta(seconds=5)
            assert run().delivered
        finally:
            sender.close()
    assert [r.headers["webhook-id"] for r in receiver.received] == [message_id] * 3  # same id on every retry
    delivery = the_delivery(catalog)
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.DELIVERED, 3, 204)
    with catalog.session() as session:
        codes = [a.status_code for a in session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id))]
    assert codes == [500, 503, 204]
    assert registry.get_sample_value("vodstack_webhook_deliveries_total", {"outcome": "retrying"}) == 2
    assert registry.get_sample_value("vodstack_webhook_deliveries_total", {"outcome": "delivered"}) == 1
    assert registry.get_sample_value("vodstack_webhook_outbox_lag_seconds") == 0.0


class DownSender:
    """A receiver that never answers (connection refused), without waiting on a network."""

    def __init__(self) -> None:
        self.calls = 0

    def send(self, url: str, headers: dict[str, str], body: str):  # type: ignore[no-untyped-def]
        from webhooks.sender import Outcome

        self.calls += 1
        return Outcome(None, "ConnectError: connection refused")


def test_a_receiver_down_for_a_day_gets_a_failed_delivery(catalog: Catalog) -> None:
    clock, sender = Clock(T0), DownSender()
    add_endpoint(catalog, "alice", "http://hooks.example.com/")
    asset_event(catalog, "alice", events.ASSET_FAILED, at=T0)
    for _ in range(200):
        report = deliver_due(catalog, sender, policy=POLICY, clock=clock, uniform=lambda: 0.5)
        if report.failed:
            break
        clock.now = as_utc(the_delivery(catalog).next_attempt_at)
    delivery = the_delivery(catalog)
    assert delivery.state == DeliveryState.FAILED
    assert clock.now - T0 >= timedelta(hours=24)
    assert delivery.attempts == sender.calls >= 20
    assert delivery.last_error == "ConnectError: connection refused"


def test_a_lost_worker_leaves_the_delivery_due_after_its_lease(catalog: Catalog) -> None:
    from webhooks.delivery import claim_due

    add_endpoint(catalog, "alice", "http://hooks.example.com/")
    asset_event(catalog, "alice", events.ASSET_READY, at=T0)
    assert len(claim_due(catalog, T0, 10, lease_seconds=60)) == 1  # then the worker dies mid-send
    assert claim_due(catalog, T0 + timedelta(seconds=59), 10, lease_seconds=60) == []  # no double send
    assert len(claim_due(catalog, T0 + timedelta(seconds=60), 10, lease_seconds=60)) == 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hook", "http://[::1]:9/hook", "http://localhost:9/hook"])
def test_private_target_fails_at_send_time_without_the_setting(catalog: Catalog, url: str) -> None:
    add_endpoint(catalog, "alice", url)  # registered while allowed, or the DNS answer changed since
    asset_event(catalog, "alice", events.ASSET_READY, at=T0)
    report = send_once(catalog, allow_private=False)
    assert report.failed  # at once: retrying cannot make the address public
    delivery = the_delivery(catalog)
    assert delivery.state == DeliveryState.FAILED and delivery.last_status is None
    assert delivery.last_error is not None and "loopback" in delivery.last_error


def test_redirects_are_not_followed(catalog: Catalog) -> None:
    with Receiver(statuses=[302]) as receiver:
        add_endpoint(catalog, "alice", receiver.url)
        asset_event(catalog, "alice", events.ASSET_READY, at=T0)
        report = send_once(catalog, allow_private=True)
    assert report.retrying and len(receiver.received) == 1
    assert the_delivery(catalog).last_error == "HTTP 302"


def test_the_request_goes_to_the_checked_address_with_the_name_in_host(catalog: Catalog) -> None:
    """DNS rebinding: the name is resolved once, checked, and that address is connected to."""
    import httpx

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200)

    answers = iter([["93.184.216.34"], ["127.0.0.1"]])
    sender = HttpSender(
        timeout=5,
        allow_private=False,
        resolver=lambda host, port: next(answers),
        transport=httpx.MockTransport(handler),
    )
    try:
        first = sender.send("https://hooks.example.com/in?x=1", {"webhook-id": "msg_1"}, "{}")
        second = sender.send("https://hooks.example.com/in?x=1", {"webhook-id": "msg_1"}, "{}")
    finally:
        sender.close()
    assert first.ok and second.refused  # the second answer is loopback: refused, never connected
    assert len(seen) == 1
    assert str(seen[0].url) == "https://93.184.216.34/in?x=1"
    assert seen[0].headers["host"] == "hooks.example.com"
    assert seen[0].extensions["sni_hostname"] == "hooks.example.com"


WORKER_APP = """
from transcoder.settings import TranscoderSettings
from transcoder.worker.tasks import create_worker_app
app = create_worker_app(TranscoderSettings())
print(app.conf.task_routes["webhooks.deliver_due"]["queue"], app.conf.beat_schedule["vodstack-webhooks"]["schedule"])
"""


def test_the_worker_app_runs_deliveries_on_the_light_queue(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A process of its own: Celery warns when a second worker app registers the same task names."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "VODSTACK_DATA_DIR": str(tmp_path), "VODSTACK_WEBHOOKS_SWEEP_INTERVAL_SECONDS": "7"}
    out = subprocess.run([sys.executable, "-c", WORKER_APP], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["light", "7.0"]


def test_old_finished_deliveries_are_pruned_pending_ones_kept(catalog: Catalog) -> None:
    from webhooks.delivery import prune

    with Receiver(statuses=[204, 500]) as receiver:
        add_endpoint(catalog, "alice", receiver.url)
        asset_event(catalog, "alice", events.ASSET_READY, at=T0)
        asset_event(catalog, "alice", events.ASSET_FAILED, at=T0)
        report = send_once(catalog, allow_private=True)
    assert len(report.delivered) == 1 and len(report.retrying) == 1
    assert prune(catalog, T0) == 0  # not older than the cut
    assert prune(catalog, T0 + timedelta(days=31)) == 1  # the delivered one; the pending one stays
    with catalog.session() as session:
        assert [d.state for d in session.scalars(select(WebhookDelivery))] == [DeliveryState.PENDING]
        assert len(session.scalars(select(WebhookAttempt)).all()) == 1
