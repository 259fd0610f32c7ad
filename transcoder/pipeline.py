"""The transcode job as plain steps: probe, plan, encode, read back, render, validate, publish.

Celery tasks (transcoder.worker.tasks) only call `run_job`; everything here can run in a test without a
broker. The catalog rows of a job (claim, failure, how it ended) are transcoder.worker.bookkeeping's.
Idempotent by construction: output keys are deterministic per attempt (transcoder.worker.attempt), the
work happens in a scratch directory, every output is verified before anything is published
(transcoder.package.verify), and publishing (transcoder.package.publish) puts segments before the playlists that
name them, the DASH manifest and the multivariant playlist last, and the fenced catalog update that
makes the asset ready after them all.
"""

from __future__ import annotations

import logging
import shutil
import time
from dataclasses import asdict, dataclass, replace
from datetime import timedelta
from enum import Enum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from catalog.models import Asset, AssetState, Job, utcnow
from catalog.session import Catalog, rows_updated
from manifests.errors import ManifestError
from manifests.model import Track
from media.colour import ColourInfo
from media.errors import InvalidMedia
from media.probe import MediaInfo, ProbeLimits
from media.probe_sandbox import probe_stored
from storage.errors import ObjectMissing, StorageError
from storage.objects import ObjectStore
from transcoder import metrics
from transcoder.encode import audio, audio_measure, commands, fitted
from transcoder.encode.audio import plan_audio, with_loudnorm
from transcoder.encode.commands import WAVEFORM_NAME
from transcoder.encode.hull import HullPolicy, Measurement
from transcoder.encode.ladder import Ladder, add_av1_rungs, plan_audio_only, plan_ladder
from transcoder.encode.loudness import Loudness, LoudnessTarget, load_measured
from transcoder.encode.previews import (
    STORYBOARD_IMAGE,
    THUMBNAIL_DIR,
    plan_previews,
    poster_time,
)
from transcoder.encode.progress import Progress
from transcoder.encode.runner import CANCELLED, run_ffmpeg
from transcoder.encode.source import original_for_ffmpeg, retry_with_download
from transcoder.errors import EncodeFailed, Superseded, TransientError
from transcoder.package.downloads import build_downloads
from transcoder.package.outputs import read_track
from transcoder.package.progressive import forget_playable
from transcoder.package.publish import MASTER_NAME, POSTER_NAME, progressive_publisher, publish_package
from transcoder.package.verify import verify_outputs
from transcoder.settings import TranscoderSettings
from transcoder.text_tracks import extract_source_tracks, publish_tracks
from transcoder.worker.attempt import Attempt, remove_prefix
from transcoder.worker.bookkeeping import (
    JOB_KIND,
    claim,
    end_superseded,
    fail,
    is_cancelled,
    job_deadline_seconds,
    record_finished,
    remove_leftovers,
)
from transcoder.worker.sweeper import Heartbeat, current_attempt, release

log = logging.getLogger(__name__)

# Catalog progress writes at most this often.
PROGRESS_INTERVAL = 1.0


class SplitOutcome(Enum):
    WHOLE = "whole"  # not split: one ffmpeg run encodes the ladder
    WAITING = "waiting"  # parts are encoding on other workers; the last to finish queues the job again
    JOINED = "joined"  # the parts are joined into the output directory, as one run would write it


# What a join leaves beside the output directory: the source's audio loudness the whole part measured
# (transcoder.encode.loudness.dump_measured), recorded on the asset as a single job records its own.
JOINED_LOUDNESS_NAME = "input-loudness.json"


class Splitter(Protocol):
    """The optional split-and-stitch slot (transcoder.split.splitter.SplitAndStitch)."""

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


