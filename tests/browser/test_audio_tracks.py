"""hls.js and dash.js in Chromium list every audio track of an asset the pipeline made, and switching
track changes what is heard (each track a different tone, told apart by a Web Audio analyser)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.test_playback import HERE, node_modules, serving
from tests.media import ffmpeg_exe
from tests.transcoder.harness import assert_succeeded, pipeline_context, published_prefix, submit
from transcoder.pipeline import run_job

TONES = {"en": 440.0, "fr": 1000.0}


def _two_languages(path: Path) -> Path:
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25:duration=8"]
    for tone in TONES.values():
        argv += ["-f", "lavfi", "-i", f"sine=frequency={tone:g}:sample_rate=48000:duration=8"]
    argv += ["-map", "0:v", "-map", "1:a", "-map", "2:a", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"]
    argv += ["-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fra"]
    subprocess.run([*argv, str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def stream_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("audio-tracks")
    ctx = pipeline_context(tmp)
    asset_id, job_id = submit(ctx, _two_languages(tmp / "two.mp4"))
    run_job(ctx, job_id)
    assert_succeeded(ctx, asset_id, job_id)
    root = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)
    with serving(root) as url:
        yield url


@pytest.mark.browser
@pytest.mark.ffmpeg
def test_players_list_the_audio_tracks_and_switching_changes_what_is_heard(stream_url: str) -> None:
    node_modules()
    proc = subprocess.run(
        ["node", "audio_tracks.mjs", "--hls", f"{stream_url}/master.m3u8", "--dash", f"{stream_url}/manifest.mpd"],
        cwd=HERE,
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(
            f"audio_tracks.mjs printed no report (exit {proc.returncode}): {proc.stderr[-3000:]}"
        ) from None
    assert report["ok"], json.dumps(report, indent=2) + proc.stderr[-2000:]
    for result in report["results"]:
        tracks = result["tracks"]
        assert sorted((t["name"], t["lang"]) for t in tracks) == [("English", "en"), ("Français", "fr")], result
        for heard in result["heard"]:
            expected = TONES[tracks[heard["track"]]["lang"]]
            # One FFT bin is 48000 / 16384 = 2.9 Hz wide.
            assert heard["hz"] == pytest.approx(expected, abs=10), result
