"""hls.js and dash.js in Chromium list an asset's caption tracks (one from the source's subtitle stream, one
uploaded as SRT) and show the expected cue text at the expected time on the selected track."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from captions import library
from captions.cues import parse
from captions.tracks import UPLOADED, track_options
from tests.browser.harness import run_script, serving_directory
from tests.media import make_clip
from tests.transcoder.harness import assert_succeeded, pipeline_context, submit
from tests.transcoder.test_text_tracks import EMBEDDED_SRT, UPLOADED_SRT, with_subtitles
from transcoder.pipeline import run_job

# (language, a time inside a cue, its text, its start and end) from the two SRTs
PROBES = [("en", 1.5, "Hello from the upload", 1.0, 3.0), ("fr", 4.5, "Fin", 4.2, 5.0)]


@pytest.mark.browser
@pytest.mark.ffmpeg
def test_players_list_both_tracks_and_show_their_cues(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    (tmp_path / "fr.srt").write_text(EMBEDDED_SRT)
    clip = make_clip(tmp_path / "plain.mp4", seconds=6, size="320x180")
    asset_id, job_id = submit(ctx, with_subtitles(clip, tmp_path / "fr.srt", tmp_path / "clip.mp4"))
    options = track_options("en", label="English", kind="captions")
    library.save(ctx.catalog, asset_id, "en", UPLOADED, options, parse(UPLOADED_SRT))
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)

    probes = [{"language": language, "at": at} for language, at, *_ in PROBES]
    with serving_directory(ctx.settings.storage.root / "media") as base:
        report = run_script(
            "captions.mjs",
            *("--hls", f"{base}/{asset.master_key}", "--dash", f"{base}/{asset.dash_key}"),
            *("--probe", json.dumps(probes)),
            timeout=300,
        )
    for result in report["results"]:
        tracks = sorted((t["language"], t["label"]) for t in result["tracks"])
        assert tracks == [("en", "English"), ("fr", "fr")], result
        for (language, at, text, start, end), seen in zip(PROBES, result["cues"], strict=True):
            assert seen["language"] == language and seen["at"] == at
            (cue,) = seen["cues"]
            assert cue["text"] == text, (result["player"], seen)
            assert cue["start"] == pytest.approx(start, abs=0.05) and cue["end"] == pytest.approx(end, abs=0.05), (
                result["player"],
                seen,
            )
