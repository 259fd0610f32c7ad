"""What the transcode benchmarks share: a synthetic source and an asset queued as an upload leaves it.

Benchmarks do not import tests/ (tests/transcoder/harness.py does the same for the test suite).
"""

from __future__ import annotations

import importlib.util
import resource
import subprocess
import time
from pathlib import Path
from typing import Any

import imageio_ffmpeg

from catalog.models import Asset, AssetState, Job
from catalog.session import Catalog
from catalog.settings import CatalogSettings
from jobs.settings import BrokerSettings
from storage.filesystem import FilesystemObjectStore
from storage.settings import StorageSettings
from transcoder.pipeline import PipelineContext, run_job
from transcoder.settings import TranscoderSettings


def make_source(dest: Path, seconds: float, size: str, *, preset: str, crf: int, audio_bitrate: str) -> Path:
    """A testsrc2 pattern at 30 fps with a 440 Hz stereo tone, H.264 + AAC in MP4."""
    argv = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=30:duration={seconds}"]
    argv += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    argv += ["-c:v", "libx264", "-preset", preset, "-crf", str(crf), "-pix_fmt", "yuv420p"]
    argv += ["-c:a", "aac", "-ac", "2", "-b:a", audio_bitrate, str(dest)]
    subprocess.run(argv, check=True)
    return dest


def queue_asset(catalog: Catalog, staging_key: str) -> tuple[str, str]:
    """An asset whose original is at `staging_key`, with its transcode job queued: (asset id, job id)."""
    with catalog.session() as s:
        asset = Asset(state=AssetState.QUEUED, staging_key=staging_key)
        s.add(asset)
        s.flush()
        job = Job(asset_id=asset.id)
        s.add(job)
        s.flush()
        return asset.id, job.id


def staged_job(source: Path, work: Path, **settings: Any) -> tuple[PipelineContext, str, str]:
    """A pipeline over a filesystem store and SQLite under `work` (TranscoderSettings `settings`), with
    `source` staged as an upload leaves it and its job queued: (context, asset id, job id)."""
    config = TranscoderSettings(
        storage=StorageSettings(root=work / "objects"),
        catalog=CatalogSettings(url=f"sqlite:///{work / 'catalog.db'}"),
        broker=BrokerSettings(folder=work / "broker"),
        work_dir=work / "scratch",
        **settings,
    )
    store = FilesystemObjectStore(config.storage.root)
    for bucket in ("staging", "media"):
        store.ensure_bucket(bucket)
    ctx = PipelineContext(config, store, Catalog(config.catalog))
    store.put_file("staging", "originals/source.mp4", source)
    asset_id, job_id = queue_asset(ctx.catalog, "originals/source.mp4")
    return ctx, asset_id, job_id


def cpu_seconds() -> float:
    """User + system seconds of this process and its waited-for children (ffmpeg): immune to others' load."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_job(ctx: PipelineContext, asset_id: str, job_id: str) -> tuple[float, float]:
    """Run the job to READY: (wall seconds, CPU seconds). Exits on a job that does not end READY."""
    cpu, wall = cpu_seconds(), time.monotonic()
    run_job(ctx, job_id)
    wall, cpu = time.monotonic() - wall, cpu_seconds() - cpu
    with ctx.catalog.session() as s:
        asset, job = s.get(Asset, asset_id), s.get(Job, job_id)
        if asset is None or asset.state != AssetState.READY:
            raise SystemExit(f"pipeline failed: {job.error if job else 'no job'}")
    return wall, cpu


SPEECH_CLIPS = ("two_cities.wav", "endgame_nagg_nell.wav", "beckett.wav")


def speech_clip(name: str) -> Path:
    """One of moonshine-voice's recordings (the test extra installs it)."""
    spec = importlib.util.find_spec("moonshine_voice")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("install the test extra (moonshine-voice ships the recordings)")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / name


def looped_speech(dest: Path, seconds: float) -> Path:
    """moonshine-voice's recordings one after another, looped to `seconds`, as 16 kHz mono WAV."""
    # The recordings differ in rate and channels: each is made 16 kHz mono first, or the concat demuxer stops.
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    same = []
    for name in SPEECH_CLIPS:
        out = dest.parent / f"mono-{name}"
        argv = [ffmpeg, "-v", "error", "-y", "-i", str(speech_clip(name)), "-ac", "1", "-ar", "16000"]
        subprocess.run([*argv, "-c:a", "pcm_s16le", str(out)], check=True)
        same.append(out)
    listing = dest.with_suffix(".txt")
    listing.write_text("".join(f"file '{path}'\n" for path in same) * 40)
    argv = [ffmpeg, "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing)]
    subprocess.run([*argv, "-t", str(seconds), "-c:a", "pcm_s16le", str(dest)], check=True)
    return dest