def run_job(ctx: PipelineContext, job_id: str) -> None:
    """Run one transcode job to a terminal state. Raises TransientError when a retry could help."""
    if ctx.splitter is not None and ctx.splitter.run_part(ctx, job_id):
        return  # a part of a split job (queued again by a sweeper, say), not a whole transcode
    claimed = claim(ctx, job_id)
    if claimed is None:
        remove_leftovers(ctx, job_id)
        return
    asset_id, staging_key, number = claimed
    metrics.record_job_started(JOB_KIND)
    started = time.monotonic()
    # Scratch per attempt: a superseded attempt still running here never shares files with its successor.
    work = ctx.settings.work_dir / f"{job_id}-{number}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    heartbeat = Heartbeat(ctx.catalog, job_id, ctx.settings.heartbeat_seconds, attempt=number).start()
    attempt = Attempt(job_id, asset_id, number, heartbeat.lost)
    superseded = False
    try:
        _transcode(ctx, attempt, staging_key, work)
    except Superseded:
        superseded = end_superseded(ctx, attempt)
    except (InvalidMedia, EncodeFailed) as exc:
        fail(ctx, attempt, exc.message, exc.reason)
    except ManifestError as exc:
        fail(ctx, attempt, f"output failed validation: {exc}", "invalid_output")
    except ObjectMissing as exc:
        fail(ctx, attempt, f"the original is gone from storage: {exc}", "original_missing")
    except StorageError as exc:
        if exc.retryable:
            raise TransientError(str(exc)) from exc
        fail(ctx, attempt, f"storage error: {exc}", "storage")
    except OperationalError as exc:
        raise TransientError(f"catalog unavailable: {exc.orig}") from exc
    except TransientError:
        raise
    except Exception as exc:  # a bug must not leave the job "running" forever
        log.exception("job %s crashed", job_id)
        fail(ctx, attempt, f"internal error: {type(exc).__name__}: {exc}", "internal")
    finally:
        heartbeat.stop()
        release(ctx.catalog, job_id, number)
        shutil.rmtree(work, ignore_errors=True)
        record_finished(ctx, job_id, time.monotonic() - started, superseded=superseded)


def _limits(settings: TranscoderSettings) -> ProbeLimits:
    return ProbeLimits(
        max_width=settings.max_width,
        max_height=settings.max_height,
        max_duration_seconds=settings.max_duration_seconds,
        max_frame_rate=settings.max_frame_rate,
    )


def make_poster(
    source: str,
    out: Path,
    duration: float,
    ffmpeg: str,
    last_frame: float | None = None,
    colour: ColourInfo | None = None,
) -> None:
    """The poster frame (one second in, or the middle of a shorter source, on a frame), 640 wide."""
    argv = commands.poster(source, out / POSTER_NAME, poster_time(duration, last_frame), 640, ffmpeg, colour)
    run_ffmpeg(argv, timeout=120)


def make_waveform(source: str, out: Path, audio_stream: int, ffmpeg: str) -> None:
    """The waveform of an audio-only asset's default track (commands.waveform), its picture for players
    and lists."""
    run_ffmpeg(commands.waveform(source, out / WAVEFORM_NAME, audio_stream, ffmpeg), timeout=120)


def _waveform_stream(ladder: Ladder) -> int:
    """The source stream players start with: the default rendition's."""
    renditions = ladder.audio_renditions()
    return next((a.source_index for a in renditions if a.default), renditions[0].source_index if renditions else 0)


def _plan_ladder(
    ctx: PipelineContext, attempt: Attempt, staging_key: str, info: MediaInfo, work: Path
) -> tuple[Ladder, dict[str, Any] | None]:
    """The ladder of this source, and what the content-aware analysis measured (None: the fixed ladder).

    Measurements recorded by an earlier attempt (or before a split job's parts) are reused: the rungs are
    a pure function of them, so every part and the join agree on the ladder.
    """
    settings = ctx.settings
    if info.video is None:  # audio only: no picture to fit rungs to (transcoder.encode.ladder.plan_audio_only)
        return plan_audio_only(info.audio_tracks), None
    display_w, display_h = info.video.display_size
    has_audio, audio_stream = info.audio is not None, info.audio.index if info.audio else 0
    fixed = plan_ladder(display_w, display_h, info.video.frame_rate, has_audio=has_audio, audio_stream=audio_stream)
    if settings.ladder != "content_aware" or info.duration < settings.ladder_min_duration_seconds:
        return fixed, None
    policy = HullPolicy(
        targets=settings.ladder_vmaf_targets,
        min_step=settings.ladder_min_step,
        source_margin=settings.ladder_source_margin,
    )
    with ctx.catalog.session() as s:
        asset = s.get(Asset, attempt.asset_id)
        recorded = asset.ladder_analysis if asset is not None else None
    try:
        if recorded:
            measurements = [Measurement(**m) for m in recorded["measurements"]]
            ladder = fitted.ladder_from_measurements(
                measurements, info, source_bytes=info.size, policy=policy, fixed=fixed, preset=settings.x264_preset
            )
            return ladder, recorded
        source, _streamed = original_for_ffmpeg(
            ctx.store,
            ctx.staging,
            staging_key,
            work,
            stream=attempt.number <= 1,
            deadline_seconds=job_deadline_seconds(info.duration),
        )
        started = time.monotonic()
        measurements = fitted.measure_source(
            source, info, work / "analysis", settings.ffmpeg_path(), preset=settings.x264_preset
        )
        ladder = fitted.ladder_from_measurements(
            measurements, info, source_bytes=info.size, policy=policy, fixed=fixed, preset=settings.x264_preset
        )
    except EncodeFailed as exc:
        if exc.reason == CANCELLED:
            raise
        log.warning("job %s: ladder analysis failed (%s); the fixed ladder is used", attempt.job_id, exc.message)
        return fixed, None
    finally:
        shutil.rmtree(work / "analysis", ignore_errors=True)
    metrics.record_ladder_analysis(time.monotonic() - started, len(ladder.rungs))
    return ladder, {"measurements": [asdict(m) for m in measurements]}


