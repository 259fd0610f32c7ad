"""The job's caption step: text streams of the source become caption tracks, and every track of the asset
(uploaded before or during the encode, found in the source) is published once the ladder is.

ffmpeg converts each text stream (mov_text, SubRip, ASS/SSA, WebVTT) to WebVTT in one run over the
original, and CEA-608 captions inside the video (field 1, CC1) in another: its lavfi `movie` source hands
the decoder's captions out as a subtitle stream (`[out0+subcc]`, the only way its command line reads them)
that cc_dec decodes; that run decodes the video, so it runs only when the probe found captions. The result
goes through the same reader as an upload (captions.cues), so a stream ffmpeg renders
oddly is refused alone with its reason in the log, never published half-read. Publishing is
captions.publish.republish with the video's segment grid.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from captions import library
from captions.cues import parse
from captions.errors import CaptionError
from captions.publish import MediaBucket, grid_of, republish
from captions.tracks import EMBEDDED, MAX_LABEL, TrackOptions, canonical_language, track_options
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
CLOSED_CAPTIONS = "cc1"  # the track of the source's CEA-608 captions: "embedded-cc1"


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


def filter_quoted(path: str) -> str:
    """`path` as a filter option value inside a filtergraph: quoted for the option parser, then escaped
    for the graph parser (ffmpeg-filters, "Notes on filtergraph escaping"). A file name may hold any of
    ' \\ : , ; [ ] and must stay one value naming that file."""
    quoted = "'" + path.replace("'", "'\\''") + "'"
    return re.sub(r"([\\'\[\],;])", r"\\\1", quoted)


def closed_captions_argv(source: str, dest: Path, ffmpeg: str) -> list[str]:
    """One ffmpeg run writing the CC1 captions inside `source`'s video (a local file) as WebVTT to `dest`."""
    graph = f"movie=filename={filter_quoted(source)}[out0+subcc]"
    argv = [ffmpeg, "-nostdin", "-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i", graph]
    return argv + ["-map", "0:s", "-c:s", "webvtt", "-f", "webvtt", str(dest)]


def extract_source_tracks(
    ctx: PipelineContext, asset_id: str, info: MediaInfo, source: str, work: Path, local: Callable[[], str]
) -> int:
    """Save the source's text streams ("embedded-<index>") and its closed captions ("embedded-cc1") as the
    asset's tracks; how many were saved. `local`: the original as a local file (the captions' run needs one)."""
    out = work / "text"
    out.mkdir(exist_ok=True)
    saved = 0
    if info.text_streams:
        try:
            argv = extraction_argv(source, info.text_streams, out, ctx.settings.ffmpeg_path())
            run_ffmpeg(argv, timeout=EXTRACT_TIMEOUT_SECONDS)
        except EncodeFailed as exc:  # subtitles that do not convert never cost the creator the video
            log.warning("asset %s: text streams not converted: %s", asset_id, exc.message)
        else:
            for stream in info.text_streams:
                kind = "captions" if stream.hearing_impaired else "subtitles"
                # A source's title is whatever its muxer wrote: kept as far as a label can carry it.
                title = "".join(c for c in stream.title or "" if c.isprintable() and c != '"').strip()[:MAX_LABEL]
                language = _language(stream.language)
                options = track_options(language, label=title or None, kind=kind, forced=stream.forced)
                kept = _keep(
                    ctx, asset_id, out / f"{stream.index}.vtt", language, f"{EMBEDDED}-{stream.index}", options
                )
                if kept is None:
                    return saved  # deleted while encoding: the job ends on its own check
                saved += kept
    if info.closed_captions:
        try:
            run_ffmpeg(
                closed_captions_argv(local(), out / "cc1.vtt", ctx.settings.ffmpeg_path()),
                timeout=EXTRACT_TIMEOUT_SECONDS,
            )
        except EncodeFailed as exc:
            log.warning("asset %s: closed captions not converted: %s", asset_id, exc.message)
            return saved
        # CEA-608 names no language; its captions are for viewers who do not hear the audio.
        options = track_options("und", label="CC1", kind="captions")
        saved += _keep(ctx, asset_id, out / "cc1.vtt", "und", f"{EMBEDDED}-{CLOSED_CAPTIONS}", options) or 0
    return saved


def _keep(
    ctx: PipelineContext, asset_id: str, vtt: Path, language: str, source: str, options: TrackOptions
) -> int | None:
    """Save one converted track: 1, or 0 when it is refused (logged), None when the asset is gone."""
    try:
        library.save(ctx.catalog, asset_id, language, source, options, parse(vtt.read_bytes()))
    except (CaptionError, OSError, library.AssetFailed) as exc:
        log.warning("asset %s: %s not kept: %s", asset_id, source, exc)
        return 0
    except library.AssetGone:
        return None
    return 1


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
