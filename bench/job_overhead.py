"""What caption, audio and MP4 work adds to a ladder job (issue 14: no more than 10 %), each against the
ladder-only job of the same run.

    .venv/bin/python bench/job_overhead.py [--seconds 60] [--size 640x360] [--preset veryfast] [--repeat 1]
                                           [--lines ladder,audio,all]   # a subset (the anchor always runs)

The source: a testsrc2 pattern with two audio tracks (English speech, moonshine-voice's recordings looped;
a French tone) and a French mov_text stream; an English SRT is uploaded before each job that has captions.
Every line is one `run_job` from a fresh catalog and store (order alternated between repeats):

  ladder       the anchor: video rungs and the default track's AAC rendition, nothing else (the other
               steps replaced by ones that do nothing, loudnorm and downloads off)
  captions     + the source's text stream and the uploaded SRT, made tracks and published
  speech       the captions job, then the speech-captions job (transcoder.speech_captions.generate) over it,
               the model already loaded (once per worker process, not per job)
  audio        + every audio track, each measured, normalised (two-pass loudnorm) and measured again
  downloads    + MP4 downloads (highest and lowest rung, M4A)
  all          everything as shipped (speech aside: its own job on the light queue)
  all+speech   all, then the speech-captions job

Each prints wall and CPU seconds (this process and its ffmpeg children: immune to other sessions' load)
and its ratio to the anchor. Needs the test and captions extras.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import imageio_ffmpeg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from transcode_setup import cpu_seconds, looped_speech, staged_job, timed_job  # noqa: E402

from captions import library, speech  # noqa: E402
from captions.cues import parse  # noqa: E402
from captions.tracks import UPLOADED, track_options  # noqa: E402
from catalog.captions import CaptionTrack  # noqa: E402
from catalog.models import Asset  # noqa: E402
from media.probe import AudioTrackInfo  # noqa: E402
from transcoder import pipeline, speech_captions  # noqa: E402
from transcoder.encode.audio import plan_audio  # noqa: E402

SOURCE_SRT = "1\n00:00:00,500 --> 00:00:01,800\nBonjour du fichier\n\n2\n00:00:04,200 --> 00:00:05,000\nFin\n"
UPLOADED_SRT = b"1\n00:00:01,000 --> 00:00:03,000\nHello from the upload\n\n2\n00:00:04,500 --> 00:00:05,500\nBye\n"
# line: (captions, speech, every audio track + loudness, downloads)
LINES = {
    "ladder": (False, False, False, False),
    "captions": (True, False, False, False),
    "speech": (True, True, False, False),
    "audio": (False, False, True, False),
    "downloads": (False, False, False, True),
    "all": (True, False, True, True),
    "all+speech": (True, True, True, True),
}


def make_source(work: Path, seconds: float, size: str) -> Path:
    """Video, English speech (default), a French tone, a French mov_text stream: what a creator's edit carries."""
    speech_wav = looped_speech(work / "speech.wav", seconds)
    (work / "fr.srt").write_text(SOURCE_SRT)
    dest = work / "source.mp4"
    argv = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}", "-i", str(speech_wav)]
    argv += [
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=1000:sample_rate=48000:duration={seconds}",
        "-i",
        str(work / "fr.srt"),
    ]
    argv += ["-map", "0:v", "-map", "1:a", "-map", "2:a", "-map", "3:s", "-c:v", "libx264", "-preset", "ultrafast"]
    argv += ["-crf", "18", "-pix_fmt", "yuv420p", "-c:a", "aac", "-ac", "2", "-b:a", "192k", "-c:s", "mov_text"]
    argv += ["-metadata:s:a:0", "language=eng", "-metadata:s:a:1", "language=fre", "-metadata:s:s:0", "language=fre"]
    argv += ["-disposition:a:0", "default", "-disposition:a:1", "0", str(dest)]
    subprocess.run(argv, check=True)
    return dest


def _nothing(*_args: Any, **_kwargs: Any) -> Any:
    return 0


def _default_track_only(tracks: Sequence[AudioTrackInfo]) -> Any:
    return plan_audio([t for t in tracks if t.default] or list(tracks[:1]))


