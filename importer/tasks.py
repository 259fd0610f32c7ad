"""The import task and the sweep of stale imports (light queue): thin wrappers over pipeline.py."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from importer.pipeline import ImportContext, requeue_stale, run_import
from importer.settings import ImportSettings
from jobs.celery_app import IMPORT_TASK, enqueue_import
from storage.errors import StorageUnavailable

log = logging.getLogger(__name__)
MAX_RETRIES = 5
SWEEP_TASK = "importer.requeue_stale"


def register(app: Any, settings: ImportSettings, context: Callable[[], ImportContext], light_queue: str) -> None:
    """Add the import task, and the sweep with its beat entry, to a Celery app (the worker's composition)."""

    # Storage down: retried with backoff (the download stays in the spool and is resumed). The source's
    # own failures are not retried here: Download already resumed them, and they fail the asset.
    @app.task(
        name=IMPORT_TASK,
        ignore_result=True,
        autoretry_for=(StorageUnavailable,),
        max_retries=MAX_RETRIES,
        retry_backoff=2,
        retry_backoff_max=300,
        retry_jitter=True,
        acks_late=True,
    )
    def import_url(asset_id: str) -> str:
        outcome = run_import(context(), asset_id)
        log.info("import of asset %s: %s", asset_id, outcome)
        return outcome

    # A worker that died mid-import (the embedded broker hands its message to no one): queued again.
    @app.task(name=SWEEP_TASK, ignore_result=True)
    def requeue_stale_imports() -> int:
        requeued = requeue_stale(
            context().catalog,
            lambda asset_id: enqueue_import(app, asset_id),
            now=datetime.now(UTC),
            stale_seconds=settings.stale_seconds,
        )
        return len(requeued)

    app.conf.task_routes = {**(app.conf.task_routes or {}), SWEEP_TASK: {"queue": light_queue}}
    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "vodstack-stale-imports": {
            "task": SWEEP_TASK,
            "schedule": settings.sweep_interval_seconds,
            "options": {"queue": light_queue, "expires": settings.sweep_interval_seconds},
        },
    }