def _transcode(ctx: PipelineContext, attempt: Attempt, staging_key: str, work: Path) -> None:
    job_id, asset_id = attempt.job_id, attempt.asset_id
    # In a sandboxed child, by path or presigned URL (a copy it had to download stays in `work` for the
    # encode); the encode streams the original on a first attempt (transcoder.encode.source); a split job's
    # join never reads it (the parts made it all).
    limits = _limits(ctx.settings)
    info = probe_stored(ctx.store, ctx.staging, staging_key, ctx.settings.probe, limits, scratch=work)
    video = info.video  # None: an audio-only source (a song, a podcast)
    display_w, display_h = video.display_size if video is not None else (None, None)
    normalise = ctx.settings.loudnorm
    # The claim's deadline was set before the duration was known (its minimum, 10 minutes): it is moved
    # to the source's own before any long step, the content-aware analysis included, so an analysis of a
    # long source on a busy machine is not taken for a stuck attempt.
    with ctx.catalog.session() as s:
        if rows_updated(
            s,
            update(Job)
            .where(current_attempt(job_id, attempt.number))
            .values(deadline_at=utcnow() + timedelta(seconds=job_deadline_seconds(info.duration))),
        ):
            asset = s.get(Asset, asset_id)
            if asset is not None:
                asset.probe, asset.duration = info.as_dict(), info.duration
                normalise = normalise if asset.loudnorm is None else asset.loudnorm
                asset.width, asset.height = display_w, display_h
    ladder, analysis = _plan_ladder(ctx, attempt, staging_key, info, work)
    if analysis is not None and attempt.holds(ctx.catalog):
        with ctx.catalog.session() as s:
            asset = s.get(Asset, asset_id)
            if asset is not None:
                asset.ladder_analysis = analysis
    if ctx.settings.av1 and video is not None:
        ladder = add_av1_rungs(ladder)
    if info.audio is not None and video is not None:
        ladder = replace(ladder, audio=plan_audio(info.audio_tracks))

    out = work / "out"
    previews = None
    if video is not None and display_w and display_h:
        previews = plan_previews(info.duration, display_w, display_h, video.last_frame_time)
    plan = commands.EncodePlan(
        source="",  # known once the split decision is made
        out_dir=out,
        ladder=ladder,
        segment_seconds=ctx.settings.segment_seconds,
        interlaced=video is not None and video.interlaced,
        preset=ctx.settings.x264_preset,
        av1_preset=ctx.settings.av1_preset,
        previews=previews,
        pad_video=commands.video_padding(info.duration, video.last_frame_time, ladder.frame_rate) if video else 0.0,
        colour=video.colour if video is not None else None,
        audio_duration=info.duration,
    )
    for directory in commands.output_dirs(plan):
        directory.mkdir(parents=True)
    split = ctx.splitter.encode(ctx, job_id, asset_id, info, ladder, out) if ctx.splitter else SplitOutcome.WHOLE
    if split is SplitOutcome.WAITING:
        return
    streamed = False
    measured: dict[str, Loudness] = {}
    if split is SplitOutcome.JOINED:
        # The parts made the ladder, the previews and the poster: nothing is left to encode or to
        # publish early, nothing to read from the original.
        plan = replace(plan, ladder=Ladder((), ladder.frame_rate, None), previews=None)
        if (work / JOINED_LOUDNESS_NAME).is_file():
            measured = load_measured((work / JOINED_LOUDNESS_NAME).read_bytes())
            if normalise:  # as the whole part decided: the asset then records its tracks as normalised
                ladder = replace(ladder, audio=with_loudnorm(ladder.audio, measured, loudness_target(ctx.settings)))
    else:
        source, streamed = original_for_ffmpeg(
            ctx.store,
            ctx.staging,
            staging_key,
            work,
            stream=attempt.number <= 1,
            deadline_seconds=job_deadline_seconds(info.duration),
        )
        if ladder.audio:
            # loudnorm's first pass (also the input loudness recorded on the asset), every audio stream in
            # one read of the source; a track that does not decode is left out, not the whole asset.
            try:
                measured, ladder = measure_audio(ctx, source, ladder, info.duration)
            except EncodeFailed as exc:
                if streamed and not attempt.lost.is_set():
                    raise retry_with_download(exc) from exc  # as for the encode: the URL may be at fault
                raise
            if normalise:
                ladder = replace(ladder, audio=with_loudnorm(ladder.audio, measured, loudness_target(ctx.settings)))
        plan = replace(plan, source=source, ladder=ladder)
    ffmpeg = ctx.settings.ffmpeg_path()
    reporter = _ProgressReporter(ctx, attempt)
    publisher = progressive_publisher(ctx, attempt, out, plan.ladder)
    try:
        with publisher:
            if split is not SplitOutcome.JOINED:
                _run_fenced(
                    attempt,
                    commands.encode_ladder(plan, ffmpeg),
                    duration=info.duration,
                    timeout=job_deadline_seconds(info.duration),
                    on_progress=reporter,
                    should_stop=lambda: attempt.lost.is_set() or is_cancelled(ctx, asset_id),
                )
        if plan.previews is not None:
            _run_fenced(
                attempt,
                commands.finish_previews(plan.previews, plan.source, out, plan.interlaced, ffmpeg, plan.colour),
                timeout=300,
            )
        deadline = job_deadline_seconds(info.duration)

        def original() -> str:  # a split job's join has no plan.source: the original, downloaded once
            return original_for_ffmpeg(
                ctx.store, ctx.staging, staging_key, work, stream=False, deadline_seconds=deadline
            )[0]

        if video is None:  # a picture of the sound instead of a poster
            make_waveform(plan.source or original(), out, _waveform_stream(ladder), ffmpeg)
        elif not (out / POSTER_NAME).is_file():  # a split job's whole part brings its own
            make_poster(plan.source or original(), out, info.duration, ffmpeg, video.last_frame_time, video.colour)
        if info.text_streams or info.closed_captions:  # the source's become caption tracks (transcoder.text_tracks)
            extract_source_tracks(ctx, asset_id, info, plan.source or original(), work, original)
        videos, audios = _read_outputs(out, ladder)
        # Nothing is published that was not checked: a failed check fails the attempt.
        verify_outputs(
            out,
            videos,
            audios,
            ladder,
            duration=info.duration,
            segment_seconds=ctx.settings.segment_seconds,
            extra_files=[WAVEFORM_NAME] if video is None else [POSTER_NAME, *_preview_files(out)],
        )
        downloads = build_downloads(ctx, asset_id, out, videos, audios)  # remuxed from what was verified
        attempt.check(ctx.catalog)  # superseded while encoding: stop here, publish nothing
        _record_audio(ctx, attempt, out, ladder, audios, measured, info.duration)
        if not is_cancelled(ctx, asset_id):  # deleted while encoding: publish nothing (raised below)
            quality = {r.name: (r.target_vmaf, r.sampled_vmaf) for r in ladder.rungs}
            publish_package(
                ctx,
                attempt,
                out,
                videos,
                audios,
                info,
                previews,
                skip=publisher.uploaded,
                downloads=downloads,
                quality=quality,
            )
        publisher.finish([*videos, *audios])
        if is_cancelled(ctx, asset_id):
            raise EncodeFailed("the asset was deleted while encoding", reason=CANCELLED)
    except Exception as exc:
        # A job that does not finish leaves nothing behind, its early segments and master included;
        # everything it wrote is under its own prefix, so this never touches another attempt's objects.
        if publisher.playable:
            forget_playable(ctx.catalog, asset_id, attempt.prefix + MASTER_NAME)
        publisher.withdraw()
        remove_prefix(ctx.store, ctx.media, attempt.prefix)
        if streamed and isinstance(exc, EncodeFailed) and not attempt.lost.is_set():
            raise retry_with_download(exc) from exc
        raise
    publish_tracks(ctx, asset_id, videos or audios)  # captions: uploaded ones and the source's, now the ladder is ready
    # The asset now plays this attempt's objects: whatever earlier attempts left is unreachable.
    remove_prefix(ctx.store, ctx.media, f"{asset_id}/", keep=attempt.prefix)


