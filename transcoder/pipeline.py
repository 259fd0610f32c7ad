"""The transcode job as plain steps: probe, plan, encode, read back, render, validate, publish.

Celery tasks (tasks.py) only call `run_job`; everything here can run in a test without a broker.
Idempotent by construction: output keys are deterministic, the work happens in a scratch directory,
segments are published before the playlists that name them, and the multivariant playlist last.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import dataclass, replace
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import BinaryIO, Protocol, cast

from sqlalchemy.exc import OperationalError

from catalog.models import Asset, AssetState, Job, JobState, Rendition, utcnow
from catalog.session import Catalog
from manifests import bandwidth, dash, hls, validate
from manifests.errors import ManifestError
from manifests.mime import content_type_for
from manifests.model import Track
from storage.errors import ObjectMissing, StorageError
from storage.objects import ObjectStore
from storage.reader import ObjectReader
from transcoder import commands, metrics
from transcoder.errors import EncodeFailed, InvalidMedia, TransientError
from transcoder.ladder import Ladder, plan_ladder
from transcoder.outputs import read_track
from transcoder.previews import (
    STORYBOARD_IMAGE,
    STORYBOARD_VTT,
    THUMBNAIL_DIR,
    Previews,
    plan_previews,
    render_vtt,
)
from transcoder.probe import MediaInfo, ProbeLimits, probe_source
from transcoder.progress import Progress
from transcoder.progressive import ProgressivePublisher, forget_playable, mark_playable
from transcoder.runner import CANCELLED, run_ffmpeg
from transcoder.settings import TranscoderSettings
from transcoder.source import original_for_ffmpeg, retry_with_download
from transcoder.sweeper import Heartbeat, held_elsewhere, release, worker_id
from webhooks import events, outbox

log = logging.getLogger(__name__)

MASTER_NAME = "master.m3u8"
MPD_NAME = "manifest.mpd"
POSTER_NAME = "poster.jpg"
JOB_KIND = "transcode"  # the metrics label of jobs run here
# Catalog progress writes at most this often.
PROGRESS_INTERVAL = 1.0
# Deadline of one attempt: generous multiple of the media duration (a slow CPU encodes at ~0.3x).
DEADLINE_FACTOR = 20.0
DEADLINE_MINIMUM = 600.0


class SplitOutcome(Enum):
    WHOLE = "whole"  # not split: one ffmpeg run encodes the ladder
    WAITING = "waiting"  # parts are encoding on other workers; the last to finish queues the job again
    JOINED = "joined"  # the parts are joined into the output directory, as one run would write it


class Splitter(Protocol):
    """The optional split-and-stitch slot (transcoder.split.SplitAndStitch)."""

    def run_part(self, ctx: PipelineContext, job_id: str) -> bool:
        """Run `job_id` if it is a part of a split job; False when it is not one."""

    def encode(
        self, ctx: PipelineContext, job_id: str, asset_id: str, info: MediaInfo, ladder: Ladder, out: Path
    ) -> SplitOutcome:
        """Dispatch a long source's parts, or join them into `out` once they have all finished."""


@dataclass
class PipelineContext:
    settings: TranscoderSettings
    store: ObjectStore
    catalog: Catalog
    splitter: Splitter | None = None

    @property
    def staging(self) -> str:
        return self.settings.storage.staging_bucket

    @property
    def media(self) -> str:
        return self.settings.storage.media_bucket


def job_deadline_seconds(duration: float) -> float:
    return max(DEADLINE_MINIMUM, duration * DEADLINE_FACTOR)


def run_job(ctx: PipelineContext, job_id: str) -> None:
    """Run one transcode job to a terminal state. Raises TransientError when a retry could help."""
    if ctx.splitter is not None and ctx.splitter.run_part(ctx, job_id):
        return  # a part of a split job (queued again by a sweeper, say), not a whole transcode
    claimed = _claim(ctx, job_id)
    if claimed is None:
        return
    asset_id, staging_key, attempt = claimed
    metrics.record_job_started(JOB_KIND)
    started = time.monotonic()
    work = ctx.settings.work_dir / job_id
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    heartbeat = Heartbeat(ctx.catalog, job_id, ctx.settings.heartbeat_seconds).start()
    try:
        _transcode(ctx, job_id, asset_id, staging_key, work, attempt)
    except (InvalidMedia, EncodeFailed) as exc:
        _fail(ctx, job_id, asset_id, exc.message, exc.reason)
    except ManifestError as exc:
        _fail(ctx, job_id, asset_id, f"output failed validation: {exc}", "invalid_output")
    except ObjectMissing as exc:
        _fail(ctx, job_id, asset_id, f"the original is gone from storage: {exc}", "original_missing")
    except StorageError as exc:
        if exc.retryable:
            raise TransientError(str(exc)) from exc
        _fail(ctx, job_id, asset_id, f"storage error: {exc}", "storage")
    except OperationalError as exc:
        raise TransientError(f"catalog unavailable: {exc.orig}") from exc
    except TransientError:
        raise
    except Exception as exc:  # a bug must not leave the job "running" forever
        log.exception("job %s crashed", job_id)
        _fail(ctx, job_id, asset_id, f"internal error: {type(exc).__name__}: {exc}", "internal")
    finally:
        heartbeat.stop()
        release(ctx.catalog, job_id)
        shutil.rmtree(work, ignore_errors=True)
        _record_finished(ctx, job_id, time.monotonic() - started)


