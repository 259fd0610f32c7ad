"""The web page in Debian's headless Chromium (playwright-core): sign in, drop two clips on the
creator page, pause and resume them, watch them become ready in the list, play one with the
media-chrome player over hls.js (quality menu, storyboard thumbnail on the seek bar, the audio menu
switching between the clip's two languages, the captions menu showing an uploaded SRT's cue) and dash.js,
copy the embed snippet and play the embed page without a key, edit a title, delete after
confirming; then a file that is not a video, whose failure and reason the list shows. axe-core
checks every page for serious or critical accessibility violations (none is allowed); open menus are
checked in Chromium's own accessibility tree.

Screenshots are kept under the pytest basetemp, in artifacts/ (web-assets.png, web-player-*.png,
web-share.png, web-embed.png, web-delete-confirm.png; web-failure.png when it fails).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.media import make_clip, make_language_clip
from tests.transcoder.test_text_tracks import UPLOADED_SRT
from tests.vodstack.test_stack import start_stack, stop_stack
from tests.web.npm_assets import ensure_web_assets

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.ffmpeg, pytest.mark.timeout(600)]

CHROMIUM = "/usr/bin/chromium"


def test_upload_wait_play_and_delete_through_the_page(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (apt-get install chromium)"
    node = shutil.which("node")
    assert node, "node is needed to drive the browser"
    ensure_web_assets()
    artifacts = tmp_path_factory.getbasetemp() / "artifacts"
    artifacts.mkdir(exist_ok=True)
    # Two audio languages (a tone each), for the audio menu; the captions come as an SRT once it is ready.
    tones = {"eng": 440.0, "fra": 1000.0}
    clip = make_language_clip(tmp_path / f"page-clip-{secrets.token_hex(4)}.mp4", tones, seconds=8, size="640x360")
    srt = tmp_path / "en.srt"
    srt.write_bytes(UPLOADED_SRT)
    second = make_clip(tmp_path / f"second-{secrets.token_hex(4)}.mp4", seconds=2, size="320x180")
    # Small upload chunks, so that pausing mid-upload is observable on a 2 MB clip.
    stack = start_stack(tmp_path, {"VODSTACK_WEB_UPLOAD_CHUNK_BYTES": str(128 * 1024)})
    try:
        driver = Path(__file__).with_name("drive_page.mjs")
        run = subprocess.run(
            [
                node,
                str(driver),
                f"{stack.info['ingest']}/",
                str(clip),
                str(second),
                str(artifacts),
                stack.info["token"],
                str(srt),
            ],
            capture_output=True,
            text=True,
            timeout=540,
        )
        lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
        assert lines, f"driver printed no result:\n{run.stdout}\n{run.stderr}"
        seen = json.loads(lines[-1])
        (artifacts / "web-run.json").write_text(json.dumps(seen, indent=2))
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
        "played embed",
        "edited",
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
    # Two dropped files, one row each, both moving; paused, each row says so.
    assert sorted(r["name"] for r in seen["uploadRows"]) == sorted([clip.name, second.name]), seen["uploadRows"]
    assert all("(paused)" in text for text in seen["pausedRows"]), seen["pausedRows"]
    # The list's row of an uploading file agrees with the upload's own bar, in words.
    while_uploading = seen["listRowWhileUploading"]
    assert while_uploading["value"] == while_uploading["upload"] > 0, while_uploading
    assert while_uploading["state"] == f"uploading {int(100 * while_uploading['upload'])}%", while_uploading
    assert "2 of 2 uploaded" in seen["uploadStatus"]
    # The ready row: poster loaded, title, state, duration 0:08, a size in MB, a date.
    assert seen["poster"] > 0, seen["readyRow"]
    assert clip.name in seen["readyRow"] and "ready" in seen["readyRow"] and "0:08" in seen["readyRow"], seen[
        "readyRow"
    ]
    assert any(cell.endswith(" MB") or cell.endswith(" KB") for cell in seen["readyRow"]), seen["readyRow"]
    # The embed snippet is an <iframe> of /embed/<asset>, and that page played without a key.
    assert seen["embed"]["snippet"].startswith("<iframe ") and f"/embed/{seen['assetId']}" in seen["embed"]["snippet"]
    assert seen["embed"]["played"] > 1 and seen["embed"]["url"].endswith("/master.m3u8"), seen["embed"]
    # Editing: saved where the server has PATCH /assets/{id}; otherwise the dialog says why.
    assert seen["edit"]["patch"] or "cannot edit" in seen["edit"]["message"], seen["edit"]
    assert clip.name in seen["deleteQuestion"] and seen["keptAfterCancel"] == 1, seen
    # axe-core: no serious or critical violation on any page, none allowed.
    assert len(seen["axe"]) == 8, seen["axe"]
    serious = {name: found for name, found in seen["axe"].items() if "(minor)" not in name}
    assert all(found == [] for found in serious.values()), seen["axe"]
    # Each open menu, as Chromium exposes it: only radio items, those the page put there (a menu with
    # no items, or items without their role, is what aria-required-children is about).
    assert seen["hls"]["qualityTree"] == [{"role": "menuitemradio", "name": n} for n in seen["hls"]["renditions"]]
    audio = seen["audio"]
    assert sorted(audio["items"]) == ["English", "Français"], audio
    assert audio["tree"] == [{"role": "menuitemradio", "name": n} for n in audio["items"]], audio
    # Picking "Français" switched hls.js' audioTrack from the English one.
    assert (audio["before"], audio["after"]) == ("en", "fr"), audio
    captions = seen["captions"]
    assert [t.strip() for t in captions["items"]] == ["Off", "English"], captions
    assert [(i["role"], i["name"].strip()) for i in captions["tree"]] == [
        ("menuitemradio", "Off"),
        ("menuitemradio", "English"),
    ], captions
    # The SRT's first cue (1.0 s to 3.0 s), active at 1.5 s on the shown English track.
    (cue,) = captions["cues"]
    assert (cue["text"], cue["language"]) == ("Hello from the upload", "en"), captions
    assert abs(cue["start"] - 1.0) < 0.05 and abs(cue["end"] - 3.0) < 0.05, captions
    for name in ("web-assets.png", "web-player-hls.png", "web-player-dash.png", "web-embed.png", "web-share.png"):
        assert (artifacts / name).stat().st_size > 10_000, name
