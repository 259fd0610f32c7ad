"""The job tasks retry transient errors through Celery's own options, and fail the job when they run out.

The worker app is built in a process of its own: Celery registers tasks with every app created
after them, and warns when a second worker app in one process registers the same task names.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from celery.signals import task_retry
from sqlalchemy import update

from catalog.models import Job, JobState
from jobs.celery_app import TRANSCODE_TASK
from tests.transcoder.harness import pipeline_context, queue_job
from transcoder.errors import TransientError
from transcoder.worker import tasks

ROOT = Path(__file__).resolve().parents[2]


def retried_until_exhausted(tmp_path: Path) -> None:
    """Run in the child process: a job whose storage stays down, through the real worker app."""
    ctx = pipeline_context(tmp_path)
    _, job_id = queue_job(ctx.catalog, "originals/none.mp4")
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

    tasks.run_job = storage_down  # type: ignore[assignment]
    countdowns: list[float] = []
    task_retry.connect(lambda reason=None, **_: countdowns.append(reason.when), weak=False)
    result = task.apply(args=(job_id,))

    # The first run and MAX_RETRIES retries, each after a countdown Celery drew in [0, factor * 2**n]
    assert runs == [job_id] * (tasks.MAX_RETRIES + 1), runs
    assert len(countdowns) == tasks.MAX_RETRIES, countdowns
    for retries, countdown in enumerate(countdowns):
        assert 0 <= countdown <= min(tasks.BACKOFF_CAP, tasks.BACKOFF_FACTOR * 2**retries), countdowns
    # Then the error is the task's, and the job fails with a readable reason
    assert result.failed() and isinstance(result.result, TransientError), result.result
    with ctx.catalog.session() as s:
        job = s.get(Job, job_id)
        assert job is not None
        assert (job.state, job.error) == (
            JobState.FAILED,
            f"gave up after {tasks.MAX_RETRIES} retries: the object store is unreachable",
        )


def test_transient_errors_are_retried_by_celery_with_capped_jittered_backoff(tmp_path: Path) -> None:
    code = "import sys, pathlib; from tests.transcoder.test_tasks import retried_until_exhausted as run; "
    code += "run(pathlib.Path(sys.argv[1]))"
    argv = [sys.executable, "-c", code, str(tmp_path)]
    out = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
