"""Celery tasks: thin wrappers that take ids, call the pipeline and map transient errors to retries."""

from __future__ import annotations

import logging
import random
from functools import cache

from celery import Celery, Task
from celery.exceptions import MaxRetriesExceededError

from catalog.session import Catalog
from storage.factory import open_store
from transcoder.celery_app import TRANSCODE_TASK, make_celery
from transcoder.errors import TransientError
from transcoder.pipeline import PipelineContext, fail_exhausted, run_job
from transcoder.settings import TranscoderSettings

log = logging.getLogger(__name__)

MAX_RETRIES = 5
BACKOFF_BASE = 2.0
BACKOFF_CAP = 300.0


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with full jitter (AWS architecture blog): spreads retries of many workers."""
    return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))


def create_worker_app(settings: TranscoderSettings) -> Celery:
    app = make_celery(settings.broker)

    @cache
    def context() -> PipelineContext:
        # Built lazily in the worker process (after fork), never at import time.
        return PipelineContext(settings, open_store(settings.storage), Catalog(settings.catalog))

    @app.task(name=TRANSCODE_TASK, bind=True, max_retries=MAX_RETRIES, acks_late=True, reject_on_worker_lost=True)
    def transcode(self: Task, job_id: str) -> None:
        try:
            run_job(context(), job_id)
        except TransientError as exc:
            try:
                raise self.retry(exc=exc, countdown=backoff_seconds(self.request.retries))
            except MaxRetriesExceededError:
                fail_exhausted(context(), job_id, f"gave up after {MAX_RETRIES} retries: {exc}")

    app.conf.worker_context = context  # type: ignore[attr-defined]
    return app
