"""Instant clips played by real players: a range-bound clip URL of a ready package, served by a real
origin and edge over loopback, plays in ffmpeg (every rendition, every stream decoded, `-map 0`)
and in hls.js and dash.js in Chromium, each lasting the requested range to within one segment;
the same token refuses another range and the whole asset."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from cdn_edge.app import create_app as create_edge
from origin.app import create_app as create_origin
from playback.clips import ClipRange
from playback.signing import sign_token
from storage.filesystem import FilesystemObjectStore
from tests.browser.harness import run_script
from tests.cdn_edge.conftest import serving
from tests.cdn_edge.edge_stack import edge_settings, origin_settings
from tests.manifests.cmaf_package import build_package
from tests.media import play_every_rendition

ASSET = "c0ffee"
SECRET = "clip-playback-secret"
SEGMENT = 2.0  # the package's segment duration (cmaf_package: -hls_time 2, GOP of 60 at 30 fps)
START, END = 4.5, 9.5  # kept: [4, 6) [6, 8) [8, 10): 6 s for 5 s asked, within one segment
RUNGS = {"180p": (320, 180, "250k")}


@dataclass(frozen=True)
class Clip:
    hls: str
    dash: str
    edge: str
    token: str


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clip]:
    root = tmp_path_factory.mktemp("clip-package")
    build_package(root / "package", seconds=12, rungs=RUNGS)
    store = FilesystemObjectStore(root / "objects")
    store.ensure_bucket("media")
    for path in (root / "package").rglob("*"):
        if path.is_file() and not path.name.startswith("ffmpeg"):
            store.put_bytes("media", f"{ASSET}/a1/{path.relative_to(root / 'package').as_posix()}", path.read_bytes())
    origin = create_origin(origin_settings(root / "objects", access="signed"), store=store)
    with serving(origin) as origin_server:
        edge = create_edge(edge_settings(root, "edge", "edge", origin_server.url, signing_secret=SECRET))
        with serving(edge) as edge_server:
            range_ = ClipRange(round(START * 1000), round(END * 1000))
            token = sign_token(SECRET.encode(), ASSET, int(time.time()) + 3600, clip=range_)
            query = f"{range_.query()}&token={token}"
            base = f"{edge_server.url}/{ASSET}/a1"
            yield Clip(f"{base}/master.m3u8?{query}", f"{base}/manifest.mpd?{query}", edge_server.url, token)


def _within_a_segment(seconds: float) -> bool:
    return END - START <= seconds + 0.05 and seconds <= END - START + SEGMENT + 0.05


@pytest.mark.ffmpeg
def test_ffmpeg_plays_every_stream_of_the_clip(clip: Clip) -> None:
    for url in (clip.hls, clip.dash):
        played = play_every_rendition(url)
        streams = [s for streams in played.values() for s in streams]
        assert sorted(s.kind for s in streams) == ["audio", "video"], played
        for stream in streams:
            # whole segments [4, 10): decoded without a gap, starting at the segment holding START
            assert _within_a_segment(stream.decoded), (url, stream)
            assert stream.end - stream.start == pytest.approx(stream.decoded, abs=0.05), (url, stream)
            assert stream.decoded == pytest.approx(6.0, abs=0.05), (url, stream)


@pytest.mark.ffmpeg
def test_the_bound_token_refuses_other_ranges(clip: Clip) -> None:
    base = clip.hls.split("?", 1)[0]
    assert httpx.get(clip.hls).status_code == 200
    for query in ("start=0&end=12", "start=4.5&end=9.6", "start=4.5", ""):
        r = httpx.get(f"{base}?{query}&token={clip.token}")
        assert (r.status_code, r.json()["error"]) == (403, "token_clip_mismatch"), query


@pytest.mark.browser
@pytest.mark.ffmpeg
def test_hls_js_and_dash_js_play_the_clip_to_its_end(clip: Clip) -> None:
    # Each step exits as soon as it is reached; 90 s (not play.mjs's 30) is room for a loaded machine,
    # where dash.js's run of the clip was seen to time out.
    report = run_script("play.mjs", "--step-timeout-ms", "90000", "--clip-hls", clip.hls, "--clip-dash", clip.dash)
    for result in report["results"]:
        checks = result["checks"]
        assert _within_a_segment(checks["duration"]), result
        assert checks["start_position"] < 0.5, result  # from the clip's first frame
        assert checks["ended_at"] == pytest.approx(checks["duration"], abs=0.1), result
