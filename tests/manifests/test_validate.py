from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

import m3u8
import pytest

from manifests import hls
from manifests.errors import ManifestInvalid
from manifests.model import Track
from manifests.validate import validate_package
from tests.manifests.manifest_samples import audio, ladder, video


@dataclass
class Package:
    master: str
    media: dict[str, str]
    tracks: list[Track]
    known: set[str] = field(default_factory=set)

    def validate(self) -> None:
        validate_package(self.master, self.media, tracks=self.tracks, known_uris=self.known)


def package(videos: list[Track] | None = None, audios: list[Track] | None = None) -> Package:
    default_videos, default_audios = ladder()
    videos = default_videos if videos is None else videos
    audios = default_audios if audios is None else audios
    media = {t.playlist_uri: hls.render_media(t) for t in [*videos, *audios]}
    media |= {t.iframe_playlist_uri: hls.render_iframes(t) for t in videos}
    known = {f"{t.name}/{u}" for t in [*videos, *audios] for u in [t.init_uri, *(s.uri for s in t.segments)]}
    return Package(hls.render_master(videos, audios), media, [*videos, *audios], known | set(media))


def test_rendered_package_is_valid() -> None:
    package().validate()


def test_progressive_package_is_valid() -> None:
    videos, audios = ladder()
    media = {t.playlist_uri: hls.render_media(t) for t in [videos[1], *audios]}
    validate_package(hls.render_master([videos[1]], audios, complete=False), media, tracks=[videos[1], *audios])


def test_every_playlist_round_trips_through_m3u8_unchanged() -> None:
    p = package()
    for text in [p.master, *p.media.values()]:
        once = m3u8.loads(text)
        assert once.dumps(infspec="milliseconds") == text
    redumped = {uri: m3u8.loads(text).dumps(infspec="milliseconds") for uri, text in p.media.items()}
    validate_package(m3u8.loads(p.master).dumps(), redumped, tracks=p.tracks, known_uris=p.known)


def edit(uri: str, old: str, new: str, count: int = 1) -> Callable[[Package], None]:
    def apply(p: Package) -> None:
        if uri == "master":
            assert old in p.master, old
            p.master = p.master.replace(old, new, count)
        else:
            assert old in p.media[uri], old
            p.media[uri] = p.media[uri].replace(old, new, count)

    return apply


def halve_first_bandwidth(p: Package) -> None:
    variant = m3u8.loads(p.master).playlists[0].stream_info
    edit("master", f"BANDWIDTH={variant.bandwidth},", f"BANDWIDTH={variant.bandwidth // 2},")(p)


def inflate_first_average(p: Package) -> None:
    variant = m3u8.loads(p.master).playlists[0].stream_info
    avg = variant.average_bandwidth
    edit("master", f"AVERAGE-BANDWIDTH={avg},", f"AVERAGE-BANDWIDTH={avg * 2},")(p)


def forget_a_segment(p: Package) -> None:
    p.known.discard("540p/seg_00003.m4s")


def non_idr_segment(p: Package) -> None:
    track = p.tracks[0]
    segments = list(track.segments)
    segments[2] = replace(segments[2], starts_with_idr=False)
    p.tracks[0] = replace(track, segments=tuple(segments))


