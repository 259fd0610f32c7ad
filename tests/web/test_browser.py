"""The web page in Debian's headless Chromium (playwright-core): upload a clip through the page,
pause and resume it, watch it become ready in the asset list, play it with hls.js and dash.js, delete it; then a file
that is not a video, whose failure and reason the list shows.

Screenshots are kept in test-artifacts/ (web-assets.png, web-player-hls.png, web-player-dash.png;
web-failure.png when it fails).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.media import make_clip
from tests.vodstack.test_stack import start_stack, stop_stack
from tests.web.npm_assets import ensure_web_assets

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.ffmpeg, pytest.mark.timeout(600)]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"


def test_upload_wait_play_and_delete_through_the_page(tmp_path: Path) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (apt-get install chromium)"
    node = shutil.which("node")
    assert node, "node is needed to drive the browser"
    ensure_web_assets()
    ARTIFACTS.mkdir(exist_ok=True)
    clip = make_clip(tmp_path / f"page-clip-{secrets.token_hex(4)}.mp4", seconds=8, size="640x360")
    # Small upload chunks, so that pausing mid-upload is observable on a 2 MB clip.
    stack = start_stack(tmp_path, {"VODSTACK_WEB_UPLOAD_CHUNK_BYTES": str(128 * 1024)})
    try:
        driver = Path(__file__).with_name("drive_page.mjs")
        run = subprocess.run(
            [node, str(driver), f"{stack.info['ingest']}/", str(clip), str(ARTIFACTS), stack.info["token"]],
            capture_output=True,
            text=True,
            timeout=540,
        )
        lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
        assert lines, f"driver printed no result:\n{run.stdout}\n{run.stderr}"
        seen = json.loads(lines[-1])
        assert run.returncode == 0 and seen["ok"], json.dumps(seen, indent=2) + run.stderr
    finally:
        stop_stack(stack, tmp_path)

    assert seen["steps"] == [
        "loaded",
        "paused",
        "uploaded",
        "ready",
        "played hls",
        "played dash",
        "deleted",
        "failure shown",
    ]
    assert len(seen["failureReason"]) > 10, seen["failureReason"]
    assert 0.1 < seen["pause"]["at"] < 1
    assert seen["hls"]["bitrate"] > 0 and seen["dash"]["bitrate"] > 0
    assert len(seen["hls"]["renditions"]) >= 3  # auto + at least two rungs
    # The transcoder publishes a storyboard; hovering the scrub bar shows a sprite tile.
    assert seen["hls"]["storyboardCues"] > 0
    assert "storyboard.jpg" in seen["thumbnail"]["image"] and seen["thumbnail"]["visible"], seen["thumbnail"]
    # The pointer at 60% of the bar of an 8 s clip: the preview is of a time around 4.8 s.
    assert len(seen["thumbnail"]["coords"].split()) == 4 and 3 < seen["thumbnail"]["time"] < 7, seen["thumbnail"]
    # The quality menu: Auto first, then the rungs; picking the lowest labels the button with it.
    assert seen["hls"]["renditions"][0] == "Auto", seen["hls"]["renditions"]
    assert seen["hls"]["picked"] != "auto" and seen["hls"]["qualityLabel"] == seen["hls"]["renditions"][-1]
    # The page's own scripts never throw. Failed requests the page recovered from (tus-js-client
    # retries a 5xx) are kept in the artifact for whoever owns the server side, not failed on here.
    assert seen["pageErrors"] == [], seen["pageErrors"]
    (ARTIFACTS / "web-run.json").write_text(json.dumps(seen, indent=2))
    for name in ("web-assets.png", "web-player-hls.png", "web-player-dash.png"):
        assert (ARTIFACTS / name).stat().st_size > 10_000, name
