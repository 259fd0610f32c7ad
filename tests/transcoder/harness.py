"""Pipeline test harness: a context over a filesystem store and SQLite, job submission, output checks."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import m3u8

from catalog.models import Asset, AssetState, Job, JobState
from catalog.session import Catalog
from catalog.settings import CatalogSettings
from jobs.settings import BrokerSettings
from storage.filesystem import FilesystemObjectStore
from storage.settings import StorageSettings
from transcoder.package.fmp4 import InitInfo, SegmentInfo, parse_init, parse_media_segment
from transcoder.pipeline import PipelineContext
from transcoder.settings import TranscoderSettings


def pipeline_context(tmp_path: Path, **overrides: Any) -> PipelineContext:
    """A real pipeline context: 2 s segments and x264 ultrafast keep real encodes quick on 2 cores."""
    options: dict[str, Any] = {
        "storage": StorageSettings(root=tmp_path / "objects"),
        "catalog": CatalogSettings(url=f"sqlite:///{tmp_path / 'catalog.db'}"),
        "broker": BrokerSettings(folder=tmp_path / "broker"),
        "work_dir": tmp_path / "work",
        "segment_seconds": 2.0,
        "x264_preset": "ultrafast",
    }
    options.update(overrides)
    settings = TranscoderSettings(**options)
    store = FilesystemObjectStore(settings.storage.root)
    for bucket in ("staging", "media"):
        store.ensure_bucket(bucket)
    return PipelineContext(settings, store, Catalog(settings.catalog))


def worker_env(ctx: PipelineContext, data: Path, **extra: str) -> dict[str, str]:
    """The settings of `ctx` as the environment of a `vodstack worker` process (as on another machine)."""
    settings = ctx.settings
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "VODSTACK_DATA_DIR": str(data),
        "VODSTACK_STORAGE_ROOT": str(settings.storage.root),
        "VODSTACK_CATALOG_URL": settings.catalog.url,
        "VODSTACK_BROKER_URL": settings.broker.url,
        "VODSTACK_BROKER_FOLDER": str(settings.broker.folder),
        "VODSTACK_TRANSCODER_WORK_DIR": str(data / "work"),
        "VODSTACK_TRANSCODER_SEGMENT_SECONDS": str(settings.segment_seconds),
        "VODSTACK_TRANSCODER_X264_PRESET": settings.x264_preset,
        **{f"VODSTACK_TRANSCODER_{key.upper()}": value for key, value in extra.items()},
    }


def submit(ctx: PipelineContext, source: Path) -> tuple[str, str]:
    """Stage `source` as an upload would and create its asset and queued job: (asset_id, job_id)."""
    ctx.store.put_file("staging", f"originals/{source.name}", source)
    return queue_job(ctx.catalog, f"originals/{source.name}")


def queue_job(catalog: Catalog, staging_key: str) -> tuple[str, str]:
    """An asset whose original is at `staging_key`, with its transcode job queued: (asset_id, job_id)."""
    with catalog.session() as s:
        asset = Asset(state=AssetState.QUEUED, staging_key=staging_key)
        s.add(asset)
        s.flush()
        job = Job(asset_id=asset.id)
        s.add(job)
        s.flush()
        return asset.id, job.id


@dataclass(frozen=True)
class PublishedTrack:
    name: str
    init: InitInfo
    segments: tuple[SegmentInfo, ...]

    @property
    def starts(self) -> list[float]:
        return [round(s.start, 3) for s in self.segments]

    @property
    def start(self) -> float:
        return self.segments[0].start

    @property
    def end(self) -> float:
        return self.segments[-1].start + self.segments[-1].duration


def published_prefix(ctx: PipelineContext, asset_id: str) -> str:
    """Where the asset's published package lies: the folder of its master playlist in the catalog
    (the prefix of the attempt that published it), e.g. "<asset>/a1/"."""
    with ctx.catalog.session() as s:
        asset = s.get(Asset, asset_id)
        assert asset is not None and asset.master_key is not None, "the asset has no master playlist"
        return asset.master_key.rpartition("/")[0] + "/"


def published_tracks(ctx: PipelineContext, asset_id: str) -> tuple[list[PublishedTrack], list[PublishedTrack]]:
    """(videos, audios) as a player finds them from the published master playlist."""
    prefix = published_prefix(ctx, asset_id)
    master = m3u8.loads(ctx.store.get_bytes("media", f"{prefix}master.m3u8").decode())
    uris = [v.uri for v in master.playlists] + [m.uri for m in master.media if m.uri]
    videos, audios = [], []
    for uri in uris:
        track = _read_published(ctx, prefix, uri)
        (videos if track.init.kind == "video" else audios).append(track)
    return videos, audios


def _read_published(ctx: PipelineContext, prefix: str, playlist_uri: str) -> PublishedTrack:
    name = playlist_uri.split("/")[0]
    media = m3u8.loads(ctx.store.get_bytes("media", f"{prefix}{playlist_uri}").decode())
    init = parse_init(ctx.store.get_bytes("media", f"{prefix}{name}/{media.segment_map[0].uri}"))
    segments = tuple(
        parse_media_segment(ctx.store.get_bytes("media", f"{prefix}{name}/{seg.uri}"), init) for seg in media.segments
    )
    return PublishedTrack(name, init, segments)


def job_outcome(ctx: PipelineContext, asset_id: str, job_id: str) -> tuple[Asset, Job]:
    """The asset and job rows after the run (detached copies, attributes loaded)."""
    with ctx.catalog.session() as s:
        asset, job = s.get(Asset, asset_id), s.get(Job, job_id)
        assert asset is not None and job is not None
        _ = [r.name for r in asset.renditions]
        s.expunge_all()
        return asset, job


def assert_succeeded(ctx: PipelineContext, asset_id: str, job_id: str) -> Asset:
    asset, job = job_outcome(ctx, asset_id, job_id)
    assert job.state == JobState.SUCCEEDED, f"{job.error_reason}: {job.error}"
    assert asset.state == AssetState.READY
    return asset


@dataclass
class ListQueue:
    """split.PartQueue as a list: ("part" | "job", job id) in the order they were queued."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def enqueue_part(self, job_id: str) -> None:
        self.items.append(("part", job_id))

    def enqueue_job(self, job_id: str) -> None:
        self.items.append(("job", job_id))

    def take(self, kind: str) -> list[str]:
        taken = [job_id for k, job_id in self.items if k == kind]
        self.items = [(k, job_id) for k, job_id in self.items if k != kind]
        return taken
