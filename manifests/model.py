"""The measured media a manifest describes: what the transcoder read back from its own output.

Durations and sizes are measurements of the written fragments, never the encoder's targets:
a CRF encode can be ten times off its nominal bitrate, and players trust what we declare.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Segment:
    uri: str  # relative to its media playlist, e.g. "seg_00001.m4s"
    duration: float  # seconds, from the fragment's sample durations
    size: int  # bytes
    start: float  # presentation start in seconds (tfdt / timescale)
    starts_with_idr: bool = True
    # (offset, length) of moof + the first keyframe's sample data, for I-frame playlists
    iframe_range: tuple[int, int] | None = None

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class Track:
    name: str  # rendition id and directory, e.g. "360p", "audio"
    kind: str  # "video" | "audio"
    codecs: str  # RFC 6381: "avc1.64001f" | "mp4a.40.2"
    init_uri: str  # relative to the media playlist: "init.mp4"
    segments: tuple[Segment, ...]
    timescale: int  # of the track, for the DASH SegmentTimeline
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None
    sar: tuple[int, int] = (1, 1)
    language: str = "und"
    channels: int | None = None
    sample_rate: int | None = None
    # Audio renditions: how players list them (HLS EXT-X-MEDIA, DASH AdaptationSet). `group` is the HLS
    # audio group; `source` pairs a multichannel rendition with the stereo one of the same source track.
    label: str | None = None  # NAME / Label; None: from the language
    default: bool = False
    autoselect: bool = True
    role: str = "main"  # DASH Role: main | alternate | commentary | description
    characteristics: str | None = None  # HLS CHARACTERISTICS
    group: str = "audio"
    source: int = 0
    # Media playlist file name; the growing (EVENT) form of progressive publishing uses its own name,
    # because RFC 8216 forbids a playlist's type changing under the same URI.
    playlist_name: str = "index.m3u8"

    @property
    def playlist_uri(self) -> str:
        """Media playlist, relative to the multivariant playlist."""
        return f"{self.name}/{self.playlist_name}"

    @property
    def iframe_playlist_uri(self) -> str:
        return f"{self.name}/iframes.m3u8"

    @property
    def duration(self) -> float:
        return sum(s.duration for s in self.segments)

    @property
    def has_iframe_ranges(self) -> bool:
        return bool(self.segments) and all(s.iframe_range is not None for s in self.segments)
