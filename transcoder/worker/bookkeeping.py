"""A job's bookkeeping in the catalog: claim an attempt, fail it, end a superseded one, count how it
ended. The pipeline (transcoder.pipeline) orchestrates; these are the rows it reads and writes.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import TYPE_CHECKING

from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from catalog.models import Asset, AssetState, Job, JobState, utcnow
from catalog.session import rows_updated
from transcoder import metrics
from transcoder.worker.attempt import Attempt, remove_prefix
from transcoder.worker.sweeper import current_attempt, held_elsewhere, worker_id
from webhooks import events, outbox

if TYPE_CHECKING:
    from transcoder.pipeline import PipelineContext

log = logging.getLogger(__name__)

JOB_KIND = "transcode"  # the metrics label of jobs run here
# Deadline of one attempt: generous multiple of the media duration (a slow CPU encodes at ~0.3x).
DEADLINE_FACTOR = 20.0
DEADLINE_MINIMUM = 600.0


def job_deadline_seconds(duration: float) -> float:
    return max(DEADLINE_MINIMUM, duration * DEADLINE_FACTOR)


def remove_leftovers(ctx: PipelineContext, job_id: str) -> None:
    """A finished job delivered again (acks_late: its worker stopped right after publishing, say)
    removes what other attempts left beside the published package, as its publisher would have."""
    with ctx.catalog.session() as s:
        job = s.get(Job, job_id)
        asset = s.get(Asset, job.asset_id) if job is not None and job.state == JobState.SUCCEEDED else None
        if asset is None or not asset.master_key:
            return
        asset_id, folder = asset.id, asset.master_key.rpartition("/")[0]
    if folder != asset_id:  # not a package from before attempt prefixes
        remove_prefix(ctx.store, ctx.media, f"{asset_id}/", keep=f"{folder}/")


def end_superseded(ctx: PipelineContext, attempt: Attempt) -> bool:
    """After the attempt stopped on a lost heartbeat: True when it was superseded (it leaves the
    catalog alone); an attempt that still holds the job stopped beating at its deadline and fails it."""
    if attempt.holds(ctx.catalog):
        fail(ctx, attempt, "the job ran past its time limit", "timeout")
        return False
    log.warning("job %s: attempt %d was superseded; it stopped without publishing", attempt.job_id, attempt.number)
    return True


def record_finished(ctx: PipelineContext, job_id: str, seconds: float, *, superseded: bool = False) -> None:
    """Job metrics from the state the attempt left in the catalog: one place for every way out."""
    state, reason, media, deleted = JobState.RUNNING, None, None, False
    try:
        with ctx.catalog.session() as s:
            job = s.get(Job, job_id)
            asset = s.get(Asset, job.asset_id) if job is not None else None
            if job is not None:
                state, reason = job.state, job.error_reason
            media = asset.duration if asset is not None else None
            deleted = asset is None or asset.state == AssetState.DELETED
    except OperationalError:
        pass  # the catalog is down: the attempt is retried, and counted as such
    outcomes = {
        JobState.SUCCEEDED: "succeeded",
        JobState.FAILED: "failed",
        JobState.CANCELLED: "cancelled",
        JobState.WAITING: "waiting",  # split: handed to its parts, queued again to join them
    }
    outcome = "cancelled" if deleted and state == JobState.RUNNING else outcomes.get(state, "retried")
    if superseded:
        outcome = "superseded"  # another attempt has the job: whatever it did is counted there
    metrics.record_job_finished(JOB_KIND, outcome, reason, seconds, media)


def fail_exhausted(ctx: PipelineContext, job_id: str, message: str) -> None:
    """Called when retries of a transient error are exhausted."""
    with ctx.catalog.session() as s:
        job = s.get(Job, job_id)
        # Only a job no live attempt vouches for: the last attempt released it before the retry.
        attempt = Attempt(job.id, job.asset_id, job.attempts) if job and job.heartbeat_at is None else None
    if attempt is not None:
        fail(ctx, attempt, message, "retries_exhausted")
        metrics.record_failure(JOB_KIND, "retries_exhausted")


def claim(ctx: PipelineContext, job_id: str) -> tuple[str, str, int] | None:
    """Mark the job running: (asset id, staging key, attempt number from 1); None when there is
    nothing to do (gone, finished or asset deleted)."""
    with ctx.catalog.session() as s:
        job = s.get(Job, job_id, with_for_update=True)
        if job is None or job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
            return None
        if job.state == JobState.RUNNING and held_elsewhere(job, ctx.settings.heartbeat_timeout_seconds):
            # A duplicate delivery (a broker redelivering a long job, say) while a live worker
            # still has it; should that worker die, the sweeper requeues the job.
            return None
        asset = s.get(Asset, job.asset_id)
        if asset is None or asset.state == AssetState.DELETED or not asset.staging_key:
            job.state, job.finished_at = JobState.CANCELLED, utcnow()
            return None
        now = utcnow()
        # Compare-and-set on the attempt number: of two claimers that read the same row (SQLite
        # takes no row lock), one gets the next number, the other nothing.
        number = job.attempts + 1
        won = rows_updated(
            s,
            update(Job)
            .where(Job.id == job_id, Job.attempts == job.attempts, Job.state == job.state)
            .values(
                state=JobState.RUNNING,
                attempts=number,
                started_at=now,
                heartbeat_at=now,
                worker=worker_id(),
                deadline_at=now + timedelta(seconds=job_deadline_seconds(asset.duration or 0)),
                error=None,
                error_reason=None,
            ),
        )
        if not won:
            return None
        asset.state, asset.progress, asset.error = AssetState.PROCESSING, 0.0, None
        return asset.id, asset.staging_key, number


def fail(ctx: PipelineContext, attempt: Attempt, message: str, reason: str) -> None:
    """Fail the job, if this attempt still holds it (a superseded attempt's failure is its own)."""
    with ctx.catalog.session() as s:
        won = rows_updated(
            s,
            update(Job)
            .where(current_attempt(attempt.job_id, attempt.number))
            .values(state=JobState.FAILED, error=message, error_reason=reason, finished_at=utcnow()),
        )
        if not won:
            log.warning(
                "job %s: attempt %d failed (%s) after losing the job: %s",
                attempt.job_id,
                attempt.number,
                reason,
                message,
            )
            return
        log.warning("job %s failed (%s): %s", attempt.job_id, reason, message)
        asset = s.get(Asset, attempt.asset_id)
        if asset is not None and asset.state != AssetState.DELETED:
            asset.state, asset.error, asset.speed, asset.eta_seconds = AssetState.FAILED, message, None, None
            outbox.record_asset(s, asset, events.ASSET_FAILED)


def is_cancelled(ctx: PipelineContext, asset_id: str) -> bool:
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        return asset is None or asset.state == AssetState.DELETED
