"""The purge retry task (beat, every sweep_interval_seconds, light queue) over outbox.run_due."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from catalog.session import Catalog
from edgepurge.client import HttpPurger
from edgepurge.outbox import PurgeReport, run_due
from edgepurge.settings import PurgeSettings
from webhooks.backoff import RetryPolicy

PURGE_TASK = "edgepurge.run_due"


def lease_seconds(settings: PurgeSettings) -> float:
    """How long a claimed row is held: longer than purging every node can take (connect + read each)."""
    return 2 * settings.timeout_seconds * max(len(settings.targets), 1) + 30.0


def run_purges(
    catalog: Catalog, settings: PurgeSettings, *, only: str | None = None, purger: Any = None
) -> PurgeReport:
    """Attempt due purges with the production clock, randomness and HTTP client."""
    http = purger if purger is not None else HttpPurger(token=settings.token, timeout=settings.timeout_seconds)
    try:
        return run_due(
            catalog,
            http,
            # Never given up: a deleted asset must leave every cache (the window is effectively unbounded).
            policy=RetryPolicy(settings.first_retry_seconds, settings.max_retry_seconds, float("inf")),
            clock=lambda: datetime.now(UTC),
            uniform=random.random,
            lease_seconds=lease_seconds(settings),
            only=only,
        )
    finally:
        if purger is None:
            http.close()


def register(app: Any, settings: PurgeSettings, catalog: Callable[[], Catalog], light_queue: str) -> None:
    """Add the retry task and its beat entry to a Celery app (the worker's composition calls this)."""

    @app.task(name=PURGE_TASK, ignore_result=True)
    def retry_purges() -> int:
        return len(run_purges(catalog(), settings).done)

    app.conf.task_routes = {**(app.conf.task_routes or {}), PURGE_TASK: {"queue": light_queue}}
    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "vodstack-edge-purges": {
            "task": PURGE_TASK,
            "schedule": settings.sweep_interval_seconds,
            "options": {"queue": light_queue, "expires": settings.sweep_interval_seconds},
        },
    }
