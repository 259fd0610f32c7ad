"""Segmented WebVTT on the video's segment grid, and its media playlist."""

from __future__ import annotations

import m3u8

from captions.cues import Cue
from captions.webvtt import SegmentGrid, render_playlist, render_segments
from manifests.validate import check_media

GRID = SegmentGrid((4.0, 4.0, 1.5))


def test_cues_land_in_every_segment_they_overlap() -> None:
    cues = [Cue(1000, 2000, "a"), Cue(3500, 4500, "spans"), Cue(8000, 20000, "runs past the end")]
    segments = render_segments(cues, GRID)
    assert len(segments) == 3
    assert all(s.startswith("WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000\n\n") for s in segments)
    assert [[line for line in s.splitlines() if line in {"a", "spans", "runs past the end"}] for s in segments] == [
        ["a", "spans"],
        ["spans"],
        ["runs past the end"],
    ]


def test_mpegts_follows_the_media_start() -> None:
    (segment,) = render_segments([Cue(0, 1000, "x")], SegmentGrid((4.0,), start=1.5))
    assert "MPEGTS:135000," in segment


def test_playlist_matches_the_grid() -> None:
    text = render_playlist(GRID)
    assert check_media(text) == []
    playlist = m3u8.loads(text)
    assert [s.duration for s in playlist.segments] == [4.0, 4.0, 1.5]
    assert [s.uri for s in playlist.segments] == ["seg_00001.vtt", "seg_00002.vtt", "seg_00003.vtt"]
    assert playlist.is_endlist