def _record_finished(ctx: PipelineContext, job_id: str, seconds: float) -> None:
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
    metrics.record_job_finished(JOB_KIND, outcome, reason, seconds, media)


def fail_exhausted(ctx: PipelineContext, job_id: str, message: str) -> None:
    """Called when retries of a transient error are exhausted."""
    with ctx.catalog.session() as s:
        job = s.get(Job, job_id)
        asset_id = job.asset_id if job else None
    if asset_id:
        _fail(ctx, job_id, asset_id, message, "retries_exhausted")
        metrics.record_failure(JOB_KIND, "retries_exhausted")


def _claim(ctx: PipelineContext, job_id: str) -> tuple[str, str, int] | None:
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
        job.state, job.attempts, job.started_at, job.heartbeat_at = JobState.RUNNING, job.attempts + 1, now, now
        job.worker = worker_id()
        job.deadline_at = now + timedelta(seconds=job_deadline_seconds(asset.duration or 0))
        job.error = job.error_reason = None
        asset.state, asset.progress, asset.error = AssetState.PROCESSING, 0.0, None
        return asset.id, asset.staging_key, job.attempts


def _fail(ctx: PipelineContext, job_id: str, asset_id: str, message: str, reason: str) -> None:
    log.warning("job %s failed (%s): %s", job_id, reason, message)
    with ctx.catalog.session() as s:
        job = s.get(Job, job_id)
        if job is not None:
            job.state, job.error, job.error_reason, job.finished_at = JobState.FAILED, message, reason, utcnow()
        asset = s.get(Asset, asset_id)
        if asset is not None and asset.state != AssetState.DELETED:
            asset.state, asset.error, asset.speed, asset.eta_seconds = AssetState.FAILED, message, None, None
            outbox.record_asset(s, asset, events.ASSET_FAILED)


def _is_cancelled(ctx: PipelineContext, asset_id: str) -> bool:
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        return asset is None or asset.state == AssetState.DELETED


def _limits(settings: TranscoderSettings) -> ProbeLimits:
    return ProbeLimits(
        max_width=settings.max_width,
        max_height=settings.max_height,
        max_duration_seconds=settings.max_duration_seconds,
        max_frame_rate=settings.max_frame_rate,
    )


def make_poster(source: str, out: Path, duration: float, ffmpeg: str) -> None:
    """The poster frame (one second in, or the middle of a shorter source), 640 wide."""
    run_ffmpeg(commands.poster(source, out / POSTER_NAME, min(1.0, duration / 2), 640, ffmpeg), timeout=120)


