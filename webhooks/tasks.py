"""The delivery task: on the light queue, run by the beat every sweep_interval_seconds."""

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


def policy_of(settings: WebhookSettings) -> RetryPolicy:
    return RetryPolicy(settings.first_retry_seconds, settings.max_retry_seconds, settings.retry_window_seconds)


def run_deliveries(catalog: Catalog, settings: WebhookSettings, sender: Any = None) -> SweepReport:
    """One sweep of due deliveries with the production clock, randomness and HTTP sender."""
    http = (
        sender
        if sender is not None
        else HttpSender(timeout=settings.timeout_seconds, allow_private=settings.allow_private_targets)
    )
    try:
        prune(catalog, datetime.now(UTC) - timedelta(days=settings.retention_days))
        return deliver_due(
            catalog,
            http,
            policy=policy_of(settings),
            clock=lambda: datetime.now(UTC),
            uniform=random.random,
            batch_size=settings.batch_size,
            max_batches=settings.max_batches,
            # Longer than one attempt can take: a live sender always records before the lease ends.
            lease_seconds=max(60.0, settings.timeout_seconds * 6),
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

    app.conf.task_routes = {**(app.conf.task_routes or {}), DELIVER_TASK: {"queue": light_queue}}
    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "vodstack-webhooks": {
            "task": DELIVER_TASK,
            "schedule": settings.sweep_interval_seconds,
            # A sweep still queued when the next is due is redundant: let it expire.
            "options": {"queue": light_queue, "expires": settings.sweep_interval_seconds},
        },
    }
