"""One part of a split-and-stitch job, on whichever worker takes it (see transcoder.split.splitter).

A part claims its row, encodes its chunk of every rung (or, for the whole part, the audio and the
previews) into scratch space under the sweeper's heartbeat, uploads the files to a deterministic
staging prefix with a `done.json` listing written last, and marks itself done. The part that finds
itself the last one unfinished, holding the parent's row, puts the job back to QUEUED: the caller
then queues it to join. A failed part fails its job and asset; a part whose asset or job is gone
ends quietly; a part a live worker holds is left to it.

Parts are fenced by attempt like jobs (transcoder.worker.attempt): a claim increments the part row's
`attempts`, the attempt uploads only under its own `a<n>/` staging prefix, and every catalog write it
makes (done, failed, cancelled, released) is conditional on the part still running under that number.
A stale attempt (the sweeper requeued its part while it was paused, say, and another worker took it)
stops its ffmpeg once its heartbeat matches no row; whatever it still tries to mark is refused and
logged, and it removes its own prefix. The join reads each part from the attempt its row recorded.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from catalog.models import Asset, AssetState, Job, JobState, utcnow
from catalog.session import rows_updated
from media.errors import InvalidMedia
from storage.errors import ObjectMissing, StorageError
from transcoder import metrics
from transcoder.encode import commands
from transcoder.encode.audio import with_loudnorm
from transcoder.encode.loudness import Loudness, dump_measured
from transcoder.encode.previews import STORYBOARD_IMAGE, THUMBNAIL_DIR, plan_previews
from transcoder.encode.runner import CANCELLED, run_ffmpeg
from transcoder.encode.source import original_for_ffmpeg, retry_with_download
from transcoder.errors import EncodeFailed, Superseded, TransientError
from transcoder.pipeline import POSTER_NAME, PipelineContext, loudness_target, make_poster, measure_audio
from transcoder.split import chunks
from transcoder.worker.attempt import Attempt, remove_prefix
from transcoder.worker.bookkeeping import job_deadline_seconds
from transcoder.worker.sweeper import Heartbeat, current_attempt
from webhooks import events, outbox

log = logging.getLogger(__name__)

PART_KIND = "transcode_part"
DONE_NAME = "done.json"
LOUDNESS_NAME = "loudness.json"  # the whole part's measurement of the source's audio, before done.json
PREVIEWS = "previews"  # done.json key of the whole part's thumbnails, storyboard sprite and poster
# Share of the asset's progress the parts account for; the join and publish take the rest.
PARTS_PROGRESS_SHARE = 0.9


def is_part(ctx: PipelineContext, job_id: str) -> bool:
    with ctx.catalog.session() as s:
        return s.scalar(select(Job.kind).where(Job.id == job_id)) == PART_KIND


def run(ctx: PipelineContext, job_id: str, worker: str | None = None) -> str | None:
    """Run one part; the parent job's id when this part was the last to finish (queue it to join).

    Raises TransientError when a retry could help.
    """
    claimed = _claim_part(ctx, job_id, worker or worker_identity())
    if claimed is None:
        return None
    parent_id, spec = claimed.parent_id, claimed.spec
    if not claimed.done:
        started = time.monotonic()
        metrics.record_job_started(PART_KIND)
        outcome, reason = "retried", None  # unless the attempt ends otherwise
        try:
            reason = _attempt(ctx, job_id, claimed)
            outcome = {None: "succeeded", CANCELLED: "cancelled"}.get(reason, "failed")
        finally:
            elapsed = time.monotonic() - started
            metrics.record_job_finished(PART_KIND, outcome, reason, elapsed, spec.media_seconds)
        if reason:
            return None
    attempt = None if claimed.done else claimed.attempt
    return parent_id if _complete_part(ctx, job_id, claimed, attempt) else None


def fail_exhausted(ctx: PipelineContext, job_id: str, message: str) -> None:
    """A part whose transient errors outlasted its retries fails its job."""
    with ctx.catalog.session() as s:
        part = s.get(Job, job_id)
        # Only a part no live attempt vouches for: the last attempt released it before the retry.
        if part is None or part.parent_id is None or part.heartbeat_at is not None:
            return
        parent_id, asset_id, number = part.parent_id, part.asset_id, part.attempts
    _fail(ctx, Attempt(job_id, asset_id, number), parent_id, message, "retries_exhausted")


def worker_identity() -> str:
    """Who encoded a part when Celery did not name the worker: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


def lock_parent(s: Session, parent_id: str) -> None:
    """Take the parent's row lock first, in every transaction that reads the parts' states.

    A no-op update: a row lock on PostgreSQL, the database write lock on SQLite. Parts finishing
    together then see each other's commits, and lock order (parent, then part) cannot deadlock.
    """
    s.execute(update(Job).where(Job.id == parent_id).values(heartbeat_at=utcnow()))


