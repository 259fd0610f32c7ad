"""hls.js and dash.js in Debian's Chromium play a real package served cross-origin.

The stream server here stands in for the edge (CORS on, content types from manifests.mime); the
same play.mjs takes an edge URL when the whole stack is up. Needs node, npm and /usr/bin/chromium;
`npm ci` runs once when node_modules is missing (never `npx playwright install`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from manifests import hls
from manifests.model import Track
from tests.browser.harness import run_script, serving_directory
from tests.manifests.cmaf_package import build_package
from transcoder.package.progressive import EVENT_PLAYLIST_NAME

RUNGS = {"180p": (320, 180, "250k"), "360p": (640, 360, "700k"), "540p": (960, 540, "1400k")}


@pytest.fixture(scope="module")
def stream_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("browser-package")
    videos, audios = split_tracks(build_package(root, seconds=16, rungs=RUNGS))
    # The same media as a video still encoding would publish it (transcoder.package.progressive): the lowest
    # rung and the audio as growing EVENT playlists, without ENDLIST, under a partial master.
    growing = [replace(t, playlist_name=EVENT_PLAYLIST_NAME) for t in [videos[0], *audios]]
    for track in growing:
        (root / track.playlist_uri).write_text(hls.render_event(track, target_duration=2))
    (root / "growing.m3u8").write_text(hls.render_master(growing[:1], growing[1:], complete=False, target_duration=2))
    # Early in such an encode: 6 s of the 16 published so far.
    partial = [replace(t, segments=t.segments[:3], playlist_name="partial.m3u8") for t in growing]
    for track in partial:
        (root / track.playlist_uri).write_text(hls.render_event(track, target_duration=2))
    (root / "partial.m3u8").write_text(hls.render_master(partial[:1], partial[1:], complete=False, target_duration=2))
    with serving_directory(root) as url:
        yield url


def split_tracks(tracks: list[Track]) -> tuple[list[Track], list[Track]]:
    return [t for t in tracks if t.kind == "video"], [t for t in tracks if t.kind == "audio"]


@pytest.mark.browser
@pytest.mark.ffmpeg
def test_hls_js_and_dash_js_play_every_rung_and_seek(stream_url: str) -> None:
    report = run_script("play.mjs", "--hls", f"{stream_url}/master.m3u8", "--dash", f"{stream_url}/manifest.mpd")
    for result in report["results"]:
        assert result["checks"]["advanced_5s"]
        assert [r["height"] for r in result["checks"]["rungs"]] == [180, 360, 540]
        assert all(r["ok"] for r in result["checks"]["rungs"])
        assert result["checks"]["seek"]["ok"]


@pytest.mark.browser
@pytest.mark.ffmpeg
def test_hls_js_starts_a_video_still_encoding_at_its_beginning(stream_url: str) -> None:
    # Without EXT-X-START hls.js starts a playlist without ENDLIST three target durations from its
    # end, as for live: 10 s into these 16 s.
    report = run_script("play.mjs", "--hls-start", f"{stream_url}/growing.m3u8", timeout=300)
    assert report["results"][0]["checks"]["start_position"] < 1.0, report


@pytest.mark.browser
@pytest.mark.ffmpeg
def test_a_video_still_encoding_has_its_whole_duration_from_the_start(stream_url: str) -> None:
    # The web page attaches hls.js with the source's probed duration while the asset is not ready
    # (web/static/growing.js): the video's duration is 16 s from the first frame, never the 6 s published
    # so far (hls.js' own figure, which then grows with the playlist).
    report = run_script("play.mjs", "--hls-growing", f"{stream_url}/partial.m3u8", "--source-duration", "16")
    checks = report["results"][0]["checks"]
    assert checks["duration"] == 16, report
    assert {d for d in checks["durations"] if d is not None} == {16}, report  # each change it reported
