"""Planning, pure: parameters and their bounds, the rung, the segments and the seek, the argv."""

from __future__ import annotations

from decimal import Decimal

import pytest

from images.errors import BadParameter, Busy, NoPictures, NotReady, status_of
from images.params import Animated, Thumbnail, parse
from images.plan import Rung, argv, choose_rung, output_width, parse_media, video_rungs, window
from images.render import Gate

MASTER = (
    "#EXTM3U\n"
    '#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1920x1080,FRAME-RATE=25,CODECS="avc1.640028"\n1080p/index.m3u8\n'
    '#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=416x234,FRAME-RATE=25,CODECS="avc1.64000d"\n234p/index.m3u8\n'
    '#EXT-X-STREAM-INF:BANDWIDTH=1000000,RESOLUTION=854x480,FRAME-RATE=25,CODECS="avc1.64001e"\n480p/index.m3u8\n'
)
MEDIA = (
    "#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    '#EXT-X-MAP:URI="init.mp4"\n#EXTINF:4.000,\ns1.m4s\n#EXTINF:4.000,\ns2.m4s\n#EXTINF:2.500,\ns3.m4s\n#EXT-X-ENDLIST\n'
)
FRAME = Decimal("0.04")


def test_rungs_from_the_master_narrowest_first() -> None:
    rungs = video_rungs(MASTER)
    assert [(r.playlist_uri, r.width) for r in rungs] == [("234p/index.m3u8", 416), ("480p/index.m3u8", 854),
                                                          ("1080p/index.m3u8", 1920)]  # fmt: skip
    assert rungs[0].frame == FRAME
    with pytest.raises(NotReady):  # a variant without RESOLUTION that is not audio: not our ladder
        video_rungs('#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,CODECS="avc1.64001e"\nvideo/index.m3u8\n')


def test_only_the_h264_rungs_of_a_master_listing_av1_beside_them() -> None:
    both = (
        "#EXTM3U\n"
        '#EXT-X-STREAM-INF:BANDWIDTH=250000,RESOLUTION=416x234,CODECS="av01.0.00M.08,mp4a.40.2"\n234p-av1/index.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=400000,RESOLUTION=416x234,CODECS="avc1.64000d,mp4a.40.2"\n234p/index.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=600000,RESOLUTION=640x360,CODECS="av01.0.01M.08,mp4a.40.2"\n360p-av1/index.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"\n360p/index.m3u8\n'
    )
    assert [r.playlist_uri for r in video_rungs(both)] == ["234p/index.m3u8", "360p/index.m3u8"]
    # A master of AV1 rungs alone (not one this stack publishes) still has pictures.
    av1_only = both.split("#EXT-X-STREAM-INF", 2)
    assert [r.playlist_uri for r in video_rungs("#EXT-X-STREAM-INF".join(av1_only[:2]))] == ["234p-av1/index.m3u8"]


def test_an_audio_only_master_has_no_pictures_for_good() -> None:
    master = (
        '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=70000,CODECS="mp4a.40.2",AUDIO="audio-64k"\naudio-64k/index.m3u8\n'
        '#EXT-X-STREAM-INF:BANDWIDTH=140000,CODECS="mp4a.40.2",AUDIO="audio"\naudio/index.m3u8\n'
    )
    with pytest.raises(NoPictures, match="audio-only") as refused:
        video_rungs(master)
    assert status_of(refused.value) == 404 and refused.value.code == "no_video"


@pytest.mark.parametrize(("width", "rung"), [(16, 416), (416, 416), (417, 854), (640, 854), (1000, 1920), (1920, 1920)])
def test_the_narrowest_rung_at_least_as_wide(width: int, rung: int) -> None:
    assert choose_rung(video_rungs(MASTER), width).width == rung


def test_width_default_and_top_bound() -> None:
    rungs = [Rung("a/index.m3u8", 416, 234, 25.0)]
    assert output_width(Thumbnail("jpg", Decimal(1), None), rungs) == 416  # default 640, capped by the top
    assert output_width(Thumbnail("jpg", Decimal(1), 300), rungs) == 300
    with pytest.raises(BadParameter, match="at most 416"):
        output_width(Thumbnail("jpg", Decimal(1), 417), rungs)


