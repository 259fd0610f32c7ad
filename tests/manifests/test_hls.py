from __future__ import annotations

from dataclasses import replace

import m3u8
import pytest

from manifests import bandwidth, hls
from manifests.errors import TrackUnrenderable
from manifests.model import Segment
from tests.manifests.manifest_samples import audio, ladder, video


@pytest.mark.parametrize(
    "durations",
    [
        (2.002,) * 500,  # 1001/1000-style drift that naive rounding accumulates
        (0.0333667,) * 900,
        (2.005333,) * 7 + (1.48,),
        (1.9999994, 2.0000004) * 50,
    ],
)
def test_extinf_sum_is_exact_to_a_millisecond(durations: tuple[float, ...]) -> None:
    segments = [Segment(uri="s", duration=d, size=1, start=0.0) for d in durations]
    values = hls.extinf_durations(segments)
    assert abs(sum(values) - sum(durations)) <= 0.0005 + 1e-9
    assert all(abs(v - d) < 0.0011 for v, d in zip(values, durations, strict=True))


def test_media_playlist_round_trips() -> None:
    track = video()
    parsed = m3u8.loads(hls.render_media(track))
    assert parsed.version == 6  # EXT-X-MAP outside I-frames-only needs 6, nothing needs more
    assert parsed.playlist_type == "vod"
    assert parsed.is_endlist
    assert parsed.target_duration == 2
    assert parsed.segment_map[0].uri == "init.mp4"
    assert [s.uri for s in parsed.segments] == [s.uri for s in track.segments]
    assert [s.duration for s in parsed.segments] == [s.duration for s in track.segments]
    assert abs(sum(s.duration for s in parsed.segments) - track.duration) < 1 / 30


@pytest.mark.parametrize(
    ("durations", "ended", "starts_at_zero"),
    [
        ((4.0, 4.0), False, False),  # 8 s, not longer than three target durations: no offset yet
        ((4.0, 4.0, 4.0), False, False),  # 12 s: still within three target durations of the end
        ((4.0, 4.0, 4.0, 4.0), False, True),  # 16 s: viewers start at the beginning, not at the edge
        ((4.0, 4.0), True, True),  # ended: the offset is no longer near a growing end
    ],
)
def test_growing_playlist_starts_viewers_at_the_beginning(
    durations: tuple[float, ...], ended: bool, starts_at_zero: bool
) -> None:
    text = hls.render_event(video(durations=durations), target_duration=4, ended=ended)
    parsed = m3u8.loads(text)
    assert parsed.playlist_type == "event" and parsed.is_endlist == ended
    assert (parsed.start is not None and parsed.start.time_offset == 0) == starts_at_zero
    assert text.count("#EXT-X-START") == int(starts_at_zero)
    assert "#EXT-X-START" not in hls.render_media(video(durations=durations))  # VOD playlists start at 0 anyway


@pytest.mark.parametrize(("durations", "target"), [((2.0, 2.5, 1.0), 3), ((2.49, 2.0), 2), ((6.2,), 6)])
def test_target_duration_covers_rounded_extinf(durations: tuple[float, ...], target: int) -> None:
    parsed = m3u8.loads(hls.render_media(video(durations=durations)))
    assert parsed.target_duration == target


def test_target_duration_override_is_checked() -> None:
    track = video(durations=(2.0, 2.6))
    assert m3u8.loads(hls.render_media(track, target_duration=4)).target_duration == 4
    with pytest.raises(TrackUnrenderable, match="below a segment"):
        hls.render_media(track, target_duration=2)


def test_master_declares_measured_bandwidth_with_audio() -> None:
    videos, audios = ladder()
    parsed = m3u8.loads(hls.render_master(videos, audios))
    assert parsed.is_independent_segments
    audio_peak, audio_avg = bandwidth.measure(audios[0].segments, 2)
    by_uri = {p.uri: p.stream_info for p in parsed.playlists}
    assert list(by_uri) == ["360p/index.m3u8", "540p/index.m3u8", "720p/index.m3u8"]
    for track in videos:
        info = by_uri[track.playlist_uri]
        peak, avg = bandwidth.measure(track.segments, 2)
        assert (info.bandwidth, info.average_bandwidth) == (peak + audio_peak, avg + audio_avg)
        assert info.codecs == f"{track.codecs},mp4a.40.2"
        assert info.resolution == (track.width, track.height)
        assert info.frame_rate == 30
        assert info.audio == "audio"
    (media,) = parsed.media
    assert (media.type, media.group_id, media.language, media.name, media.uri) == (
        "AUDIO",
        "audio",
        "en",
        "English",
        "audio/index.m3u8",
    )
    assert [p.uri for p in parsed.iframe_playlists] == [f"{v}/iframes.m3u8" for v in ("360p", "540p", "720p")]


def test_progressive_master_lists_given_rungs_without_trick_play() -> None:
    videos, audios = ladder()
    parsed = m3u8.loads(hls.render_master([videos[1]], audios, complete=False))
    assert [p.uri for p in parsed.playlists] == ["360p/index.m3u8"]
    assert not parsed.iframe_playlists
    assert [(d.data_id, d.value) for d in parsed.session_data] == [(hls.PROGRESS_DATA_ID, "partial")]


def test_iframe_playlist_ranges_into_segments() -> None:
    track = video()
    parsed = m3u8.loads(hls.render_iframes(track))
    assert parsed.is_i_frames_only
    assert parsed.version == 5
    assert parsed.segment_map[0].uri == "init.mp4"
    assert [s.byterange for s in parsed.segments] == [
        f"{s.iframe_range[1]}@{s.iframe_range[0]}" for s in track.segments if s.iframe_range
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: hls.render_media(replace(video(), segments=())), "no segments"),
        (lambda: hls.render_master([], []), "at least one video or audio track"),
        (lambda: hls.render_iframes(audio()), "no iframe_range"),
    ],
)
def test_unrenderable(call: object, message: str) -> None:
    with pytest.raises(TrackUnrenderable, match=message):
        call()  # type: ignore[operator]
