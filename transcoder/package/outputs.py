"""Read back what ffmpeg wrote into the manifest model: measured durations, sizes and codecs.

The playlists ffmpeg writes are used only for the list of segment files; everything declared to
players comes from the fragments themselves (transcoder.package.fmp4).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import m3u8

from manifests.model import Segment, Track
from transcoder.encode.audio import AudioRendition
from transcoder.encode.commands import INIT_NAME, PLAYLIST_NAME
from transcoder.encode.ladder import Rung
from transcoder.errors import EncodeFailed
from transcoder.package import fmp4


def read_track(rendition_dir: Path, *, rung: Rung | None, audio: AudioRendition | None = None) -> Track:
    """Describe one rendition directory (init.mp4 + seg_*.m4s + ffmpeg's index.m3u8)."""
    playlist_path = rendition_dir / PLAYLIST_NAME
    init_path = rendition_dir / INIT_NAME
    if not playlist_path.is_file() or not init_path.is_file():
        raise EncodeFailed(f"ffmpeg produced no output for {rendition_dir.name}")
    listed = m3u8.loads(playlist_path.read_text())
    init = fmp4.parse_init(init_path.read_bytes())
    segments = [read_segment(rendition_dir / entry.uri, init) for entry in listed.segments]
    return describe_track(rendition_dir.name, init, segments, rung=rung, audio=audio)


def read_segment(path: Path, init: fmp4.InitInfo) -> Segment:
    """Measure one media segment of a track whose init segment is `init`."""
    data = path.read_bytes()
    info = fmp4.parse_media_segment(data, init)
    return Segment(
        uri=path.name,
        duration=info.duration,
        size=len(data),
        start=info.start,
        starts_with_idr=info.starts_with_idr,
        iframe_range=info.iframe_range if init.kind == "video" else None,
    )


def describe_track(
    name: str,
    init: fmp4.InitInfo,
    segments: Sequence[Segment],
    *,
    rung: Rung | None,
    audio: AudioRendition | None = None,
) -> Track:
    """The manifest model of rendition `name` from its init segment and measured media segments."""
    if not segments:
        raise EncodeFailed(f"ffmpeg wrote no segments for {name}")
    if init.kind == "video":
        if rung is None:
            raise EncodeFailed(f"unexpected video output in {name}")
        return Track(
            name=name,
            kind="video",
            codecs=init.codecs,
            init_uri=INIT_NAME,
            segments=tuple(segments),
            timescale=init.timescale,
            width=init.width or rung.width,
            height=init.height or rung.height,
            frame_rate=rung.frame_rate,
        )
    return Track(
        name=name,
        kind="audio",
        codecs=init.codecs,
        init_uri=INIT_NAME,
        segments=tuple(segments),
        timescale=init.timescale,
        channels=init.channels,
        sample_rate=init.sample_rate,
        **(audio_fields(audio) if audio is not None else {}),
    )


def audio_fields(audio: AudioRendition) -> dict[str, Any]:
    """The manifest model's fields of an audio rendition: how players list it."""
    return {
        "language": audio.language,
        "label": audio.label,
        "default": audio.default,
        "autoselect": audio.autoselect,
        "role": audio.role,
        "characteristics": audio.characteristics,
        "group": audio.group,
        "source": audio.source_index,
    }