def held(part: Job, heartbeat_timeout: float) -> bool:
    """A running part whose heartbeat is fresh: some worker is on it (the sweeper takes over if not)."""
    return (
        part.state == JobState.RUNNING
        and part.heartbeat_at is not None
        and metrics.elapsed_seconds(part.heartbeat_at, utcnow()) < heartbeat_timeout
    )


def _release(ctx: PipelineContext, attempt: Attempt) -> None:
    """An attempt that leaves the part running (a retry is coming) stops vouching for it; a stale
    attempt touches nothing (the part is its successor's)."""
    with ctx.catalog.session() as s:
        s.execute(update(Job).where(current_attempt(attempt.job_id, attempt.number)).values(heartbeat_at=None))


def set_parent_state(ctx: PipelineContext, parent_id: str, expected: str, state: str) -> None:
    with ctx.catalog.session() as s:
        s.execute(update(Job).where(Job.id == parent_id, Job.state == expected).values(state=state))


class Claim(NamedTuple):
    parent_id: str
    asset_id: str
    staging_key: str
    spec: chunks.PartSpec
    done: bool  # a duplicate delivery of a part already done: only the completion check is left
    attempt: int  # 1 for the first attempt at this part


def _claim_part(ctx: PipelineContext, job_id: str, worker: str) -> Claim | None:
    """The part to run, or None when there is nothing to do."""
    with ctx.catalog.session() as s:
        part = s.get(Job, job_id, with_for_update=True)
        if part is None or part.parent_id is None or part.state in (JobState.FAILED, JobState.CANCELLED):
            return None
        parent = s.get(Job, part.parent_id)
        asset = s.get(Asset, part.asset_id)
        staging_key = asset.staging_key if asset is not None and asset.state != AssetState.DELETED else None
        if (
            not staging_key
            or parent is None
            or parent.state in (JobState.FAILED, JobState.CANCELLED, JobState.SUCCEEDED)
        ):
            part.state, part.finished_at = JobState.CANCELLED, utcnow()
            return None
        if held(part, ctx.settings.heartbeat_timeout_seconds):
            return None  # a duplicate delivery while a live worker encodes it
        spec = chunks.PartSpec.from_json(part.params or {})
        done = part.state == JobState.SUCCEEDED
        if not done:
            now = utcnow()
            part.state, part.attempts, part.worker = JobState.RUNNING, part.attempts + 1, worker
            part.started_at = part.heartbeat_at = now
            part.deadline_at = now + timedelta(seconds=job_deadline_seconds(spec.media_seconds))
        return Claim(part.parent_id, part.asset_id, staging_key, spec, done, part.attempts)


def _attempt(ctx: PipelineContext, job_id: str, claim: Claim) -> str | None:
    """Encode and upload one part: None when done, the failure reason when it failed its job.

    Raises TransientError when a retry could help.
    """
    parent_id, spec = claim.parent_id, claim.spec
    # Scratch per attempt: a stale attempt still running here never shares files with its successor.
    work = ctx.settings.work_dir / f"{job_id}-{claim.attempt}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    heartbeat = Heartbeat(ctx.catalog, job_id, ctx.settings.heartbeat_seconds, attempt=claim.attempt).start()
    attempt = Attempt(job_id, claim.asset_id, claim.attempt, heartbeat.lost)
    try:
        _encode_part(ctx, claim, attempt, work)
        return None
    except Superseded:
        return _end_stale(ctx, attempt, parent_id, spec.name)
    except (InvalidMedia, EncodeFailed) as exc:
        if exc.reason == CANCELLED and attempt.lost.is_set():
            return _end_stale(ctx, attempt, parent_id, spec.name)  # stopped because it lost the part
        if exc.reason == CANCELLED:  # the asset was deleted: end quietly, like the job would
            with ctx.catalog.session() as s:
                s.execute(
                    update(Job)
                    .where(current_attempt(job_id, attempt.number))
                    .values(state=JobState.CANCELLED, finished_at=utcnow())
                )
            return CANCELLED
        return _fail(ctx, attempt, parent_id, f"{spec.name}: {exc.message}", exc.reason)
    except ObjectMissing as exc:
        return _fail(ctx, attempt, parent_id, f"the original is gone from storage: {exc}", "original_missing")
    except StorageError as exc:
        if exc.retryable:
            raise TransientError(str(exc)) from exc
        return _fail(ctx, attempt, parent_id, f"storage error: {exc}", "storage")
    except OperationalError as exc:
        raise TransientError(f"catalog unavailable: {exc.orig}") from exc
    except TransientError:
        raise
    except Exception as exc:  # a bug must not leave the parent waiting forever
        log.exception("part %s crashed", job_id)
        return _fail(ctx, attempt, parent_id, f"internal error in {spec.name}: {exc}", "internal")
    finally:
        heartbeat.stop()
        _release(ctx, attempt)
        shutil.rmtree(work, ignore_errors=True)


