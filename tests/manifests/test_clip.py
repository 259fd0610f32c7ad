"""Instant clips on the parsed model: which segments a window keeps, in every playlist of a package
alike (audio segments end a few ms off the video's), and what the cut HLS and DASH say."""

from __future__ import annotations

from fractions import Fraction

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from manifests import dash, hls
from manifests.clip import Window, clip_dash, clip_hls_master, clip_hls_media, hls_duration
from manifests.errors import ClipOutsideMedia
from manifests.validate import validate_package
from tests.manifests.manifest_samples import ladder

# The sample ladder: video segments [0,2) [2,4) [4,6) [6,8) [8,9.5); audio segments of 2.005333 s, the last 1.48 s.
CASES = [
    pytest.param(0.0, None, [1, 2, 3, 4, 5], id="whole"),
    pytest.param(2.0, 6.0, [2, 3], id="start-and-end-on-boundaries"),
    pytest.param(3.0, 5.0, [2, 3], id="start-and-end-inside"),
    pytest.param(2.5, 3.5, [2], id="inside-one-segment"),
    pytest.param(7.0, 20.0, [4, 5], id="end-past-the-media-is-clamped"),
    pytest.param(8.5, 9.5, [5], id="the-last-segment"),
    pytest.param(8.0, None, [5], id="open-end-from-the-last-boundary"),
    pytest.param(1.99, 4.0, [2], id="start-10ms-before-a-boundary"),
    pytest.param(0.0, 0.1, [1], id="shortest"),
]


def _numbers(text: str) -> list[int]:
    return [int(s.uri.split("?")[0][4:9]) for s in m3u8.loads(text).segments]


@pytest.mark.parametrize(("start", "end", "expected"), CASES)
def test_every_hls_playlist_keeps_the_same_segments(start: float, end: float | None, expected: list[int]) -> None:
    videos, audios = ladder()
    window = Window(start, end)
    for track in [*videos, *audios]:
        cut = clip_hls_media(hls.render_media(track), window)
        assert _numbers(cut) == expected, track.name
        playlist = m3u8.loads(cut)
        assert playlist.is_endlist
        assert playlist.media_sequence == expected[0] - 1
        assert playlist.segments[0].init_section.uri == "init.mp4"
        span = sum(s.duration for s in track.segments[expected[0] - 1 : expected[-1]])
        assert hls_duration(cut) == pytest.approx(span, abs=0.002)
    for video in videos:
        cut = clip_hls_media(hls.render_iframes(video), window)
        assert _numbers(cut) == expected
        assert m3u8.loads(cut).segments[0].byterange  # I-frame ranges survive


@pytest.mark.parametrize(("start", "end", "expected"), CASES)
def test_the_cut_package_is_still_valid(start: float, end: float | None, expected: list[int]) -> None:
    videos, audios = ladder()
    window = Window(start, end)
    master = clip_hls_master(hls.render_master(videos, audios), {"start": f"{start:g}", "end": f"{end}"})
    parsed = m3u8.loads(master)
    uris = [p.uri for p in parsed.playlists] + [m.uri for m in parsed.media] + [p.uri for p in parsed.iframe_playlists]
    assert len(uris) == 7
    assert all(u.endswith(f"?start={start:g}&end={end}") for u in uris)
    media = {t.playlist_uri: clip_hls_media(hls.render_media(t), window) for t in [*videos, *audios]}
    media |= {t.iframe_playlist_uri: clip_hls_media(hls.render_iframes(t), window) for t in videos}
    # Structure, alignment and every URI; not the measured bit rates: the master's BANDWIDTH stays the whole
    # asset's peak, an upper bound of the clip's (overstated, never understated: no player stalls on it).
    validate_package(hls.render_master(videos, audios), media)


@pytest.mark.parametrize(("start", "end", "expected"), CASES)
def test_dash_window(start: float, end: float | None, expected: list[int]) -> None:
    videos, audios = ladder()
    mpd = MPEGDASHParser.parse(clip_dash(dash.render_mpd(videos, audios, duration=9.5), Window(start, end)))
    period = mpd.periods[0]
    origin = Fraction(videos[0].segments[expected[0] - 1].start)  # video starts first at every boundary
    ends = []
    for adaptation, tracks in zip(period.adaptation_sets, (videos, audios), strict=True):
        for representation in adaptation.representations:
            track = next(t for t in tracks if t.name == representation.id)
            template = representation.segment_templates[0]
            assert template.start_number == expected[0]
            assert template.presentation_time_offset == round(origin * track.timescale)
            entries = template.segment_timelines[0].Ss
            assert entries[0].t == round(track.segments[expected[0] - 1].start * track.timescale)
            assert sum((s.r or 0) + 1 for s in entries) == len(expected)
            ticks = sum(s.d * ((s.r or 0) + 1) for s in entries)
            assert ticks == sum(
                round(s.duration * track.timescale) for s in track.segments[expected[0] - 1 : expected[-1]]
            )
            ends.append(Fraction(entries[0].t + ticks, track.timescale))
    seconds = float(max(ends) - origin)
    assert mpd.media_presentation_duration == f"PT{seconds:.3f}S"


@pytest.mark.parametrize("start", [9.5, 12.0, 10_000.0])
def test_a_window_starting_past_the_media_is_refused(start: float) -> None:
    videos, audios = ladder()
    with pytest.raises(ClipOutsideMedia, match="past the end of the media"):
        clip_hls_media(hls.render_media(videos[0]), Window(start, None))
    with pytest.raises(ClipOutsideMedia, match="past the end of the media"):
        clip_dash(dash.render_mpd(videos, audios, duration=9.5), Window(start, start + 5))


def test_other_query_parameters_of_a_variant_uri_stay() -> None:
    videos, audios = ladder()
    master = hls.render_master(videos, audios).replace("360p/index.m3u8", "360p/index.m3u8?token=t&start=1")
    parsed = m3u8.loads(clip_hls_master(master, {"start": "2", "end": "6"}))
    assert parsed.playlists[0].uri == "360p/index.m3u8?token=t&start=2&end=6"