def loudness_target(settings: TranscoderSettings) -> LoudnessTarget:
    return LoudnessTarget(settings.loudness_integrated, settings.loudness_true_peak, settings.loudness_lra)


def measure_audio(
    ctx: PipelineContext, source: str, ladder: Ladder, duration: float
) -> tuple[dict[str, Loudness], Ladder]:
    """Each audio rendition's source loudness, and the ladder without the tracks that do not decode."""
    # Renditions of one stream at one channel count (an audio-only asset's 64k and 128k) share a measurement.
    streams = list(dict.fromkeys((a.source_index, a.channels) for a in ladder.audio))
    values = audio_measure.measure_source(source, streams, ctx.settings.ffmpeg_path(), duration=duration)
    by_stream = dict(zip(streams, values, strict=True))
    measured = {a.name: value for a in ladder.audio if (value := by_stream[(a.source_index, a.channels)]) is not None}
    broken = sorted({a.source_index for a in ladder.audio if a.name not in measured})
    if broken:
        log.warning("audio track(s) %s of the source do not decode: left out", [i + 1 for i in broken])
    return measured, replace(ladder, audio=audio.without_tracks(ladder.audio, broken))


def _record_audio(
    ctx: PipelineContext,
    attempt: Attempt,
    out: Path,
    ladder: Ladder,
    audios: list[Track],
    measured: dict[str, Loudness],
    duration: float,
) -> None:
    """Record the tracks on the asset with the loudness of every written audio rendition: known from the
    source's measurement where a linear gain (or nothing) was applied, measured where loudnorm's dynamic
    mode ran (one ffmpeg run over those renditions only, none when there are none)."""
    renditions = ladder.audio_renditions()
    by_name = {t.name: t for t in audios}
    output = [audio.known_output(r, measured) for r in renditions]
    unknown = [r for r, value in zip(renditions, output, strict=True) if value is None]
    found = iter(
        audio_measure.measure_renditions(
            [out / r.name for r in unknown],
            [[s.uri for s in by_name[r.name].segments] for r in unknown],
            out.parent / "loudness",
            ctx.settings.ffmpeg_path(),
            duration=duration,
        )
    )
    output = [next(found) if value is None else value for value in output]
    records = audio.track_records(renditions, measured, output)
    with ctx.catalog.session() as s:
        fence = update(Job).where(current_attempt(attempt.job_id, attempt.number)).values(heartbeat_at=utcnow())
        if rows_updated(s, fence):
            asset = s.get(Asset, attempt.asset_id)
            if asset is not None:
                asset.audio_tracks = records


