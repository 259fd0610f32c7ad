"""A real two-rung CMAF package, encoded by ffmpeg, described by transcoder.package.fmp4, rendered,
validated, parsed back, and decoded end to end by ffmpeg as a third player (HLS and DASH)."""

from __future__ import annotations

from pathlib import Path

import m3u8
import pytest
from mpegdash.parser import MPEGDASHParser

from manifests.model import Track
from manifests.validate import validate_package
from tests.manifests.cmaf_package import build_package
from tests.media import assert_plays_whole

SECONDS = 6


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Track], list[Track]]:
    out = tmp_path_factory.mktemp("package")
    tracks = build_package(out, seconds=SECONDS)
    return out, [t for t in tracks if t.kind == "video"], [t for t in tracks if t.kind == "audio"]


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
    mpd_text = (out / "manifest.mpd").read_text()
    validate_package(master, media, tracks=tracks, known_uris=known, mpd_text=mpd_text)
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
    assert_plays_whole(str(out / entry), SECONDS)