@contextmanager
def without(captions: bool, audio: bool) -> Iterator[None]:
    """The pipeline with the caption and/or audio work replaced by steps that do nothing."""
    saved = {name: getattr(pipeline, name) for name in ("extract_source_tracks", "publish_tracks", "plan_audio")}
    saved |= {name: getattr(pipeline, name) for name in ("measure_audio", "_record_audio")}
    if not captions:
        pipeline.extract_source_tracks = _nothing  # type: ignore[assignment]
        pipeline.publish_tracks = _nothing  # type: ignore[assignment]
    if not audio:
        pipeline.plan_audio = _default_track_only  # type: ignore[assignment]
        pipeline.measure_audio = lambda _ctx, _source, ladder, _duration: ({}, ladder)  # type: ignore[assignment]
        pipeline._record_audio = _nothing  # type: ignore[assignment]
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(pipeline, name, value)


def run(
    source: Path, work: Path, preset: str, line: tuple[bool, bool, bool, bool], recognizer: Callable[[], Any]
) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds, what was made) of one line."""
    captions, with_speech, audio, downloads = line
    ctx, asset_id, job_id = staged_job(source, work, x264_preset=preset, loudnorm=audio, mp4_downloads=downloads)
    if captions:
        options = track_options("en", label="English", kind="captions")
        library.save(ctx.catalog, asset_id, "en", UPLOADED, options, parse(UPLOADED_SRT))
    with without(captions, audio):
        wall, cpu = timed_job(ctx, asset_id, job_id)
    cues = 0
    if with_speech:
        started, cpu_started = time.monotonic(), cpu_seconds()
        cues = speech_captions.generate(ctx, asset_id, recognizer)
        wall, cpu = wall + time.monotonic() - started, cpu + cpu_seconds() - cpu_started
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        assert asset is not None
        tracks = s.query(CaptionTrack).filter(CaptionTrack.asset_id == asset_id).count()
        made = f"{len(asset.audio_tracks or [])} audio records, {len(asset.downloads or [])} downloads"
    made += f", {tracks} caption tracks" + (f" ({cues} speech cues)" if with_speech else "")
    ctx.catalog.dispose()
    return wall, cpu, made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--size", default="640x360")
    parser.add_argument("--preset", default="veryfast")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--lines", default=",".join(LINES), help="comma-separated; the anchor (ladder) always runs")
    args = parser.parse_args()
    chosen = ["ladder", *(name for name in LINES if name != "ladder" and name in args.lines.split(","))]
    unknown = set(args.lines.split(",")) - set(LINES)
    if unknown:
        parser.error(f"no such line(s): {', '.join(sorted(unknown))}")
    with tempfile.TemporaryDirectory(prefix="bench-job-overhead-") as tmp:
        root = Path(tmp)
        source = make_source(root, args.seconds, args.size)
        loaded = speech.Recognizer(speech.model_dir(root / "models"))  # once, as a worker process does
        figures: dict[str, list[tuple[float, float]]] = {name: [] for name in chosen}
        for n in range(args.repeat):
            names = chosen if n % 2 == 0 else list(reversed(chosen))
            for name in names:
                wall, cpu, made = run(source, root / f"{name}-{n}", args.preset, LINES[name], lambda: loaded)
                figures[name].append((wall, cpu))
                print(f"run {n + 1} {name:<11} {wall:7.2f} s wall {cpu:7.2f} s CPU ({made})", flush=True)
        anchor_wall = statistics.median(w for w, _ in figures["ladder"])
        anchor_cpu = statistics.median(c for _, c in figures["ladder"])
        print(f"source {args.seconds:.0f} s {args.size}, preset {args.preset}, {args.repeat} run(s); medians:")
        for name, values in figures.items():
            wall, cpu = statistics.median(w for w, _ in values), statistics.median(c for _, c in values)
            print(
                f"  {name:<11} wall {wall:7.2f} s ({wall / anchor_wall:.3f}), CPU {cpu:7.2f} s ({cpu / anchor_cpu:.3f})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