def _transcode(ctx: PipelineContext, job_id: str, asset_id: str, staging_key: str, work: Path, attempt: int) -> None:
    local = ctx.store.local_path(ctx.staging, staging_key)
    # Without a local file the probe reads by byte ranges, and the encode streams the original on a
    # first attempt (transcoder.source); a split job's join never reads it (the parts made it all).
    probed = local if local is not None else cast(BinaryIO, ObjectReader(ctx.store, ctx.staging, staging_key))
    info = probe_source(probed, _limits(ctx.settings))
    display_w, display_h = info.video.display_size
    ladder = plan_ladder(display_w, display_h, info.video.frame_rate, has_audio=info.audio is not None)
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        if asset is not None:
            asset.probe, asset.duration = info.as_dict(), info.duration
            asset.width, asset.height = display_w, display_h
        job = s.get(Job, job_id)
        if job is not None:
            job.deadline_at = utcnow() + timedelta(seconds=job_deadline_seconds(info.duration))

    out = work / "out"
    previews = plan_previews(info.duration, display_w, display_h)
    plan = commands.EncodePlan(
        source="",  # known once the split decision is made
        out_dir=out,
        ladder=ladder,
        segment_seconds=ctx.settings.segment_seconds,
        interlaced=info.video.interlaced,
        preset=ctx.settings.x264_preset,
        previews=previews,
    )
    for directory in commands.output_dirs(plan):
        directory.mkdir(parents=True)
    split = ctx.splitter.encode(ctx, job_id, asset_id, info, ladder, out) if ctx.splitter else SplitOutcome.WHOLE
    if split is SplitOutcome.WAITING:
        return
    streamed = False
    if split is SplitOutcome.JOINED:
        # The parts made the ladder, the previews and the poster: nothing is left to encode or to
        # publish early, nothing to read from the original.
        plan = replace(plan, ladder=Ladder((), ladder.frame_rate, None), previews=None)
    else:
        source, streamed = original_for_ffmpeg(
            ctx.store,
            ctx.staging,
            staging_key,
            work,
            stream=attempt <= 1,
            deadline_seconds=job_deadline_seconds(info.duration),
        )
        plan = replace(plan, source=source)
    ffmpeg = ctx.settings.ffmpeg_path()
    reporter = _ProgressReporter(ctx, job_id, asset_id)
    publisher = _progressive(ctx, job_id, asset_id, out, plan.ladder)
    try:
        with publisher:
            if split is not SplitOutcome.JOINED:
                run_ffmpeg(
                    commands.encode_ladder(plan, ffmpeg),
                    duration=info.duration,
                    timeout=job_deadline_seconds(info.duration),
                    on_progress=reporter,
                    should_stop=lambda: _is_cancelled(ctx, asset_id),
                )
        if plan.previews is not None:
            run_ffmpeg(commands.finish_previews(plan.previews, plan.source, out, plan.interlaced, ffmpeg), timeout=300)
        if not (out / POSTER_NAME).is_file():  # a split job's whole part brings its own
            deadline = job_deadline_seconds(info.duration)
            source = (
                plan.source
                or original_for_ffmpeg(
                    ctx.store, ctx.staging, staging_key, work, stream=False, deadline_seconds=deadline
                )[0]
            )
            make_poster(source, out, info.duration, ffmpeg)
        videos, audios = _read_outputs(out, ladder)
        _publish(ctx, job_id, asset_id, out, videos, audios, info, previews, skip=publisher.uploaded)
        publisher.finish([*videos, *audios])
        if _is_cancelled(ctx, asset_id):
            raise EncodeFailed("the asset was deleted while encoding", reason=CANCELLED)
    except Exception as exc:
        # A job that does not finish leaves nothing behind, its early segments and master included.
        if publisher.playable:
            forget_playable(ctx.catalog, asset_id)
        publisher.withdraw()
        if streamed and isinstance(exc, EncodeFailed):
            raise retry_with_download(exc) from exc
        raise


def _read_outputs(out: Path, ladder: Ladder) -> tuple[list[Track], list[Track]]:
    videos = [read_track(out / rung.name, rung=rung) for rung in ladder.rungs]
    audios = [read_track(out / commands.AUDIO_NAME, rung=None)] if ladder.audio_bitrate is not None else []
    return videos, audios


