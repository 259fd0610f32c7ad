"""Writing cues as one WebVTT file (DASH, downloads) and as segmented WebVTT on the media's segment grid
(HLS), with the subtitle media playlist that lists the segments. Pure.

HLS (RFC 8216 3.5): each WebVTT segment carries X-TIMESTAMP-MAP, which ties its LOCAL cue times to the
media timeline (MPEGTS, 90 kHz). Our CMAF media start at the source's time zero plus `start` (the first
video fragment's decode time), so MPEGTS is that start in 90 kHz ticks and LOCAL is zero: a cue at
00:00:05.000 shows five seconds into the video. A cue that spans a segment boundary is repeated in every
segment it overlaps, as Apple's authoring spec asks; players drop the duplicate.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import m3u8

from captions.cues import Cue, format_time

SEGMENT_PATTERN = "seg_{:05d}.vtt"
PLAYLIST_NAME = "index.m3u8"
FULL_NAME = "full.vtt"
MPEGTS_HZ = 90_000


@dataclass(frozen=True)
class SegmentGrid:
    """The video's segment boundaries: durations of its segments in seconds, and where the first starts."""

    durations: tuple[float, ...]
    start: float = 0.0

    @property
    def mpegts(self) -> int:
        return round(self.start * MPEGTS_HZ)


def render_file(cues: Sequence[Cue]) -> str:
    """The whole track as one WebVTT file."""
    return "WEBVTT\n\n" + "".join(_cue(c) for c in cues)


def render_segments(cues: Sequence[Cue], grid: SegmentGrid) -> list[str]:
    """One WebVTT text per grid segment, each with the cues overlapping it (maybe none)."""
    header = f"WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:{grid.mpegts},LOCAL:00:00:00.000\n\n"
    out: list[str] = []
    begin = 0
    for index, duration in enumerate(grid.durations):
        end = begin + round(duration * 1000)
        last = index == len(grid.durations) - 1
        inside = (
            [c for c in cues if c.start_ms < end and c.end_ms > begin]
            if not last
            else [c for c in cues if c.end_ms > begin]
        )
        out.append(header + "".join(_cue(c) for c in inside))
        begin = end
    return out


def render_playlist(grid: SegmentGrid) -> str:
    """The VOD media playlist of the WebVTT segments: the same EXTINFs as the video's."""
    playlist = m3u8.M3U8()
    playlist.version = 3  # float EXTINF (RFC 8216 section 7)
    playlist.target_duration = max(1, max(round(d) for d in grid.durations))
    playlist.playlist_type = "vod"
    playlist.is_endlist = True
    for index, duration in enumerate(grid.durations, start=1):
        playlist.add_segment(m3u8.Segment(uri=SEGMENT_PATTERN.format(index), duration=duration, title=""))
    return str(playlist.dumps(infspec="milliseconds"))


def _cue(cue: Cue) -> str:
    settings = f" {cue.settings}" if cue.settings else ""
    return f"{format_time(cue.start_ms)} --> {format_time(cue.end_ms)}{settings}\n{cue.text}\n\n"
