"""Split-and-stitch: a long source encoded as parts by several workers, then joined by its own job.

The flow, with the catalog as the only coordinator (no result backend, no chord, never `.get()`):

1. The job (pipeline.run_job) probes and plans as usual; `SplitAndStitch.encode` then records one
   part row per chunk plus the whole-source part, which encodes the audio and makes the thumbnails
   and storyboard (kind "transcode_part", PartSpec as JSON), marks the job WAITING, commits, and
   only then queues the parts.
2. A part (transcoder.split.parts, on any worker) encodes its range of every rung (or the audio and
   previews) into a scratch directory and uploads it under a deterministic staging prefix, listing
   file names in a `done.json` written last; then it marks itself SUCCEEDED. In the same
   transaction, holding the parent's row, the part that finds no sibling left unfinished puts the
   job back to QUEUED, and `run_part` queues it again.
3. The job runs again: every part succeeded, so `encode` joins them (transcoder.split.stitch) into the
   directory layout one ffmpeg run writes (previews included: the whole part made them), and the
   pipeline, with nothing left to encode, reads back, validates and publishes it.

Everything may run twice: an attempt at a part writes under its own prefix (fenced by the part
row's attempt number, see transcoder.split.parts) and the join reads the attempt the row recorded,
the WAITING -> QUEUED flip happens once, a job found with unfinished parts queues again those not
visibly in progress, and parts whose files went missing are encoded again.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Protocol

from sqlalchemy import select

from catalog.models import Job, JobState
from media.probe import MediaInfo
from storage.errors import ObjectMissing
from transcoder.encode import commands
from transcoder.encode.ladder import Ladder
from transcoder.errors import TransientError
from transcoder.package import fmp4
from transcoder.pipeline import JOINED_LOUDNESS_NAME, PipelineContext, SplitOutcome
from transcoder.split import chunks, parts, stitch

log = logging.getLogger(__name__)


class PartQueue(Protocol):
    """How parts and the joining job reach workers (Celery in production, a list in tests)."""

    def enqueue_part(self, job_id: str) -> None:
        """Queue one part for any worker. Raises on broker trouble (the caller retries)."""

    def enqueue_job(self, job_id: str) -> None:
        """Queue the parent job again, to join its finished parts."""


class SplitAndStitch:
    """The pipeline's split slot (pipeline.Splitter)."""

    def __init__(self, queue: PartQueue) -> None:
        self.queue = queue

    def encode(
        self, ctx: PipelineContext, job_id: str, asset_id: str, info: MediaInfo, ladder: Ladder, out: Path
    ) -> SplitOutcome:
        """Dispatch the parts of a long source, or join them once all have finished."""
        settings = ctx.settings
        if info.video is None:
            # Audio only: encoding it is quicker than real time many times over (no picture), and the
            # parts' split exists to spread x264's work; one run makes every rendition.
            return SplitOutcome.WHOLE
        if commands.video_padding(info.duration, info.video.last_frame_time, ladder.frame_rate) > 0:
            # The video stops early (a cover image over a song): chunks past its end would have no
            # frame to encode. One run holds the last frame to the end instead.
            return SplitOutcome.WHOLE
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
            colour=info.video.colour,
            av1_preset=settings.av1_preset,
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
        if not parts.is_part(ctx, job_id):
            return False
        parent_id = parts.run(ctx, job_id, worker)
        if parent_id is not None:
            try:
                self.queue.enqueue_job(parent_id)
            except Exception as exc:  # broker trouble: undo the flip, so that this part's retry queues the join
                parts.set_parent_state(ctx, parent_id, JobState.QUEUED, JobState.WAITING)
                raise TransientError(f"could not queue the join: {exc}") from exc
        return True

    def fail_exhausted(self, ctx: PipelineContext, job_id: str, message: str) -> None:
        """A part whose transient errors outlasted its retries fails its job."""
        parts.fail_exhausted(ctx, job_id, message)