def misaligned_rung(p: Package) -> None:
    odd = video("540p", height=540, durations=(2.0, 2.5, 1.5, 2.0, 1.5))
    p.media["540p/index.m3u8"] = hls.render_media(odd)


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        # the five the issue names
        (
            edit("360p/index.m3u8", "#EXT-X-TARGETDURATION:2", "#EXT-X-TARGETDURATION:1"),
            "above EXT-X-TARGETDURATION 1",
        ),
        (edit("master", ',CODECS="avc1.64001e,mp4a.40.2"', ""), "variant '360p/index.m3u8' lacks CODECS"),
        (
            edit("720p/index.m3u8", "#EXT-X-VERSION:6", "#EXT-X-VERSION:3"),
            "EXT-X-VERSION 3 is too low for map (needs 6)",
        ),
        (edit("master", 'AUDIO="audio"', 'AUDIO="aac"'), "names AUDIO group 'aac', which no EXT-X-MEDIA"),
        (halve_first_bandwidth, "variant 360p/index.m3u8: BANDWIDTH"),
        # and the rest of the rule set
        (inflate_first_average, "AVERAGE-BANDWIDTH"),
        (edit("master", ",FRAME-RATE=30", ""), "variant '360p/index.m3u8' lacks FRAME-RATE"),
        (edit("master", "#EXT-X-INDEPENDENT-SEGMENTS\n", ""), "EXT-X-INDEPENDENT-SEGMENTS missing"),
        (edit("master", ',NAME="English"', ""), "lacks required NAME"),
        (edit("master", ',LANGUAGE="en"', ""), "lacks LANGUAGE"),
        (
            edit("master", "#EXT-X-INDEPENDENT-SEGMENTS", "#EXT-X-INDEPENDENT-SEGMENTS\n#EXT-X-ENDLIST"),
            "EXT-X-ENDLIST does not belong",
        ),
        (
            edit(
                "audio/index.m3u8",
                "#EXT-X-PLAYLIST-TYPE:VOD",
                "#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MEDIA:TYPE=AUDIO",
            ),
            "EXT-X-MEDIA does not belong",
        ),
        (
            edit(
                "360p/index.m3u8",
                "#EXT-X-TARGETDURATION:2",
                "#EXT-X-TARGETDURATION:2\n#EXT-X-TARGETDURATION:3",
            ),
            "appears more than once",
        ),
        (edit("360p/index.m3u8", "#EXT-X-ENDLIST\n", ""), "EXT-X-ENDLIST missing"),
        (edit("360p/index.m3u8", '#EXT-X-MAP:URI="init.mp4"\n', ""), "without EXT-X-MAP"),
        (
            edit("360p/iframes.m3u8", "#EXT-X-VERSION:5", "#EXT-X-VERSION:4"),
            "too low for map-in-i-frames-only (needs 5)",
        ),
        (
            edit("360p/index.m3u8", "#EXTINF:2.000,\nseg_00002.m4s", "seg_00002.m4s"),
            "without a preceding EXTINF",
        ),
        (
            edit("360p/index.m3u8", "#EXTINF:2.000,\nseg_00002.m4s", "#EXTINF:2.500,\nseg_00002.m4s"),
            "off the media's",
        ),
        (forget_a_segment, "seg_00003.m4s (object 540p/seg_00003.m4s) does not exist in the store"),
        (non_idr_segment, "720p/seg_00003.m4s: does not start with an IDR frame"),
        (misaligned_rung, "segment boundaries are not shared across variants"),
        (
            edit("master", "720p/index.m3u8", "1080p/index.m3u8"),
            "1080p/index.m3u8 is referenced but no playlist text",
        ),
    ],
)
def test_bad_package_is_rejected_for_the_right_reason(mutate: Callable[[Package], None], reason: str) -> None:
    p = package()
    mutate(p)
    with pytest.raises(ManifestInvalid) as caught:
        p.validate()
    assert any(reason in problem for problem in caught.value.problems), caught.value.problems
    assert reason in str(caught.value)


@pytest.mark.parametrize(
    ("mutate", "count"),
    [
        (halve_first_bandwidth, 1),
        (edit("master", ',CODECS="avc1.64001e,mp4a.40.2"', ""), 1),
        (edit("720p/index.m3u8", "#EXT-X-VERSION:6", "#EXT-X-VERSION:3"), 1),
        (edit("master", 'AUDIO="audio"', 'AUDIO="aac"'), 1),
        (edit("360p/index.m3u8", "#EXT-X-TARGETDURATION:2", "#EXT-X-TARGETDURATION:1"), 5),  # one per segment
    ],
)
def test_one_fault_reports_only_its_own_problems(mutate: Callable[[Package], None], count: int) -> None:
    p = package()
    mutate(p)
    with pytest.raises(ManifestInvalid) as caught:
        p.validate()
    assert len(caught.value.problems) == count, caught.value.problems


def test_every_problem_is_listed_at_once() -> None:
    p = package()
    edit("master", ",FRAME-RATE=30", "")(p)
    edit("360p/index.m3u8", "#EXT-X-ENDLIST\n", "")(p)
    forget_a_segment(p)
    with pytest.raises(ManifestInvalid) as caught:
        p.validate()
    # the forgotten segment is named by both playlists that list it
    assert len(caught.value.problems) == 4


def test_unparseable_playlist() -> None:
    p = package([video()], [audio()])
    edit("360p/index.m3u8", "#EXTINF:2.000,", "#EXTINF:two,")(p)
    with pytest.raises(ManifestInvalid, match="unparseable"):
        p.validate()
