"""Celery tasks: thin wrappers that take ids, call the pipeline and map transient errors to retries."""

from __future__ import annotations

import logging
from functools import cache
from typing import Any

from celery import Celery, Task
from celery.signals import worker_ready, worker_shutdown

from captions import speech
from catalog.session import Catalog
from edgepurge.tasks import register as register_purges
from importer.pipeline import ImportContext
from importer.tasks import register as register_imports
from jobs.celery_app import (
    LIGHT_QUEUE,
    PART_TASK,
    SPEECH_TASK,
    SWEEP_TASK,
    TRANSCODE_TASK,
    enqueue_part,
    enqueue_speech_captions,
    enqueue_transcode,
    make_celery,
)
from storage.factory import open_store
from transcoder.errors import TransientError
from transcoder.pipeline import PipelineContext, run_job
from transcoder.settings import TranscoderSettings
from transcoder.speech_captions import asset_of
from transcoder.speech_captions import generate as generate_speech_captions
from transcoder.split.splitter import SplitAndStitch
from transcoder.worker.bookkeeping import fail_exhausted
from transcoder.worker.sweeper import SweeperThread, SweepPolicy, sweep
from webhooks.tasks import register as register_webhooks

log = logging.getLogger(__name__)

MAX_RETRIES = 5
BACKOFF_FACTOR = 2  # seconds before the first retry, doubled at each one
BACKOFF_CAP = 300


class JobTask(Task):
    """A job or part task: Celery retries its transient errors, and fails the job when they run out.

    Celery's own retry options: exponential backoff with full jitter (a countdown drawn from
    [0, min(cap, factor * 2**retries)], AWS architecture blog) spreads the retries of many workers.
    """

    autoretry_for = (TransientError,)
    max_retries = MAX_RETRIES
    retry_backoff = BACKOFF_FACTOR
    retry_backoff_max = BACKOFF_CAP
    retry_jitter = True
    acks_late = True
    reject_on_worker_lost = True

    def give_up(self, job_id: str, message: str) -> None:
        raise NotImplementedError

    def on_failure(self, exc: Exception, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        # Celery re-raises the transient error once the retries are spent: the task fails, and so does its job.
        if isinstance(exc, TransientError):
            self.give_up(args[0], f"gave up after {self.max_retries} retries: {exc}")


class CeleryPartQueue:
    """split.PartQueue on the broker: parts and joins go to the transcode queue like any job."""

    def __init__(self, app: Celery) -> None:
        self.app = app

    def enqueue_part(self, job_id: str) -> None:
        enqueue_part(self.app, job_id)

    def enqueue_job(self, job_id: str) -> None:
        enqueue_transcode(self.app, job_id)


def create_worker_app(settings: TranscoderSettings) -> Celery:
    app = make_celery(settings.broker)
    splitter = SplitAndStitch(CeleryPartQueue(app))

    @cache
    def context() -> PipelineContext:
        # Built lazily in the worker process (after fork), never at import time.
        return PipelineContext(settings, open_store(settings.storage), Catalog(settings.catalog), splitter)

    class TranscodeTask(JobTask):
        def give_up(self, job_id: str, message: str) -> None:
            fail_exhausted(context(), job_id, message)

    class PartTask(JobTask):
        def give_up(self, job_id: str, message: str) -> None:
            splitter.fail_exhausted(context(), job_id, message)

    @app.task(name=TRANSCODE_TASK, base=TranscodeTask, bind=True)
    def transcode(self: Task, job_id: str) -> None:
        run_job(context(), job_id)
        if settings.speech_captions and speech.available():
            asset_id = asset_of(context().catalog, job_id)
            if asset_id is not None:
                enqueue_speech_captions(app, asset_id)

    @cache
    def recognizer() -> speech.Recognizer:
        # One model per worker process, loaded on its first use (seconds), never at import.
        directory = speech.model_dir(settings.model_cache)
        return speech.Recognizer(directory, decoding=speech.Decoding(threads=settings.speech_threads))

    @app.task(name=SPEECH_TASK, ignore_result=True)
    def speech_captions(asset_id: str) -> int:
        return generate_speech_captions(context(), asset_id, recognizer)

    # Idempotent like the job itself: a part re-run overwrites its own staging prefix.
    @app.task(name=PART_TASK, base=PartTask, bind=True)
    def transcode_part(self: Task, job_id: str) -> None:
        # The Celery node name ("worker-1@host") records which worker encoded the part.
        splitter.run_part(context(), job_id, worker=self.request.hostname)

    policy = SweepPolicy(settings.heartbeat_timeout_seconds, settings.max_attempts, settings.queued_resend_seconds)

    # The same sweep as a task on the light queue, for deployments that run `celery beat`.
    @app.task(name=SWEEP_TASK, ignore_result=True)
    def sweep_jobs() -> int:
        return len(sweep(context().catalog, lambda job_id: enqueue_transcode(app, job_id), policy).requeued)

    app.conf.beat_schedule = {
        **(app.conf.beat_schedule or {}),
        "vodstack-sweep": {
            "task": SWEEP_TASK,
            "schedule": settings.sweep_interval_seconds,
            "options": {"queue": LIGHT_QUEUE},
        },
    }
    # And as a thread in every worker's main process: no beat process needed, and the conditional
    # requeue makes several sweepers as good as one.
    sweeper = SweeperThread(
        lambda: Catalog(settings.catalog, apply_migrations=False),
        lambda job_id: enqueue_transcode(app, job_id),
        policy,
        settings.sweep_interval_seconds,
    )

    @worker_ready.connect(weak=False)
    def _start_sweeper(sender: object = None, **_: object) -> None:
        if getattr(sender, "app", None) is app:
            sweeper.start()

    @worker_shutdown.connect(weak=False)
    def _stop_sweeper(sender: object = None, **_: object) -> None:
        sweeper.stop()

    register_webhooks(app, settings.webhooks, lambda: context().catalog, LIGHT_QUEUE)
    register_purges(app, settings.purge, lambda: context().catalog, LIGHT_QUEUE)

    @cache
    def import_context() -> ImportContext:
        ctx = context()
        return ImportContext(
            ctx.catalog,
            ctx.store,
            ctx.staging,
            settings.imports,
            settings.probe,
            lambda job_id: enqueue_transcode(app, job_id),
        )

    register_imports(app, settings.imports, import_context, LIGHT_QUEUE)
    app.conf.worker_context = context  # type: ignore[attr-defined]
    return app