def _dispatch_state(
    ctx: PipelineContext, job_id: str, asset_id: str, specs: tuple[chunks.PartSpec, ...], *, redo: bool = False
) -> tuple[list[tuple[chunks.PartSpec, int]] | None, list[str]]:
    """([(recorded spec, the attempt that finished it)], []) when every part has finished; else
    (None, part ids to queue).

    Creates the part rows on the first call and marks the job WAITING before anything is queued,
    so that no part can finish before its parent is ready to be woken.
    """
    with ctx.catalog.session() as s:
        parts.lock_parent(s, job_id)
        rows = list(s.scalars(select(Job).where(Job.parent_id == job_id).order_by(Job.part)))
        if not rows:
            for index, spec in enumerate(specs):
                row = Job(asset_id=asset_id, kind=parts.PART_KIND, parent_id=job_id, part=index, params=spec.as_json())
                s.add(row)
                rows.append(row)
            s.flush()
        elif not redo and all(row.state == JobState.SUCCEEDED for row in rows):
            return [(chunks.PartSpec.from_json(row.params or {}), row.attempts) for row in rows], []
        to_queue = []
        for row in rows:
            in_progress = parts.held(row, ctx.settings.heartbeat_timeout_seconds)
            if redo or (row.state != JobState.SUCCEEDED and not in_progress):
                row.state, row.error, row.error_reason, row.finished_at = JobState.QUEUED, None, None, None
                to_queue.append(row.id)
        parent = s.get(Job, job_id)
        if parent is not None:
            parent.state = JobState.WAITING
        return None, to_queue


def _join(ctx: PipelineContext, job_id: str, finished: list[tuple[chunks.PartSpec, int]], out: Path) -> None:
    """Download the parts and write the joined renditions into `out` (init + seg_NNNNN + index.m3u8).

    Each part is read from the prefix of the attempt its row recorded as done: never a mix of two
    attempts, whatever a stale one left or still writes beside it."""
    part_prefixes = {spec.name: chunks.part_prefix(job_id, spec.name, attempt) for spec, attempt in finished}
    specs = [spec for spec, _ in finished]
    video = [(spec, spec.chunk) for spec in specs if spec.chunk is not None]
    whole = [spec for spec in specs if spec.chunk is None]
    listings = {spec.name: _listing(ctx, part_prefixes[spec.name]) for spec in specs}
    first = video[0][0]
    for rung in first.ladder.rungs:
        prefixes = [part_prefixes[spec.name] + rung.name + "/" for spec, _ in video]
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
        prefix = part_prefixes[spec.name]
        listing = listings[spec.name]
        for audio in spec.ladder.audio_renditions():
            if audio.name not in listing:
                continue
            dest = out / audio.name
            dest.mkdir(parents=True, exist_ok=True)
            segments = listing[audio.name]
            for name in [commands.INIT_NAME, *segments]:
                ctx.store.download(ctx.staging, f"{prefix}{audio.name}/{name}", dest / name)
            (dest / commands.PLAYLIST_NAME).write_text(stitch.listing_playlist(segments, spec.segment_seconds))
        for file in listing.get(parts.PREVIEWS, []):
            (out / file).parent.mkdir(parents=True, exist_ok=True)
            ctx.store.download(ctx.staging, prefix + file, out / file)
        try:
            measured = ctx.store.get_bytes(ctx.staging, prefix + parts.LOUDNESS_NAME)
        except ObjectMissing:  # no audio, or a part written before parts recorded it: nothing to record
            continue
        (out.parent / JOINED_LOUDNESS_NAME).write_bytes(measured)
    # The joined copy is local now. Should the publish that follows fail and the job run again, the
    # missing part outputs send it back to encoding them (see SplitAndStitch.encode).
    _remove_parts(ctx, job_id)


def _listing(ctx: PipelineContext, prefix: str) -> dict[str, list[str]]:
    data = json.loads(ctx.store.get_bytes(ctx.staging, prefix + parts.DONE_NAME))
    return {str(k): [str(n) for n in v] for k, v in data.items()}


def _remove_parts(ctx: PipelineContext, job_id: str) -> None:
    for obj in list(ctx.store.list(ctx.staging, f"{chunks.PARTS_PREFIX}/{job_id}/")):
        ctx.store.delete(ctx.staging, obj.key)
