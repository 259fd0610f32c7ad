"""The real path: upload with tus, transcode, then hls.js and dash.js play from the edge.

The page is served from play.mjs's own loopback origin, the stream from the edge `vodstack up`
started: every manifest and segment request crosses origins, as on a customer's site.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.harness import run_script
from tests.media import make_clip
from tests.vodstack.test_stack import start_stack, stop_stack, tus_upload, wait_for_terminal

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.ffmpeg, pytest.mark.timeout(900)]

# Long enough for every rung's switch (each restarts at 1 s and plays 1 s) and a seek to the middle
# before the end; the three downloads each play their second half in real time.
SECONDS = 8.0


def test_players_play_what_the_pipeline_published_through_the_edge(tmp_path: Path) -> None:
    stack = start_stack(tmp_path, {})
    try:
        clip = make_clip(tmp_path / "clip.mp4", seconds=SECONDS, size="960x540")
        asset = wait_for_terminal(stack, tus_upload(stack, clip))
        assert asset["state"] == "ready", asset
        playback = asset["playback"]
        # The MP4 and M4A downloads, in a plain <video> from the same edge (Range requests to seek).
        files = [arg for d in asset["downloads"] for arg in ("--file", str(d["url"]))]  # type: ignore[index]
        report = run_script("play.mjs", "--hls", str(playback["hls"]), "--dash", str(playback["dash"]), *files)
    finally:
        stop_stack(stack, tmp_path)
    renditions = sorted(r["height"] for r in asset["renditions"] if r["kind"] == "video")  # type: ignore[index]
    streams = [r for r in report["results"] if r["player"] != "video element"]
    for result in streams:
        assert sorted(r["height"] for r in result["checks"]["rungs"]) == renditions
    files = [r for r in report["results"] if r["player"] == "video element"]
    downloads = {str(d["url"]): d for d in asset["downloads"]}  # type: ignore[index]
    assert len(files) == len(downloads) == 3, asset["downloads"]
    for result in files:
        download, checks = downloads[result["url"]], result["checks"]
        # The highest and lowest rung at their size, the M4A with no picture; each plays to its end.
        assert checks["height"] == (download["height"] or 0), result
        assert abs(checks["duration"] - SECONDS) < 0.1 and abs(checks["ended_at"] - checks["duration"]) < 0.1, result
        assert checks["ranges"], result  # Chromium fetched it by ranges, answered by the edge