@pytest.mark.parametrize(
    ("time", "segments", "offset"),
    [
        ("0", ["s1.m4s"], "0"),
        ("3.9", ["s1.m4s"], "3.9"),
        ("3.97", ["s1.m4s", "s2.m4s"], "3.97"),  # in the last frame of s1: the next frame is s2's first
        ("4", ["s2.m4s"], "0"),
        ("9.5", ["s3.m4s"], "1.5"),
        ("10.5", ["s3.m4s"], "2.44"),  # the very end shows the last frame (1.5 frames back)
    ],
)
def test_thumbnail_window(time: str, segments: list[str], offset: str) -> None:
    media = parse_media(MEDIA)
    assert media.init_uri == "init.mp4" and media.duration == Decimal("10.5")
    win = window(Thumbnail("jpg", Decimal(time), None), media, FRAME)
    assert [s.uri for s in win.segments] == segments
    assert win.offset == Decimal(offset) and win.seconds is None


def test_animated_window_and_bounds() -> None:
    media = parse_media(MEDIA)
    win = window(Animated(Decimal("3"), Decimal("9"), 10, None), media, FRAME)
    assert ([s.uri for s in win.segments], win.offset, win.seconds) == (["s1.m4s", "s2.m4s", "s3.m4s"], 3, 6)
    with pytest.raises(BadParameter, match="at most 10.5"):
        window(Animated(Decimal("5"), Decimal("10.6"), 10, None), media, FRAME)
    with pytest.raises(BadParameter, match="between 0 and 10.5"):
        window(Thumbnail("jpg", Decimal("10.501"), None), media, FRAME)


@pytest.mark.parametrize(
    "text",
    [
        MEDIA.replace("#EXT-X-ENDLIST\n", "").replace("#EXT-X-PLAYLIST-TYPE:VOD\n", ""),  # still growing
        MEDIA.replace('#EXT-X-MAP:URI="init.mp4"\n', ""),
        MEDIA.replace("s2.m4s", "http://elsewhere/s2.m4s"),
        MEDIA.replace("s2.m4s", "#EXT-X-BYTERANGE:100@0\nall.m4s"),
    ],
)
def test_playlists_that_are_not_a_finished_cmaf_rung(text: str) -> None:
    with pytest.raises(NotReady):
        parse_media(text)


def test_argv_holds_only_formatted_numbers() -> None:
    media = parse_media(MEDIA)
    thumb = Thumbnail("webp", Decimal("5.5"), 320)
    cmd = argv("ffmpeg", "/w/in.mp4", "/w/out", thumb, window(thumb, media, FRAME), 320)
    assert cmd[cmd.index("-ss") + 1] == "1.500000"
    assert cmd[cmd.index("-vf") + 1] == "scale=320:-2:flags=bicubic"
    assert ["-frames:v", "1"] == cmd[cmd.index("-frames:v") : cmd.index("-frames:v") + 2]
    assert "libwebp" in cmd and "-t" not in cmd
    anim = Animated(Decimal("1"), Decimal("2.45"), 10, 160)
    cmd = argv("ffmpeg", "/w/in.mp4", "/w/out", anim, window(anim, media, FRAME), 160)
    assert cmd[cmd.index("-t") + 1] == "1.450000"
    assert cmd[cmd.index("-vf") + 1] == "fps=10,scale=160:-2:flags=bicubic"
    assert cmd[cmd.index("-frames:v") + 1] == "15"  # frames at 1.0, 1.1, ... 2.4
    assert "libwebp_anim" in cmd


@pytest.mark.parametrize(
    ("name", "query", "expected"),
    [
        ("thumbnail.jpg", [("time", "12.5"), ("width", "640")], Thumbnail("jpg", Decimal("12.5"), 640)),
        ("thumbnail.avif", [("time", "0")], Thumbnail("avif", Decimal(0), None)),
        ("animated.webp", [("start", "1"), ("end", "2")], Animated(Decimal(1), Decimal(2), 10, None)),
        ("animated.webp", [("start", "0"), ("end", "10"), ("fps", "15"), ("width", "640")],
         Animated(Decimal(0), Decimal(10), 15, 640)),
    ],
)  # fmt: skip
def test_parse(name: str, query: list[tuple[str, str]], expected: object) -> None:
    assert parse(name, query) == expected


def test_parse_refuses_other_images_and_shows_client_text_safely() -> None:
    with pytest.raises(BadParameter, match="no such image"):
        parse("thumbnail.gif", [("time", "1")])
    with pytest.raises(BadParameter) as refused:
        parse("thumbnail.jpg", [("time", "\x1b[2J" + "9" * 1000)])
    assert "\x1b" not in str(refused.value) and len(str(refused.value)) < 200


def test_gate_refuses_past_its_limit() -> None:
    gate = Gate(2, retry_after=4)
    gate.enter()
    gate.enter()
    with pytest.raises(Busy) as busy:
        gate.enter()
    assert busy.value.retry_after == 4
    gate.leave()
    gate.enter()