def _end_stale(ctx: PipelineContext, attempt: Attempt, parent_id: str, part_name: str) -> str:
    """A superseded attempt publishes nothing: it removes what it uploaded and leaves the row alone."""
    log.warning(
        "part %s (%s of job %s): attempt %d was superseded; its output is discarded",
        attempt.job_id,
        part_name,
        parent_id,
        attempt.number,
    )
    remove_prefix(ctx.store, ctx.staging, chunks.part_prefix(parent_id, part_name, attempt.number))
    return Superseded.reason


def _encode_part(ctx: PipelineContext, claim: Claim, attempt: Attempt, work: Path) -> None:
    # A first attempt streams the original (see transcoder.encode.source): a chunk reads its own stretch of
    # it, the whole part (audio, storyboard, thumbnails, poster) all of it once plus a GOP per seek.
    source, streamed = original_for_ffmpeg(
        ctx.store,
        ctx.staging,
        claim.staging_key,
        work,
        stream=claim.attempt <= 1,
        deadline_seconds=job_deadline_seconds(claim.spec.media_seconds),
    )
    try:
        _encode_from(ctx, claim, attempt, work, source)
    except EncodeFailed as exc:
        if not streamed:
            raise
        raise retry_with_download(exc) from exc


def _normalise(ctx: PipelineContext, asset_id: str) -> bool:
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        option = asset.loudnorm if asset is not None else None
    return ctx.settings.loudnorm if option is None else option


def _encode_from(ctx: PipelineContext, claim: Claim, attempt: Attempt, work: Path, source: str) -> None:
    parent_id, asset_id, spec = claim.parent_id, claim.asset_id, claim.spec
    out = work / "out"
    ladder = spec.encoded_ladder()
    measured: dict[str, Loudness] = {}
    if spec.chunk is None and ladder.audio:
        # The whole part makes the audio: loudnorm's first pass here, over the source it reads anyway; the
        # join records it on the asset as the source's loudness, as a single job does, normalised or not. A
        # track that does not decode is not left out here (the join expects every planned rendition).
        measured, _ = measure_audio(ctx, source, ladder, spec.source_duration)
        if _normalise(ctx, asset_id):
            ladder = replace(ladder, audio=with_loudnorm(ladder.audio, measured, loudness_target(ctx.settings)))
    names = [r.name for r in ladder.rungs] + [audio.name for audio in ladder.audio_renditions()]
    previews = plan_previews(spec.source_duration, *spec.display_size) if spec.chunk is None else None
    plan = commands.EncodePlan(
        source=source,
        out_dir=out,
        ladder=ladder,
        segment_seconds=spec.segment_seconds,
        interlaced=spec.interlaced,
        preset=spec.preset,
        av1_preset=spec.av1_preset,
        previews=previews,
        start=spec.chunk.start if spec.chunk is not None else 0.0,
        duration=spec.chunk.duration if spec.chunk is not None else None,
        colour=spec.colour,
        # As the one-run encode pads it (pipeline.py): a track that ends before the video still lasts
        # as long as the joined rungs, or the join fails validation (audio shorter than the video).
        audio_duration=spec.source_duration if spec.chunk is None else None,
    )
    for directory in commands.output_dirs(plan):
        directory.mkdir(parents=True)
    ffmpeg_exe = ctx.settings.ffmpeg_path()
    run_ffmpeg(
        commands.encode_ladder(plan, ffmpeg_exe),
        duration=spec.media_seconds,
        timeout=job_deadline_seconds(spec.media_seconds),
        # A stale attempt stops at once: its successor encodes the part.
        should_stop=lambda: attempt.lost.is_set() or _asset_gone(ctx, asset_id),
    )
    if previews is not None:
        run_ffmpeg(
            commands.finish_previews(previews, source, out, spec.interlaced, ffmpeg_exe, spec.colour), timeout=300
        )
        make_poster(source, out, spec.source_duration, ffmpeg_exe, colour=spec.colour)
    attempt.check(ctx.catalog)  # Superseded: nothing of a stale attempt is uploaded from here on
    prefix = chunks.part_prefix(parent_id, spec.name, attempt.number)
    listing: dict[str, list[str]] = {}
    for name in names:
        segments = sorted(p.name for p in (out / name).glob("seg_*.m4s"))
        if not segments or not (out / name / commands.INIT_NAME).is_file():
            raise EncodeFailed(f"ffmpeg wrote no segments for {name} of {spec.name}")
        for file in [commands.INIT_NAME, *segments]:
            ctx.store.put_file(ctx.staging, f"{prefix}{name}/{file}", out / name / file)
        listing[name] = segments
    if previews is not None:
        thumbnails = [f"{THUMBNAIL_DIR}/{p.name}" for p in sorted((out / THUMBNAIL_DIR).glob("*.jpg"))]
        files = [*thumbnails, STORYBOARD_IMAGE, POSTER_NAME]
        for file in files:
            if not (out / file).is_file():
                raise EncodeFailed(f"ffmpeg wrote no {file}")
            ctx.store.put_file(ctx.staging, prefix + file, out / file)
        listing[PREVIEWS] = files
    if measured:
        ctx.store.put_bytes(ctx.staging, prefix + LOUDNESS_NAME, dump_measured(measured), "application/json")
    # Written last: a part's output counts only once its listing exists (and its row says this attempt).
    attempt.check(ctx.catalog)
    ctx.store.put_bytes(ctx.staging, prefix + DONE_NAME, json.dumps(listing).encode(), "application/json")