def _publish(
    ctx: PipelineContext,
    job_id: str,
    asset_id: str,
    out: Path,
    videos: list[Track],
    audios: list[Track],
    info: MediaInfo,
    previews: Previews,
    *,
    skip: set[str] | frozenset[str] = frozenset(),
) -> None:
    media_texts = {t.playlist_uri: hls.render_media(t) for t in [*videos, *audios]}
    iframe_texts = {t.iframe_playlist_uri: hls.render_iframes(t) for t in videos if t.has_iframe_ranges}
    master = hls.render_master(videos, audios)
    mpd = dash.render_mpd(videos, audios, duration=max(t.duration for t in videos))
    known = {f"{t.name}/{u}" for t in [*videos, *audios] for u in [t.init_uri, *(s.uri for s in t.segments)]}
    known |= set(media_texts) | set(iframe_texts)
    validate.validate_package(
        master, {**media_texts, **iframe_texts}, tracks=[*videos, *audios], known_uris=known, mpd_text=mpd
    )
    if _is_cancelled(ctx, asset_id):
        return  # deleted while encoding: end quietly, publish nothing

    prefix = f"{asset_id}/"
    _publish_previews(ctx, prefix, out, previews, info.duration)
    # Media first, then media playlists, then the entry points: a player never sees a playlist
    # that names an object not yet stored.
    for track in [*audios, *videos]:
        for name in [track.init_uri, *(s.uri for s in track.segments)]:
            if f"{track.name}/{name}" in skip:
                continue  # uploaded while the encode ran (transcoder.progressive)
            _put_file(ctx, prefix + f"{track.name}/{name}", out / track.name / name)
    _put_file(ctx, prefix + POSTER_NAME, out / POSTER_NAME)
    for uri, text in {**media_texts, **iframe_texts}.items():
        _put_text(ctx, prefix + uri, text)
    _put_text(ctx, prefix + MPD_NAME, mpd)
    _put_text(ctx, prefix + MASTER_NAME, master)

    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        job = s.get(Job, job_id)
        if asset is None:
            return
        asset.renditions.clear()
        s.flush()
        for track in [*videos, *audios]:
            peak, average = _measured(track)
            asset.renditions.append(
                Rendition(
                    name=track.name,
                    kind=track.kind,
                    width=track.width,
                    height=track.height,
                    frame_rate=track.frame_rate,
                    codecs=track.codecs,
                    bandwidth=peak,
                    average_bandwidth=average,
                    playlist_key=prefix + track.playlist_uri,
                    state="ready",
                )
            )
        now = utcnow()
        asset.master_key, asset.dash_key = prefix + MASTER_NAME, prefix + MPD_NAME
        asset.state, asset.progress, asset.eta_seconds, asset.ready_at = AssetState.READY, 1.0, 0.0, now
        if asset.first_playable_at is None and job is not None:
            metrics.record_first_playable(metrics.elapsed_seconds(job.created_at, now))
        if asset.first_playable_at is None:
            outbox.record_asset(s, asset, events.ASSET_PLAYABLE)
        asset.first_playable_at = asset.first_playable_at or now
        outbox.record_asset(s, asset, events.ASSET_READY)
        if job is not None:
            job.state, job.finished_at = JobState.SUCCEEDED, now


def _progressive(ctx: PipelineContext, job_id: str, asset_id: str, out: Path, ladder: Ladder) -> ProgressivePublisher:
    prefix = f"{asset_id}/"
    return ProgressivePublisher(
        out,
        ladder,
        segment_seconds=ctx.settings.segment_seconds,
        put_file=lambda key, path: _put_file(ctx, prefix + key, path),
        put_text=lambda key, text: _put_text(ctx, prefix + key, text),
        delete=lambda key: ctx.store.delete(ctx.media, prefix + key),
        on_playable=lambda: mark_playable(ctx.catalog, job_id, asset_id, prefix + MASTER_NAME),
    )


def _publish_previews(ctx: PipelineContext, prefix: str, out: Path, previews: Previews, duration: float) -> None:
    """Thumbnails, then the sprite, then the WebVTT map that names it."""
    if not (out / STORYBOARD_IMAGE).is_file():
        raise EncodeFailed("ffmpeg wrote no storyboard sprite")
    for path in sorted((out / THUMBNAIL_DIR).glob("*.jpg")):
        _put_file(ctx, f"{prefix}{THUMBNAIL_DIR}/{path.name}", path)
    _put_file(ctx, prefix + STORYBOARD_IMAGE, out / STORYBOARD_IMAGE)
    _put_text(ctx, prefix + STORYBOARD_VTT, render_vtt(previews.storyboard, duration))


def _measured(track: Track) -> tuple[int, int]:
    return bandwidth.measure(track.segments, bandwidth.target_duration(track.segments))


def _put_file(ctx: PipelineContext, key: str, path: Path) -> None:
    ctx.store.put_file(ctx.media, key, path, content_type_for(key))


def _put_text(ctx: PipelineContext, key: str, text: str) -> None:
    ctx.store.put_bytes(ctx.media, key, text.encode(), content_type_for(key))


class _ProgressReporter:
    """Writes progress, speed and ETA to the catalog, at most once per PROGRESS_INTERVAL."""

    def __init__(self, ctx: PipelineContext, job_id: str, asset_id: str) -> None:
        self.ctx, self.job_id, self.asset_id = ctx, job_id, asset_id
        self.last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL and not progress.done:
            return
        self.last = now
        with self.ctx.catalog.session() as s:
            asset = s.get(Asset, self.asset_id)
            if asset is not None and asset.state == AssetState.PROCESSING:
                # The encode is most of the job; keep the last 5% for read-back and publishing.
                asset.progress = round(progress.fraction * 0.95, 4)
                asset.speed, asset.eta_seconds = progress.speed, progress.eta_seconds
            job = s.get(Job, self.job_id)
            if job is not None:
                job.heartbeat_at = utcnow()
