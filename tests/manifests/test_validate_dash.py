from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from manifests import dash
from manifests.model import Track
from manifests.validate_dash import check_mpd, expand_template
from tests.manifests.manifest_samples import ladder, video


def render(videos: list[Track] | None = None) -> tuple[str, list[Track], set[str]]:
    default_videos, audios = ladder()
    videos = default_videos if videos is None else videos
    tracks = [*videos, *audios]
    known = {f"{t.name}/{u}" for t in tracks for u in [t.init_uri, *(s.uri for s in t.segments)]}
    return dash.render_mpd(videos, audios, duration=max(v.duration for v in videos)), tracks, known


def test_rendered_mpd_passes() -> None:
    text, tracks, known = render()
    assert check_mpd(text, tracks=tracks, known_uris=known) == []


def swap(old: str, new: str) -> Callable[[str], str]:
    def apply(text: str) -> str:
        assert old in text, old
        return text.replace(old, new, 1)

    return apply


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (swap('type="static"', 'type="dynamic"'), "not static"),
        (swap("isoff-live:2011", "isoff-on-demand:2011"), "profiles lacks"),
        (swap(' frameRate="30"', ""), "frameRate missing"),
        (swap(' sar="1:1"', ""), "sar missing"),
        (swap(' codecs="avc1.64001e"', ""), "codecs missing"),
        (swap(' lang="en"', ""), "lang missing"),
        (swap('segmentAlignment="true"', 'segmentAlignment="false"'), "segmentAlignment is not true"),
        (swap('<S t="0" d="30720" r="3" />', '<S t="0" d="30720" r="2" />'), "differs from the measured"),
        (swap('bandwidth="1040000"', 'bandwidth="500000"'), "off the measured peak"),
        (swap('mediaPresentationDuration="PT9.500S"', 'mediaPresentationDuration="P0D"'), "mediaPresentationDuration"),
        (swap("<MPD", "<MPX"), "not well-formed"),
    ],
)
def test_bad_mpd_is_rejected_for_the_right_reason(mutate: Callable[[str], str], reason: str) -> None:
    text, tracks, known = render()
    problems = check_mpd(mutate(text), tracks=tracks, known_uris=known)
    assert any(reason in p for p in problems), problems


def test_missing_segment_and_misalignment() -> None:
    odd = video("540p", height=540, durations=(2.0, 2.5, 1.5, 2.0, 1.5))
    text, tracks, known = render([video("360p"), odd])
    known.discard("360p/seg_00002.m4s")
    problems = check_mpd(text, tracks=tracks, known_uris=known)
    assert any("360p/seg_00002.m4s does not exist" in p for p in problems), problems
    assert any("cut differently" in p for p in problems), problems


def test_short_timeline() -> None:
    text, tracks, known = render()
    long_text = text.replace('mediaPresentationDuration="PT9.500S"', 'mediaPresentationDuration="PT1M0.5S"')
    assert any("short of 60.500 s" in p for p in check_mpd(long_text, tracks=tracks, known_uris=known))


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("$RepresentationID$/seg_$Number%05d$.m4s", "720p/seg_00042.m4s"),
        ("$RepresentationID$/init.mp4", "720p/init.mp4"),
        ("n$Number$-$$x.m4s", "n42-$x.m4s"),
    ],
)
def test_expand_template(template: str, expected: str) -> None:
    assert expand_template(template, "720p", 42) == expected


def test_validate_package_includes_the_mpd() -> None:
    from manifests import hls
    from manifests.errors import ManifestInvalid
    from manifests.validate import validate_package

    videos, audios = ladder()
    media = {t.playlist_uri: hls.render_media(t) for t in [*videos, *audios]}
    media |= {t.iframe_playlist_uri: hls.render_iframes(t) for t in videos}
    mpd = dash.render_mpd(videos, audios, duration=9.5)
    master = hls.render_master(videos, audios)
    validate_package(master, media, tracks=[*videos, *audios], mpd_text=mpd)
    with pytest.raises(ManifestInvalid, match="mpd: .*lang missing"):
        validate_package(master, media, tracks=[*videos, *audios], mpd_text=mpd.replace(' lang="en"', ""))


def test_tracks_are_optional() -> None:
    text, tracks, _ = render()
    assert check_mpd(text) == []
    assert check_mpd(text, tracks=[replace(tracks[0], timescale=90000)]) != []
