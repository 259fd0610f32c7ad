"""The import task (light queue): a thin wrapper over pipeline.run_import."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from importer.pipeline import ImportContext, run_import
from jobs.celery_app import IMPORT_TASK
from storage.errors import StorageUnavailable

log = logging.getLogger(__name__)
MAX_RETRIES = 5


def register(app: Any, context: Callable[[], ImportContext]) -> None:
    """Add the import task to a Celery app (the worker's composition calls this)."""

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
