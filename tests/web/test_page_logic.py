"""The page's pure logic (web/static/format.js, storyboard.js, menus.js, growing.js, listing.js) run under
Node.js: the words a creator reads, the embed snippet, the storyboard rewrite that keeps a private asset's
token, what hls.js is attached with, the list's URL."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.node]

STATIC = Path(__file__).resolve().parents[2] / "web" / "static"

SCRIPT = """
import { timeLeft, humanDuration, humanSize, stateText, embedSnippet } from "%(static)s/format.js";
import { absoluteStoryboard } from "%(static)s/storyboard.js";
import { qualityItems, audioItems } from "%(static)s/menus.js";
import { hlsMedia } from "%(static)s/growing.js";
const vtt = "WEBVTT\\n\\n00:00:00.000 --> 00:00:01.000\\nstoryboard.jpg#xywh=0,0,160,90\\n\\n" +
  "00:00:01.000 --> 00:00:02.000\\nstoryboard.jpg#xywh=160,0,160,90\\n";
const hls = "https://edge.example/a1/a1/master.m3u8?token=v1.9.a.sig";
const asset = { id: "a1", title: 'My "show" <b>', playback: { hls } };
console.log(JSON.stringify({
  left: [timeLeft(3199), timeLeft(30), timeLeft(120), timeLeft(3900), timeLeft(null), timeLeft(-1)],
  durations: [humanDuration(8), humanDuration(3725.4), humanDuration(null)],
  sizes: [humanSize(2100000), humanSize(206000), humanSize(12), humanSize(3.2e9)],
  states: [
    stateText({ state: "processing", progress: 0.37, eta_seconds: 125 }),
    stateText({ state: "uploading", progress: 0.199 }),
    stateText({ state: "queued" }),
    stateText({ state: "queued", queue_position: 3 }),
  ],
  embed: embedSnippet("https://vod.example", asset),
  storyboard: absoluteStoryboard(vtt, "https://edge.example/a1/a1/storyboard.vtt?token=v1.9.a.sig"),
  quality: qualityItems([{ value: 0, height: 180, bandwidth: 300000 }, { value: 1, height: 360, bandwidth: 900000 }]),
  audio: audioItems([{ value: 0, name: "English" }, { value: 1, lang: "fr" }]),
  growing: [
    hlsMedia("video", { state: "processing", duration: 16 }),
    hlsMedia("video", { state: "ready", duration: 16 }),
    hlsMedia("video", { state: "processing", duration: null }),
  ],
}));
"""


def run_module(script: Path, template: str) -> Any:
    """`template` (importing the page's modules from %(static)s) run by Node.js: the JSON it prints."""
    node = shutil.which("node")
    assert node, "node is needed"
    script.write_text(template % {"static": STATIC.as_uri()})
    run = subprocess.run([node, str(script)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def test_words_snippet_storyboard_and_menus(tmp_path: Path) -> None:
    seen = run_module(tmp_path / "check.mjs", SCRIPT)
    assert seen["left"] == ["53 min left", "less than a minute left", "2 min left", "1 h 5 min left", "", ""]
    assert seen["durations"] == ["0:08", "1:02:05", ""]
    assert seen["sizes"] == ["2.1 MB", "206 KB", "12 bytes", "3.2 GB"]
    assert seen["states"] == [
        "encoding 37% · 2 min left",
        "uploading 19%",
        "waiting for a worker",
        "waiting: 2 ahead in line",
    ]
    # The snippet carries the private asset's token and cannot be broken out of by the title.
    assert seen["embed"] == (
        '<iframe src="https://vod.example/embed/a1?token=v1.9.a.sig" width="640" height="360" '
        'title="My &#34;show&#34; &#60;b&#62;" allow="fullscreen; picture-in-picture" allowfullscreen '
        'style="border:0"></iframe>'
    )
    # Every sprite made absolute with the map's token (media-chrome would resolve it without).
    board = seen["storyboard"]
    assert board["cues"] == 2 and board["sprites"] == ["https://edge.example/a1/a1/storyboard.jpg?token=v1.9.a.sig"]
    assert "https://edge.example/a1/a1/storyboard.jpg?token=v1.9.a.sig#xywh=160,0,160,90" in board["text"]
    assert [i["text"] for i in seen["quality"]] == ["Auto", "360p · 900 kb/s", "180p · 300 kb/s"]
    assert [i["value"] for i in seen["quality"]] == ["auto", "1", "0"]
    assert [i["text"] for i in seen["audio"]] == ["English", "fr"]
    # Still encoding: hls.js gets the probed duration; ready, or with none probed, the bare <video>.
    assert seen["growing"] == [{"media": "video", "overrides": {"duration": 16}}, "video", "video"]


LISTING = """
import { assetsUrl } from "%(static)s/listing.js";
console.log(JSON.stringify([
  assetsUrl("https://api.example", 25, "", ""),
  assetsUrl("https://api.example", 25, "ready", "  100%% holiday_&x=1 "),
  assetsUrl("https://api.example", 25, "", "   "),
  assetsUrl("https://api.example", 25, "", "y".repeat(150)),
]));
"""


FAMILIES = """
import { codecFamily, familyRungs, qualityItems } from "%(static)s/menus.js";
// hls.js's levels of a master listing both families (sorted by bit rate: AV1 first at each height).
const levels = [
  ["av01.0.00M.08", 234, 90000], ["avc1.64000d", 234, 150000],
  ["av01.0.01M.08", 360, 240000], ["avc1.64001e", 360, 370000],
].map(([codecs, height, bandwidth], value) => ({ value, height, bandwidth, family: codecFamily(codecs) }));
const texts = (rungs) => qualityItems(rungs).map((i) => `${i.value}:${i.text}`);
console.log(JSON.stringify({
  families: ["avc1.64001e", "av01.0.04M.08", "avc1.64001e,mp4a.40.2", "", undefined].map(codecFamily),
  av1: texts(familyRungs(levels, 2)),
  h264: texts(familyRungs(levels, 1)),
  unknown: texts(familyRungs(levels, -1)),
  // A browser without AV1: hls.js lists the H.264 levels alone.
  one: texts(familyRungs(levels.filter((l) => l.family === "avc1").map((l, value) => ({ ...l, value })), 0)),
}));
"""


def test_the_quality_menu_lists_the_rungs_of_the_family_playing(tmp_path: Path) -> None:
    seen = run_module(tmp_path / "families.mjs", FAMILIES)
    assert seen["families"] == ["avc1", "av01", "avc1", "", ""]
    # One entry per height, of the family playing; the values are hls.js's level indexes.
    assert seen["av1"] == ["auto:Auto", "2:360p · 240 kb/s", "0:234p · 90 kb/s"]
    assert seen["h264"] == ["auto:Auto", "3:360p · 370 kb/s", "1:234p · 150 kb/s"]
    assert seen["one"] == ["auto:Auto", "1:360p · 370 kb/s", "0:234p · 150 kb/s"]
    assert len(seen["unknown"]) == 5  # nothing known to play yet: every level


def test_the_list_asks_the_server_to_search(tmp_path: Path) -> None:
    plain, searched, blank, long = run_module(tmp_path / "listing.mjs", LISTING)
    assert plain == blank == "https://api.example/assets?limit=25"
    # Encoded: the search's own & and = stay in q; the API's bound (100 characters) is kept.
    assert searched == "https://api.example/assets?limit=25&state=ready&q=100%25+holiday_%26x%3D1"
    assert long == "https://api.example/assets?limit=25&q=" + "y" * 100
