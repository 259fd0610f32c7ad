"""The job's caption step: text streams of the source become caption tracks, and every track of the asset
(uploaded before or during the encode, found in the source) is published once the ladder is.

ffmpeg converts each text stream (mov_text, SubRip, ASS/SSA, WebVTT) to WebVTT in one run over the
original; the result goes through the same reader as an upload (captions.cues), so a stream ffmpeg renders
oddly is refused alone with its reason in the log, never published half-read. Publishing is
captions.publish.republish with the video's segment grid.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from captions import library
from captions.cues import parse
from captions.errors import CaptionError
from captions.publish import MediaBucket, grid_of, republish
from captions.tracks import EMBEDDED, MAX_LABEL, canonical_language, track_options
from manifests.errors import ManifestError
from manifests.model import Track
from media.probe import MediaInfo
from media.text_streams import TextStream
from storage.errors import StorageError
from transcoder.encode.commands import REMOTE_INPUT_OPTIONS
from transcoder.encode.runner import run_ffmpeg
from transcoder.errors import EncodeFailed

if TYPE_CHECKING:
    from transcoder.pipeline import PipelineContext

log = logging.getLogger(__name__)

EXTRACT_TIMEOUT_SECONDS = 600


def extraction_argv(source: str, streams: list[TextStream], out_dir: Path, ffmpeg: str) -> list[str]:
    """One ffmpeg run writing every text stream as `<index>.vtt` in out_dir."""
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error"]
    if source.startswith(("http://", "https://")):
        for name, value in REMOTE_INPUT_OPTIONS.items():
            argv += [f"-{name}", str(value)]
    argv += ["-i", source]
    for stream in streams:
        argv += ["-map", f"0:s:{stream.index}", "-c:s", "webvtt", "-f", "webvtt", str(out_dir / f"{stream.index}.vtt")]
    return argv


def extract_source_tracks(ctx: PipelineContext, asset_id: str, info: MediaInfo, source: str, work: Path) -> int:
    """Save the source's text streams as the asset's tracks ("embedded-<index>"); how many were saved."""
    if not info.text_streams:
        return 0
    out = work / "text"
    out.mkdir(exist_ok=True)
    try:
        run_ffmpeg(
            extraction_argv(source, info.text_streams, out, ctx.settings.ffmpeg_path()), timeout=EXTRACT_TIMEOUT_SECONDS
        )
    except EncodeFailed as exc:  # subtitles that do not convert never cost the creator the video
        log.warning("asset %s: text streams not converted: %s", asset_id, exc.message)
        return 0
    saved = 0
    for stream in info.text_streams:
        try:
            language = _language(stream.language)
            cues = parse((out / f"{stream.index}.vtt").read_bytes())
            kind = "captions" if stream.hearing_impaired else "subtitles"
            # A source's title is whatever its muxer wrote: kept as far as a label can carry it.
            title = "".join(c for c in stream.title or "" if c.isprintable() and c != '"').strip()[:MAX_LABEL]
            options = track_options(language, label=title or None, kind=kind, forced=stream.forced)
            library.save(ctx.catalog, asset_id, language, f"{EMBEDDED}-{stream.index}", options, cues)
        except (CaptionError, OSError, library.AssetFailed) as exc:
            log.warning("asset %s: text stream %d (%s) not kept: %s", asset_id, stream.index, stream.codec, exc)
            continue
        except library.AssetGone:
            return saved  # deleted while encoding: the job ends on its own check
        saved += 1
    return saved


def publish_tracks(ctx: PipelineContext, asset_id: str, tracks: list[Track]) -> int:
    """Publish every track of the now ready asset on the grid of its first rendition (the lowest video
    rung; an audio-only asset's first audio rendition); how many are listed.

    A storage failure here does not undo the ready asset: the tracks stay in the catalog and the next
    change through the API publishes them."""
    lowest = tracks[0]
    grid = grid_of([s.duration for s in lowest.segments], lowest.segments[0].start)
    try:
        return republish(ctx.catalog, MediaBucket(ctx.store, ctx.media), asset_id, grid)
    except (StorageError, ManifestError) as exc:
        log.warning("asset %s: caption tracks not published: %s", asset_id, exc)
        return 0


def _language(tag: str) -> str:
    try:
        return canonical_language(tag)  # "eng" -> "en"
    except CaptionError:
        return "und"
