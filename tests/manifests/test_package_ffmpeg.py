"""A real two-rung CMAF package, encoded by ffmpeg, described by transcoder.fmp4, rendered,
validated, parsed back, and decoded end to end by ffmpeg as a third player (HLS and DASH)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import imageio_ffmpeg
import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from manifests import dash, hls
from manifests.model import Segment, Track
from manifests.validate import validate_package
from tests.media import media_duration
from transcoder import fmp4

SECONDS = 6
RUNGS = {"180p": (320, 180, "300k"), "360p": (640, 360, "800k")}


def encode(out: Path) -> None:
    filters = "[0:v]split=2[a][b];[a]scale=320:180[v0];[b]scale=640:360[v1]"
    argv = [
        imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error",
        "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={SECONDS}",
        "-f", "lavfi", "-i", f"sine=sample_rate=48000:duration={SECONDS}",
        "-filter_complex", filters, "-map", "[v0]", "-map", "[v1]", "-map", "1:a",
        "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high",
        "-b:v:0", "300k", "-b:v:1", "800k",
        # identical GOPs on every rung: the segment boundaries players switch at are shared
        "-g", "60", "-keyint_min", "60", "-sc_threshold", "0",
        "-c:a", "aac", "-ac", "2",
        "-f", "hls", "-hls_segment_type", "fmp4", "-hls_time", "2", "-hls_playlist_type", "vod",
        "-start_number", "1", "-hls_segment_filename", str(out / "%v/seg_%05d.m4s"),
        "-var_stream_map", "v:0,name:180p v:1,name:360p a:0,name:audio",
        str(out / "%v/ffmpeg.m3u8"),
    ]  # fmt: skip
    subprocess.run(argv, check=True, timeout=300)


def read(directory: Path) -> Track:
    listed = m3u8.load(str(directory / "ffmpeg.m3u8"))
    shutil.copy(directory / listed.segment_map[0].uri, directory / "init.mp4")  # ffmpeg names it init_<n>.mp4
    init = fmp4.parse_init((directory / "init.mp4").read_bytes())
    segments = []
    for entry in listed.segments:
        data = (directory / entry.uri).read_bytes()
        info = fmp4.parse_media_segment(data, init)
        ranged = info.iframe_range if init.kind == "video" else None
        segments.append(
            Segment(entry.uri, info.duration, len(data), info.start, info.starts_with_idr, ranged)
        )
    return Track(
        name=directory.name,
        kind=init.kind,
        codecs=init.codecs,
        init_uri="init.mp4",
        segments=tuple(segments),
        timescale=init.timescale,
        width=init.width,
        height=init.height,
        frame_rate=30.0 if init.kind == "video" else None,
        sar=init.sar,
        channels=init.channels,
        sample_rate=init.sample_rate,
        language="en" if init.kind == "audio" else "und",
    )


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Track], list[Track]]:
    out = tmp_path_factory.mktemp("package")
    encode(out)
    videos = [read(out / name) for name in RUNGS]
    audios = [read(out / "audio")]
    texts = {t.playlist_uri: hls.render_media(t) for t in [*videos, *audios]}
    texts |= {t.iframe_playlist_uri: hls.render_iframes(t) for t in videos}
    texts["master.m3u8"] = hls.render_master(videos, audios)
    texts["manifest.mpd"] = dash.render_mpd(videos, audios, duration=max(t.duration for t in videos))
    for uri, text in texts.items():
        (out / uri).write_text(text)
    return out, videos, audios


@pytest.mark.ffmpeg
def test_real_package_validates_and_round_trips(package: tuple[Path, list[Track], list[Track]]) -> None:
    out, videos, audios = package
    tracks = [*videos, *audios]
    assert all(s.starts_with_idr for v in videos for s in v.segments)
    media = {
        uri: (out / uri).read_text()
        for uri in [t.playlist_uri for t in tracks] + [v.iframe_playlist_uri for v in videos]
    }
    known = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
    master = (out / "master.m3u8").read_text()
    validate_package(master, media, tracks=tracks, known_uris=known)
    for text in [master, *media.values()]:
        assert m3u8.loads(text).dumps(infspec="milliseconds") == text
    mpd = MPEGDASHParser.parse((out / "manifest.mpd").read_text())
    video_set = mpd.periods[0].adaptation_sets[0]
    assert [(r.id, r.width, r.height) for r in video_set.representations] == [
        ("180p", 320, 180),
        ("360p", 640, 360),
    ]
    assert all(r.codecs.startswith("avc1.64") for r in video_set.representations)


@pytest.mark.ffmpeg
@pytest.mark.parametrize("entry", ["master.m3u8", "manifest.mpd"])
def test_ffmpeg_plays_the_package(package: tuple[Path, list[Track], list[Track]], entry: str) -> None:
    out, _, _ = package
    assert media_duration(str(out / entry)) == pytest.approx(SECONDS, abs=0.1)
