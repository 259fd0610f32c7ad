"""Split-and-stitch: a long source encoded as parts by several workers, then joined by its own job.

The flow, with the catalog as the only coordinator (no result backend, no chord, never `.get()`):

1. The job (pipeline.run_job) probes and plans as usual; `SplitAndStitch.encode` then records one
   part row per chunk plus the whole-source part, which encodes the audio and makes the thumbnails
   and storyboard (kind "transcode_part", PartSpec as JSON), marks the job WAITING, commits, and
   only then queues the parts.
2. A part (`run_part`, on any worker) encodes its range of every rung (or the audio and previews) into a
   scratch directory and uploads it under a deterministic staging prefix, listing file names in a
   `done.json` written last; then it marks itself SUCCEEDED. In the same transaction, holding the
   parent's row, the part that finds no sibling left unfinished puts the job back to QUEUED and
   queues it again.
3. The job runs again: every part succeeded, so `encode` joins them (transcoder.stitch) into the
   directory layout one ffmpeg run writes (previews included: the whole part made them), and the
   pipeline, with nothing left to encode, reads back, validates and publishes it.

Everything may run twice: part outputs overwrite themselves, the WAITING -> QUEUED flip happens once,
a job found with unfinished parts queues again those not visibly in progress, and parts whose
files went missing are encoded again.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
from datetime import timedelta
from pathlib import Path
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from catalog.models import Asset, AssetState, Job, JobState, utcnow
from storage.errors import ObjectMissing, StorageError
from transcoder import chunks, commands, fmp4, stitch
from transcoder.errors import EncodeFailed, InvalidMedia, TransientError
from transcoder.ladder import Ladder
from transcoder.metrics import elapsed_seconds
from transcoder.pipeline import PipelineContext, SplitOutcome, job_deadline_seconds
from transcoder.previews import STORYBOARD_IMAGE, THUMBNAIL_DIR, plan_previews
from transcoder.probe import MediaInfo
from transcoder.runner import run_ffmpeg
from transcoder.sweeper import Heartbeat

log = logging.getLogger(__name__)

PART_KIND = "transcode_part"
DONE_NAME = "done.json"
PREVIEWS = "previews"  # done.json key of the whole part's thumbnails and storyboard sprite
# Share of the asset's progress the parts account for; the join and publish take the rest.
PARTS_PROGRESS_SHARE = 0.9


class PartQueue(Protocol):
    """How parts and the joining job reach workers (Celery in production, a list in tests)."""

    def enqueue_part(self, job_id: str) -> None:
        """Queue one part for any worker. Raises on broker trouble (the caller retries)."""

    def enqueue_job(self, job_id: str) -> None:
        """Queue the parent job again, to join its finished parts."""


def worker_identity() -> str:
    """Who encoded a part when Celery did not name the worker: host and process."""
    return f"{socket.gethostname()}:{os.getpid()}"


class SplitAndStitch:
    """The pipeline's split slot (pipeline.Splitter)."""

    def __init__(self, queue: PartQueue) -> None:
        self.queue = queue

    def encode(
        self, ctx: PipelineContext, job_id: str, asset_id: str, info: MediaInfo, ladder: Ladder, out: Path
    ) -> SplitOutcome:
        """Dispatch the parts of a long source, or join them once all have finished."""
        settings = ctx.settings
        if not chunks.wants_split(
            info.duration,
            enabled=settings.split_enabled,
            min_duration=settings.split_min_duration_seconds,
            chunk_seconds=settings.chunk_seconds,
            segment_seconds=settings.segment_seconds,
        ):
            return SplitOutcome.WHOLE
        specs = chunks.plan_parts(
            ladder,
            duration=info.duration,
            display_size=info.video.display_size,
            chunk_seconds=settings.chunk_seconds,
            segment_seconds=settings.segment_seconds,
            interlaced=info.video.interlaced,
            preset=settings.x264_preset,
        )
        recorded, to_queue = _dispatch_state(ctx, job_id, asset_id, specs)
        if recorded is not None:
            try:
                _join(ctx, job_id, recorded, out)
                return SplitOutcome.JOINED
            except ObjectMissing as exc:
                # Staging was cleaned behind our back (or a published run deleted it): encode again.
                log.warning("job %s: part output missing (%s); encoding the parts again", job_id, exc)
                _, to_queue = _dispatch_state(ctx, job_id, asset_id, specs, redo=True)
        try:
            for part_id in to_queue:
                self.queue.enqueue_part(part_id)
        except Exception as exc:  # broker trouble of any kind: the retry queues the unfinished parts again
            raise TransientError(f"could not queue the parts: {exc}") from exc
        return SplitOutcome.WAITING

    def run_part(self, ctx: PipelineContext, job_id: str, *, worker: str | None = None) -> bool:
        """Run `job_id` if it is a part; False when it is not one (the caller runs it as a job)."""
        with ctx.catalog.session() as s:
            kind = s.scalar(select(Job.kind).where(Job.id == job_id))
        if kind != PART_KIND:
            return False
        claimed = _claim_part(ctx, job_id, worker or worker_identity())
        if claimed is None:
            return True
        parent_id, asset_id, staging_key, spec, already_done = claimed
        if not already_done:
            work = ctx.settings.work_dir / job_id
            shutil.rmtree(work, ignore_errors=True)
            work.mkdir(parents=True)
            heartbeat = Heartbeat(ctx.catalog, job_id, ctx.settings.heartbeat_seconds).start()
            try:
                _encode_part(ctx, job_id, parent_id, staging_key, spec, work)
            except (InvalidMedia, EncodeFailed) as exc:
                _fail(ctx, job_id, parent_id, asset_id, f"{spec.name}: {exc.message}", exc.reason)
                return True
            except ObjectMissing as exc:
                _fail(ctx, job_id, parent_id, asset_id, f"the original is gone from storage: {exc}", "original_missing")
                return True
            except StorageError as exc:
                if exc.retryable:
                    raise TransientError(str(exc)) from exc
                _fail(ctx, job_id, parent_id, asset_id, f"storage error: {exc}", "storage")
                return True
            except OperationalError as exc:
                raise TransientError(f"catalog unavailable: {exc.orig}") from exc
            except TransientError:
                raise
            except Exception as exc:  # a bug must not leave the parent waiting forever
                log.exception("part %s crashed", job_id)
                _fail(ctx, job_id, parent_id, asset_id, f"internal error in {spec.name}: {exc}", "internal")
                return True
            finally:
                heartbeat.stop()
                _release(ctx, job_id)
                shutil.rmtree(work, ignore_errors=True)
        if _complete_part(ctx, job_id, parent_id, asset_id):
            try:
                self.queue.enqueue_job(parent_id)
            except Exception as exc:  # broker trouble: undo the flip, so that this part's retry queues the join
                _set_parent_state(ctx, parent_id, JobState.QUEUED, JobState.WAITING)
                raise TransientError(f"could not queue the join: {exc}") from exc
        return True

    def fail_exhausted(self, ctx: PipelineContext, job_id: str, message: str) -> None:
        """A part whose transient errors outlasted its retries fails its job."""
        with ctx.catalog.session() as s:
            part = s.get(Job, job_id)
            if part is None or part.parent_id is None:
                return
            parent_id, asset_id = part.parent_id, part.asset_id
        _fail(ctx, job_id, parent_id, asset_id, message, "retries_exhausted")


