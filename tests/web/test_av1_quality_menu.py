"""The page's player on an asset with AV1 rungs beside the H.264 ones (VODSTACK_TRANSCODER_AV1 on), in Debian's
headless Chromium (playwright-core), which decodes both: the quality menu lists one entry per height, of the
codec family playing (hls.js keeps a level per rung of each family it can decode); a browser without AV1 gets
the H.264 rungs; dash.js plays one video AdaptationSet, one family. Picking the other height plays that rung,
in the same family.

The asset is published by the real pipeline; the page is the web app's watch page, its asset API a stand-in
answering with the published package's URLs (served beside it, as the edge would)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from tests.cdn_edge.conftest import serving
from tests.media import make_clip
from tests.transcoder.harness import assert_succeeded, pipeline_context, published_prefix, submit
from tests.web.npm_assets import ensure_web_assets
from transcoder.pipeline import run_job
from web.app import create_web_app
from web.settings import WebSettings

pytestmark = [pytest.mark.browser, pytest.mark.ffmpeg, pytest.mark.timeout(600)]

SECONDS = 6.0


def page_and_package(root: Path, asset_id: str, package: Path) -> Starlette:
    """The web app, with the asset API answering for `asset_id` and the package under /media/."""

    async def asset(request: Request) -> JSONResponse:
        base = f"{request.base_url}media"
        playback = {"hls": f"{base}/master.m3u8", "dash": f"{base}/manifest.mpd", "poster": None, "storyboard": None}
        body = {"id": asset_id, "title": "AV1 beside H.264", "state": "ready", "kind": "video", "duration": SECONDS}
        return JSONResponse({**body, "playback": playback})

    return Starlette(
        routes=[
            Route(f"/assets/{asset_id}", asset),
            Mount("/media", StaticFiles(directory=package)),
            Mount("/", create_web_app(WebSettings())),
        ]
    )


def test_the_quality_menu_lists_one_entry_per_height_of_the_family_playing(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node is needed to drive the browser"
    ensure_web_assets()
    ctx = pipeline_context(tmp_path, av1=True, av1_preset=13)
    asset_id, job_id = submit(ctx, make_clip(tmp_path / "clip.mp4", seconds=SECONDS, size="640x360"))
    run_job(ctx, job_id)
    assert_succeeded(ctx, asset_id, job_id)
    package = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)
    with serving(page_and_package(tmp_path, asset_id, package)) as server:
        driver = Path(__file__).with_name("av1_menu.mjs")
        run = subprocess.run([node, str(driver), server.url, asset_id], capture_output=True, text=True, timeout=480)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, f"driver printed no result:\n{run.stdout}\n{run.stderr}"
    seen = json.loads(lines[-1])
    assert run.returncode == 0 and seen["ok"], json.dumps(seen, indent=2) + run.stderr
    assert seen["pageErrors"] == []

    for name, family in (("hls", "av01"), ("h264Only", "avc1"), ("dash", None)):
        before, after = seen[name]["before"], seen[name]["after"]
        assert before["error"] is None and after["error"] is None, (name, seen[name])
        # Auto, then one entry per height: 360p and 234p, never a height twice.
        heights = [item.split(" ")[0] for item in before["items"]]
        assert heights == ["Auto", "360p", "234p"], (name, before["items"])
        if family:
            assert before["codec"] == family, (name, before)
        # The other height plays, in the family that played before.
        assert seen[name]["picked"] != before["playing"], (name, seen[name])
        assert after["playing"] == seen[name]["picked"] and after["codec"] == before["codec"], (name, seen[name])
    # Each menu lists the rates of its own family: the AV1 rungs spend fewer bits than the H.264 ones.
    assert seen["hls"]["before"]["items"] != seen["h264Only"]["before"]["items"]
