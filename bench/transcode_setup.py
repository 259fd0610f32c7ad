"""What the transcode benchmarks share: a synthetic source and an asset queued as an upload leaves it.

Benchmarks do not import tests/ (tests/transcoder/harness.py does the same for the test suite).
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import imageio_ffmpeg

from catalog.models import Asset, AssetState, Job
from catalog.session import Catalog
from catalog.settings import CatalogSettings
from jobs.settings import BrokerSettings
from storage.filesystem import FilesystemObjectStore
from storage.settings import StorageSettings
from transcoder.pipeline import PipelineContext
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