def _lock_parent(s: object, parent_id: str) -> None:
    """Take the parent's row lock first, in every transaction that reads the parts' states.

    A no-op update: a row lock on PostgreSQL, the database write lock on SQLite. Parts finishing
    together then see each other's commits, and lock order (parent, then part) cannot deadlock.
    """
    s.execute(update(Job).where(Job.id == parent_id).values(heartbeat_at=utcnow()))  # type: ignore[attr-defined]


def _dispatch_state(
    ctx: PipelineContext, job_id: str, asset_id: str, specs: tuple[chunks.PartSpec, ...], *, redo: bool = False
) -> tuple[list[chunks.PartSpec] | None, list[str]]:
    """(recorded specs, None) when every part has finished; else (None, part ids to queue).

    Creates the part rows on the first call and marks the job WAITING before anything is queued,
    so that no part can finish before its parent is ready to be woken.
    """
    with ctx.catalog.session() as s:
        _lock_parent(s, job_id)
        parts = list(s.scalars(select(Job).where(Job.parent_id == job_id).order_by(Job.part)))
        if not parts:
            for index, spec in enumerate(specs):
                part = Job(asset_id=asset_id, kind=PART_KIND, parent_id=job_id, part=index, params=spec.as_json())
                s.add(part)
                parts.append(part)
            s.flush()
        elif not redo and all(p.state == JobState.SUCCEEDED for p in parts):
            return [chunks.PartSpec.from_json(p.params or {}) for p in parts], []
        to_queue = []
        for part in parts:
            in_progress = _held(part, ctx.settings.heartbeat_timeout_seconds)
            if redo or (part.state != JobState.SUCCEEDED and not in_progress):
                part.state, part.error, part.error_reason, part.finished_at = JobState.QUEUED, None, None, None
                to_queue.append(part.id)
        parent = s.get(Job, job_id)
        if parent is not None:
            parent.state = JobState.WAITING
        return None, to_queue


def _held(part: Job, heartbeat_timeout: float) -> bool:
    """A running part whose heartbeat is fresh: some worker is on it (the sweeper takes over if not)."""
    return (
        part.state == JobState.RUNNING
        and part.heartbeat_at is not None
        and elapsed_seconds(part.heartbeat_at, utcnow()) < heartbeat_timeout
    )