def _asset_gone(ctx: PipelineContext, asset_id: str) -> bool:
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        return asset is None or asset.state == AssetState.DELETED


def _complete_part(ctx: PipelineContext, job_id: str, claim: Claim, attempt: int | None) -> bool:
    """Mark the part done by `attempt` (None: done already, a duplicate delivery); True when it was the
    last one and the parent must be queued to join. A stale attempt's mark is refused and logged."""
    parent_id, asset_id = claim.parent_id, claim.asset_id
    if attempt is not None and not _mark_done(ctx, job_id, parent_id, attempt):
        _end_stale(ctx, Attempt(job_id, asset_id, attempt), parent_id, claim.spec.name)
        return False
    with ctx.catalog.session() as s:
        lock_parent(s, parent_id)
        states = list(s.scalars(select(Job.state).where(Job.parent_id == parent_id)))
        done, total = states.count(JobState.SUCCEEDED), len(states)
        asset = s.get(Asset, asset_id)
        if asset is not None and asset.state == AssetState.PROCESSING and total:
            asset.progress = round(PARTS_PROGRESS_SHARE * done / total, 4)
        parent = s.get(Job, parent_id)
        # Only from WAITING: however often parts run, the join is queued once.
        if done == total and parent is not None and parent.state == JobState.WAITING:
            parent.state = JobState.QUEUED
            return True
        return False


def _mark_done(ctx: PipelineContext, job_id: str, parent_id: str, attempt: int) -> bool:
    """SUCCEEDED, if `attempt` still holds the part (its row then names the attempt the join reads)."""
    with ctx.catalog.session() as s:
        lock_parent(s, parent_id)  # the parent first, as in every transaction over parts
        marked = update(Job).where(current_attempt(job_id, attempt))
        return rows_updated(s, marked.values(state=JobState.SUCCEEDED, finished_at=utcnow())) > 0


def _fail(ctx: PipelineContext, attempt: Attempt, parent_id: str, message: str, reason: str) -> str:
    """A failed part fails its job and asset: nothing is published from a partial encode. Returns `reason`.

    Only while the attempt still holds the part: a stale attempt's failure is its own (its successor
    may well succeed), so it is logged and changes nothing."""
    now = utcnow()
    with ctx.catalog.session() as s:
        lock_parent(s, parent_id)
        failed = update(Job).where(current_attempt(attempt.job_id, attempt.number))
        if not rows_updated(
            s, failed.values(state=JobState.FAILED, error=message, error_reason=reason, finished_at=now)
        ):
            log.warning(
                "part %s of job %s: attempt %d failed (%s) after losing the part: %s",
                attempt.job_id,
                parent_id,
                attempt.number,
                reason,
                message,
            )
            return reason
        log.warning("part %s of job %s failed (%s): %s", attempt.job_id, parent_id, reason, message)
        parent = s.get(Job, parent_id)
        if parent is not None and parent.state != JobState.CANCELLED:
            parent.state, parent.error, parent.error_reason, parent.finished_at = JobState.FAILED, message, reason, now
        asset = s.get(Asset, attempt.asset_id)
        if asset is not None and asset.state != AssetState.DELETED:
            asset.state, asset.error, asset.speed, asset.eta_seconds = AssetState.FAILED, message, None, None
            outbox.record_asset(s, asset, events.ASSET_FAILED)
    return reason
