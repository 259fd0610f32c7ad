"""The real path: upload with tus, transcode, then hls.js and dash.js play from the edge.

The page is served from play.mjs's own loopback origin, the stream from the edge `vodstack up`
started: every manifest and segment request crosses origins, as on a customer's site.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.browser.test_playback import HERE, node_modules
from tests.media import make_clip
from tests.vodstack.test_stack import start_stack, stop_stack, tus_upload, wait_for_terminal

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.ffmpeg, pytest.mark.timeout(900)]


def test_players_play_what_the_pipeline_published_through_the_edge(tmp_path: Path) -> None:
    node_modules()
    stack = start_stack(tmp_path, {})
    try:
        clip = make_clip(tmp_path / "clip.mp4", seconds=16, size="960x540")
        asset = wait_for_terminal(stack, tus_upload(stack, clip))
        assert asset["state"] == "ready", asset
        playback = asset["playback"]
        proc = subprocess.run(
            ["node", "play.mjs", "--hls", str(playback["hls"]), "--dash", str(playback["dash"])],
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        stop_stack(stack, tmp_path)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"play.mjs printed no report (exit {proc.returncode}): {proc.stderr[-3000:]}") from None
    assert report["ok"], json.dumps(report, indent=2)
    renditions = sorted(r["height"] for r in asset["renditions"] if r["kind"] == "video")  # type: ignore[index]
    for result in report["results"]:
        assert sorted(r["height"] for r in result["checks"]["rungs"]) == renditions