def _release(ctx: PipelineContext, job_id: str) -> None:
    """An attempt that leaves the part running (a retry is coming) stops vouching for it."""
    with ctx.catalog.session() as s:
        s.execute(update(Job).where(Job.id == job_id, Job.state == JobState.RUNNING).values(heartbeat_at=None))


def _claim_part(ctx: PipelineContext, job_id: str, worker: str) -> tuple[str, str, str, chunks.PartSpec, bool] | None:
    """(parent id, asset id, staging key, spec, already done), or None when there is nothing to do."""
    with ctx.catalog.session() as s:
        part = s.get(Job, job_id, with_for_update=True)
        if part is None or part.parent_id is None or part.state in (JobState.FAILED, JobState.CANCELLED):
            return None
        parent = s.get(Job, part.parent_id)
        asset = s.get(Asset, part.asset_id)
        gone = asset is None or asset.state == AssetState.DELETED or not asset.staging_key
        if gone or parent is None or parent.state in (JobState.FAILED, JobState.CANCELLED, JobState.SUCCEEDED):
            part.state, part.finished_at = JobState.CANCELLED, utcnow()
            return None
        if _held(part, ctx.settings.heartbeat_timeout_seconds):
            return None  # a duplicate delivery while a live worker encodes it
        spec = chunks.PartSpec.from_json(part.params or {})
        done = part.state == JobState.SUCCEEDED
        if not done:
            now = utcnow()
            part.state, part.attempts, part.worker = JobState.RUNNING, part.attempts + 1, worker
            part.started_at = part.heartbeat_at = now
            part.deadline_at = now + timedelta(seconds=job_deadline_seconds(spec.media_seconds))
        return part.parent_id, part.asset_id, asset.staging_key or "", spec, done


def _source_path(ctx: PipelineContext, staging_key: str, work: Path) -> Path:
    local = ctx.store.local_path(ctx.staging, staging_key)
    if local is not None:
        return local
    dest = work / "original"
    ctx.store.download(ctx.staging, staging_key, dest)
    return dest


def _encode_part(
    ctx: PipelineContext, job_id: str, parent_id: str, staging_key: str, spec: chunks.PartSpec, work: Path
) -> None:
    source = _source_path(ctx, staging_key, work)
    out = work / "out"
    ladder = spec.encoded_ladder()
    names = [r.name for r in ladder.rungs] + ([commands.AUDIO_NAME] if ladder.audio_bitrate is not None else [])
    for name in names:
        (out / name).mkdir(parents=True)
    previews = None
    if spec.chunk is None:
        previews = plan_previews(spec.source_duration, *spec.display_size)
        (out / THUMBNAIL_DIR).mkdir(parents=True)
    plan = commands.EncodePlan(
        source=str(source),
        out_dir=out,
        ladder=ladder,
        segment_seconds=spec.segment_seconds,
        interlaced=spec.interlaced,
        preset=spec.preset,
        previews=previews,
        start=spec.chunk.start if spec.chunk is not None else 0.0,
        duration=spec.chunk.duration if spec.chunk is not None else None,
    )
    run_ffmpeg(
        commands.encode_ladder(plan, ctx.settings.ffmpeg_path()),
        duration=spec.media_seconds,
        timeout=job_deadline_seconds(spec.media_seconds),
    )
    prefix = chunks.part_prefix(parent_id, spec.name)
    listing: dict[str, list[str]] = {}
    for name in names:
        segments = sorted(p.name for p in (out / name).glob("seg_*.m4s"))
        if not segments or not (out / name / commands.INIT_NAME).is_file():
            raise EncodeFailed(f"ffmpeg wrote no segments for {name} of {spec.name}")
        for file in [commands.INIT_NAME, *segments]:
            ctx.store.put_file(ctx.staging, f"{prefix}{name}/{file}", out / name / file)
        listing[name] = segments
    if previews is not None:
        files = [*(f"{THUMBNAIL_DIR}/{p.name}" for p in sorted((out / THUMBNAIL_DIR).glob("*.jpg"))), STORYBOARD_IMAGE]
        for file in files:
            if not (out / file).is_file():
                raise EncodeFailed(f"ffmpeg wrote no {file}")
            ctx.store.put_file(ctx.staging, prefix + file, out / file)
        listing[PREVIEWS] = files
    # Written last: a part's output counts only once its listing exists.
    ctx.store.put_bytes(ctx.staging, prefix + DONE_NAME, json.dumps(listing).encode(), "application/json")


