"""The delivery task (every sweep_interval_seconds) and the pruning task (hourly): light queue, beat."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from catalog.session import Catalog
from webhooks.backoff import RetryPolicy
from webhooks.delivery import SweepReport, deliver_due, prune
from webhooks.metrics import webhook_metrics
from webhooks.sender import HttpSender
from webhooks.settings import WebhookSettings

DELIVER_TASK = "webhooks.deliver_due"
PRUNE_TASK = "webhooks.prune"
PRUNE_INTERVAL_SECONDS = 3600.0


def policy_of(settings: WebhookSettings) -> RetryPolicy:
    return RetryPolicy(settings.first_retry_seconds, settings.max_retry_seconds, settings.retry_window_seconds)


def lease_seconds(settings: WebhookSettings) -> float:
    """How long a claimed batch is held: longer than sending all of it can take (connect, write and
    read each up to the timeout), so a live sweep records every outcome before its lease ends."""
    return settings.timeout_seconds * 3 * settings.batch_size + 60.0


def run_deliveries(catalog: Catalog, settings: WebhookSettings, sender: Any = None) -> SweepReport:
    """One sweep of due deliveries with the production clock, randomness and HTTP sender."""
    http = (
        sender
        if sender is not None
        else HttpSender(timeout=settings.timeout_seconds, allow_private=settings.allow_private_targets)
    )
    try:
        return deliver_due(
            catalog,
            http,
            policy=policy_of(settings),
            clock=lambda: datetime.now(UTC),
            uniform=random.random,
            batch_size=settings.batch_size,
            max_batches=settings.max_batches,
            lease_seconds=lease_seconds(settings),
            metrics=webhook_metrics(),
        )
    finally:
        if sender is None:
            http.close()


def register(app: Any, settings: WebhookSettings, catalog: Callable[[], Catalog], light_queue: str) -> None:
    """Add the delivery task and its beat entry to a Celery app (the worker's composition calls this)."""

    @app.task(name=DELIVER_TASK, ignore_result=True)
    def deliver_webhooks() -> int:
        return len(run_deliveries(catalog(), settings).delivered)

    @app.task(name=PRUNE_TASK, ignore_result=True)
    def prune_webhooks() -> int:
        return prune(catalog(), datetime.now(UTC) - timedelta(days=settings.retention_days))

    routes = {DELIVER_TASK: {"queue": light_queue}, PRUNE_TASK: {"queue": light_queue}}
    app.conf.task_routes = {**(app.conf.task_routes or {}), **routes}
    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "vodstack-webhooks": {
            "task": DELIVER_TASK,
            "schedule": settings.sweep_interval_seconds,
            # A sweep still queued when the next is due is redundant: let it expire.
            "options": {"queue": light_queue, "expires": settings.sweep_interval_seconds},
        },
        "vodstack-webhooks-prune": {
            "task": PRUNE_TASK,
            "schedule": PRUNE_INTERVAL_SECONDS,
            "options": {"queue": light_queue, "expires": PRUNE_INTERVAL_SECONDS},
        },
    }