def _run_fenced(attempt: Attempt, argv: list[str], **options: Any) -> None:
    """run_ffmpeg, with a stop on a lost heartbeat reported as Superseded rather than a failure."""
    try:
        run_ffmpeg(argv, **options)
    except EncodeFailed as exc:
        if attempt.lost.is_set():
            raise Superseded(f"attempt {attempt.number} of job {attempt.job_id} lost its job: {exc}") from exc
        raise


def _preview_files(out: Path) -> list[str]:
    thumbnails = sorted((out / THUMBNAIL_DIR).glob("*.jpg")) if (out / THUMBNAIL_DIR).is_dir() else []
    return [STORYBOARD_IMAGE, *(f"{THUMBNAIL_DIR}/{p.name}" for p in thumbnails)]


def _read_outputs(out: Path, ladder: Ladder) -> tuple[list[Track], list[Track]]:
    videos = [read_track(out / rung.name, rung=rung) for rung in ladder.rungs]
    audios = [read_track(out / a.name, rung=None, audio=a) for a in ladder.audio_renditions()]
    return videos, audios


class _ProgressReporter:
    """Writes progress, speed and ETA to the catalog, at most once per PROGRESS_INTERVAL."""

    def __init__(self, ctx: PipelineContext, attempt: Attempt) -> None:
        self.ctx, self.attempt = ctx, attempt
        self.last = 0.0

    def __call__(self, progress: Progress) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_INTERVAL and not progress.done:
            return
        self.last = now
        attempt = self.attempt
        with self.ctx.catalog.session() as s:
            held = rows_updated(
                s,
                update(Job).where(current_attempt(attempt.job_id, attempt.number)).values(heartbeat_at=utcnow()),
            )
            if not held:
                attempt.lost.set()  # superseded: the encode stops at its next progress line
                return
            asset = s.get(Asset, attempt.asset_id)
            if asset is not None and asset.state == AssetState.PROCESSING:
                # The encode is most of the job; keep the last 5% for read-back and publishing.
                asset.progress = round(progress.fraction * 0.95, 4)
                asset.speed, asset.eta_seconds = progress.speed, progress.eta_seconds
