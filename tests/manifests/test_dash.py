from __future__ import annotations

from dataclasses import replace

import pytest
from mpegdash.parser import MPEGDASHParser

from manifests import bandwidth, dash
from manifests.errors import TrackUnrenderable
from manifests.model import Segment, Track
from tests.manifests.manifest_samples import audio, ladder, video


def expand(template: object) -> list[tuple[int, int]]:
    """(start, duration) ticks of every segment a SegmentTimeline describes."""
    out: list[tuple[int, int]] = []
    for s in template.segment_timelines[0].Ss:  # type: ignore[attr-defined]
        start = s.t if s.t is not None else out[-1][0] + out[-1][1]
        for _ in range((s.r or 0) + 1):
            out.append((start, s.d))
            start += s.d
    return out


def test_mpd_round_trips_through_mpegdash() -> None:
    videos, audios = ladder()
    mpd = MPEGDASHParser.parse(dash.render_mpd(videos, audios, duration=videos[0].duration))
    assert (mpd.type, mpd.profiles) == ("static", "urn:mpeg:dash:profile:isoff-live:2011")
    assert mpd.media_presentation_duration == "PT9.500S"
    (period,) = mpd.periods
    video_set, audio_set = period.adaptation_sets
    assert video_set.content_type == "video"
    assert (video_set.segment_alignment, video_set.start_with_sap) == (True, 1)
    assert [r.id for r in video_set.representations] == ["360p", "540p", "720p"]
    by_id = {t.name: t for t in videos}
    for rep in video_set.representations:
        track = by_id[rep.id]
        assert rep.bandwidth == bandwidth.measure(track.segments, 2)[0]
        assert (rep.codecs, rep.width, rep.height, rep.frame_rate, rep.sar) == (
            track.codecs,
            track.width,
            track.height,
            "30",
            "1:1",
        )
        (template,) = rep.segment_templates
        assert (template.initialization, template.media, template.start_number) == (
            "$RepresentationID$/init.mp4",
            "$RepresentationID$/seg_$Number%05d$.m4s",
            1,
        )
        assert expand(template) == [
            (round(s.start * track.timescale), round(s.duration * track.timescale)) for s in track.segments
        ]
    assert (audio_set.content_type, audio_set.lang) == ("audio", "en")
    (rep,) = audio_set.representations
    assert (rep.codecs, rep.audio_sampling_rate) == ("mp4a.40.2", "48000")
    assert rep.audio_channel_configurations[0].value == "2"
    assert len(expand(rep.segment_templates[0])) == len(audios[0].segments)


@pytest.mark.parametrize(
    ("rate", "expected"),
    [(30.0, "30"), (25, "25"), (30000 / 1001, "30000/1001"), (24000 / 1001, "24000/1001"), (12.5, "25/2")],
)
def test_frame_rate_is_exact(rate: float, expected: str) -> None:
    assert dash._frame_rate(rate) == expected


def test_timeline_restarts_after_a_gap() -> None:
    segments = (
        Segment(uri="seg_00001.m4s", duration=2.0, size=1, start=0.0),
        Segment(uri="seg_00002.m4s", duration=2.0, size=1, start=2.0),
        Segment(uri="seg_00003.m4s", duration=2.0, size=1, start=4.5),
        Segment(uri="seg_00004.m4s", duration=1.0, size=1, start=6.5),
    )
    track = replace(video(), segments=segments)
    assert dash.timeline(track) == [(0, 30720, 1), (69120, 30720, 0), (None, 15360, 0)]


@pytest.mark.parametrize(
    ("track", "message"),
    [
        (replace(video(), init_uri="header.mp4"), "not init.mp4"),
        (replace(video(), segments=(Segment(uri="a.m4s", duration=2, size=1, start=0),)), "off the template"),
        (replace(video(), segments=()), "no segments"),
    ],
)
def test_tracks_off_the_template_are_refused(track: Track, message: str) -> None:
    with pytest.raises(TrackUnrenderable, match=message):
        dash.render_mpd([track], [audio()], duration=8.0)
