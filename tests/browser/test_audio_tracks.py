"""hls.js and dash.js in Chromium list every audio track of an asset the pipeline made, and switching
track changes what is heard (each track a different tone, told apart by a Web Audio analyser)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.browser.harness import run_script, serving_directory
from tests.media import make_language_clip, make_language_song
from tests.transcoder.harness import assert_succeeded, pipeline_context, published_prefix, submit
from transcoder.pipeline import run_job

TONES = {"en": 440.0, "fr": 1000.0}


@pytest.fixture(scope="module", params=["video", "audio-only"])
def stream_url(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("audio-tracks")
    ctx = pipeline_context(tmp)
    if request.param == "video":
        source = make_language_clip(tmp / "two.mp4", {"eng": TONES["en"], "fra": TONES["fr"]})
    else:
        source = make_language_song(tmp / "two.mka", {"eng": TONES["en"], "fra": TONES["fr"]})
    asset_id, job_id = submit(ctx, source)
    run_job(ctx, job_id)
    assert_succeeded(ctx, asset_id, job_id)
    root = ctx.settings.storage.root / "media" / published_prefix(ctx, asset_id)
    with serving_directory(root) as url:
        yield url


@pytest.mark.browser
@pytest.mark.ffmpeg
def test_players_list_the_audio_tracks_and_switching_changes_what_is_heard(stream_url: str) -> None:
    streams = ("--hls", f"{stream_url}/master.m3u8", "--dash", f"{stream_url}/manifest.mpd")
    report = run_script("audio_tracks.mjs", *streams)
    for result in report["results"]:
        tracks = result["tracks"]
        assert sorted((t["name"], t["lang"]) for t in tracks) == [("English", "en"), ("Français", "fr")], result
        for heard in result["heard"]:
            expected = TONES[tracks[heard["track"]]["lang"]]
            # One FFT bin is 48000 / 16384 = 2.9 Hz wide.
            assert heard["hz"] == pytest.approx(expected, abs=10), result
