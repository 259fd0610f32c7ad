"""The job tasks retry transient errors through Celery's own options, and fail the job when they run out."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from celery.signals import task_retry
from sqlalchemy import update

from catalog.models import Job, JobState
from tests.transcoder.harness import pipeline_context, queue_job
from transcoder import tasks
from transcoder.celery_app import TRANSCODE_TASK
from transcoder.errors import TransientError


def test_transient_errors_are_retried_by_celery_with_capped_jittered_backoff(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx = pipeline_context(tmp_path)
    _, job_id = queue_job(ctx.catalog, "originals/none.mp4")
    # One worker app per process: Celery warns when a second one registers the same task names.
    app = tasks.create_worker_app(ctx.settings)
    task = app.tasks[TRANSCODE_TASK]
    assert task.autoretry_for == (TransientError,)
    assert (task.max_retries, task.retry_backoff, task.retry_backoff_max, task.retry_jitter) == (5, 2, 300, True)
    assert task.acks_late and task.reject_on_worker_lost
    app.conf.task_always_eager = True  # apply() runs each retry at once, in this process
    runs: list[str] = []

    def storage_down(_ctx: Any, job: str) -> None:
        """What an attempt does when storage is down: it claims the job, then releases it and raises."""
        runs.append(job)
        with ctx.catalog.session() as s:
            s.execute(update(Job).where(Job.id == job).values(state=JobState.RUNNING, attempts=Job.attempts + 1))
        raise TransientError("the object store is unreachable")

    monkeypatch.setattr(tasks, "run_job", storage_down)
    countdowns: list[float] = []

    def on_retry(request: Any = None, reason: Any = None, **_: Any) -> None:
        countdowns.append(reason.when)

    task_retry.connect(on_retry, weak=False)
    try:
        result = task.apply(args=(job_id,))
    finally:
        task_retry.disconnect(on_retry)

    # The first run and MAX_RETRIES retries, each after a countdown Celery drew in [0, factor * 2**n]
    assert runs == [job_id] * (tasks.MAX_RETRIES + 1)
    assert len(countdowns) == tasks.MAX_RETRIES
    for retries, countdown in enumerate(countdowns):
        assert 0 <= countdown <= min(tasks.BACKOFF_CAP, tasks.BACKOFF_FACTOR * 2**retries)
    # Then the error is the task's, and the job fails with a readable reason
    assert result.failed() and isinstance(result.result, TransientError)
    with ctx.catalog.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert job.state == JobState.FAILED
        assert job.error == f"gave up after {tasks.MAX_RETRIES} retries: the object store is unreachable"