def _complete_part(ctx: PipelineContext, job_id: str, parent_id: str, asset_id: str) -> bool:
    """Mark the part done; True when it was the last one and the parent must be queued to join."""
    with ctx.catalog.session() as s:
        _lock_parent(s, parent_id)
        part = s.get(Job, job_id)
        if part is None:
            return False
        if part.state != JobState.SUCCEEDED:
            part.state, part.finished_at = JobState.SUCCEEDED, utcnow()
        s.flush()
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


def _set_parent_state(ctx: PipelineContext, parent_id: str, expected: str, state: str) -> None:
    with ctx.catalog.session() as s:
        s.execute(update(Job).where(Job.id == parent_id, Job.state == expected).values(state=state))


def _fail(ctx: PipelineContext, job_id: str, parent_id: str, asset_id: str, message: str, reason: str) -> None:
    """A failed part fails its job and asset: nothing is published from a partial encode."""
    log.warning("part %s of job %s failed (%s): %s", job_id, parent_id, reason, message)
    now = utcnow()
    with ctx.catalog.session() as s:
        _lock_parent(s, parent_id)
        for row_id in (job_id, parent_id):
            job = s.get(Job, row_id)
            if job is not None and job.state != JobState.CANCELLED:
                job.state, job.error, job.error_reason, job.finished_at = JobState.FAILED, message, reason, now
        asset = s.get(Asset, asset_id)
        if asset is not None and asset.state != AssetState.DELETED:
            asset.state, asset.error, asset.speed, asset.eta_seconds = AssetState.FAILED, message, None, None


def _join(ctx: PipelineContext, job_id: str, specs: list[chunks.PartSpec], out: Path) -> None:
    """Download the parts and write the joined renditions into `out` (init + seg_NNNNN + index.m3u8)."""
    video = [(spec, spec.chunk) for spec in specs if spec.chunk is not None]
    whole = [spec for spec in specs if spec.chunk is None]
    listings = {spec.name: _listing(ctx, job_id, spec) for spec in specs}
    first = video[0][0]
    for rung in first.ladder.rungs:
        prefixes = [chunks.part_prefix(job_id, spec.name) + rung.name + "/" for spec, _ in video]
        inits = [ctx.store.get_bytes(ctx.staging, prefix + commands.INIT_NAME) for prefix in prefixes]
        init = stitch.check_same_init(rung.name, inits)
        timescale = fmp4.parse_init(init).timescale
        dest = out / rung.name
        dest.mkdir(parents=True, exist_ok=True)
        (dest / commands.INIT_NAME).write_bytes(init)
        names: list[str] = []
        fragments = 0
        for (spec, chunk), prefix in zip(video, prefixes, strict=True):
            shift = stitch.decode_time_shift(chunk.start, timescale)
            chunk_fragments = 0
            for segment in listings[spec.name][rung.name]:
                data = ctx.store.get_bytes(ctx.staging, prefix + segment)
                chunk_fragments += stitch.fragment_count(data)
                name = stitch.segment_name(len(names) + 1)
                retimed = stitch.retime_fragment(data, decode_time_shift=shift, sequence_shift=fragments)
                (dest / name).write_bytes(retimed)
                names.append(name)
            fragments += chunk_fragments
        (dest / commands.PLAYLIST_NAME).write_text(stitch.listing_playlist(names, first.segment_seconds))
    for spec in whole:
        prefix = chunks.part_prefix(job_id, spec.name)
        listing = listings[spec.name]
        if commands.AUDIO_NAME in listing:
            dest = out / commands.AUDIO_NAME
            dest.mkdir(parents=True, exist_ok=True)
            segments = listing[commands.AUDIO_NAME]
            for name in [commands.INIT_NAME, *segments]:
                ctx.store.download(ctx.staging, f"{prefix}{commands.AUDIO_NAME}/{name}", dest / name)
            (dest / commands.PLAYLIST_NAME).write_text(stitch.listing_playlist(segments, spec.segment_seconds))
        for file in listing.get(PREVIEWS, []):
            (out / file).parent.mkdir(parents=True, exist_ok=True)
            ctx.store.download(ctx.staging, prefix + file, out / file)
    # The joined copy is local now. Should the publish that follows fail and the job run again, the
    # missing part outputs send it back to encoding them (see SplitAndStitch.encode).
    _remove_parts(ctx, job_id)


def _listing(ctx: PipelineContext, job_id: str, spec: chunks.PartSpec) -> dict[str, list[str]]:
    data = json.loads(ctx.store.get_bytes(ctx.staging, chunks.part_prefix(job_id, spec.name) + DONE_NAME))
    return {str(k): [str(n) for n in v] for k, v in data.items()}


def _remove_parts(ctx: PipelineContext, job_id: str) -> None:
    for obj in list(ctx.store.list(ctx.staging, f"{chunks.PARTS_PREFIX}/{job_id}/")):
        ctx.store.delete(ctx.staging, obj.key)
