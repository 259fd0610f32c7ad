"""Instant clips: a published package listed over a time window, without re-encoding.

A clip keeps the whole segments that overlap [start, end): from the segment containing `start` to
the one containing `end` (an `end` past the media is clamped to it). Segment-accurate, not
frame-accurate: the clip may begin up to one segment early and end up to one segment late.

Every playlist of a package is cut by the same rule on its own timeline. Audio segments do not end
exactly where video segments do (AAC frames are 1024 samples), so a boundary is matched with a
tolerance of `SNAP` seconds, less than a frame's drift would ever need: a window starting 10 ms
before a video boundary at 12 s starts at 12 s in the video playlist *and* in the audio one (whose
segment ends at 12.01 s), instead of pulling one extra audio segment in. Windows shorter than
`MIN_SECONDS` are refused by the caller (playback.clips), so the snapped window is never empty.

Pure, on the parsed model (m3u8 for HLS, ElementTree for DASH), like rewrite.py.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

import m3u8

from manifests.dash import NAMESPACE, iso_duration
from manifests.errors import ClipOutsideMedia
from manifests.rewrite import map_master_uris, with_query

# Seconds a boundary may be off between the playlists of one package (well above one AAC frame, 21-23 ms,
# well below a video frame at 20 fps).
SNAP = 0.04
# The shortest window a caller may ask for: more than two SNAPs, so a snapped window keeps a segment.
MIN_SECONDS = 0.1


@dataclass(frozen=True)
class Window:
    """[start, end) in seconds of the media's timeline; end None: to the end of the media."""

    start: float
    end: float | None


def _kept(starts: list[float], durations: list[float], window: Window) -> range:
    """Indexes of the segments overlapping the window, or raise ClipOutsideMedia."""
    total_end = starts[-1] + durations[-1] if starts else 0.0
    if window.start >= total_end:
        raise ClipOutsideMedia(f"the clip starts at {window.start:g} s, past the end of the media")
    end = total_end if window.end is None else min(window.end, total_end)
    kept = [
        i
        for i, (t, d) in enumerate(zip(starts, durations, strict=True))
        if t < end - SNAP and t + d > window.start + SNAP
    ]
    if not kept:
        raise ClipOutsideMedia(f"no segment overlaps {window.start:g} s to {end:g} s")
    return range(kept[0], kept[-1] + 1)


def hls_duration(media_text: str) -> float:
    """The duration of a media playlist: the sum of its EXTINF values."""
    return float(sum(segment.duration or 0.0 for segment in m3u8.loads(media_text).segments))


def clip_hls_media(text: str, window: Window) -> str:
    """The media (or I-frame) playlist listing only the segments of the window; ENDLIST stays.

    EXT-X-MEDIA-SEQUENCE becomes the number of the first kept segment, so a player comparing two
    cuts of one rendition sees the same segment under the same number.
    """
    playlist = m3u8.loads(text)
    segments = list(playlist.segments)
    starts, elapsed = [], 0.0
    for segment in segments:
        starts.append(elapsed)
        elapsed += segment.duration or 0.0
    kept = _kept(starts, [s.duration or 0.0 for s in segments], window)
    playlist.segments[:] = segments[kept.start : kept.stop]
    playlist.media_sequence = (playlist.media_sequence or 0) + kept.start
    return str(playlist.dumps(infspec="milliseconds"))


def clip_hls_master(text: str, params: dict[str, str]) -> str:
    """The multivariant playlist whose every playlist URI (variants, audio renditions, I-frame
    playlists) carries the clip's query: each of them is then cut by the same window."""
    return map_master_uris(text, lambda uri: with_query(uri, params))


def clip_dash(text: str, window: Window) -> str:
    """The MPD listing only the segments of the window in every Representation.

    Each SegmentTemplate keeps its template; startNumber moves to the first kept segment, the
    SegmentTimeline starts at its time, and presentationTimeOffset (one instant for the whole
    package, the earliest kept segment's start) maps it to the start of the Period, so audio and
    video stay aligned. mediaPresentationDuration becomes the span of the kept segments.
    """
    ET.register_namespace("", NAMESPACE)
    root = ET.fromstring(text)
    ns = {"d": NAMESPACE}
    cuts: list[tuple[ET.Element, ET.Element, int, list[tuple[int, int]], range]] = []
    for template in root.iterfind("d:Period/d:AdaptationSet/d:Representation/d:SegmentTemplate", ns):
        timeline = template.find("d:SegmentTimeline", ns)
        if timeline is None:
            raise ClipOutsideMedia("a SegmentTemplate without a SegmentTimeline cannot be cut")
        timescale = int(template.get("timescale", "1"))
        segments = _expand(timeline, ns)
        kept = _kept([t / timescale for t, _ in segments], [d / timescale for _, d in segments], window)
        cuts.append((template, timeline, timescale, segments, kept))
    if not cuts:
        raise ClipOutsideMedia("the MPD lists no SegmentTimeline to cut")
    origin = min(segments[kept.start][0] / timescale for _, _, timescale, segments, kept in cuts)
    end = max(sum(segments[kept.stop - 1]) / timescale for _, _, timescale, segments, kept in cuts)
    for template, timeline, timescale, segments, kept in cuts:
        template.set("startNumber", str(int(template.get("startNumber", "1")) + kept.start))
        template.set("presentationTimeOffset", str(round(origin * timescale)))
        for entry in list(timeline):
            timeline.remove(entry)
        _compress(timeline, segments[kept.start : kept.stop])
    root.set("mediaPresentationDuration", iso_duration(end - origin))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _expand(timeline: ET.Element, ns: dict[str, str]) -> list[tuple[int, int]]:
    """(t, d) of every segment of a SegmentTimeline, in its timescale."""
    out: list[tuple[int, int]] = []
    now = 0
    for entry in timeline.iterfind("d:S", ns):
        now = int(entry.get("t", now))
        duration = int(entry.get("d", "0"))
        for _ in range(int(entry.get("r", "0")) + 1):
            out.append((now, duration))
            now += duration
    return out


def _compress(timeline: ET.Element, segments: list[tuple[int, int]]) -> None:
    """Append S entries (t on the first and after any gap, r for runs of one duration)."""
    expected: int | None = None
    last: ET.Element | None = None
    for t, d in segments:
        if last is not None and t == expected and last.get("d") == str(d):
            last.set("r", str(int(last.get("r", "0")) + 1))
        else:
            attributes = {"d": str(d)} if t == expected else {"t": str(t), "d": str(d)}
            last = ET.SubElement(timeline, f"{{{NAMESPACE}}}S", attributes)
        expected = t + d
