"""Captions benchmark: speech recognition speed against real time and its word error rate; the cost of the
caption step in a transcode job against the same job without captions.

    .venv/bin/python bench/captions.py [--minutes 10] [--job-seconds 30]

1. Speech: `--minutes` of speech (moonshine-voice's recordings, looped) transcribed by the model the workers
   use (captions.speech, Whisper base int8); prints elapsed / audio duration (the anchor is real time: 1/3 or
   less is the target). WER on two_cities.wav (Dickens' opening paragraph, 44 s) against the book's text.
2. Job: a `--job-seconds` 320x180 clip through run_job, once plain, once with a subtitle stream in the source
   and an SRT uploaded first; prints the ratio of the two job times (the caption work's share).
Run by hand (the machine is shared: read ratios within a run). Needs the test and captions extras.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jiwer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from captions import library  # noqa: E402
from captions.cues import parse  # noqa: E402
from captions.speech import Recognizer, model_dir  # noqa: E402
from captions.tracks import UPLOADED, track_options  # noqa: E402
from transcoder.pipeline import run_job  # noqa: E402

# The test harnesses (clips, a pipeline context without a broker), loaded at run time: mypy checks bench/,
# not the tests' helpers.
media: Any = importlib.import_module("tests.media")
harness: Any = importlib.import_module("tests.transcoder.harness")
text_tracks: Any = importlib.import_module("tests.transcoder.test_text_tracks")

TWO_CITIES = (
    "It was the best of times, it was the worst of times, it was the age of wisdom, it was the age of "
    "foolishness, it was the epoch of belief, it was the epoch of incredulity, it was the season of Light, it "
    "was the season of Darkness, it was the spring of hope, it was the winter of despair, we had everything "
    "before us, we had nothing before us, we were all going direct to Heaven, we were all going direct the "
    "other way, in short, the period was so far like the present period, that some of its noisiest "
    "authorities insisted on its being received, for good or for evil, in the superlative degree of "
    "comparison only."
)
CLIPS = ("two_cities.wav", "endgame_nagg_nell.wav", "beckett.wav")


def clip(name: str) -> Path:
    spec = importlib.util.find_spec("moonshine_voice")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install the test extra (moonshine-voice ships the recordings)")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / name


def words(text: str) -> str:
    return " ".join("".join(c for c in text.lower() if c.isalnum() or c.isspace()).split())


def looped_speech(dest: Path, minutes: float) -> Path:
    """The recordings one after another, looped to `minutes`, as 16 kHz mono WAV."""
    # The recordings differ in rate and channels: each is made 16 kHz mono first, or the concat demuxer stops.
    same = []
    for name in CLIPS:
        out = dest.parent / f"mono-{name}"
        argv = [media.ffmpeg_exe(), "-v", "error", "-y", "-i", str(clip(name)), "-ac", "1", "-ar", "16000"]
        subprocess.run([*argv, "-c:a", "pcm_s16le", str(out)], check=True)
        same.append(out)
    listing = dest.with_suffix(".txt")
    listing.write_text("".join(f"file '{path}'\n" for path in same) * 40)
    argv = [media.ffmpeg_exe(), "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing)]
    subprocess.run(argv + ["-t", str(minutes * 60), "-c:a", "pcm_s16le", str(dest)], check=True)
    return dest


def speech(work: Path, minutes: float) -> None:
    started = time.monotonic()
    recognizer = Recognizer(model_dir(work / "models"))
    print(f"model loaded in {time.monotonic() - started:.1f} s (once per worker process)")
    started = time.monotonic()
    transcript = recognizer.transcribe(clip("two_cities.wav"))
    elapsed = time.monotonic() - started
    heard = " ".join(c.text for c in transcript.cues)
    error = jiwer.wer(words(TWO_CITIES), words(heard))
    print(f"two_cities.wav: language {transcript.language} ({transcript.probability:.2f}), WER {error:.3f}")
    print(f"  {transcript.duration:.1f} s of audio in {elapsed:.1f} s: {elapsed / transcript.duration:.3f} x real time")
    audio = looped_speech(work / "speech.wav", minutes)
    started = time.monotonic()
    transcript = recognizer.transcribe(audio)
    elapsed = time.monotonic() - started
    print(
        f"{transcript.duration / 60:.1f} min of speech: {len(transcript.cues)} cues in {elapsed:.1f} s: "
        f"**{elapsed / transcript.duration:.3f} x real time** (target <= 0.333)"
    )


def job(work: Path, seconds: float) -> None:
    plain = media.make_clip(work / "plain.mp4", seconds=seconds, size="320x180")
    (work / "fr.srt").write_text(text_tracks.EMBEDDED_SRT)
    subtitled = text_tracks.with_subtitles(plain, work / "fr.srt", work / "subtitled.mp4")
    times = {}
    for name, source, upload in (("ladder only", plain, False), ("with captions", subtitled, True)):
        ctx = harness.pipeline_context(work / name.replace(" ", "-"))
        asset_id, job_id = harness.submit(ctx, source)
        if upload:
            options = track_options("en", label="English", kind="captions")
            library.save(ctx.catalog, asset_id, "en", UPLOADED, options, parse(text_tracks.UPLOADED_SRT))
        started = time.monotonic()
        run_job(ctx, job_id)
        times[name] = time.monotonic() - started
        harness.assert_succeeded(ctx, asset_id, job_id)
        print(f"job {name}: {times[name]:.2f} s")
    ratio = times["with captions"] / times["ladder only"]
    print(f"**job with captions / ladder only: {ratio:.3f}** (caption work adds {100 * (ratio - 1):+.1f} %)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--job-seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-captions-") as tmp:
        job(Path(tmp), args.job_seconds)
        speech(Path(tmp), args.minutes)
    print(f"load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
