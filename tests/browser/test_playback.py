"""hls.js and dash.js in Debian's Chromium play a real package served cross-origin.

The stream server here stands in for the edge (CORS on, content types from manifests.mime); the
same play.mjs takes an edge URL when the whole stack is up. Needs node, npm and /usr/bin/chromium;
`npm ci` runs once when node_modules is missing (never `npx playwright install`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from manifests import hls
from manifests.mime import content_type_for
from manifests.model import Track
from tests.manifests.cmaf_package import build_package
from transcoder.package.progressive import EVENT_PLAYLIST_NAME

HERE = Path(__file__).parent
RUNGS = {"180p": (320, 180, "250k"), "360p": (640, 360, "700k"), "540p": (960, 540, "1400k")}


class CorsHandler(SimpleHTTPRequestHandler):
    def end_headers(self) -> None:
        self.send_header("Access-Control-Allow-Origin", "*")
        super().end_headers()

    def guess_type(self, path: str | object) -> str:
        return content_type_for(str(path))

    def log_message(self, format: str, *args: object) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # players abort requests when they switch rungs or seek; a broken pipe is expected then
        pass


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
    with serving(root) as url:
        yield url


@contextmanager
def serving(root: Path) -> Iterator[str]:
    """`root` served over HTTP with CORS (standing in for the edge) on a loopback port: its base URL."""
    server = QuietServer(("127.0.0.1", 0), partial(CorsHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def split_tracks(tracks: list[Track]) -> tuple[list[Track], list[Track]]:
    return [t for t in tracks if t.kind == "video"], [t for t in tracks if t.kind == "audio"]


def node_modules() -> None:
    if (HERE / "node_modules" / "playwright-core").is_dir():
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not on PATH")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, check=True, timeout=600)


def run_players(*args: str) -> dict:  # type: ignore[type-arg]
    """play.mjs with `args` (npm ci first if needed): its report, asserted ok."""
    node_modules()
    proc = subprocess.run(["node", "play.mjs", *args], cwd=HERE, capture_output=True, text=True, timeout=600)
    try:
        report: dict = json.loads(proc.stdout)  # type: ignore[type-arg]
    except json.JSONDecodeError:
        raise AssertionError(f"play.mjs printed no report (exit {proc.returncode}): {proc.stderr[-3000:]}") from None
    assert report["ok"], json.dumps(report, indent=2) + proc.stderr[-2000:]
    return report


@pytest.mark.browser
@pytest.mark.ffmpeg
def test_hls_js_and_dash_js_play_every_rung_and_seek(stream_url: str) -> None:
    report = run_players("--hls", f"{stream_url}/master.m3u8", "--dash", f"{stream_url}/manifest.mpd")
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
    node_modules()
    proc = subprocess.run(
        ["node", "play.mjs", "--hls-start", f"{stream_url}/growing.m3u8"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(proc.stdout)
    assert report["ok"], json.dumps(report, indent=2) + proc.stderr[-2000:]
    assert report["results"][0]["checks"]["start_position"] < 1.0, report
