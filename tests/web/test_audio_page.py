"""An audio-only asset in the web page's player (Debian's headless Chromium, playwright-core): uploaded
to `vodstack up` with tus, then played on the watch page (hls.js, then dash.js) and the embed page. The
player is media-chrome's audio layout: no <video> shown, the waveform above the control bar and still
there while it plays, no quality items of video heights, the audio-track menu listing both languages;
time advances; axe-core finds nothing serious or critical. Screenshots under the pytest basetemp, in
artifacts/ (web-audio-hls.png, web-audio-embed.png)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.media import make_language_song
from tests.vodstack.test_stack import start_stack, stop_stack, tus_upload, wait_for_terminal
from tests.web.npm_assets import ensure_web_assets

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.ffmpeg, pytest.mark.timeout(600)]


def test_an_audio_only_asset_plays_in_the_page_player(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert Path("/usr/bin/chromium").exists(), "Debian's chromium is needed (apt-get install chromium)"
    node = shutil.which("node")
    assert node, "node is needed to drive the browser"
    ensure_web_assets()
    artifacts = tmp_path_factory.getbasetemp() / "artifacts"
    artifacts.mkdir(exist_ok=True)
    song = make_language_song(tmp_path / "song.mka", {"eng": 440.0, "fra": 1000.0}, seconds=6.0)
    stack = start_stack(tmp_path, {})
    try:
        asset = wait_for_terminal(stack, tus_upload(stack, song))
        assert asset["state"] == "ready" and asset["kind"] == "audio", asset
        driver = Path(__file__).with_name("audio_page.mjs")
        argv = [node, str(driver), stack.info["ingest"], str(asset["id"]), stack.info["token"], str(artifacts)]
        run = subprocess.run(argv, capture_output=True, text=True, timeout=480)
    finally:
        stop_stack(stack, tmp_path)
    lines = [line for line in run.stdout.splitlines() if line.startswith("{")]
    assert lines, f"driver printed no result:\n{run.stdout}\n{run.stderr}"
    seen = json.loads(lines[-1])
    (artifacts / "web-audio-run.json").write_text(json.dumps(seen, indent=2))
    assert run.returncode == 0 and seen["ok"], json.dumps(seen, indent=2) + run.stderr
    assert seen["pageErrors"] == [], seen["pageErrors"]

    for name in ("hls", "dash", "embed"):
        player = seen[name]
        assert player["error"] is None, (name, player)
        assert player["played"]["to"] > player["played"]["from"] + 1, (name, player["played"])
        assert player["audioMode"] and player["kind"] == "audio" and not player["videoShown"], (name, player)
        assert player["hiddenButtons"] == ["media-pip-button", "media-fullscreen-button"], (name, player)
        # The waveform, loaded and shown while playing, stacked above the control bar (not under it).
        poster, bar = player["poster"], player["bar"]
        assert poster["src"].split("?")[0].endswith("/waveform.png") and poster["loaded"] == 1280, (name, poster)
        assert poster["shown"] and bar["shown"] and poster["box"]["height"] > 40, (name, player)
        assert poster["box"]["bottom"] <= bar["box"]["top"] + 1, (name, poster, bar)
        assert bar["box"]["bottom"] <= player["viewport"], (name, bar, player["viewport"])  # in the frame
        # Quality: Auto and the two rates, never a height; the audio menu lists both languages.
        assert not any(re.search(r"\d+p\b", item) for item in player["quality"]), (name, player["quality"])
        assert player["captionsButton"], name
    for name in ("hls", "embed"):
        player = seen[name]
        assert player["quality"][0] == "Auto" and len(player["quality"]) == 3, (name, player["quality"])
        assert sorted(player["audio"]) == ["English", "Français"] and player["audioButtonShown"], (name, player)
    assert seen["hls"]["openMenu"]["inside"] and seen["hls"]["openMenu"]["height"] > 40, seen["hls"]["openMenu"]
    assert (seen["hls"]["trackBefore"], seen["hls"]["trackAfter"]) == ("en", "fr"), seen["hls"]
    # Nothing between the waveform and the bar (a closed menu keeps its box unless taken out of the flow).
    assert seen["hls"]["bar"]["box"]["top"] - seen["hls"]["poster"]["box"]["bottom"] < 2, seen["hls"]
    # axe-core: no serious or critical violation on the player or the embed page.
    assert len(seen["axe"]) == 4, seen["axe"]
    serious = {name: found for name, found in seen["axe"].items() if "(minor)" not in name}
    assert all(found == [] for found in serious.values()), seen["axe"]
